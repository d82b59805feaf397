// common/testing/conformance/barging.hpp: the conformance suite of pools with bounded barging
// at the cap (stage 5 on). See basic.hpp for how suites are instantiated.
//
// It uses Options::fairness (Fairness::kBoundedBarging, the default, and kStrictFifo) and
// Options::starvation_bound, beside what the bounded suite uses. A running thread may take a
// released connection ahead of a sleeping waiter (shown as a race the running thread must win
// at least once in many rounds); a waiter past the bound is handed the next release directly
// (shown with time passing, the one thing that makes it so); and under 64 threads on 8
// connections no acquire waits far past the bound (a bound asserted generously: the figure is
// the benchmark's to report). The random cancellation stress of the deadlines suite runs with
// barging on, the default.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace tcppool::testing {

/// The fixture of the barging suite.
template <typename Pool>
class BargingConformance : public EchoServerTest {
 protected:
  /// Durations in the suite's options.
  using Ms = std::chrono::milliseconds;
  /// The stage's fairness type.
  using Fairness = decltype(typename Pool::Options{}.fairness);

  /// Returns options pointing at the fixture's server, capped at `max_open`, with bounded
  /// barging and the given starvation bound, and no background work.
  typename Pool::Options options(std::size_t max_open, Ms bound) const {
    typename Pool::Options o;
    o.endpoint = endpoint();
    o.max_open = o.max_idle = max_open;
    o.fairness = Fairness::kBoundedBarging;
    o.starvation_bound = bound;
    o.heartbeat_interval = Ms(0);
    o.idle_timeout = Ms(0);
    o.max_lifetime = Ms(0);
    return o;
  }

  /// Starts a thread that acquires, keeps the lease until `release` is set, and returns once
  /// the pool counts it among the waiters.
  std::jthread start_waiter(Pool& pool, std::shared_future<void> release,
                            std::atomic<bool>& served) {
    std::jthread t([&pool, release, &served] {
      auto lease = pool.acquire();
      EXPECT_TRUE(lease) << lease.error().message();
      served = lease.has_value();
      release.wait();
    });
    EXPECT_TRUE(eventually([&] { return pool.waiting() == 1; })) << "the waiter never blocked";
    return t;
  }
};

TYPED_TEST_SUITE_P(BargingConformance);

TYPED_TEST_P(BargingConformance, BargingIsTheDefault) {
  typename TypeParam::Options o;
  EXPECT_EQ(o.fairness, TestFixture::Fairness::kBoundedBarging);
  EXPECT_GT(o.starvation_bound, typename TestFixture::Ms(0));
}

// The point of barging: a connection released while a thread sleeps waiting for one is taken
// by a thread that is running, at once, instead of sitting idle while the sleeper wakes.
// Whether the releasing thread's own try_acquire() comes before the woken waiter has run is a
// race, which the running thread usually wins; so of up to 50 rounds at least one must win
// (under strict FIFO none can: NewcomerCannotTakeAConnectionFromAWaiter). The sleeper is
// served in every round.
TYPED_TEST_P(BargingConformance, ARunningThreadMayTakeAReleasedConnectionAheadOfASleeper) {
  TypeParam pool(this->options(1, std::chrono::minutes(1)));
  int barged = 0;
  for (int round = 0; round < 50 && barged == 0; ++round) {
    auto held = pool.acquire();
    ASSERT_TRUE(held);
    std::promise<void> release;
    std::atomic<bool> served{false};
    auto waiter = this->start_waiter(pool, release.get_future().share(), served);
    held->reset();
    if (auto again = pool.try_acquire()) ++barged;  // and released at once, to the sleeper
    release.set_value();
    waiter.join();
    EXPECT_TRUE(served.load()) << "round " << round << ": the sleeper was never served";
  }
  EXPECT_GE(barged, 1) << "a running thread never came before the sleeping waiter";
}

