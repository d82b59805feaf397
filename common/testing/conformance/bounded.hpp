// common/testing/conformance/bounded.hpp: the conformance suite of pools with a cap on open
// connections (stage 3 on). See basic.hpp for how suites are instantiated.
//
// It sets the Options fields every capped stage has (endpoint, max_idle, max_open) and uses
// Pool::try_acquire(), open_count(), idle_count() and waiting(). Waiting threads are put in a
// known order by waiting for waiting() to count each one before starting the next: an event,
// not a sleep.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/conformance/load.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace tcppool::testing {

/// The fixture of the bounded suite.
template <typename Pool>
class BoundedConformance : public EchoServerTest {
 protected:
  /// Returns options pointing at the fixture's server, capped at `max_open`, keeping all idle.
  typename Pool::Options options(std::size_t max_open) const {
    typename Pool::Options o;
    o.endpoint = endpoint();
    o.max_open = max_open;
    o.max_idle = max_open;
    return o;
  }

  /// options(), with strict FIFO selected where the stage lets its users choose (stage 5 on,
  /// whose default, bounded barging, lets a running thread come before a sleeping one). The
  /// tests of first-come-first-served use it, and say so.
  typename Pool::Options fifo_options(std::size_t max_open) const {
    auto o = options(max_open);
    if constexpr (requires { o.fairness; }) o.fairness = decltype(o.fairness)::kStrictFifo;
    return o;
  }

  /// Starts a thread that acquires and hands the result to `got`, and returns once the pool
  /// counts it among the waiters (`waiters_before` + 1).
  std::jthread start_waiter(
      Pool& pool, std::size_t waiters_before,
      std::function<void(std::expected<typename Pool::Lease, std::error_code>)> got) {
    std::jthread t([&pool, got] { got(pool.acquire()); });
    EXPECT_TRUE(eventually([&] { return pool.waiting() == waiters_before + 1; }))
        << "the waiter never blocked";
    return t;
  }
};

TYPED_TEST_SUITE_P(BoundedConformance);

