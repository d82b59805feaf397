// stage6-metrics/metrics.hpp: the pool's instruments (counters and histograms updated on the
// hot path), the events it reports, and Stats, the snapshot Pool::stats() returns.
//
// Technique: every instrument is a relaxed atomic: it orders nothing, it only counts, so an
// increment is one `lock add` and never a fence. What makes instruments slow is not the atomic
// but the cache line it lives on: when threads on two cores increment counters that share a
// line, each increment moves the line between the cores (false sharing), and a counter every
// acquire touches becomes the pool's most contended location. So the instruments that every
// acquire and release update (the wait-time and use-time histograms) are sharded: each thread
// writes to one of kShards copies, each on its own cache lines, and stats() adds the copies up.
// The instruments updated only on slower paths (a timeout, a dial, a close) are single atomics,
// kept on lines of their own away from the pool's state. The gauges (connections by state,
// waiters) are not instruments at all: the pool already counts them, and stats() reads those
// counts. bench: `instruments/shards:1` against `instruments/shards:8` measures the difference.
//
// New in stage 6.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/net/deadline.hpp"

namespace tcppool::stage6 {

/// Why the pool closed a connection. Each has its own counter (Stats::closes).
enum class CloseReason : std::uint8_t {
  kIdleTimeout,   ///< Idle longer than Options::idle_timeout.
  kLifetime,      ///< Older than its lifetime (Options::max_lifetime, less jitter).
  kFailedCheck,   ///< The peek found it closed, reset or out of step, or the reset hook failed.
  kHeartbeat,     ///< A heartbeat failed, or too many were missed in a row.
  kDiscarded,     ///< Its lease discarded it: discard(), or a failed send() or receive().
  kAboveMaxIdle,  ///< Released while max_idle connections were already idle.
  kPoolClosed,    ///< The pool was closed (or drained) while it was idle, or released after.
  kForced,        ///< drain() forced it: still leased when the drain's deadline passed.
  kCount          ///< The number of reasons (not a reason).
};

/// Returns the reason's name as the exposition writes it: "idle_timeout", "lifetime",
/// "failed_check", "heartbeat", "discarded", "above_max_idle", "pool_closed", "forced".
std::string_view to_string(CloseReason reason) noexcept;

/// The most bucket bounds a histogram may have (Options::histogram_buckets).
inline constexpr std::size_t kMaxBuckets = 32;

/// The default bucket bounds of every histogram: 1 us to 10 s in 1-2.5-5 steps, 22 of them,
/// plus the implicit +Inf bucket. Wide enough for a loopback acquire (about 300 ns, counted in
/// the first bucket) and for a dial that retries for seconds.
std::vector<std::chrono::nanoseconds> default_buckets();

/// A histogram as stats() read it. Buckets are not cumulative: counts[i] is the number of
/// observations in (bounds[i-1], bounds[i]], and counts.back() those above the last bound
/// (Prometheus's +Inf bucket holds count()).
struct HistogramSnapshot {
  std::vector<std::chrono::nanoseconds> bounds;  ///< Upper bounds, ascending.
  std::vector<std::uint64_t> counts;             ///< bounds.size() + 1 counts.
  std::chrono::nanoseconds sum{};                ///< Sum of the observations.

  /// Returns the number of observations: the sum of the counts, so always consistent with
  /// them.
  std::uint64_t count() const noexcept;

  /// Returns the upper bound of the bucket holding the q-quantile observation (0 < q <= 1),
  /// Clock::duration::max() when it is in the +Inf bucket, zero when empty. As precise as the
  /// buckets: a p99 of "at most 2.5 ms".
  std::chrono::nanoseconds quantile_bound(double q) const noexcept;
};

/// What a Pool looked like at one moment, and everything it counted since it was made.
///
/// Read together or not: each gauge is read once, one after another, with no lock, so while the
/// pool is busy they may disagree by a connection or a waiter (idle + used + dialing + checking
/// is open up to that). Each counter is exact at the moment it is read; two counters may be a
/// moment apart (an acquire counted in acquires_waited but not yet in acquire_timeouts). A
/// histogram's count() always equals the sum of its buckets; its sum may be a moment behind
/// them. Once the pool is quiet (no call under way) every field is exact and they all agree.
struct Stats {
  std::string pool;  ///< Options::name: the `pool` label of every metric.

