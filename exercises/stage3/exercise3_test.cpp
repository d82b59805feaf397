// exercises/stage3/exercise3_test.cpp: the grader of stage 3's exercise 3, "Hardcore:
// acquire_for(duration)" (docs/stage3-bounded-channel.md#exercises): Pool::acquire_for() gives
// up with Errc::kTimeout when no token arrives in time, on BoundedChannel::receive_until(), and
// never loses a token to a deadline. `make workshop-test STAGE=3 EXERCISE=3` runs it; it fails
// on the reference stage 3 and passes with exercises/stage3/exercise3.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "bounded_channel.hpp"
#include "common/net/deadline.hpp"
#include "common/net/error.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage3;

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;
using tcppool::net::Clock;
using tcppool::testing::echo_once;
using tcppool::testing::eventually;

TEST(Stage3Exercise3Channel, ReceiveUntilTimesOutAndLeavesTheQueue) {
  stage::BoundedChannel<int> ch(1);
  auto start = Clock::now();
  auto r = ch.receive_until(Clock::now() + 20ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTimeout);
  EXPECT_GE(Clock::now() - start, 20ms);
  EXPECT_EQ(ch.waiting_receivers(), 0u) << "a receiver that gave up is no longer queued";
  ASSERT_TRUE(ch.send(7));
  auto v = ch.receive_until(Clock::now() + 1s);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 7);
}

TEST(Stage3Exercise3Channel, ReceiveUntilGetsWhatIsSentMeanwhile) {
  stage::BoundedChannel<int> ch(1);
  std::jthread receiver([&] {
    auto v = ch.receive_until(Clock::now() + 10s);
    EXPECT_TRUE(v);
    if (v) EXPECT_EQ(*v, 42);
  });
  ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
  ASSERT_TRUE(ch.send(42));
}

class Stage3Exercise3 : public tcppool::testing::EchoServerTest {};

TEST_F(Stage3Exercise3, AcquireForTimesOutAtTheCap) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1});
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  auto start = Clock::now();
  auto late = pool.acquire_for(50ms);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error(), Errc::kTimeout) << late.error().message();
  EXPECT_GE(Clock::now() - start, 50ms);
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(pool.waiting(), 0u);
  held->reset();
  auto now = pool.acquire_for(50ms);
  ASSERT_TRUE(now) << "the token the timed-out waiter did not take is still there";
  EXPECT_TRUE(echo_once(now->fd()));
}

TEST_F(Stage3Exercise3, AcquireForGetsATokenReleasedInTime) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1});
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::jthread waiter([&] {
    auto lease = pool.acquire_for(10s);
    ASSERT_TRUE(lease) << lease.error().message();
    EXPECT_TRUE(echo_once(lease->fd()));
  });
  ASSERT_TRUE(eventually([&] { return pool.waiting() == 1; }));
  held->reset();
}

// Deadlines that pass while tokens are being handed over: afterwards every token is still
// there, so max_open try_acquire() calls succeed.
TEST_F(Stage3Exercise3, NoTokenIsLostToADeadline) {
  constexpr std::size_t kCap = 3;
  stage::Pool pool({.endpoint = endpoint(), .max_idle = kCap, .max_open = kCap});
  std::atomic<int> served{0}, timed_out{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        std::minstd_rand random(t);
        for (int i = 0; i < 150; ++i) {
          auto lease = pool.acquire_for(std::chrono::milliseconds(random() % 3));
          if (lease) {
            ++served;
            if (random() % 2) std::this_thread::sleep_for(std::chrono::microseconds(200));
          } else {
            EXPECT_EQ(lease.error(), Errc::kTimeout) << lease.error().message();
            ++timed_out;
          }
        }
      });
    }
  }
  EXPECT_GT(served.load(), 0);
  EXPECT_GT(timed_out.load(), 0) << "no deadline passed: the test showed nothing";
  EXPECT_EQ(pool.waiting(), 0u);
  std::vector<stage::Lease> all;
  for (std::size_t i = 0; i < kCap; ++i) {
    auto lease = pool.try_acquire();
    ASSERT_TRUE(lease) << "token " << i << " of " << kCap
                       << " is gone: " << lease.error().message();
    all.push_back(std::move(*lease));
  }
  EXPECT_EQ(pool.open_count(), kCap);
}

}  // namespace
