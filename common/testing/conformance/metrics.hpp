// common/testing/conformance/metrics.hpp: the conformance suite of pools that can be seen
// (stage 6). See basic.hpp for how suites are instantiated.
//
// Every counter and gauge must move exactly as the scenario that drives it says: one timeout is
// one timeout, a restart closes a connection by a failed check, a discard is one discard; the
// histograms count every lease once; the gauges come back to rest after close(); a connection
// dialed is, at any quiet moment, either open or closed for exactly one reason. Events reach
// the hook with the pool's name, from a thread that holds no lock of the pool; a slow hook
// holds up only its own queue, whose overflow is counted exactly; a leak is reported once, with
// the file and line of the acquire() that took the lease.
//
// It uses Pool::stats() (Pool::Stats: gauges, counters, HistogramSnapshot wait_time, use_time,
// create_time, closed(CloseReason)), Pool::Event and Pool::EventKind, and the Options fields
// name, on_event, event_queue, leak_threshold and histogram_buckets besides those the health
// and deadlines suites set. Durations appear only as lower bounds the test itself enforces.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace tcppool::testing {

/// The events a pool reported, collected from its hook's thread for a test to wait on.
template <typename Event, typename EventKind>
class EventLog {
 public:
  /// Records one event; the hook the tests install calls it.
  void record(const Event& e) {
    {
      std::scoped_lock lock(mu_);
      events_.push_back(e);
    }
    changed_.notify_all();
  }

  /// Waits until `n` events of `kind` have arrived (up to 10 s); returns whether they did.
  bool wait_for(EventKind kind, std::size_t n = 1) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10),
                             [&] { return count_locked(kind) >= n; });
  }

  /// Returns how many events of `kind` have arrived.
  std::size_t count(EventKind kind) const {
    std::scoped_lock lock(mu_);
    return count_locked(kind);
  }

  /// Returns a copy of every event so far, in order of arrival.
  std::vector<Event> all() const {
    std::scoped_lock lock(mu_);
    return events_;
  }

 private:
  std::size_t count_locked(EventKind kind) const {
    return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(),
                                                  [&](const Event& e) { return e.kind == kind; }));
  }

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Event> events_;  // Guarded by mu_.
};

/// The fixture of the metrics suite.
template <typename Pool>
class MetricsConformance : public EchoServerTest {
 protected:
  /// Durations in the suite's options.
  using Ms = std::chrono::milliseconds;
  /// The stage's types.
  using Stats = typename Pool::Stats;
  /// The stage's event.
  using Event = typename Pool::Event;
  /// The kinds of event.
  using EventKind = typename Pool::EventKind;
  /// Why a connection closed.
  using CloseReason = typename Pool::CloseReason;
  /// The stage's context.
  using Context = typename Pool::Context;

  /// Returns options pointing at the fixture's server, capped at `max_open`, with every
  /// background behaviour off and the events going to log().
  typename Pool::Options options(std::size_t max_open = 2) {
    typename Pool::Options o;
    o.endpoint = endpoint();
    o.max_open = o.max_idle = max_open;
    o.heartbeat_interval = Ms(0);
    o.idle_timeout = Ms(0);
    o.max_lifetime = Ms(0);
    o.maintenance_interval = Ms(10);
    o.seed = 42;
    o.name = "suite";
    o.on_event = [this](const Event& e) { events_.record(e); };
    return o;
  }

  /// The events the pools made with options() reported.
  EventLog<Event, EventKind>& log() { return events_; }

  /// Returns every close the pool counted, whatever the reason.
  static std::uint64_t all_closes(const Stats& s) {
    return std::accumulate(s.closes.begin(), s.closes.end(), std::uint64_t{0});
  }

