// common/bench/rows.hpp: what the report and its budgets read off the rows: lookups, the
// ratios the report is built on, and how numbers are shown. Internal to the report.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/bench/median.hpp"
#include "common/bench/report.hpp"

namespace tcppool::bench::report {

// The steady grid, as the harness registers it.
inline constexpr int kSteadyThreads[] = {1, 4, 16, 64};
inline constexpr int kSteadyPayloads[] = {64, 4096};

inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// 132456 -> "132k", 11345 -> "11.3k", 950 -> "950".
inline std::string rate(double v) {
  if (v >= 100'000) return fixed(v / 1000, 0) + "k";
  if (v >= 1000) return fixed(v / 1000, 1) + "k";
  return fixed(v, 0);
}

inline std::string micros(double us) {
  if (us >= 10'000) return fixed(us / 1000, 0) + " ms";
  if (us >= 1000) return fixed(us / 1000, 1) + " ms";
  return fixed(us, us < 10 ? 1 : 0) + " µs";
}

// 21.9 -> "21.9 ns", 33496 -> "33.5 µs".
inline std::string nanos(double ns) {
  return ns >= 1000 ? micros(ns / 1000) : fixed(ns, 1) + " ns";
}

inline std::string ratio(double r) { return fixed(r, r < 10 ? 2 : 1) + "×"; }

// For a budget's verdict: one more digit, so that 0.946 is not shown as a missed "0.95×".
inline std::string precise_ratio(double r) { return fixed(r, r < 10 ? 3 : 2) + "×"; }

inline const Row* find(const std::vector<Row>& rows, const std::string& scenario,
                       const std::string& stage, int threads, int payload,
                       const std::string& measured_with = "") {
  for (const auto& r : rows) {
    if (r.scenario == scenario && r.stage == stage && r.threads == threads &&
        r.payload_bytes == payload && (measured_with.empty() || r.measured_with == measured_with)) {
      return &r;
    }
  }
  return nullptr;
}

// The dedicated ceiling measured in the same binary as `stage`, beside it.
inline const Row* paired_dedicated(const std::vector<Row>& rows, const Row& r) {
  return find(rows, r.scenario, "dedicated", r.threads, r.payload_bytes, r.measured_with);
}

// A row's throughput as a fraction of the dedicated ceiling measured beside it: the median of
// the pairs' ratios when the run recorded them, else the ratio of the totals.
inline std::optional<double> vs_dedicated(const std::vector<Row>& rows, const Row& r) {
  if (r.a_over_b > 0) return r.a_over_b;
  const Row* ded = paired_dedicated(rows, r);
  if (ded && ded->rps > 0) return r.rps / ded->rps;
  return std::nullopt;
}

// [stage_ratio]
// How much faster `a` is than `b`, each first divided by the dedicated ceiling measured beside
// it: the stages run one after another, tens of seconds to minutes apart, and on a shared
// machine the same code's throughput drifts by tens of percent over that time; dividing by a
// control measured in the same run cancels the drift. Falls back to the plain ratio when a ceiling
// is missing.
inline std::optional<double> stage_ratio(const std::vector<Row>& rows, const Row& a, const Row& b) {
  auto da = vs_dedicated(rows, a);
  auto db = vs_dedicated(rows, b);
  if (da && db && *db > 0) return *da / *db;
  if (b.rps > 0) return a.rps / b.rps;
  return std::nullopt;
}
// [stage_ratio]

// 64 threads on 8 connections against 8 on 8: the median of the pairs' ratios when the run
// recorded them, else the ratio of the totals; 0 when unknown.
inline double crowding_ratio(const Row& crowded, const Row& matched) {
  if (crowded.a_over_b > 0) return crowded.a_over_b;
  return matched.rps > 0 ? crowded.rps / matched.rps : 0;
}

// The rows of one ceiling ("dedicated", "eventloop") of all binaries for one configuration,
// merged: the median of each figure.
inline std::optional<Row> ceiling_row(const std::vector<Row>& rows, const std::string& ceiling,
                                      const std::string& scenario, int threads, int payload) {
  std::vector<double> rps, p50, p99, vs_b;
  for (const auto& r : rows) {
    if (r.scenario == scenario && r.stage == ceiling && r.threads == threads &&
        r.payload_bytes == payload && !r.all_failed()) {
      rps.push_back(r.rps);
      p50.push_back(r.p50_us);
      p99.push_back(r.p99_us);
      if (r.a_over_b > 0) vs_b.push_back(r.a_over_b);
    }
  }
  if (rps.empty()) return std::nullopt;
  Row merged;
  merged.stage = ceiling;
  merged.rps = median(rps);
  merged.p50_us = median(p50);
  merged.p99_us = median(p99);
  merged.a_over_b = vs_b.empty() ? 0 : median(vs_b);
  return merged;
}

// The dedicated rows of all binaries for one configuration, merged: the median of each figure.
inline std::optional<Row> dedicated_row(const std::vector<Row>& rows, const std::string& scenario,
                                        int threads, int payload) {
  return ceiling_row(rows, "dedicated", scenario, threads, payload);
}

inline std::string payload_name(int bytes) {
  return bytes >= 1024 ? std::to_string(bytes / 1024) + " KiB" : std::to_string(bytes) + " B";
}

}  // namespace tcppool::bench::report
