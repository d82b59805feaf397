// Tests for common/echo/echo_client.hpp: the request pattern and the verified round trip,
// against the echo server and against fake peers that answer wrongly or not at all.
#include "common/echo/echo_client.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <future>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/tcp_pair.hpp"

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kSizes[] = {0, 1, 7, 8, 9, 13, 63, 64, 65, 1000, 4097};

std::vector<std::byte> pattern(std::size_t size, std::uint64_t seed) {
  std::vector<std::byte> v(size);
  fill_pattern(v, seed);
  return v;
}

// The fixture's fd-leak check covers the fake peers from tcp_pair() too.
class EchoClient : public testing::EchoServerTest {};

TEST_F(EchoClient, FillPatternIsDeterministicPerSeed) {
  for (std::size_t size : kSizes) {
    for (std::uint64_t seed : {0ull, 1ull, 2ull, 0xffffffffffffffffull}) {
      EXPECT_EQ(pattern(size, seed), pattern(size, seed)) << size << " bytes, seed " << seed;
    }
  }
}

TEST_F(EchoClient, FillPatternDiffersBetweenSeeds) {
  for (std::size_t size : kSizes) {
    if (size < 4) continue;  // a few bytes may collide by chance
    EXPECT_NE(pattern(size, 1), pattern(size, 2)) << size;
    EXPECT_NE(pattern(size, 0), pattern(size, 1)) << size;
    EXPECT_NE(pattern(size, 41), pattern(size, 42)) << size;
  }
}

TEST_F(EchoClient, FillPatternLooksLikeNoise) {
  // Neither all zeros (an unfilled buffer) nor one repeated 8-byte word.
  auto p = pattern(64, 0);
  EXPECT_TRUE(std::ranges::any_of(p, [](std::byte b) { return b != std::byte{0}; }));
  EXPECT_FALSE(std::equal(p.begin(), p.begin() + 8, p.begin() + 8));
  auto q = pattern(4096, 7);
  std::vector<bool> seen(256);
  for (std::byte b : q) seen[std::to_integer<unsigned>(b)] = true;
  EXPECT_GT(std::ranges::count(seen, true), 200);
}

TEST_F(EchoClient, FillPatternWritesOnlyItsSpan) {
  for (std::size_t size : kSizes) {
    std::vector<std::byte> v(size + 16, std::byte{0xAA});
    fill_pattern(std::span(v).subspan(8, size), 5);
    for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(v[i], std::byte{0xAA}) << size;
    for (std::size_t i = 8 + size; i < v.size(); ++i) EXPECT_EQ(v[i], std::byte{0xAA}) << size;
    EXPECT_TRUE(std::equal(v.begin() + 8, v.begin() + 8 + static_cast<std::ptrdiff_t>(size),
                           pattern(size, 5).begin()))
        << size;
  }
}

TEST_F(EchoClient, RoundTripSucceedsAgainstTheEchoServer) {
  auto s = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_TRUE(s) << s.error().message();
  for (std::size_t size : kSizes) {
    auto request = pattern(size, size);
    std::vector<std::byte> reply(size);
    auto r = round_trip(s->fd(), request, reply, net::Deadline::after(testing::kTestIoTimeout));
    ASSERT_TRUE(r) << size << ": " << r.error().message();
    EXPECT_EQ(reply, request);
  }
}