  /// Returns how many of a histogram's observations lie above `bound` (those in buckets whose
  /// lower edge is at least `bound`).
  template <typename Snapshot>
  static std::uint64_t count_above(const Snapshot& h, std::chrono::nanoseconds bound) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
      if (i > 0 && h.bounds[i - 1] >= bound) n += h.counts[i];
    }
    return n;
  }

  /// Checks the books balance: every connection dialed is still open or was closed for one
  /// reason. Holds whenever the pool is quiet.
  static void expect_balanced(const Stats& s, const char* when) {
    EXPECT_EQ(s.dials - s.dial_failures, s.open + all_closes(s))
        << when << ": " << s.dials << " dials, " << s.dial_failures << " failed, " << s.open
        << " open, " << all_closes(s) << " closed";
    EXPECT_EQ(s.create_time.count(), s.dials - s.dial_failures)
        << when << ": every connection dialed is timed once";
  }

  /// Checks every gauge is at rest: nothing open, idle, leased, dialing or waiting.
  static void expect_at_rest(const Stats& s) {
    EXPECT_EQ(s.open, 0u);
    EXPECT_EQ(s.idle, 0u);
    EXPECT_EQ(s.in_use, 0u);
    EXPECT_EQ(s.dialing, 0u);
    EXPECT_EQ(s.checking, 0u);
    EXPECT_EQ(s.waiting, 0u);
  }

 private:
  EventLog<Event, EventKind> events_;
};

TYPED_TEST_SUITE_P(MetricsConformance);

// A pool nobody used reports its options and zeroes.
TYPED_TEST_P(MetricsConformance, AFreshPoolReportsItsOptionsAndZeroes) {
  auto o = this->options(4);
  o.max_idle = 3;
  o.min_idle = 0;
  TypeParam pool(o);
  auto s = pool.stats();
  EXPECT_EQ(s.pool, "suite");
  EXPECT_EQ(s.max_open, 4u);
  EXPECT_EQ(s.max_idle, 3u);
  EXPECT_EQ(s.min_idle, 0u);
  TestFixture::expect_at_rest(s);
  EXPECT_EQ(s.acquires, 0u);
  EXPECT_EQ(s.dials, 0u);
  EXPECT_EQ(TestFixture::all_closes(s), 0u);
  EXPECT_EQ(s.wait_time.count(), 0u);
  EXPECT_EQ(s.use_time.count(), 0u);
  EXPECT_EQ(s.create_time.count(), 0u);
  EXPECT_EQ(s.wait_time.bounds, o.histogram_buckets);
  EXPECT_EQ(s.wait_time.counts.size(), o.histogram_buckets.size() + 1) << "and a +Inf bucket";
}

// Each lease is counted once when handed out (acquires, wait_time) and once when it comes back
// (use_time); the gauges follow it; one dial serves every reuse.
TYPED_TEST_P(MetricsConformance, EveryLeaseIsCountedAndTimedOnce) {
  TypeParam pool(this->options());
  for (int i = 1; i <= 5; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    ASSERT_TRUE(echo_once(lease->fd()));
    auto held = pool.stats();
    EXPECT_EQ(held.acquires, static_cast<std::uint64_t>(i));
    EXPECT_EQ(held.wait_time.count(), held.acquires);
    EXPECT_EQ(held.use_time.count(), static_cast<std::uint64_t>(i - 1)) << "timed on release";
    EXPECT_EQ(held.in_use, 1u);
    EXPECT_EQ(held.idle, 0u);
    EXPECT_EQ(held.open, 1u);
  }
  auto s = pool.stats();
  EXPECT_EQ(s.acquires, 5u);
  EXPECT_EQ(s.use_time.count(), 5u);
  EXPECT_EQ(s.acquires_waited, 0u);
  EXPECT_EQ(s.dials, 1u);
  EXPECT_EQ(s.dial_failures, 0u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.idle, 1u);
  TestFixture::expect_balanced(s, "after 5 leases");
}