  // ---- gauges ----
  std::size_t open = 0;      ///< Connections open or being dialed.
  std::size_t idle = 0;      ///< Of those, idle and ready to be handed out.
  std::size_t in_use = 0;    ///< Of those, held by leases ("used").
  std::size_t dialing = 0;   ///< Of those, being dialed.
  std::size_t checking = 0;  ///< Of those, held by the maintenance thread (a check, a heartbeat,
                             ///< or out of use after a missed heartbeat).
  std::size_t waiting = 0;   ///< Threads blocked in acquire().
  std::size_t max_open = 0;  ///< Options::max_open.
  std::size_t max_idle = 0;  ///< Options::max_idle.
  std::size_t min_idle = 0;  ///< Options::min_idle.

  // ---- counters: acquire ----
  std::uint64_t acquires = 0;               ///< Leases handed out (= wait_time.count()).
  std::uint64_t acquires_waited = 0;        ///< Of those and of the failures, calls that found no
                                            ///< token free and had to wait or dial.
  std::uint64_t acquire_timeouts = 0;       ///< Acquires that failed with Errc::kAcquireTimeout.
  std::uint64_t acquire_cancellations = 0;  ///< Acquires that failed with Errc::kCancelled.
  std::uint64_t acquire_failures = 0;       ///< Acquires that failed otherwise (a dial's error, the
                                            ///< breaker, a closed, draining or exhausted pool).
  // ---- counters: connections ----
  std::uint64_t dials = 0;          ///< Connect attempts, retries included.
  std::uint64_t dial_failures = 0;  ///< Of those, attempts that failed.
  std::uint64_t retries = 0;        ///< Idempotent requests run() ran again on a fresh connection.
  std::uint64_t health_check_failures = 0;  ///< Idle connections a peek or the lifetime check
                                            ///< turned away, on acquire or in maintenance.
  std::uint64_t heartbeat_misses = 0;       ///< Heartbeats that timed out.
  std::array<std::uint64_t, static_cast<std::size_t>(CloseReason::kCount)> closes{};  ///< By
                                                                                      ///< reason.
  std::uint64_t leaks_suspected = 0;  ///< Leases held longer than Options::leak_threshold.
  std::uint64_t events_dropped = 0;   ///< Events the hook's queue had no room for.

  // ---- histograms ----
  HistogramSnapshot wait_time;    ///< acquire(): from the call to the lease, for every lease
                                  ///< handed out (zero when a token was free).
  HistogramSnapshot use_time;     ///< From a lease's acquire to its release.
  HistogramSnapshot create_time;  ///< Dialing a connection, retries and backoffs included, for
                                  ///< every connection dialed.