// Past the bound there is no barging: the next release goes to the waiter directly, and a
// running thread's try_acquire() finds the pool exhausted. Time passing is what makes it so,
// so the test lets it pass: the bound plus a margin after the pool counted the waiter (which
// it does after the waiter has started its wait).
TYPED_TEST_P(BargingConformance, AWaiterPastTheStarvationBoundIsHandedTheNextRelease) {
  constexpr typename TestFixture::Ms kBound(30);
  TypeParam pool(this->options(1, kBound));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::promise<void> release;
  std::atomic<bool> served{false};
  auto waiter = this->start_waiter(pool, release.get_future().share(), served);
  std::this_thread::sleep_until(net::Clock::now() + kBound + std::chrono::milliseconds(5));
  held->reset();
  auto barger = pool.try_acquire();
  bool refused = !barger && barger.error() == Errc::kPoolExhausted;
  barger = typename TypeParam::Lease();  // gives back whatever it took
  release.set_value();
  waiter.join();
  EXPECT_TRUE(refused) << "a running thread took the connection of a waiter past the bound";
  EXPECT_TRUE(served.load());
}

// The starvation test: 64 threads each doing verified echoes through 8 connections for a
// bounded time. Barging lets running threads keep the connections; the bound is what makes the
// sleepers get one. Every acquire is timed from outside the pool; none may wait longer than the
// bound plus a margin far above any scheduling delay (the run lasts several margins, so a pool
// that ignored its bound would leave some sleeper waiting longer). The benchmark reports the
// real figure; this asserts the property.
TYPED_TEST_P(BargingConformance, NoWaiterWaitsFarPastTheStarvationBound) {
  using namespace std::chrono_literals;
  constexpr int kThreads = 64;
  constexpr std::size_t kCap = 8;
  constexpr typename TestFixture::Ms kBound(20);
  constexpr auto kMargin = 1500ms;  // scheduling 64 threads on a loaded 2-core CI machine
  constexpr auto kRun = 5s;
  TypeParam pool(this->options(kCap, kBound));
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::atomic<int> over_bound{0};  // acquires that waited longer than the bound itself
  std::vector<net::Clock::duration> worst(kThreads, net::Clock::duration::zero());
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (std::uint64_t i = 0; i < 100000 && !stop.load(); ++i) {
          const auto start = net::Clock::now();
          auto lease = pool.acquire();
          const auto waited = net::Clock::now() - start;
          if (!lease) {
            ADD_FAILURE() << "acquire: " << lease.error().message();
            return;
          }
          worst[t] = std::max(worst[t], waited);
          if (waited > kBound) ++over_bound;
          if (!echo_once(lease->fd(), 64, static_cast<std::uint64_t>(t) << 32 | i)) {
            ADD_FAILURE() << "echo failed";
            lease->discard();
            return;
          }
          ++served;
        }
      });
    }
    std::this_thread::sleep_for(kRun);  // the run's length is what is under test: a duration
    stop = true;
  }
  auto max_wait = *std::max_element(worst.begin(), worst.end());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(max_wait).count();
  ::testing::Test::RecordProperty("max_wait_ms", std::to_string(ms));
  ::testing::Test::RecordProperty("waits_over_bound", std::to_string(over_bound.load()));
  ::testing::Test::RecordProperty("served", std::to_string(served.load()));
  EXPECT_GT(served.load(), kThreads) << "the run made no progress";
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_LE(worst[t], kBound + kMargin)
        << "thread " << t << " waited "
        << std::chrono::duration_cast<std::chrono::milliseconds>(worst[t]).count()
        << " ms for a connection (bound " << kBound.count() << " ms)";
  }
  EXPECT_EQ(pool.waiting(), 0u);
}

TYPED_TEST_P(BargingConformance, InvalidFairnessOptionsAreRejectedNamingTheOption) {
  auto expect_rejected = [](typename TypeParam::Options o, const std::string& name) {
    try {
      TypeParam pool(o);
      ADD_FAILURE() << name << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("Options." + name + ":"), std::string::npos) << e.what();
    }
  };
  auto o = this->options(2, typename TestFixture::Ms(10));
  o.starvation_bound = typename TestFixture::Ms(0);
  expect_rejected(o, "starvation_bound");
  o.starvation_bound = std::chrono::minutes(2);
  expect_rejected(o, "starvation_bound");
  o = this->options(2, typename TestFixture::Ms(10));
  o.fairness = static_cast<typename TestFixture::Fairness>(7);
  expect_rejected(o, "fairness");
}

REGISTER_TYPED_TEST_SUITE_P(BargingConformance, BargingIsTheDefault,
                            ARunningThreadMayTakeAReleasedConnectionAheadOfASleeper,
                            AWaiterPastTheStarvationBoundIsHandedTheNextRelease,
                            NoWaiterWaitsFarPastTheStarvationBound,
                            InvalidFairnessOptionsAreRejectedNamingTheOption);

}  // namespace tcppool::testing