// A caller that finds the pool at its cap is a waiter while it waits, and is counted as one
// that waited; its wait is observed as at least as long as the test made it wait.
TYPED_TEST_P(MetricsConformance, AWaitingAcquireIsAWaiterThenCountedAsWaited) {
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::jthread waiter([&] { EXPECT_TRUE(pool.acquire()); });
  ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
  EXPECT_EQ(pool.stats().acquires_waited, 1u) << "counted when it starts to wait";
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the wait's lower bound
  held->reset();
  waiter.join();
  auto s = pool.stats();
  EXPECT_EQ(s.acquires, 2u);
  EXPECT_EQ(s.acquires_waited, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(TestFixture::count_above(s.wait_time, std::chrono::milliseconds(25)), 1u)
      << "one wait of at least 30 ms; p100 bound " << s.wait_time.quantile_bound(1.0).count()
      << " ns";
  EXPECT_LT(s.wait_time.quantile_bound(0.5), std::chrono::milliseconds(25))
      << "the other acquire waited only for its dial";
}

// One acquire that times out is one timeout (and one waited, and no lease), and one event that
// names the pool and says what it looked like.
TYPED_TEST_P(MetricsConformance, OneTimeoutIsOneTimeoutAndOneEvent) {
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  using namespace std::chrono_literals;
  auto lease = pool.acquire(TestFixture::Context::background().with_timeout(50ms));
  ASSERT_FALSE(lease);
  ASSERT_EQ(lease.error(), Errc::kAcquireTimeout);
  auto s = pool.stats();
  EXPECT_EQ(s.acquire_timeouts, 1u);
  EXPECT_EQ(s.acquires_waited, 1u);
  EXPECT_EQ(s.acquire_cancellations, 0u);
  EXPECT_EQ(s.acquire_failures, 0u);
  EXPECT_EQ(s.acquires, 1u) << "only the lease held";
  ASSERT_TRUE(this->log().wait_for(TestFixture::EventKind::kAcquireTimeout));
  auto events = this->log().all();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].pool, "suite");
  EXPECT_EQ(events[0].error, Errc::kAcquireTimeout);
  EXPECT_NE(events[0].message.find("1 open (1 in use, 0 idle)"), std::string::npos)
      << events[0].message;
}

// A cancelled wait is a cancellation, not a timeout, and not an event.
TYPED_TEST_P(MetricsConformance, OneCancellationIsOneCancellation) {
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  auto [ctx, cancel] = TestFixture::Context::background().with_cancel();
  std::jthread waiter([&, ctx = ctx] {
    auto lease = pool.acquire(ctx);
    EXPECT_FALSE(lease);
    if (!lease) {
      EXPECT_EQ(lease.error(), Errc::kCancelled);
    }
  });
  ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
  cancel();
  waiter.join();
  auto s = pool.stats();
  EXPECT_EQ(s.acquire_cancellations, 1u);
  EXPECT_EQ(s.acquire_timeouts, 0u);
  EXPECT_EQ(s.acquire_failures, 0u);
  EXPECT_EQ(s.waiting, 0u);
  pool.close();  // delivers nothing more: the log is complete
  EXPECT_EQ(this->log().all().size(), 0u);
}

// try_acquire() at the cap fails as exhausted: a failure of its own kind, with no wait.
TYPED_TEST_P(MetricsConformance, AnExhaustedTryAcquireIsAFailureThatDidNotWait) {
  TypeParam pool(this->options(1));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  auto lease = pool.try_acquire();
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kPoolExhausted);
  auto s = pool.stats();
  EXPECT_EQ(s.acquire_failures, 1u);
  EXPECT_EQ(s.acquires_waited, 0u);
  EXPECT_EQ(s.acquire_timeouts, 0u);
}

// Discarded, above max idle, pool closed: each close counted once, under its own reason, and
// the gauges at rest once the pool is closed.
TYPED_TEST_P(MetricsConformance, EachCloseIsCountedUnderItsReason) {
  using R = typename TestFixture::CloseReason;
  auto o = this->options(3);
  o.max_idle = 1;
  TypeParam pool(o);
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    ASSERT_TRUE(a && b && c);
    a->discard();
    auto s = pool.stats();
    EXPECT_EQ(s.closed(R::kDiscarded), 1u);
    EXPECT_EQ(s.open, 2u);
  }  // b goes back idle; c finds max_idle (1) idle already
  auto s = pool.stats();
  EXPECT_EQ(s.closed(R::kAboveMaxIdle), 1u);
  EXPECT_EQ(s.idle, 1u);
  EXPECT_EQ(s.open, 1u);
  TestFixture::expect_balanced(s, "before close");
  auto late = pool.acquire();  // the idle one, released after close()
  ASSERT_TRUE(late);
  auto spare = pool.acquire();  // and one idle at close()
  ASSERT_TRUE(spare);
  spare->reset();
  pool.close();
  EXPECT_EQ(pool.stats().closed(R::kPoolClosed), 1u) << "the idle one";
  late->reset();
  s = pool.stats();
  EXPECT_EQ(s.closed(R::kPoolClosed), 2u) << "and the one released after close()";
  EXPECT_EQ(s.closed(R::kDiscarded), 1u);
  EXPECT_EQ(s.closed(R::kAboveMaxIdle), 1u);
  EXPECT_EQ(s.closed(R::kFailedCheck) + s.closed(R::kIdleTimeout) + s.closed(R::kLifetime) +
                s.closed(R::kHeartbeat) + s.closed(R::kForced),
            0u);
  TestFixture::expect_at_rest(s);
  TestFixture::expect_balanced(s, "after close");
}

