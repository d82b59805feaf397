// common/testing/conformance/deadlines.hpp: the conformance suite of pools that bound every
// wait (stage 5 on). See basic.hpp for how suites are instantiated.
//
// It uses Pool::Context (a deadline and a cancellation, with with_timeout() and with_cancel()),
// acquire(ctx), Lease::send() and receive() with a context, drain() and state(), and the
// Options fields acquire_timeout, io_timeout, dial_timeout and retry. A wait that must end at a
// deadline is checked from below (it lasted at least the deadline) and, against the machine's
// speed, only from far above (several seconds); a wait that a cancellation ends must end long
// before any deadline would have. Threads are lined up on events: the pool counting a waiter,
// the server counting bytes.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace tcppool::testing {

/// The fixture of the deadlines suite.
template <typename Pool>
class DeadlinesConformance : public EchoServerTest {
 protected:
  /// The stage's Context type.
  using Context = typename Pool::Context;
  /// Durations in the suite's options.
  using Ms = std::chrono::milliseconds;

  /// Returns options pointing at the fixture's server, capped at `max_open`, with no
  /// background work that could disturb a count.
  typename Pool::Options options(std::size_t max_open = 1) const {
    typename Pool::Options o;
    o.endpoint = endpoint();
    o.max_open = o.max_idle = max_open;
    o.heartbeat_interval = Ms(0);
    o.idle_timeout = Ms(0);
    o.max_lifetime = Ms(0);
    return o;
  }

  /// How much longer than a deadline a wait may take before the test calls it unbounded: far
  /// more than any scheduling delay, far less than the waits the suite cuts short.
  static constexpr auto kSlack = std::chrono::seconds(5);
};

TYPED_TEST_SUITE_P(DeadlinesConformance);

// At the cap, acquire(ctx) gives up at the context's deadline, with the acquire-timeout code
// and the pool's state in the error.
TYPED_TEST_P(DeadlinesConformance, AnExhaustedPoolsAcquireFailsAtItsDeadlineNamingTheState) {
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  using namespace std::chrono_literals;
  auto start = net::Clock::now();
  auto lease = pool.acquire(TestFixture::Context::background().with_timeout(100ms));
  auto took = net::Clock::now() - start;
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kAcquireTimeout) << lease.error();
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 100ms + TestFixture::kSlack);
  EXPECT_GE(lease.error().waited(), 100ms);
  EXPECT_EQ(lease.error().state().open, 1u);
  EXPECT_EQ(lease.error().state().in_use, 1u);
  EXPECT_EQ(lease.error().state().idle, 0u);
  EXPECT_EQ(lease.error().state().max_open, 1u);
  std::string line = lease.error().message();
  EXPECT_NE(line.find("timed out waiting for a connection after 1"), std::string::npos) << line;
  EXPECT_NE(line.find("1 open (1 in use, 0 idle), 0 waiting, max_open 1"), std::string::npos)
      << line;
  EXPECT_EQ(pool.waiting(), 0u) << "the waiter that gave up left the queue";
  held->reset();
  EXPECT_TRUE(pool.acquire(TestFixture::Context::background().with_timeout(5s)))
      << "nothing was lost: the connection is there for the next caller";
}

// Options::acquire_timeout bounds even a call with no deadline of its own.
TYPED_TEST_P(DeadlinesConformance, AcquireTimeoutBoundsAnAcquireWithoutADeadline) {
  using namespace std::chrono_literals;
  auto o = this->options(1);
  o.acquire_timeout = 50ms;
  TypeParam pool(o);
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  auto start = net::Clock::now();
  auto lease = pool.acquire();
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kAcquireTimeout);
  EXPECT_GE(net::Clock::now() - start, 50ms);
}