// 64 threads, 8 connections: at every sample neither the pool nor the server counts more than
// 8 open, and at the end the server's peak is at most 8.
TYPED_TEST_P(BoundedConformance, CapHoldsUnderLoadAtEverySample) {
  constexpr int kThreads = 64;
  constexpr std::size_t kCap = 8;
  TypeParam pool(this->options(kCap));
  std::atomic<bool> done{false};
  std::atomic<int> samples{0};
  std::size_t worst_pool = 0, worst_server = 0;
  std::jthread sampler([&] {
    while (!done.load()) {
      worst_pool = std::max(worst_pool, pool.open_count());
      worst_server = std::max<std::size_t>(worst_server, this->server().stats().active);
      ++samples;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  int ok = run_verified_echoes(pool, kThreads, /*requests=*/40);
  done = true;
  sampler.join();
  EXPECT_EQ(ok, kThreads * 40);
  EXPECT_GT(samples.load(), 0);
  EXPECT_LE(worst_pool, kCap);
  EXPECT_LE(worst_server, kCap);
  EXPECT_LE(this->server().stats().peak, kCap);
  EXPECT_LE(this->server().stats().accepted, kCap) << "nothing was discarded: no redial";
}

TYPED_TEST_P(BoundedConformance, TryAcquireAtTheCapIsExhausted) {
  TypeParam pool(this->options(2));
  auto a = pool.try_acquire();
  auto b = pool.try_acquire();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(pool.open_count(), 2u);
  auto c = pool.try_acquire();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), Errc::kPoolExhausted);
  a->reset();
  auto d = pool.try_acquire();
  EXPECT_TRUE(d) << "a released connection is available again";
}

// Waiters queued in a known order are served in that order (strict FIFO selected).
TYPED_TEST_P(BoundedConformance, WaitersAreServedFirstComeFirstServed) {
  TypeParam pool(this->fifo_options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::jthread> waiters;
  for (int w = 0; w < 4; ++w) {
    waiters.push_back(this->start_waiter(pool, w, [&, w](auto lease) {
      ASSERT_TRUE(lease) << lease.error().message();
      std::scoped_lock lock(mu);
      order.push_back(w);
    }));  // the lease goes back as the lambda returns: to the next waiter
  }
  held->reset();
  waiters.clear();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

// A released connection goes to the thread already waiting, not to a newcomer (strict FIFO
// selected; with bounded barging a newcomer may, until the waiters are due).
TYPED_TEST_P(BoundedConformance, NewcomerCannotTakeAConnectionFromAWaiter) {
  TypeParam pool(this->fifo_options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::promise<void> release_it;
  auto waiter = this->start_waiter(pool, 0, [&](auto lease) {
    EXPECT_TRUE(lease);
    release_it.get_future().wait();  // keep it until the newcomer has tried
  });
  held->reset();  // handed to the waiter, directly
  auto newcomer = pool.try_acquire();
  bool refused = !newcomer && newcomer.error() == Errc::kPoolExhausted;
  newcomer = typename TypeParam::Lease();  // gives back whatever it took
  release_it.set_value();                  // on every path: the waiter must finish
  EXPECT_TRUE(refused) << "a newcomer took the connection released for the waiter";
}

// A discard frees the slot for the waiter, which dials a replacement. If the slot were lost, the
// waiter would block for good: the test then closes the pool to free it, and fails.
TYPED_TEST_P(BoundedConformance, DiscardFreesASlotForAWaiter) {
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::atomic<bool> echoed{false};
  std::atomic<bool> done{false};
  auto waiter = this->start_waiter(pool, 0, [&](auto lease) {
    if (lease) echoed = echo_once(lease->fd()).has_value();
    done = true;
  });
  held->discard();
  bool served = eventually([&] { return done.load(); });
  if (!served) pool.close();
  waiter.join();
  EXPECT_TRUE(served) << "the waiter was never served: the discarded slot was lost";
  EXPECT_TRUE(echoed.load());
  EXPECT_TRUE(this->wait_accepted(2)) << "the waiter dialed a replacement";
  EXPECT_LE(pool.open_count(), 1u);
}

// Above max_idle a released connection still goes to a thread that is waiting for one, rather
// than being closed while that thread dials a new one.
TYPED_TEST_P(BoundedConformance, ReleaseAboveMaxIdleGoesToAWaiterNotToClose) {
  auto o = this->options(2);
  o.max_idle = 0;
  TypeParam pool(o);
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(this->wait_accepted(2));
  std::atomic<bool> echoed{false};
  auto waiter = this->start_waiter(pool, 0, [&](auto lease) {
    if (lease) echoed = echo_once(lease->fd()).has_value();
  });
  a->reset();
  waiter.join();
  EXPECT_TRUE(echoed.load());
  EXPECT_EQ(this->server().stats().accepted, 2u) << "the waiter must get a's connection, not dial";
}

// Destroying the pool closes it: a thread blocked in acquire() wakes with kPoolClosed, and a
// lease still out stays usable.
TYPED_TEST_P(BoundedConformance, DestroyingThePoolWakesItsWaiters) {
  std::optional<TypeParam> pool(std::in_place, this->options(1));
  auto held = pool->acquire();
  ASSERT_TRUE(held);
  std::atomic<bool> closed{false};
  auto waiter = this->start_waiter(
      *pool, 0, [&](auto lease) { closed = !lease && lease.error() == Errc::kPoolClosed; });
  pool.reset();
  waiter.join();
  EXPECT_TRUE(closed.load());
  EXPECT_TRUE(echo_once(held->fd()));
}

// If close() failed to wake a waiter, nothing else could: the join below would wait for good,
// and ctest's TIMEOUT is what fails the test.
TYPED_TEST_P(BoundedConformance, CloseWakesEveryWaiterWithPoolClosed) {
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::atomic<int> closed{0};
  std::vector<std::jthread> waiters;
  for (int w = 0; w < 3; ++w) {
    waiters.push_back(this->start_waiter(pool, w, [&](auto lease) {
      if (!lease && lease.error() == Errc::kPoolClosed) ++closed;
    }));
  }
  pool.close();
  waiters.clear();
  EXPECT_EQ(closed.load(), 3);
  EXPECT_EQ(pool.waiting(), 0u);
  EXPECT_EQ(pool.acquire().error(), Errc::kPoolClosed);
  EXPECT_TRUE(echo_once(held->fd())) << "a lease handed out before close() stays usable";
}

// A dial that fails gives its slot back: with max_open 1, a refused port fails every time
// instead of failing once and then blocking forever.
TYPED_TEST_P(BoundedConformance, FailedDialGivesItsSlotBack) {
  auto o = this->options(1);
  {
    auto l = net::listen_on(net::Endpoint::loopback(0));
    ASSERT_TRUE(l);
    o.endpoint = "127.0.0.1:" + std::to_string(*net::local_port(l->fd()));
  }
  TypeParam pool(o);
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.try_acquire();
    ASSERT_FALSE(lease);
    EXPECT_EQ(lease.error(), std::errc::connection_refused) << "attempt " << i;
  }
  EXPECT_EQ(pool.open_count(), 0u);
}

// Many threads, few connections, random discards: every acquire is eventually served. A lost
// wake-up would leave threads blocked forever; the main thread waits with a deadline and, if
// it passes, closes the pool so the test fails instead of hanging.
TYPED_TEST_P(BoundedConformance, StressHasNoLostWakeups) {
  constexpr int kThreads = 32;
  constexpr int kRounds = 300;
  TypeParam pool(this->options(3));
  std::atomic<int> served{0};
  std::vector<std::jthread> threads;
  std::latch finished(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        auto lease = pool.acquire();
        // Every acquire must return. One may return an error without a wake-up being lost:
        // 32 threads discarding and redialling in a tight loop can starve the in-process
        // server's thread until its listen backlog overflows and a dial times out. kPoolClosed
        // means the watchdog below gave up.
        if (!lease && lease.error() == Errc::kPoolClosed) break;
        ++served;
        if (lease && (t + i) % 7 == 0) lease->discard();
      }
      finished.count_down();
    });
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!finished.try_wait() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  bool all_done = finished.try_wait();
  if (!all_done) pool.close();
  threads.clear();
  EXPECT_TRUE(all_done) << "threads still blocked: a lost wake-up";
  EXPECT_EQ(served.load(), kThreads * kRounds);
  EXPECT_LE(pool.open_count(), 3u);
}

TYPED_TEST_P(BoundedConformance, InvalidCapsAreRejectedNamingTheOption) {
  auto expect_rejected = [](typename TypeParam::Options o, const std::string& name) {
    try {
      TypeParam pool(o);
      ADD_FAILURE() << name << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  auto o = this->options(4);
  o.max_open = 0;
  o.max_idle = 0;
  expect_rejected(o, "max_open");
  o = this->options(4);
  o.max_idle = 5;
  expect_rejected(o, "max_idle");
}

REGISTER_TYPED_TEST_SUITE_P(BoundedConformance, CapHoldsUnderLoadAtEverySample,
                            TryAcquireAtTheCapIsExhausted, WaitersAreServedFirstComeFirstServed,
                            NewcomerCannotTakeAConnectionFromAWaiter, DiscardFreesASlotForAWaiter,
                            ReleaseAboveMaxIdleGoesToAWaiterNotToClose,
                            DestroyingThePoolWakesItsWaiters, CloseWakesEveryWaiterWithPoolClosed,
                            FailedDialGivesItsSlotBack, StressHasNoLostWakeups,
                            InvalidCapsAreRejectedNamingTheOption);

}  // namespace tcppool::testing