// A restart leaves the idle connection closed by the server: the peek on acquire turns it
// away, counted as a failed check, and a second dial replaces it.
TYPED_TEST_P(MetricsConformance, AServerRestartIsCountedAsAFailedCheck) {
  using R = typename TestFixture::CloseReason;
  TypeParam pool(this->options(1));
  { ASSERT_TRUE(pool.acquire()); }
  ASSERT_TRUE(this->server().restart());
  auto lease = pool.acquire();
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_TRUE(echo_once(lease->fd()));
  auto s = pool.stats();
  EXPECT_EQ(s.health_check_failures, 1u);
  EXPECT_EQ(s.closed(R::kFailedCheck), 1u);
  EXPECT_EQ(s.dials, 2u);
  EXPECT_EQ(s.acquires, 2u);
  TestFixture::expect_balanced(s, "after the redial");
}

// The maintenance thread's closes: idle too long, and too old, each under its own reason.
TYPED_TEST_P(MetricsConformance, IdleTimeoutAndLifetimeAreCountedApart) {
  using R = typename TestFixture::CloseReason;
  {
    auto o = this->options(1);
    o.idle_timeout = typename TestFixture::Ms(50);
    TypeParam pool(o);
    { ASSERT_TRUE(pool.acquire()); }
    ASSERT_TRUE(eventually([&] { return pool.stats().closed(R::kIdleTimeout) == 1; }));
    auto s = pool.stats();
    EXPECT_EQ(s.closed(R::kLifetime), 0u);
    EXPECT_EQ(s.open, 0u);
  }
  {
    auto o = this->options(1);
    o.max_lifetime = typename TestFixture::Ms(50);
    o.lifetime_jitter = 0;
    TypeParam pool(o);
    { ASSERT_TRUE(pool.acquire()); }
    ASSERT_TRUE(eventually([&] { return pool.stats().closed(R::kLifetime) == 1; }));
    auto s = pool.stats();
    EXPECT_EQ(s.closed(R::kIdleTimeout), 0u);
    EXPECT_EQ(s.open, 0u);
    TestFixture::expect_balanced(s, "after the lifetime");
  }
}

// A stalled server: each missed heartbeat is counted, the connection closed after
// heartbeat_misses of them is a heartbeat close, and the failure is an event.
TYPED_TEST_P(MetricsConformance, MissedHeartbeatsAreCountedAndReported) {
  using R = typename TestFixture::CloseReason;
  auto o = this->options(1);
  o.heartbeat_interval = typename TestFixture::Ms(50);
  o.heartbeat_timeout = typename TestFixture::Ms(30);
  o.heartbeat_misses = 2;
  TypeParam pool(o);
  { ASSERT_TRUE(pool.acquire()); }
  this->server().stall_for(std::chrono::seconds(20));
  ASSERT_TRUE(this->log().wait_for(TestFixture::EventKind::kHeartbeatFailed));
  ASSERT_TRUE(eventually([&] { return pool.stats().open == 0; }));
  auto s = pool.stats();
  EXPECT_EQ(s.heartbeat_misses, 2u) << "two misses in a row close it";
  EXPECT_EQ(s.closed(R::kHeartbeat), 1u);
  EXPECT_EQ(this->log().all().front().pool, "suite");
}

