// common/bench/histogram.hpp: a fixed-size latency histogram, one per client thread, merged at
// the end of a run.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace tcppool::bench {

/// Records durations in log-linear buckets (HdrHistogram's layout): 32 sub-buckets per power of
/// two, so any recorded value is reported within 1/32 (about 3 %) of its true value, from 1 ns
/// to about 68 s, in 8 KiB with no allocation. Recording is a few instructions, cheap enough
/// for every request.
///
///     LatencyHistogram h;                       // one per thread: no sharing while recording
///     h.record(std::chrono::microseconds(90));
///     total.merge(h);                           // after the threads have joined
///     auto p99 = total.percentile(99.0);
///
/// Not thread-safe: one writer at a time; merge after the writers are done.
class LatencyHistogram {
 public:
  /// Adds one sample. Negative durations count as zero; longer than the range, as the top bucket.
  void record(std::chrono::nanoseconds d) noexcept;

  /// Adds every sample of `other`.
  void merge(const LatencyHistogram& other) noexcept;

  /// Returns the number of samples.
  std::uint64_t count() const noexcept { return count_; }

  /// Returns the largest sample recorded, exactly.
  std::chrono::nanoseconds max() const noexcept { return std::chrono::nanoseconds(max_); }

  /// Returns the smallest value with at least `p` percent of samples at or below it (the
  /// upper edge of its bucket, capped at max()); zero when empty. REQUIRES: 0 <= p <= 100.
  std::chrono::nanoseconds percentile(double p) const noexcept;

 private:
  static constexpr int kSubBits = 5;  // 32 sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kGroups = 36 - kSubBits + 1;  // up to 2^36 ns, about 68 s
  static constexpr int kBuckets = kGroups * kSub;

  static int bucket_of(std::uint64_t ns) noexcept;
  static std::uint64_t upper_edge(int bucket) noexcept;

  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace tcppool::bench