// Far more than the socket buffers on both sides and the server's buffer hold together (about
// 16 MiB on a default Linux loopback; the client's own buffers are made small besides, so that
// this does not depend on how far the machine lets buffers grow): a client that sends it all
// before reading blocks, and so does the server, each waiting for the other to read. Bounded:
// a client that deadlocks fails with Errc::kTimeout instead of hanging the test.
TEST_F(EchoClient, RoundTripOfAPayloadFarAboveTheSocketBuffersCompletes) {
  constexpr std::size_t kSize = 32u << 20;
  auto s = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_TRUE(s) << s.error().message();
  const int small = 64 * 1024;
  ASSERT_EQ(::setsockopt(s->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(::setsockopt(s->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  auto request = pattern(kSize, 3);
  std::vector<std::byte> reply(kSize);
  auto r = round_trip(s->fd(), request, reply, net::Deadline::after(30s));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(std::ranges::equal(reply, request));
  // The connection is in step afterwards: a small request on it still echoes.
  EXPECT_TRUE(testing::echo_once(s->fd(), 100));
}

// The same without a deadline, as the benchmark and the examples call it: the bug blocked
// such a call forever. A watchdog shuts the socket down if the call has not returned after
// 30 s, which makes a deadlocked round_trip() fail instead of hanging the test.
TEST_F(EchoClient, RoundTripWithoutADeadlineOfAPayloadFarAboveTheSocketBuffersCompletes) {
  constexpr std::size_t kSize = 32u << 20;
  auto s = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_TRUE(s) << s.error().message();
  auto request = pattern(kSize, 4);
  std::vector<std::byte> reply(kSize);
  std::promise<std::expected<void, std::error_code>> done;
  auto result = done.get_future();
  std::jthread client([&] { done.set_value(round_trip(s->fd(), request, reply)); });
  if (result.wait_for(30s) != std::future_status::ready) {
    ::shutdown(s->fd(), SHUT_RDWR);  // wakes the blocked send or recv
    FAIL() << "round_trip() of 32 MiB without a deadline did not return within 30 s";
  }
  auto r = result.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(std::ranges::equal(reply, request));
}

// Runs `peer` on the accepted end of a fresh connection while the test uses the other end.
template <typename Peer>
std::expected<void, std::error_code> round_trip_against(Peer peer, std::size_t size,
                                                        net::Deadline deadline) {
  auto pair = testing::tcp_pair();
  std::jthread fake([&] { peer(pair.server); });
  auto request = pattern(size, 11);
  std::vector<std::byte> reply(size);
  auto r = round_trip(pair.client.fd(), request, reply, deadline);
  pair.client.reset();  // unblocks a peer still waiting
  return r;
}

// Reads the request so the fake peer answers in step, like a real server would.
bool read_request(const net::Socket& s, std::size_t size) {
  std::vector<std::byte> request(size);
  return net::recv_exact(s.fd(), request, net::Deadline::after(testing::kTestIoTimeout))
      .has_value();
}

TEST_F(EchoClient, RoundTripReportsBadReplyForDifferentBytes) {
  auto r = round_trip_against(
      [](net::Socket& peer) {
        ASSERT_TRUE(read_request(peer, 100));
        auto wrong = pattern(100, 12);  // the right length, the wrong bytes
        EXPECT_TRUE(net::send_all(peer.fd(), wrong, net::Deadline::after(5s)));
      },
      100, net::Deadline::after(testing::kTestIoTimeout));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kBadReply) << r.error().message();
}

TEST_F(EchoClient, RoundTripReportsBadReplyForOneFlippedByte) {
  auto r = round_trip_against(
      [](net::Socket& peer) {
        ASSERT_TRUE(read_request(peer, 100));
        auto almost = pattern(100, 11);
        almost[99] ^= std::byte{1};
        EXPECT_TRUE(net::send_all(peer.fd(), almost, net::Deadline::after(5s)));
      },
      100, net::Deadline::after(testing::kTestIoTimeout));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kBadReply) << r.error().message();
}

TEST_F(EchoClient, RoundTripReportsPeerClosedWhenThePeerCloses) {
  auto r = round_trip_against(
      [](net::Socket& peer) {
        ASSERT_TRUE(read_request(peer, 100));
        peer.reset();
      },
      100, net::Deadline::after(testing::kTestIoTimeout));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kPeerClosed) << r.error().message();
}

TEST_F(EchoClient, RoundTripReportsTruncatedForAShortReply) {
  auto r = round_trip_against(
      [](net::Socket& peer) {
        ASSERT_TRUE(read_request(peer, 100));
        auto half = pattern(50, 11);
        EXPECT_TRUE(net::send_all(peer.fd(), half, net::Deadline::after(5s)));
        peer.reset();
      },
      100, net::Deadline::after(testing::kTestIoTimeout));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTruncated) << r.error().message();
}

// A peer that reads part of a large request and then resets the connection: the client, which
// is still sending, reports the error at once rather than waiting for its deadline.
TEST_F(EchoClient, RoundTripOfALargeRequestReportsAPeerThatGoesAway) {
  auto start = net::Clock::now();
  auto r = round_trip_against(
      [](net::Socket& peer) {
        ASSERT_TRUE(read_request(peer, 1u << 20));
        ASSERT_TRUE(net::set_reset_on_close(peer.fd()));
        peer.reset();
      },
      32u << 20, net::Deadline::after(testing::kTestIoTimeout));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error(), Errc::kTimeout) << r.error().message();
  EXPECT_TRUE(r.error() == std::errc::connection_reset || r.error() == std::errc::broken_pipe ||
              r.error() == Errc::kPeerClosed)
      << r.error().message();
  EXPECT_LT(net::Clock::now() - start, testing::kTestIoTimeout);
}

TEST_F(EchoClient, RoundTripTimesOutWhenThePeerIsSilent) {
  auto r = round_trip_against(
      [](net::Socket& peer) {
        // Wait for the client to give up and close, without answering.
        std::byte b[200];
        (void)net::recv_exact(peer.fd(), b, net::Deadline::after(testing::kTestIoTimeout));
      },
      100, net::Deadline::after(50ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTimeout) << r.error().message();
}

}  // namespace
}  // namespace tcppool::echo