// drain() forces a lease still out at its deadline: that connection is counted as forced.
TYPED_TEST_P(MetricsConformance, DrainCountsWhatItForced) {
  using R = typename TestFixture::CloseReason;
  TypeParam pool(this->options(2));
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  { ASSERT_TRUE(pool.acquire()); }  // one idle
  using namespace std::chrono_literals;
  EXPECT_EQ(pool.drain(net::Deadline::after(20ms)), 1u);
  held->reset();
  auto s = pool.stats();
  EXPECT_EQ(s.closed(R::kForced), 1u);
  EXPECT_EQ(s.closed(R::kPoolClosed), 1u);
  TestFixture::expect_at_rest(s);
  TestFixture::expect_balanced(s, "after drain");
}

// A server that is not there: every attempt is a dial and a failed dial, nothing is timed as
// created, and the breaker opening is reported once however many acquires then fail fast.
TYPED_TEST_P(MetricsConformance, FailedDialsAreCountedAndTheBreakerIsReportedOnce) {
  auto o = this->options(1);
  {
    auto l = net::listen_on(net::Endpoint::loopback(0));
    ASSERT_TRUE(l);
    o.endpoint = "127.0.0.1:" + std::to_string(*net::local_port(l->fd()));
  }  // nothing listens there now
  o.retry.attempts = 2;
  o.retry.base_backoff = typename TestFixture::Ms(1);
  o.retry.open_after = 2;
  o.retry.cooldown = std::chrono::seconds(30);
  TypeParam pool(o);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(pool.acquire());
  ASSERT_TRUE(this->log().wait_for(TestFixture::EventKind::kDialFailing));
  auto s = pool.stats();
  EXPECT_EQ(s.dials, 4u) << "two dials of two attempts each, then the breaker fails fast";
  EXPECT_EQ(s.dial_failures, 4u);
  EXPECT_EQ(s.create_time.count(), 0u);
  EXPECT_EQ(s.acquire_failures, 5u);
  EXPECT_EQ(s.acquires, 0u);
  pool.close();
  EXPECT_EQ(this->log().count(TestFixture::EventKind::kDialFailing), 1u);
}

// run()'s one retry of an idempotent request on a stale connection is counted.
TYPED_TEST_P(MetricsConformance, ARetryIsCounted) {
  auto o = this->options(1);
  o.skip_check_within = std::chrono::hours(1);     // let the stale connection through the check
  o.maintenance_interval = std::chrono::hours(1);  // and keep the maintenance pass from it
  TypeParam pool(o);
  { ASSERT_TRUE(pool.acquire()); }
  this->server().set_faults({.idle_close = std::chrono::milliseconds(10)});
  ASSERT_TRUE(this->server().wait_until(
      [](const echo::Stats& s) { return s.closed(echo::CloseCause::kIdle) >= 1; }));
  this->server().set_faults({});
  auto r = pool.run([](typename TypeParam::Lease& lease) { return echo_once(lease.fd()); },
                    TypeParam::Idempotent::kYes);
  ASSERT_TRUE(r) << r.error().message();
  auto s = pool.stats();
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.closed(TestFixture::CloseReason::kDiscarded), 1u) << "the stale one";
  EXPECT_EQ(s.acquires, 3u) << "the first lease, the stale one and the fresh one";
}

// Under load from several threads the books still balance: every lease counted and timed once,
// every connection dialed open or closed for one reason, and after close() every gauge at rest.
TYPED_TEST_P(MetricsConformance, TheBooksBalanceUnderLoad) {
  constexpr int kThreads = 8;
  constexpr int kEach = 300;
  auto o = this->options(4);
  o.max_idle = 2;  // so that some releases close, above max idle
  TypeParam pool(o);
  std::atomic<int> failed{0};
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          auto r = pool.run([&](typename TypeParam::Lease& lease) {
            return echo_once(lease.fd(), 32, static_cast<std::uint64_t>(t) << 32 | i);
          });
          if (!r) ++failed;
        }
      });
    }
  }
  EXPECT_EQ(failed.load(), 0);
  auto s = pool.stats();
  constexpr std::uint64_t kAll = kThreads * kEach;
  EXPECT_EQ(s.acquires, kAll);
  EXPECT_EQ(s.wait_time.count(), kAll);
  EXPECT_EQ(s.use_time.count(), kAll);
  EXPECT_LE(s.open, 4u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.waiting, 0u);
  TestFixture::expect_balanced(s, "quiet, after the load");
  pool.close();
  s = pool.stats();
  TestFixture::expect_at_rest(s);
  TestFixture::expect_balanced(s, "after close");
}

