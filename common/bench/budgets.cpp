// common/bench/budgets.cpp: the budgets the report checks, as data.
//
// Each budget is one row of kBudgets: what is measured (a Kind, which says how to read it off
// the rows), for which stage, against which other stage or scenario, and the threshold. A new
// stage or scenario adds rows here, not code; docs/benchmarking.md lists the same table and
// says why each budget is what it is. CI does not fail on a missed budget: the report states
// it, and the docs explain it.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/bench/report.hpp"
#include "common/bench/rows.hpp"

namespace tcppool::bench::report {
namespace {

enum class Kind {
  kSteadyVsStage,           // steady throughput ≥ threshold × `other`'s, at 4 and 16 threads
  kSteadyVsDedicated,       // every steady configuration ≥ threshold × the dedicated ceiling
  kSteadyWorstVsStage,      // every steady configuration ≥ threshold × `other`'s
  kAcquireAtMost,           // acquire + release ≤ threshold ns
  kAcquirePlus,             // acquire + release ≤ `other`'s + threshold ns
  kAcquireTimes,            // acquire + release ≤ threshold × `other`'s
  kCrowding,                // contention, 64 ÷ 8 threads on 8 connections, ≥ threshold
  kCrowdingVsStage,         // that ratio ≥ threshold × `other`'s
  kFailedAtMost,            // failed requests in `scenario` ≤ threshold (all repetitions)
  kFailedMoreThan,          // failed requests in `scenario` > threshold: the flaw, shown
  kFailedFractionAtMost,    // failed ÷ all requests in `scenario` ≤ threshold
  kMaxLatencyAtMost,        // slowest request in `scenario` ≤ threshold µs
  kFailedMaxLatencyAtMost,  // slowest failed request in `scenario` ≤ threshold µs
  kOkRateVsStage,           // successful requests/s in `scenario` ≥ threshold × `other`'s
  kWaitWithinBound,         // contention: max acquire wait ≤ starvation bound + service time
};

// The starvation bound a binary that says nothing about it has: stages 5 and 6's default.
constexpr double kDefaultStarvationBoundMs = 10;

struct Spec {
  Kind kind;
  const char* stage;
  const char* other = "";     // the stage compared with, for the *Stage / Plus / Times kinds
  const char* scenario = "";  // for the failure and latency kinds
  double threshold = 0;
  const char* why = "";  // appended to the claim: what the threshold stands for
};

// [budgets]
const Spec kBudgets[] = {
    // Pooling pays: stage 2 against the dial-per-request baseline.
    {Kind::kSteadyVsStage, "stage2", "stage1", "steady", 3.0},
    // A pool adds nothing measurable while there are enough connections to go round.
    {Kind::kSteadyVsDedicated, "stage2", "", "steady", 0.95},
    {Kind::kSteadyVsDedicated, "stage3", "", "steady", 0.95},
    {Kind::kSteadyVsDedicated, "stage4", "", "steady", 0.95},
    {Kind::kSteadyVsDedicated, "stage5", "", "steady", 0.95},
    {Kind::kSteadyVsDedicated, "stage6", "", "steady", 0.95},
    // Each technique's own cost, uncontended.
    {Kind::kAcquireAtMost, "stage2", "", "", 50},
    {Kind::kAcquireAtMost, "stage3", "", "", 50},
    {Kind::kAcquirePlus, "stage4", "stage3", "", 250, "the peek"},
    {Kind::kAcquireTimes, "stage5", "stage4", "", 1.1},
    {Kind::kAcquireTimes, "stage6", "stage5", "", 1.25},
    {Kind::kSteadyWorstVsStage, "stage4", "stage3", "steady", 0.97},
    {Kind::kSteadyWorstVsStage, "stage5", "stage4", "steady", 0.97},
    {Kind::kSteadyWorstVsStage, "stage6", "stage5", "steady", 0.97},
    // No collapse with 8 times more threads than connections (stages with a cap).
    {Kind::kCrowding, "stage3", "", "contention", 0.9},
    {Kind::kCrowding, "stage4", "", "contention", 0.9},
    // Stages 5 and 6 by default let an arriving caller take a free connection before the
    // waiters (bounded barging), which keeps this ratio; their strict-FIFO variants
    // (stage5-fifo, stage6-fifo) are measured beside them to show the trade and held to none.
    {Kind::kCrowding, "stage5", "", "contention", 0.9},
    {Kind::kCrowding, "stage6", "", "contention", 0.9},
    {Kind::kCrowdingVsStage, "stage6", "stage5", "contention", 0.95},
    // Barging is bounded: a waiter passed over for longer than the starvation bound is served
    // next, so no wait exceeds the bound and one service time (the median round trip of the 8
    // threads on the same 8 connections, measured beside it).
    {Kind::kWaitWithinBound, "stage5", "", "contention"},
    {Kind::kWaitWithinBound, "stage6", "", "contention"},
    // Stages 2 and 3 fail requests when the server closes or restarts: their flaw, shown.
    {Kind::kFailedMoreThan, "stage2", "", "idle_close", 0},
    {Kind::kFailedMoreThan, "stage3", "", "idle_close", 0},
    {Kind::kFailedMoreThan, "stage2", "", "restart", 0},
    {Kind::kFailedMoreThan, "stage3", "", "restart", 0},
    // From stage 4 on, health checks, dial retry and one safe retry fail none of them.
    {Kind::kFailedAtMost, "stage4", "", "idle_close", 0},
    {Kind::kFailedAtMost, "stage4", "", "restart", 0},
    {Kind::kFailedAtMost, "stage4", "", "accept_queue", 0},
    {Kind::kFailedFractionAtMost, "stage4", "", "rst", 0.001,
     "about 2 p² = 0.0002 expected at p = 1 %: only a retry reset too"},
    // From stage 5 on, a deadline bounds every wait: a stalled server holds a request no
    // longer than its deadline (50 ms in the stall scenario) and a bit, and a caller waiting
    // for a connection gives up at its deadline (10 ms in the exhausted scenario) without
    // slowing down the requests that do get one.
    {Kind::kMaxLatencyAtMost, "stage5", "", "stall", 70'000, "a 50 ms deadline and 20 ms"},
    {Kind::kMaxLatencyAtMost, "stage6", "", "stall", 70'000, "a 50 ms deadline and 20 ms"},
    {Kind::kFailedMaxLatencyAtMost, "stage5", "", "exhausted", 30'000,
     "a 10 ms deadline and 20 ms"},
    {Kind::kFailedMaxLatencyAtMost, "stage6", "", "exhausted", 30'000,
     "a 10 ms deadline and 20 ms"},
    {Kind::kOkRateVsStage, "stage5", "stage4", "exhausted", 0.9},
    {Kind::kFailedAtMost, "stage5", "", "idle_close", 0},
    {Kind::kFailedAtMost, "stage5", "", "restart", 0},
    {Kind::kFailedAtMost, "stage6", "", "idle_close", 0},
    {Kind::kFailedAtMost, "stage6", "", "restart", 0},
};
// [budgets]

using Rows = std::vector<Row>;

std::string threads_and_payload(const Row& r) {
  return std::to_string(r.threads) + (r.threads == 1 ? " thread, " : " threads, ") +
         payload_name(r.payload_bytes);
}

const Row* acquire_row(const Rows& rows, const std::string& stage) {
  for (const auto& r : rows) {
    if (r.scenario == "acquire_release" && r.stage == stage) return &r;
  }
  return nullptr;
}

// Returns the contention ratio of `stage` (64 ÷ 8 threads), or 0 when not measured.
double crowding(const Rows& rows, const std::string& stage) {
  const Row* crowded = find(rows, "contention", stage, 64, 64);
  const Row* matched = find(rows, "contention", stage, 8, 64);
  return crowded && matched ? crowding_ratio(*crowded, *matched) : 0;
}

// Sums the failed and all requests of a scenario's rows for a stage; false when not measured.
bool failures(const Rows& rows, const std::string& stage, const std::string& scenario,
              double& failed, double& requests) {
  failed = requests = 0;
  bool any = false;
  for (const auto& r : rows) {
    if (r.scenario != scenario || r.stage != stage) continue;
    any = true;
    failed += r.errors;
    requests += r.requests;
  }
  return any;
}

// Evaluates one spec into zero or more budgets (kSteadyVsStage makes one per configuration).
void evaluate(const Spec& s, const Rows& rows, std::vector<Budget>& out) {
  const std::string stage = s.stage, other = s.other, scenario = s.scenario;
  auto has = [&](const std::string& st) {
    return std::ranges::any_of(rows, [&](const Row& r) { return r.stage == st; });
  };
  if (!has(stage) || (!other.empty() && !has(other))) return;
  auto add = [&](std::string claim, std::optional<std::pair<std::string, bool>> measured) {
    if (*s.why) claim += " (" + std::string(s.why) + ")";
    Budget b{claim};
    if (measured) b = {claim, measured->first, measured->second, true};
    out.push_back(b);
  };
  const double t = s.threshold;
  switch (s.kind) {
    case Kind::kSteadyVsStage:
      for (int payload : kSteadyPayloads) {
        for (int threads : {4, 16}) {
          const Row* a = find(rows, "steady", stage, threads, payload);
          const Row* b = find(rows, "steady", other, threads, payload);
          auto x = a && b ? stage_ratio(rows, *a, *b) : std::nullopt;
          add(stage + " steady ≥ " + fixed(t, 0) + " × " + other + " (" + std::to_string(threads) +
                  " threads, " + payload_name(payload) + ")",
              x ? std::optional(std::pair{precise_ratio(*x), *x >= t}) : std::nullopt);
        }
      }
      return;
    case Kind::kSteadyVsDedicated:
    case Kind::kSteadyWorstVsStage: {
      bool vs_ded = s.kind == Kind::kSteadyVsDedicated;
      double worst = INFINITY;
      std::string where;
      for (const auto& r : rows) {
        if (r.scenario != "steady" || r.stage != stage) continue;
        std::optional<double> x;
        if (vs_ded) {
          x = vs_dedicated(rows, r);
        } else if (const Row* b = find(rows, "steady", other, r.threads, r.payload_bytes)) {
          x = stage_ratio(rows, r, *b);
        }
        if (x && *x < worst) {
          worst = *x;
          where = threads_and_payload(r);
        }
      }
      add(stage + " steady ≥ " + fixed(t, 2) + " × " + (vs_ded ? "dedicated" : other) +
              " (threads ≤ pool size, worst configuration)",
          std::isfinite(worst)
              ? std::optional(std::pair{precise_ratio(worst) + " (" + where + ")", worst >= t})
              : std::nullopt);
      return;
    }
    case Kind::kAcquireAtMost:
    case Kind::kAcquirePlus:
    case Kind::kAcquireTimes: {
      const Row* a = acquire_row(rows, stage);
      const Row* b = other.empty() ? nullptr : acquire_row(rows, other);
      double limit = s.kind == Kind::kAcquireAtMost ? t
                     : !b                           ? NAN
                     : s.kind == Kind::kAcquirePlus ? b->ns_per_op + t
                                                    : b->ns_per_op * t;
      std::string claim = stage + " uncontended acquire + release ≤ ";
      claim += s.kind == Kind::kAcquireAtMost ? fixed(t, 0) + " ns"
               : s.kind == Kind::kAcquirePlus ? other + "'s + " + fixed(t, 0) + " ns"
                                              : fixed(t, 2) + " × " + other + "'s";
      std::optional<std::pair<std::string, bool>> m;
      if (a && std::isfinite(limit)) {
        std::string shown = nanos(a->ns_per_op);
        if (b) shown += " (" + other + ": " + nanos(b->ns_per_op) + ")";
        m = std::pair{shown, a->ns_per_op <= limit};
      }
      add(claim, m);
      return;
    }
    case Kind::kCrowding:
    case Kind::kCrowdingVsStage: {
      double x = crowding(rows, stage);
      double base = other.empty() ? 1.0 : crowding(rows, other);
      std::string claim = stage + " 64 threads on 8 connections ≥ " + fixed(t, 2) + " × " +
                          (other.empty() ? "8 threads on 8" : other + "'s ratio");
      add(claim, x > 0 && base > 0 ? std::optional(std::pair{precise_ratio(x), x >= t * base})
                                   : std::nullopt);
      return;
    }
    case Kind::kFailedAtMost:
    case Kind::kFailedMoreThan:
    case Kind::kFailedFractionAtMost: {
      double failed = 0, requests = 0;
      bool measured = failures(rows, stage, scenario, failed, requests);
      std::string shown = fixed(failed, 0) + " of " + fixed(requests, 0);
      bool met = s.kind == Kind::kFailedAtMost     ? failed <= t
                 : s.kind == Kind::kFailedMoreThan ? failed > t
                 : requests > 0                    ? failed / requests <= t
                                                   : false;
      std::string claim =
          s.kind == Kind::kFailedAtMost
              ? stage + " fails at most " + fixed(t, 0) + " requests under " + scenario
          : s.kind == Kind::kFailedMoreThan
              ? stage + " fails requests under " + scenario + " (the flaw shown)"
              : stage + " fails at most " + fixed(t * 100, 2) + " % of requests under " + scenario;
      add(claim, measured ? std::optional(std::pair{shown, met}) : std::nullopt);
      return;
    }
    case Kind::kMaxLatencyAtMost:
    case Kind::kFailedMaxLatencyAtMost: {
      bool failed_only = s.kind == Kind::kFailedMaxLatencyAtMost;
      std::optional<double> worst;
      for (const auto& r : rows) {
        if (r.scenario != scenario || r.stage != stage) continue;
        double v = failed_only ? r.failed_max_us : r.max_us;
        if (failed_only && r.errors == 0) continue;
        worst = std::max(worst.value_or(0), v);
      }
      add(stage + (failed_only ? " slowest failed request" : " slowest request") + " under " +
              scenario + " ≤ " + micros(t),
          worst ? std::optional(std::pair{micros(*worst), *worst <= t}) : std::nullopt);
      return;
    }
    case Kind::kWaitWithinBound: {
      const Row* crowded = find(rows, "contention", stage, 64, 64);
      const Row* matched = find(rows, "contention", stage, 8, 64);
      std::string claim = stage +
                          " max acquire wait under contention ≤ the starvation bound + one "
                          "service time (64 threads on 8 connections)";
      if (!crowded || !matched || crowded->wait_max_us <= 0 || matched->p50_us <= 0) {
        add(claim, std::nullopt);
        return;
      }
      double bound_ms = crowded->starvation_bound_ms >= 0 ? crowded->starvation_bound_ms
                                                          : kDefaultStarvationBoundMs;
      double limit_us = bound_ms * 1000 + matched->p50_us;
      // Two decimals: a wait just over its limit must not be shown rounded down to it.
      auto ms = [](double us) { return fixed(us / 1000, 2) + " ms"; };
      add(claim, std::pair{ms(crowded->wait_max_us) + " (limit " + ms(limit_us) + " = " +
                               fixed(bound_ms, bound_ms == std::floor(bound_ms) ? 0 : 1) +
                               " ms + " + micros(matched->p50_us) + ")",
                           crowded->wait_max_us <= limit_us});
      return;
    }
    case Kind::kOkRateVsStage: {
      auto ok_rate = [&](const std::string& st) -> std::optional<double> {
        for (const auto& r : rows) {
          if (r.scenario == scenario && r.stage == st && r.requests > 0) {
            return r.rps * (1.0 - r.errors / r.requests);
          }
        }
        return std::nullopt;
      };
      auto a = ok_rate(stage), b = ok_rate(other);
      add(stage + " successful requests under " + scenario + " ≥ " + fixed(t, 2) + " × " + other +
              "'s",
          a && b && *b > 0 ? std::optional(std::pair{precise_ratio(*a / *b), *a / *b >= t})
                           : std::nullopt);
      return;
    }
  }
}

}  // namespace

std::vector<Budget> check_budgets(const std::vector<Row>& all_rows) {
  // A scenario that could not run measures nothing: its budgets are "not measured".
  Rows rows;
  std::ranges::copy_if(all_rows, std::back_inserter(rows),
                       [](const Row& r) { return !r.all_failed(); });
  std::vector<Budget> out;
  for (const Spec& s : kBudgets) evaluate(s, rows, out);
  for (auto& b : out) {
    if (!b.known) b.measured = "not measured";
  }
  return out;
}

}  // namespace tcppool::bench::report
