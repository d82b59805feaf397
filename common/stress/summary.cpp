// common/stress/summary.cpp: the summary a stress run prints at its end, and error labels.
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common/stress/format.hpp"
#include "common/stress/stress.hpp"

namespace tcppool::stress {
namespace {

using format::millis;
using format::seconds;
using format::thousands;

// One row of the invariants table: what is checked, how often, and the kinds of violation
// that fail it.
struct Row {
  std::string what;
  std::string checked;
  std::vector<const char*> kinds;
};

std::uint64_t count(const Result& r, const std::vector<const char*>& kinds) {
  std::uint64_t n = 0;
  for (const char* k : kinds) {
    if (auto it = r.violations.find(k); it != r.violations.end()) n += it->second;
  }
  return n;
}

void print_phases(std::FILE* out, const Result& r) {
  std::fprintf(out, "%-22s %5s %11s %11s %9s %8s %7s  %s\n", "phase", "runs", "requests",
               "verified", "failed", "retries", "time", "server peak");
  for (const PhaseTally& p : r.phases) {
    if (p.runs == 0) continue;
    std::string peak = std::to_string(p.server_peak) + (p.peak_checked ? " (checked)" : "");
    std::fprintf(out, "%-22s %5d %11s %11s %9s %8s %7s  %s\n", p.name.c_str(), p.runs,
                 thousands(p.requests).c_str(), thousands(p.verified).c_str(),
                 thousands(p.failed).c_str(), thousands(p.retries).c_str(), seconds(p.time).c_str(),
                 peak.c_str());
  }
  std::fprintf(out, "%-22s %5s %11s %11s %9s %8s %7s\n\n", "all", "", thousands(r.requests).c_str(),
               thousands(r.verified).c_str(), thousands(r.failed).c_str(),
               thousands(r.retries).c_str(), seconds(r.elapsed).c_str());
}

void print_failures(std::FILE* out, const Result& r) {
  std::fprintf(out, "failures by error\n");
  std::vector<std::pair<std::string, std::uint64_t>> sorted(r.failures.begin(), r.failures.end());
  std::ranges::sort(sorted, [](const auto& a, const auto& b) { return a.second > b.second; });
  if (sorted.empty()) std::fprintf(out, "  (none)\n");
  for (const auto& [label, n] : sorted) {
    std::fprintf(out, "  %-66s %11s\n", label.c_str(), thousands(n).c_str());
  }
  if (r.cancels > 0) {
    std::fprintf(out, "  (cancellations sent to requests in flight: %s)\n",
                 thousands(r.cancels).c_str());
  }
  std::fprintf(out, "\n");
}

void print_invariants(std::FILE* out, const Config& config, const Result& r) {
  using namespace kind;
  const std::string cap = std::to_string(config.pool_size);
  std::vector<Row> rows = {
      {"every reply byte for byte",
       thousands(r.verified + r.bad_replies) + " replies, " + thousands(r.bad_replies) + " wrong",
       {kLostReply, kStaleReply, kCrossedReply, kCorruptReply}},
      {"every failure a typed, expected error",
       thousands(r.failed) + " failures",
       {kUntyped, kUnexpected, kException}},
      {"open <= " + cap + ", sampled",
       thousands(r.samples) + " samples, at most " + std::to_string(r.worst_open),
       {kOverCap}},
      {"server peak <= " + cap,
       std::to_string(r.peak_checks) + " checks, at most " + std::to_string(r.worst_checked_peak),
       {kServerOverCap}},
      {"at rest: " + (r.rest_equation.empty() ? std::string("counts agree") : r.rest_equation),
       std::to_string(r.quiescent_points) + " points, agreed within " + millis(r.worst_settle),
       {kCounts, kBusyAtRest}},
      {"at rest: fds = baseline + pool's + server's",
       std::to_string(r.quiescent_points) + " points",
       {kFdsAtRest}},
      {"fds back to the baseline",
       std::to_string(r.fds_before) + " -> " + std::to_string(r.fds_after),
       {kFdLeak}},
      {"threads back to the baseline",
       std::to_string(r.threads_before) + " -> " + std::to_string(r.threads_after),
       {kThreadLeak}},
  };
  if (r.pool_retries) {
    rows.push_back({"retries: the pool's count = the callers'",
                    thousands(*r.pool_retries) + " = " + thousands(r.retries),
                    {kRetries}});
  }
  rows.push_back({"verified echoes reached",
                  thousands(r.verified) + " of " + thousands(config.requests),
                  {kShort}});
  rows.push_back({"every caller came to rest when asked", "", {kStuck, kSetup}});

  std::fprintf(out, "%-46s %-40s %s\n", "invariant", "checked", "result");
  for (const Row& row : rows) {
    std::uint64_t n = count(r, row.kinds);
    std::string verdict = n == 0 ? "ok" : "FAILED (" + thousands(n) + ")";
    std::fprintf(out, "%-46s %-40s %s\n", row.what.c_str(), row.checked.c_str(), verdict.c_str());
  }
}

}  // namespace

std::string error_label(const std::error_code& ec) {
  if (!ec) return "no error (an empty error code)";
  std::string name = ec.category().name();
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    const char* symbol = ::strerrorname_np(ec.value());
    return name + ": " + (symbol ? symbol : std::to_string(ec.value())) + " (" + ec.message() + ")";
  }
  return name + ": " + ec.message();
}

void print_summary(std::FILE* out, const Config& config, const Result& r) {
  std::fprintf(out, "\n%s: %s verified echoes, %d threads through a pool of %zu, %s\n\n",
               config.name.c_str(), thousands(r.verified).c_str(), config.threads, config.pool_size,
               seconds(r.elapsed).c_str());
  print_phases(out, r);
  print_failures(out, r);
  print_invariants(out, config, r);
  if (r.passed()) {
    std::fprintf(out, "\n%s: PASS\n", config.name.c_str());
    return;
  }
  std::uint64_t total = 0;
  for (const auto& [kind, n] : r.violations) total += n;
  std::fprintf(out, "\n%s: FAIL, %s violations\n", config.name.c_str(), thousands(total).c_str());
  for (const std::string& e : r.examples) std::fprintf(out, "  %s\n", e.c_str());
}

}  // namespace tcppool::stress