  /// Returns the count of closes for `reason`.
  std::uint64_t closed(CloseReason reason) const noexcept {
    return closes[static_cast<std::size_t>(reason)];
  }
};

/// What deserves an alert. Events go to Options::on_event, from a thread of the pool's own.
enum class EventKind : std::uint8_t {
  kDialFailing,      ///< Dials have failed `retry.open_after` times in a row: the breaker opened.
  kAcquireTimeout,   ///< An acquire timed out (message: the AcquireError's line).
  kHeartbeatFailed,  ///< A heartbeat failed or missed too often, and its connection was closed.
  kSuspectedLeak,    ///< A lease has been held longer than Options::leak_threshold.
};

/// Returns the kind's name: "dial_failing", "acquire_timeout", "heartbeat_failed",
/// "suspected_leak".
std::string_view to_string(EventKind kind) noexcept;

/// One event. `where` and `held` are set for kSuspectedLeak: the acquire() call that took the
/// lease, and how long it had been held when it was reported.
struct Event {
  EventKind kind{};                 ///< What happened.
  std::string pool;                 ///< Options::name.
  std::string message;              ///< One line, for a log.
  std::error_code error{};          ///< The error behind it, when there is one.
  std::source_location where{};     ///< kSuspectedLeak: the acquire() call that took the lease.
  std::chrono::nanoseconds held{};  ///< kSuspectedLeak: how long the lease had been held.
};

/// A histogram updated from many threads at once: kShards copies of its buckets, each on cache
/// lines of its own, written by the threads that map to it and added up by snapshot().
class Histogram {
 public:
  /// Makes a histogram with these bucket bounds (ascending, positive, at most kMaxBuckets;
  /// Options::validate() checks) and `shards` copies (a power of two, at least 1).
  Histogram(std::span<const std::chrono::nanoseconds> bounds, std::size_t shards);

  /// Counts one observation; negative durations count as zero. Lock-free: a search of the
  /// bounds and two relaxed atomic adds on this thread's shard.
  void observe(std::chrono::nanoseconds d) noexcept;

  /// Returns the buckets and the sum, added up over the shards.
  HistogramSnapshot snapshot() const;

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<std::uint64_t>, kMaxBuckets + 1> counts{};
    std::atomic<std::int64_t> sum_ns{0};
  };
  std::array<std::int64_t, kMaxBuckets> bounds_ns_{};
  std::size_t n_bounds_ = 0;
  std::size_t shard_mask_ = 0;
  std::unique_ptr<Shard[]> shards_;
};

/// The counters updated off the hot path: one atomic each, on lines of their own (alignas), so
/// that a burst of timeouts does not slow the acquires that succeed.
struct alignas(64) Counters {
  std::atomic<std::uint64_t> acquires_waited{0};        ///< Stats::acquires_waited.
  std::atomic<std::uint64_t> acquire_timeouts{0};       ///< Stats::acquire_timeouts.
  std::atomic<std::uint64_t> acquire_cancellations{0};  ///< Stats::acquire_cancellations.
  std::atomic<std::uint64_t> acquire_failures{0};       ///< Stats::acquire_failures.
  std::atomic<std::uint64_t> dials{0};                  ///< Stats::dials.
  std::atomic<std::uint64_t> dial_failures{0};          ///< Stats::dial_failures.
  std::atomic<std::uint64_t> retries{0};                ///< Stats::retries.
  std::atomic<std::uint64_t> health_check_failures{0};  ///< Stats::health_check_failures.
  std::atomic<std::uint64_t> heartbeat_misses{0};       ///< Stats::heartbeat_misses.
  /// Stats::closes, indexed by CloseReason.
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(CloseReason::kCount)> closes{};
  std::atomic<std::uint64_t> leaks_suspected{0};  ///< Stats::leaks_suspected.
  std::atomic<std::uint64_t> events_dropped{0};   ///< Stats::events_dropped.

  /// Adds one, relaxed.
  static void add(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
  }
  /// Counts a close.
  void closed(CloseReason r) noexcept { add(closes[static_cast<std::size_t>(r)]); }
};

/// Every instrument of one pool.
struct Instruments {
  /// Makes them with these bucket bounds and shard count.
  Instruments(std::span<const std::chrono::nanoseconds> bounds, std::size_t shards)
      : wait_time(bounds, shards), use_time(bounds, shards), create_time(bounds, 1) {}

  Counters counters;      ///< Everything counted off the hot path.
  Histogram wait_time;    ///< Stats::wait_time.
  Histogram use_time;     ///< Stats::use_time.
  Histogram create_time;  ///< Stats::create_time; a dial is slow next to a cache line: one shard.
};

/// The number of shards the pool's hot histograms have by default: a power of two, at least
/// the cores a pool is likely to be used from at once.
inline constexpr std::size_t kDefaultShards = 8;

}  // namespace tcppool::stage6