// A lease held past leak_threshold is reported once, naming the file and line that acquired
// it, however many maintenance passes see it; a lease made later on the same slot is looked at
// afresh.
TYPED_TEST_P(MetricsConformance, ALeakIsReportedOnceWithTheFileAndLineThatAcquiredIt) {
  using Kind = typename TestFixture::EventKind;
  auto o = this->options(2);
  o.leak_threshold = typename TestFixture::Ms(30);
  o.maintenance_interval = typename TestFixture::Ms(5);
  TypeParam pool(o);
  std::vector<unsigned> lines;
  lines.push_back(__LINE__ + 1);
  auto first = pool.acquire();
  ASSERT_TRUE(first);
  ASSERT_TRUE(this->log().wait_for(Kind::kSuspectedLeak));
  lines.push_back(__LINE__ + 1);
  auto second = pool.acquire();
  ASSERT_TRUE(second);
  // Six passes or more run before the second is reported, with the first still held.
  ASSERT_TRUE(this->log().wait_for(Kind::kSuspectedLeak, 2));
  first->reset();
  second->reset();
  lines.push_back(__LINE__ + 1);
  auto third = pool.acquire();  // on a slot that was reported before
  ASSERT_TRUE(third);
  ASSERT_TRUE(this->log().wait_for(Kind::kSuspectedLeak, 3))
      << "a new lease on a slot is a lease of its own";
  third->reset();
  pool.close();  // no more events: the log is complete
  auto events = this->log().all();
  ASSERT_EQ(events.size(), 3u) << "each lease reported once, however many passes saw it";
  const std::string file = __FILE__;
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(std::string(events[i].where.file_name()), file);
    EXPECT_EQ(events[i].where.line(), lines[i]);
    EXPECT_GE(events[i].held, std::chrono::milliseconds(30));
    EXPECT_NE(events[i].message.find(file + ":" + std::to_string(lines[i])), std::string::npos)
        << events[i].message;
  }
  EXPECT_EQ(pool.stats().leaks_suspected, 3u);
}

// A hook that blocks holds up only its own queue: the pool keeps serving, events beyond the
// queue's room are dropped and counted exactly, and the queued ones arrive once it returns.
TYPED_TEST_P(MetricsConformance, ASlowHookStallsOnlyItsQueueWhoseOverflowIsCounted) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  std::atomic<int> delivered{0};
  auto o = this->options(1);
  o.event_queue = 2;
  o.on_event = [&](const typename TestFixture::Event&) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    ++delivered;
  };
  TypeParam pool(o);
  auto unblock = [&] {
    {
      std::scoped_lock lock(mu);
      release = true;
    }
    cv.notify_all();
  };
  // Declared after the pool, so destroyed before it: a failed assertion still unblocks the hook
  // before the pool's close() waits for it.
  struct Unblock {
    decltype(unblock)& fn;
    ~Unblock() { fn(); }
  } unblock_at_exit{unblock};
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  using namespace std::chrono_literals;
  auto time_out = [&] {
    EXPECT_FALSE(pool.acquire(TestFixture::Context::background().with_timeout(1ms)));
  };
  time_out();  // event 1: the hook takes it and blocks
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  for (int i = 0; i < 4; ++i) time_out();  // events 2 and 3 queue; 4 and 5 find it full
  held->reset();
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(pool.acquire()) << "the pool serves meanwhile";
  auto s = pool.stats();
  EXPECT_EQ(s.acquire_timeouts, 5u);
  EXPECT_EQ(s.events_dropped, 2u);
  unblock();
  EXPECT_TRUE(eventually([&] { return delivered.load() == 3; }));
  pool.close();
  EXPECT_EQ(delivered.load(), 3);
}

