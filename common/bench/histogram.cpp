// common/bench/histogram.cpp: log-linear bucketing.
#include "common/bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tcppool::bench {

// Values below kSub get one bucket each (group 0). Above, a value v with its highest set bit
// at position h lands in group h - kSubBits + 1, at the sub-bucket given by the kSubBits bits
// below the top one.
int LatencyHistogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < static_cast<std::uint64_t>(kSub)) return static_cast<int>(ns);
  int top = std::bit_width(ns) - 1;  // position of the highest set bit, >= kSubBits
  int group = top - kSubBits + 1;
  if (group >= kGroups) return kBuckets - 1;
  int sub = static_cast<int>((ns >> (top - kSubBits)) & (kSub - 1));
  return group * kSub + sub;
}

std::uint64_t LatencyHistogram::upper_edge(int bucket) noexcept {
  int group = bucket / kSub;
  std::uint64_t sub = static_cast<std::uint64_t>(bucket % kSub);
  if (group == 0) return sub;
  int shift = group - 1;
  return ((static_cast<std::uint64_t>(kSub) + sub + 1) << shift) - 1;
}

void LatencyHistogram::record(std::chrono::nanoseconds d) noexcept {
  std::uint64_t ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
  ++buckets_[static_cast<std::size_t>(bucket_of(ns))];
  ++count_;
  max_ = std::max(max_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::chrono::nanoseconds LatencyHistogram::percentile(double p) const noexcept {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      // The top bucket also holds everything beyond the range: only max() bounds it.
      if (i == kBuckets - 1) return std::chrono::nanoseconds(max_);
      return std::chrono::nanoseconds(std::min(upper_edge(i), max_));
    }
  }
  return std::chrono::nanoseconds(max_);
}

}  // namespace tcppool::bench