// A cancellation from another thread wakes a waiter at once, whatever its deadline.
TYPED_TEST_P(DeadlinesConformance, CancellationFromAnotherThreadWakesAWaiterAtOnce) {
  using namespace std::chrono_literals;
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  auto [ctx, cancel] = TestFixture::Context::background().with_timeout(1h).with_cancel();
  std::atomic<bool> cancelled{false};
  std::atomic<net::Clock::time_point::rep> returned{0};
  std::jthread waiter([&, ctx = ctx] {
    auto lease = pool.acquire(ctx);
    returned = net::Clock::now().time_since_epoch().count();
    cancelled = !lease && lease.error() == Errc::kCancelled;
  });
  ASSERT_TRUE(eventually([&] { return pool.waiting() == 1; }));
  auto at = net::Clock::now();
  cancel();
  waiter.join();
  EXPECT_TRUE(cancelled.load());
  EXPECT_LT(net::Clock::time_point(net::Clock::duration(returned.load())) - at,
            TestFixture::kSlack);
  EXPECT_EQ(pool.waiting(), 0u);
  auto before = pool.acquire(ctx);
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error(), Errc::kCancelled) << "an already cancelled context waits for nothing";
}

// The race that loses connections in some pools: a release hands a connection to a waiter at
// the moment the waiter gives up. 64 threads with random short deadlines, and random
// cancellations from a second thread, on 8 connections. At the end every slot must still be
// reachable (8 try_acquire() calls succeed and a ninth finds the pool exhausted), the pool's
// counts must add up, and the server never saw more than 8 connections.
TYPED_TEST_P(DeadlinesConformance, CancellationsRacingReleasesLoseNothing) {
  using namespace std::chrono_literals;
  constexpr int kThreads = 64;
  constexpr std::size_t kCap = 8;
  TypeParam pool(this->options(kCap));
  std::atomic<bool> stop{false};
  std::atomic<int> served{0}, gave_up{0};
  std::vector<std::jthread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 300 && !stop.load(); ++i) {
        auto [ctx, cancel] = TestFixture::Context::background()
                                 .with_timeout(std::chrono::microseconds(rng() % 3000))
                                 .with_cancel();
        std::jthread canceller;
        if (rng() % 4 == 0) {
          canceller = std::jthread([cancel = cancel, d = rng() % 1000] {
            std::this_thread::sleep_for(std::chrono::microseconds(d));
            cancel();
          });
        }
        auto lease = pool.acquire(ctx);
        if (!lease) {
          EXPECT_TRUE(lease.error() == Errc::kAcquireTimeout || lease.error() == Errc::kCancelled)
              << lease.error();
          ++gave_up;
          continue;
        }
        ++served;
        // Hold it a moment, sometimes: releases then land on waiters at every stage of giving
        // up. (No discards: a discarded connection's close reaches a busy server late, and its
        // count of open connections would then lag behind the pool's.)
        if (rng() % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      }
    });
  }
  auto give_up = net::Clock::now() + 60s;
  while (served.load() + gave_up.load() < kThreads * 300 && net::Clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  stop = true;
  threads.clear();
  EXPECT_EQ(served.load() + gave_up.load(), kThreads * 300) << "threads still blocked";
  EXPECT_GT(served.load(), 0);
  EXPECT_GT(gave_up.load(), 0) << "the race was never run";
  EXPECT_EQ(pool.waiting(), 0u);
  auto state = pool.state();
  EXPECT_EQ(state.in_use, 0u);
  EXPECT_EQ(state.open, state.idle) << "quiescent: open = idle + in use";
  std::vector<typename TypeParam::Lease> all;
  for (std::size_t i = 0; i < kCap; ++i) {
    auto lease = pool.try_acquire();
    ASSERT_TRUE(lease) << "slot " << i << " was lost: " << lease.error();
    all.push_back(std::move(*lease));
  }
  EXPECT_EQ(pool.try_acquire().error(), Errc::kPoolExhausted) << "and no slot was made up";
  EXPECT_LE(this->server().stats().peak, kCap);
}

