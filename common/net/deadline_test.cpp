// Tests for common/net/deadline.hpp.
#include "common/net/deadline.hpp"

#include <gtest/gtest.h>

namespace tcppool::net {
namespace {

using namespace std::chrono_literals;

TEST(Deadline, NeverNeverExpires) {
  Deadline d;
  EXPECT_TRUE(d.is_never());
  EXPECT_TRUE(Deadline::never().is_never());
  EXPECT_FALSE(d.expired());
  EXPECT_EQ(d.remaining(), Clock::duration::max());
  EXPECT_EQ(d.when(), Clock::time_point::max());
  timespec ts;
  EXPECT_EQ(d.to_timespec(ts), nullptr);
}

TEST(Deadline, AfterCountsDown) {
  Deadline d = Deadline::after(1h);
  EXPECT_FALSE(d.is_never());
  EXPECT_FALSE(d.expired());
  EXPECT_GT(d.remaining(), 59min);
  EXPECT_LE(d.remaining(), 1h);
  timespec ts;
  ASSERT_NE(d.to_timespec(ts), nullptr);
  EXPECT_GE(ts.tv_sec, 3590);
  EXPECT_LT(ts.tv_nsec, 1'000'000'000);
}

TEST(Deadline, PastDeadlineIsExpiredWithNothingLeft) {
  for (Deadline d : {Deadline::after(-1s), Deadline::after(0s), Deadline::at(Clock::now() - 1ms)}) {
    EXPECT_TRUE(d.expired());
    EXPECT_EQ(d.remaining(), Clock::duration::zero());
    timespec ts;
    ASSERT_NE(d.to_timespec(ts), nullptr);
    EXPECT_EQ(ts.tv_sec, 0);
    EXPECT_EQ(ts.tv_nsec, 0);
  }
}

// now + duration::max() overflows the clock's representation; a deadline that wraps around
// would be both "expired" and "292 years away". It must saturate to never instead.
TEST(Deadline, AHugeDurationSaturatesToNever) {
  // The last one passes the end of the clock's range by half of today's clock value.
  for (auto d : {Clock::duration::max(), Clock::duration::max() - 1ns,
                 Clock::duration::max() - Clock::now().time_since_epoch() / 2}) {
    Deadline deadline = Deadline::after(d);
    EXPECT_TRUE(deadline.is_never());
    EXPECT_FALSE(deadline.expired());
    EXPECT_EQ(deadline.remaining(), Clock::duration::max());
  }
  auto t = Clock::now();
  EXPECT_TRUE(Deadline::at_or_never(t, Clock::duration::max()).is_never());
  EXPECT_EQ(Deadline::at_or_never(t, 1s).when(), t + 1s);
}

TEST(Deadline, AHugeNegativeDurationHasPassed) {
  Deadline d = Deadline::after(Clock::duration::min());
  EXPECT_TRUE(d.expired());
  EXPECT_FALSE(d.is_never());
  EXPECT_EQ(d.remaining(), Clock::duration::zero());
}

TEST(Deadline, EarliestPicksTheSoonerAndNeverLoses) {
  auto t = Clock::now();
  EXPECT_EQ(earliest(Deadline::at(t), Deadline::at(t + 1s)).when(), t);
  EXPECT_EQ(earliest(Deadline::at(t + 1s), Deadline::at(t)).when(), t);
  EXPECT_EQ(earliest(Deadline::never(), Deadline::at(t)).when(), t);
  EXPECT_TRUE(earliest(Deadline::never(), Deadline::never()).is_never());
}

}  // namespace
}  // namespace tcppool::net
