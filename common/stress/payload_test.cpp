// Tests for common/stress/payload.hpp: a reply that is not its request's echo is caught, and
// told apart: lost, stale, crossed or corrupt.
#include "common/stress/payload.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tcppool::stress {
namespace {

std::vector<std::byte> make(const Stamp& stamp) {
  std::vector<std::byte> bytes(stamp.size);
  encode(stamp, bytes);
  return bytes;
}

TEST(StressPayload, EchoOfTheRequestIsOk) {
  Stamp s{.thread = 3, .seq = 17, .size = 300};
  auto reply = make(s);
  Check c = verify(s, reply);
  EXPECT_EQ(c.verdict, Verdict::kOk);
  ASSERT_TRUE(read_stamp(reply));
  EXPECT_EQ(*read_stamp(reply), s);
}

TEST(StressPayload, RequestsDifferFromOneToTheNextInSizeAndBytes) {
  std::uint32_t a = request_size(0, 1, 32, 512), b = request_size(0, 2, 32, 512);
  std::uint32_t c = request_size(1, 1, 32, 512);
  EXPECT_FALSE(a == b && b == c) << "sizes vary";
  for (std::uint64_t seq = 1; seq < 1000; ++seq) {
    std::uint32_t n = request_size(5, seq, 32, 512);
    ASSERT_GE(n, 32u);
    ASSERT_LE(n, 512u);
  }
  EXPECT_EQ(request_size(5, 9, 40, 40), 40u);
  // Same size, neighbouring sequence numbers: the bodies differ too.
  auto x = make({.thread = 1, .seq = 1, .size = 64});
  auto y = make({.thread = 1, .seq = 2, .size = 64});
  EXPECT_NE(std::vector(x.begin() + kHeaderBytes, x.end()),
            std::vector(y.begin() + kHeaderBytes, y.end()));
}

TEST(StressPayload, OneFlippedByteAnywhereIsCaught) {
  Stamp s{.thread = 2, .seq = 5, .size = 200};
  struct Case {
    std::size_t at;
    Verdict verdict;
  };
  // In the magic number or the body: corrupt. In the thread field: it reads as thread 3's.
  for (Case c : {Case{0, Verdict::kCorrupt}, Case{4, Verdict::kCrossed},
                 Case{kHeaderBytes, Verdict::kCorrupt}, Case{199, Verdict::kCorrupt}}) {
    auto reply = make(s);
    reply[c.at] ^= std::byte{0x01};
    Check check = verify(s, reply);
    EXPECT_EQ(check.verdict, c.verdict) << "byte " << c.at;
    EXPECT_EQ(check.first_bad, c.at);
  }
}

TEST(StressPayload, AnEarlierReplyOfTheSameThreadIsStale) {
  Stamp now{.thread = 7, .seq = 10, .size = 100};
  auto old = make({.thread = 7, .seq = 9, .size = 100});
  Check c = verify(now, old);
  EXPECT_EQ(c.verdict, Verdict::kStale);
  ASSERT_TRUE(c.found);
  EXPECT_EQ(c.found->seq, 9u);
  EXPECT_EQ(c.first_bad, 8u) << "the sequence number is the first difference";
  EXPECT_NE(describe(now, c).find("stale reply to thread 7 #10"), std::string::npos)
      << describe(now, c);
}

TEST(StressPayload, AnEarlierReplyOfAnotherSizeIsStaleToo) {
  // A reply left on a connection by an earlier, longer request: the next request reads its
  // first bytes.
  auto old = make({.thread = 7, .seq = 3, .size = 400});
  Stamp now{.thread = 7, .seq = 4, .size = 64};
  Check c = verify(now, std::span(old).first(64));
  EXPECT_EQ(c.verdict, Verdict::kStale);
}

TEST(StressPayload, AnotherThreadsReplyCrossedOver) {
  Stamp mine{.thread = 1, .seq = 10, .size = 100};
  auto theirs = make({.thread = 2, .seq = 10, .size = 100});
  EXPECT_EQ(verify(mine, theirs).verdict, Verdict::kCrossed);
}

TEST(StressPayload, AReplyNobodyWroteIsLost) {
  Stamp s{.thread = 1, .seq = 1, .size = 64};
  std::vector<std::byte> reply(64);
  poison(reply);
  Check c = verify(s, reply);
  EXPECT_EQ(c.verdict, Verdict::kLost);
  EXPECT_FALSE(c.found);
}

TEST(StressPayload, AReplyOfTheRightStampButWrongBodyIsCorrupt) {
  Stamp s{.thread = 1, .seq = 1, .size = 64};
  auto reply = make(s);
  reply[40] = std::byte{0};
  reply[41] = std::byte{0};
  Check c = verify(s, reply);
  EXPECT_EQ(c.verdict, Verdict::kCorrupt);
  EXPECT_GE(c.first_bad, 40u);
}

TEST(StressPayload, LargeRequestsAreCheckedWhole) {
  Stamp s{.thread = 1, .seq = 1, .size = 70'000};
  auto reply = make(s);
  EXPECT_EQ(verify(s, reply).verdict, Verdict::kOk);
  reply[69'999] ^= std::byte{0x80};
  Check c = verify(s, reply);
  EXPECT_EQ(c.verdict, Verdict::kCorrupt);
  EXPECT_EQ(c.first_bad, 69'999u);
}

}  // namespace
}  // namespace tcppool::stress
