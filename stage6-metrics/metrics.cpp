// stage6-metrics/metrics.cpp: histograms and the names of reasons and events.
#include "metrics.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace tcppool::stage6 {
namespace {

// This thread's shard number: threads are numbered as they first observe, so the first
// kShards threads of a process never share a shard.
std::size_t this_thread_shard() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

}  // namespace

std::string_view to_string(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::kIdleTimeout:
      return "idle_timeout";
    case CloseReason::kLifetime:
      return "lifetime";
    case CloseReason::kFailedCheck:
      return "failed_check";
    case CloseReason::kHeartbeat:
      return "heartbeat";
    case CloseReason::kDiscarded:
      return "discarded";
    case CloseReason::kAboveMaxIdle:
      return "above_max_idle";
    case CloseReason::kPoolClosed:
      return "pool_closed";
    case CloseReason::kForced:
      return "forced";
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kDialFailing:
      return "dial_failing";
    case EventKind::kAcquireTimeout:
      return "acquire_timeout";
    case EventKind::kHeartbeatFailed:
      return "heartbeat_failed";
    case EventKind::kSuspectedLeak:
      return "suspected_leak";
  }
  return "unknown";
}

std::vector<std::chrono::nanoseconds> default_buckets() {
  std::vector<std::chrono::nanoseconds> b;
  for (std::int64_t decade = 1'000; decade <= 1'000'000'000; decade *= 10) {
    for (std::int64_t step : {2, 5, 10}) {  // x1, x2.5, x5: in halves, to stay exact
      b.emplace_back(decade * step / 2);
    }
  }
  b.emplace_back(10'000'000'000);  // 10 s
  return b;                        // 1 us, 2.5 us, 5 us, ..., 1 s, 2.5 s, 5 s, 10 s
}

std::uint64_t HistogramSnapshot::count() const noexcept {
  std::uint64_t n = 0;
  for (auto c : counts) n += c;
  return n;
}

std::chrono::nanoseconds HistogramSnapshot::quantile_bound(double q) const noexcept {
  const std::uint64_t n = count();
  if (n == 0) return std::chrono::nanoseconds::zero();
  // The rank of the q-quantile observation, 1-based, at least 1.
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n));
  if (static_cast<double>(rank) < q * static_cast<double>(n)) ++rank;
  rank = std::clamp<std::uint64_t>(rank, 1, n);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen >= rank) {
      return i < bounds.size() ? bounds[i] : std::chrono::nanoseconds::max();
    }
  }
  return std::chrono::nanoseconds::max();
}

Histogram::Histogram(std::span<const std::chrono::nanoseconds> bounds, std::size_t shards)
    : n_bounds_(std::min(bounds.size(), kMaxBuckets)),
      shard_mask_(std::max<std::size_t>(std::bit_floor(std::max<std::size_t>(shards, 1)), 1) - 1),
      shards_(new Shard[shard_mask_ + 1]) {
  for (std::size_t i = 0; i < n_bounds_; ++i) bounds_ns_[i] = bounds[i].count();
}

void Histogram::observe(std::chrono::nanoseconds d) noexcept {
  const std::int64_t ns = std::max<std::int64_t>(d.count(), 0);
  // The first bound at or above the value; n_bounds_ (the +Inf bucket) when none is. Most
  // observations are small, so a forward scan ends within a few bounds.
  std::size_t i = 0;
  while (i < n_bounds_ && ns > bounds_ns_[i]) ++i;
  Shard& s = shards_[this_thread_shard() & shard_mask_];
  s.counts[i].fetch_add(1, std::memory_order_relaxed);
  s.sum_ns.fetch_add(ns, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot out;
  out.bounds.reserve(n_bounds_);
  for (std::size_t i = 0; i < n_bounds_; ++i) out.bounds.emplace_back(bounds_ns_[i]);
  out.counts.assign(n_bounds_ + 1, 0);
  std::int64_t sum = 0;
  for (std::size_t s = 0; s <= shard_mask_; ++s) {
    for (std::size_t i = 0; i <= n_bounds_; ++i) {
      out.counts[i] += shards_[s].counts[i].load(std::memory_order_relaxed);
    }
    sum += shards_[s].sum_ns.load(std::memory_order_relaxed);
  }
  out.sum = std::chrono::nanoseconds(sum);
  return out;
}

}  // namespace tcppool::stage6