// A hook that throws loses its event, not the thread: later events still arrive.
TYPED_TEST_P(MetricsConformance, AHookThatThrowsDoesNotStopTheEvents) {
  std::atomic<int> calls{0};
  auto o = this->options(1);
  o.on_event = [&](const typename TestFixture::Event&) {
    if (calls.fetch_add(1) == 0) throw std::runtime_error("a hook's own bug");
  };
  TypeParam pool(o);
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  using namespace std::chrono_literals;
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(pool.acquire(TestFixture::Context::background().with_timeout(1ms)));
  }
  EXPECT_TRUE(eventually([&] { return calls.load() == 3; }));
}

// The hook runs with no lock of the pool held: it may read the stats and take a lease.
TYPED_TEST_P(MetricsConformance, TheHookMayCallThePool) {
  std::atomic<TypeParam*> self{nullptr};
  std::atomic<int> leased{0};
  std::atomic<std::uint64_t> seen_timeouts{0};
  auto o = this->options(1);
  o.on_event = [&](const typename TestFixture::Event& e) {
    TypeParam* pool = self.load();
    seen_timeouts = pool->stats().acquire_timeouts;
    using namespace std::chrono_literals;
    if (pool->acquire(TestFixture::Context::background().with_timeout(5s))) ++leased;
    this->log().record(e);
  };
  TypeParam pool(o);
  self = &pool;
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  using namespace std::chrono_literals;
  EXPECT_FALSE(pool.acquire(TestFixture::Context::background().with_timeout(1ms)));
  held->reset();  // the hook's own acquire can now succeed
  ASSERT_TRUE(this->log().wait_for(TestFixture::EventKind::kAcquireTimeout));
  EXPECT_EQ(leased.load(), 1);
  EXPECT_EQ(seen_timeouts.load(), 1u);
}

// The metrics options are validated like the rest, naming the option.
TYPED_TEST_P(MetricsConformance, InvalidMetricsOptionsAreRejectedNamingTheOption) {
  auto rejects = [&](auto change, const std::string& name) {
    auto o = this->options();
    change(o);
    try {
      TypeParam pool(o);
      ADD_FAILURE() << name << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("Options." + name + ":"), std::string::npos) << e.what();
    }
  };
  using O = typename TypeParam::Options;
  using std::chrono::nanoseconds;
  rejects([](O& o) { o.name = ""; }, "name");
  rejects([](O& o) { o.name = std::string(129, 'p'); }, "name");
  rejects([](O& o) { o.name = "two\nlines"; }, "name");
  rejects([](O& o) { o.histogram_buckets = {}; }, "histogram_buckets");
  rejects(
      [](O& o) {
        o.histogram_buckets = {nanoseconds(10), nanoseconds(10)};
      },
      "histogram_buckets");
  rejects([](O& o) { o.histogram_buckets = {nanoseconds(0)}; }, "histogram_buckets");
  rejects([](O& o) { o.histogram_buckets.assign(33, nanoseconds(1)); }, "histogram_buckets");
  rejects([](O& o) { o.leak_threshold = typename TestFixture::Ms(-1); }, "leak_threshold");
  rejects([](O& o) { o.leak_threshold = std::chrono::hours(25); }, "leak_threshold");
  rejects([](O& o) { o.event_queue = 0; }, "event_queue");
}

REGISTER_TYPED_TEST_SUITE_P(
    MetricsConformance, AFreshPoolReportsItsOptionsAndZeroes, EveryLeaseIsCountedAndTimedOnce,
    AWaitingAcquireIsAWaiterThenCountedAsWaited, OneTimeoutIsOneTimeoutAndOneEvent,
    OneCancellationIsOneCancellation, AnExhaustedTryAcquireIsAFailureThatDidNotWait,
    EachCloseIsCountedUnderItsReason, AServerRestartIsCountedAsAFailedCheck,
    IdleTimeoutAndLifetimeAreCountedApart, MissedHeartbeatsAreCountedAndReported,
    DrainCountsWhatItForced, FailedDialsAreCountedAndTheBreakerIsReportedOnce, ARetryIsCounted,
    TheBooksBalanceUnderLoad, ALeakIsReportedOnceWithTheFileAndLineThatAcquiredIt,
    ASlowHookStallsOnlyItsQueueWhoseOverflowIsCounted, AHookThatThrowsDoesNotStopTheEvents,
    TheHookMayCallThePool, InvalidMetricsOptionsAreRejectedNamingTheOption);

}  // namespace tcppool::testing