// A stalled server holds a request as long as it stalls; the lease's I/O gives up at its
// deadline instead, and the connection, in an unknown state, is not kept.
TYPED_TEST_P(DeadlinesConformance, AStalledServersRequestFailsAtItsIoDeadlineAndIsDiscarded) {
  using namespace std::chrono_literals;
  TypeParam pool(this->options(1));
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  this->server().stall_for(30s);
  std::vector<std::byte> request(64), reply(64);
  echo::fill_pattern(request, 1);
  auto ctx = TestFixture::Context::background().with_timeout(100ms);
  ASSERT_TRUE(lease->send(request, ctx));
  auto start = net::Clock::now();
  auto r = lease->receive(reply, ctx);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTimeout) << r.error().message();
  EXPECT_LT(net::Clock::now() - start, TestFixture::kSlack);
  lease->reset();
  EXPECT_EQ(pool.idle_count(), 0u) << "a connection whose I/O timed out is discarded";
  EXPECT_EQ(pool.open_count(), 0u);
}

// Options::io_timeout bounds I/O with no deadline of its own, kept apart from acquire_timeout.
TYPED_TEST_P(DeadlinesConformance, IoTimeoutBoundsIoWithoutADeadline) {
  using namespace std::chrono_literals;
  auto o = this->options(1);
  o.io_timeout = 50ms;
  o.acquire_timeout = 1h;
  TypeParam pool(o);
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  std::vector<std::byte> reply(8);
  auto start = net::Clock::now();
  auto r = lease->receive(reply);  // the echo server sends nothing unasked
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTimeout);
  EXPECT_GE(net::Clock::now() - start, 50ms);
}

// A cancellation wakes a receive blocked on a silent server at once.
TYPED_TEST_P(DeadlinesConformance, CancellationWakesABlockedReceiveAtOnce) {
  using namespace std::chrono_literals;
  auto o = this->options(1);
  o.io_timeout = std::chrono::hours(1);
  TypeParam pool(o);
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  auto [ctx, cancel] = TestFixture::Context::background().with_cancel();
  std::jthread canceller([cancel = cancel] {
    std::this_thread::sleep_for(50ms);
    cancel();
  });
  std::vector<std::byte> reply(8);
  auto start = net::Clock::now();
  auto r = lease->receive(reply, ctx);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kCancelled);
  EXPECT_LT(net::Clock::now() - start, TestFixture::kSlack);
  lease->reset();
  EXPECT_EQ(pool.open_count(), 0u) << "cancelled mid-request: discarded";
}

// A dial that would wait for a SYN-ACK that never comes is bounded by the context, not only by
// the (much longer) dial_timeout.
TYPED_TEST_P(DeadlinesConformance, ADialIsBoundedByTheContext) {
  using namespace std::chrono_literals;
  auto listener = net::listen_on(net::Endpoint::loopback(0), 1);
  ASSERT_TRUE(listener);
  auto o = this->options(1);
  o.endpoint = "127.0.0.1:" + std::to_string(*net::local_port(listener->fd()));
  o.dial_timeout = std::chrono::seconds(30);
  std::vector<net::Socket> fill;  // fill the backlog: the next SYN is dropped
  for (int i = 0; i < 16; ++i) {
    auto s = net::dial(*net::Endpoint::parse(o.endpoint), net::Deadline::after(100ms));
    if (!s) break;
    fill.push_back(std::move(*s));
  }
  TypeParam pool(o);
  auto start = net::Clock::now();
  auto lease = pool.acquire(TestFixture::Context::background().with_timeout(150ms));
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kAcquireTimeout) << lease.error();
  EXPECT_GE(net::Clock::now() - start, 150ms);
  EXPECT_LT(net::Clock::now() - start, TestFixture::kSlack);
}

// Dial retries stop when the context ends: a cancellation ends a backoff at once.
TYPED_TEST_P(DeadlinesConformance, DialRetriesStopWhenTheContextIsCancelled) {
  using namespace std::chrono_literals;
  auto o = this->options(1);
  {
    auto l = net::listen_on(net::Endpoint::loopback(0));
    ASSERT_TRUE(l);
    o.endpoint = "127.0.0.1:" + std::to_string(*net::local_port(l->fd()));
  }  // nothing listens there now
  o.retry.attempts = 100;
  o.retry.base_backoff = std::chrono::seconds(10);
  o.retry.max_backoff = std::chrono::seconds(10);
  o.retry.budget = std::chrono::hours(1);
  o.retry.open_after = 0;
  o.acquire_timeout = std::chrono::hours(1);
  TypeParam pool(o);
  auto [ctx, cancel] = TestFixture::Context::background().with_cancel();
  std::jthread canceller([cancel = cancel] {
    std::this_thread::sleep_for(100ms);
    cancel();
  });
  auto start = net::Clock::now();
  auto lease = pool.acquire(ctx);
  ASSERT_FALSE(lease);
  EXPECT_TRUE(lease.error() == Errc::kCancelled || lease.error() == std::errc::connection_refused)
      << lease.error();
  EXPECT_LT(net::Clock::now() - start, TestFixture::kSlack) << "slept out a 10 s backoff";
  EXPECT_EQ(pool.open_count(), 0u) << "the slot is back";
}

