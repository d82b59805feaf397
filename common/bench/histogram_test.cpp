// Tests for common/bench/histogram.hpp.
#include "common/bench/histogram.hpp"

#include <gtest/gtest.h>

#include <random>

namespace tcppool::bench {
namespace {

using std::chrono::nanoseconds;

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), nanoseconds(0));
  EXPECT_EQ(h.percentile(50), nanoseconds(0));
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int v = 0; v < 32; ++v) h.record(nanoseconds(v));
  EXPECT_EQ(h.count(), 32u);
  EXPECT_EQ(h.percentile(50), nanoseconds(15));
  EXPECT_EQ(h.percentile(100), nanoseconds(31));
  EXPECT_EQ(h.max(), nanoseconds(31));
}

TEST(LatencyHistogram, PercentilesOfAUniformSpreadAreWithinThreePercent) {
  LatencyHistogram h;
  for (int v = 1; v <= 100000; ++v) h.record(nanoseconds(v * 1000));  // 1 us .. 100 ms
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9}) {
    double expected = p / 100.0 * 100000 * 1000;
    double got = static_cast<double>(h.percentile(p).count());
    EXPECT_GE(got, expected * 0.999) << "p" << p;
    EXPECT_LE(got, expected * 1.035) << "p" << p;
  }
  EXPECT_EQ(h.max(), nanoseconds(100'000'000));
}

TEST(LatencyHistogram, MaxIsExactAndCapsThePercentile) {
  LatencyHistogram h;
  h.record(nanoseconds(1'000'003));
  EXPECT_EQ(h.max(), nanoseconds(1'000'003));
  EXPECT_EQ(h.percentile(100), nanoseconds(1'000'003));
  EXPECT_EQ(h.percentile(1), nanoseconds(1'000'003));
}

TEST(LatencyHistogram, OutOfRangeValuesAreClamped) {
  LatencyHistogram h;
  h.record(nanoseconds(-5));
  h.record(std::chrono::hours(10));
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.percentile(50), nanoseconds(0));
  EXPECT_EQ(h.max(), std::chrono::hours(10));
  EXPECT_EQ(h.percentile(100), std::chrono::hours(10));
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(11.0, 1.5);  // around 60 us, long tail
  LatencyHistogram a, b, all;
  for (int i = 0; i < 20000; ++i) {
    nanoseconds v(static_cast<long>(dist(rng)));
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {50.0, 99.0, 99.99}) EXPECT_EQ(a.percentile(p), all.percentile(p));
}

}  // namespace
}  // namespace tcppool::bench
