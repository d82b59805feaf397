// exercises/stage3/exercise4_test.cpp: the grader of stage 3's exercise 4, "Hardcore: barging"
// (docs/stage3-bounded-channel.md#exercises): with Options::barging, a running thread may take
// a released connection ahead of a sleeping waiter, and still no waiter sleeps while a
// connection is free. Without it the pool stays strictly fair. `make workshop-test STAGE=3
// EXERCISE=4` runs it; it fails on the reference stage 3 and passes with
// exercises/stage3/exercise4.patch. The throughput it buys is the benchmark's to say:
// `make workshop-bench STAGE=3` (contention).
#include "pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage3;

namespace {

using tcppool::testing::echo_once;
using tcppool::testing::eventually;

class Stage3Exercise4 : public tcppool::testing::EchoServerTest {
 protected:
  // Rounds of: hold the only connection, let a waiter block, release it and at once try to
  // take it back. The waiter, once served, holds on until that try is over, so that a
  // connection it gave back is not mistaken for one taken from it. Returns how many rounds
  // the releasing thread won.
  static int barges(stage::Pool& pool, int rounds) {
    int won = 0;
    for (int r = 0; r < rounds; ++r) {
      auto held = pool.acquire();
      EXPECT_TRUE(held) << held.error().message();
      if (!held) return won;
      std::latch tried(1);
      std::jthread waiter([&] {
        auto lease = pool.acquire();
        EXPECT_TRUE(lease) << lease.error().message();
        tried.wait();
      });
      EXPECT_TRUE(eventually([&] { return pool.waiting() == 1; }));
      held->reset();
      if (auto again = pool.try_acquire()) ++won;  // given back as it goes out of scope
      tried.count_down();
    }
    return won;
  }
};

// A fair pool hands the released connection to the waiter: the releasing thread never gets it.
TEST_F(Stage3Exercise4, AFairPoolNeverLetsTheReleaserBarge) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1});
  EXPECT_EQ(barges(pool, 20), 0);
}

// A barging pool wakes the waiter and lets whoever comes first take it: the thread that just
// released, already running, usually does.
TEST_F(Stage3Exercise4, ABargingPoolLetsTheReleaserTakeItBack) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1, .barging = true});
  EXPECT_GT(barges(pool, 100), 0) << "in 100 rounds the releasing thread never won";
}

// Barging must not lose a wake-up: a waiter woken for a connection someone else took waits
// again, and is woken again.
TEST_F(Stage3Exercise4, BargingLosesNoWakeups) {
  constexpr std::size_t kCap = 2;
  stage::Pool pool({.endpoint = endpoint(), .max_idle = kCap, .max_open = kCap, .barging = true});
  std::atomic<int> echoed{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          auto lease = pool.acquire();
          ASSERT_TRUE(lease) << lease.error().message();
          if (echo_once(lease->fd(), 64, t * 1000 + i)) ++echoed;
        }
      });
    }
  }
  EXPECT_EQ(echoed.load(), 1600);
  EXPECT_EQ(pool.waiting(), 0u);
  EXPECT_LE(pool.open_count(), kCap);
}

}  // namespace