// drain(): new acquires and waiters get kPoolDraining, a lease given back in time closes
// normally, a straggler blocked in I/O is forced (its call returns at once), and drain() says
// how many it forced.
TYPED_TEST_P(DeadlinesConformance, DrainReturnsLeasesForcesStragglersAndRefusesAcquires) {
  using namespace std::chrono_literals;
  auto o = this->options(3);
  o.io_timeout = std::chrono::hours(1);
  TypeParam pool(o);
  auto prompt = pool.acquire();
  auto straggler = pool.acquire();
  auto third = pool.acquire();
  ASSERT_TRUE(prompt && straggler && third);
  std::atomic<bool> waiter_refused{false};
  std::jthread waiter([&] {
    auto lease = pool.acquire();
    waiter_refused = !lease && lease.error() == Errc::kPoolDraining;
  });
  ASSERT_TRUE(eventually([&] { return pool.waiting() == 1; }));
  std::atomic<bool> forced_out{false};
  std::jthread blocked([&] {
    std::vector<std::byte> reply(8);
    auto r = straggler->receive(reply);  // nothing will come: only drain can end it
    forced_out = !r;
    straggler->reset();
  });
  std::jthread returner([&] {
    std::this_thread::sleep_for(50ms);
    prompt->reset();  // comes back before the deadline
    third->reset();
  });
  auto start = net::Clock::now();
  std::size_t forced = pool.drain(net::Deadline::after(300ms));
  EXPECT_GE(net::Clock::now() - start, 300ms) << "waited for the straggler until the deadline";
  EXPECT_EQ(forced, 1u);
  blocked.join();
  waiter.join();
  returner.join();
  EXPECT_TRUE(forced_out.load()) << "the straggler's receive returned";
  EXPECT_TRUE(waiter_refused.load());
  auto after = pool.acquire();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error(), Errc::kPoolDraining);
  EXPECT_TRUE(this->server().wait_until([](const echo::Stats& s) { return s.active == 0; }))
      << "every connection closed";
}

TYPED_TEST_P(DeadlinesConformance, InvalidTimeoutsAreRejectedNamingTheOption) {
  auto rejected = [](typename TypeParam::Options o, const std::string& name) {
    try {
      TypeParam pool(o);
      ADD_FAILURE() << name << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("Options." + name), std::string::npos) << e.what();
    }
  };
  auto o = this->options();
  o.acquire_timeout = typename TestFixture::Ms(0);
  rejected(o, "acquire_timeout");
  o = this->options();
  o.io_timeout = typename TestFixture::Ms(-1);
  rejected(o, "io_timeout");
}

REGISTER_TYPED_TEST_SUITE_P(
    DeadlinesConformance, AnExhaustedPoolsAcquireFailsAtItsDeadlineNamingTheState,
    AcquireTimeoutBoundsAnAcquireWithoutADeadline, CancellationFromAnotherThreadWakesAWaiterAtOnce,
    CancellationsRacingReleasesLoseNothing,
    AStalledServersRequestFailsAtItsIoDeadlineAndIsDiscarded, IoTimeoutBoundsIoWithoutADeadline,
    CancellationWakesABlockedReceiveAtOnce, ADialIsBoundedByTheContext,
    DialRetriesStopWhenTheContextIsCancelled, DrainReturnsLeasesForcesStragglersAndRefusesAcquires,
    InvalidTimeoutsAreRejectedNamingTheOption);

}  // namespace tcppool::testing
