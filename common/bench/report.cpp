// common/bench/report.cpp: from Google Benchmark JSON to report.md, report.Json and a chart.
#include "common/bench/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "common/bench/median.hpp"
#include "common/bench/rows.hpp"

namespace tcppool::bench::report {
namespace {

using Json = nlohmann::json;

double number(const Json& j, const char* key, double fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

struct RunName {
  std::string scenario;
  std::string stage;
  std::string variant;  // parameters other than threads and payload, "/"-joined
};

// "steady/stage2/threads:4/payload:64/iterations:1/manual_time" -> {"steady", "stage2", ""};
// "echo_beside_idle/echo_server/idle:1000/..." -> {"echo_beside_idle", "echo_server",
// "idle:1000"}. Threads and payload come from the counters; Google Benchmark's own suffixes
// (iterations, repeats, manual_time) say nothing about what was measured.
RunName parse_run_name(const std::string& name) {
  RunName out;
  std::size_t start = 0;
  for (int part = 0; start <= name.size(); ++part) {
    auto slash = name.find('/', start);
    std::string piece = name.substr(start, slash == std::string::npos ? slash : slash - start);
    if (part == 0) {
      out.scenario = piece;
    } else if (part == 1) {
      out.stage = piece;
    } else if (!piece.starts_with("threads:") && !piece.starts_with("payload:") &&
               !piece.starts_with("iterations:") && !piece.starts_with("repeats:") &&
               piece != "manual_time" && piece != "real_time" && !piece.empty()) {
      out.variant += (out.variant.empty() ? "" : "/") + piece;
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// Google Benchmark writes aggregates that are not numbers (the variation of a counter that is
// always zero) as bare NaN or Infinity, which is not JSON. Those values are never used here:
// make them null.
std::string without_non_finite(std::string text) {
  for (std::string_view token : {"-NaN", "NaN", "-Infinity", "Infinity"}) {
    for (auto at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
      bool value = at > 0 && (text[at - 1] == ' ' || text[at - 1] == ':');
      if (value) {
        text.replace(at, token.size(), "null");
      } else {
        at += token.size();
      }
    }
  }
  return text;
}

// Key of the repetitions that merge into one row.
using Key = std::tuple<std::string, std::string, std::string, int, int, int, std::string>;

// A Markdown table: the first column left-aligned, the others right-aligned (numbers), or all
// left-aligned when `numeric` is false.
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& body, bool numeric = true) {
  std::string out = "|";
  for (const auto& h : header) out += " " + h + " |";
  out += "\n|";
  for (std::size_t i = 0; i < header.size(); ++i) out += i == 0 || !numeric ? "---|" : "--:|";
  out += "\n";
  for (const auto& line : body) {
    out += "|";
    for (const auto& cell : line) out += " " + cell + " |";
    out += "\n";
  }
  return out + "\n";
}

std::vector<std::string> steady_header() {
  std::vector<std::string> h{""};
  for (int t : kSteadyThreads) h.push_back(std::to_string(t) + (t == 1 ? " thread" : " threads"));
  return h;
}

// The steady section for one payload: throughput, ratios, latency and connections.
std::string steady_section(const std::vector<Row>& rows, const Meta& meta, int payload) {
  std::string out;
  std::string p = payload_name(payload);
  std::vector<std::vector<std::string>> rps, vs_first, vs_ded, latency, conns;
  const std::string& first = meta.stages.front();
  for (const auto& stage : meta.stages) {
    std::vector<std::string> a{stage}, b{stage}, c{stage}, d{stage}, e{stage};
    for (int t : kSteadyThreads) {
      const Row* r = find(rows, "steady", stage, t, payload);
      const Row* base = find(rows, "steady", first, t, payload);
      if (r && r->all_failed()) {
        for (auto* col : {&a, &b, &c, &d, &e}) col->push_back("failed");
        continue;
      }
      if (base && base->all_failed()) base = nullptr;
      auto ded = r ? vs_dedicated(rows, *r) : std::nullopt;
      a.push_back(r ? rate(r->rps) : "–");
      auto x = r && base ? stage_ratio(rows, *r, *base) : std::nullopt;
      b.push_back(x ? ratio(*x) : "–");
      c.push_back(ded ? ratio(*ded) : "–");
      d.push_back(r ? micros(r->p50_us) + " / " + micros(r->p99_us) : "–");
      e.push_back(r ? fixed(r->dials_per_1k, 0) + " / " +
                          (r->peak_open < 0 ? "?" : fixed(r->peak_open, 0))
                    : "–");
    }
    rps.push_back(a);
    vs_first.push_back(b);
    vs_ded.push_back(c);
    latency.push_back(d);
    conns.push_back(e);
  }
  std::vector<std::string> ded_rps{"dedicated"}, ded_lat{"dedicated"};
  for (int t : kSteadyThreads) {
    auto d = dedicated_row(rows, "steady", t, payload);
    ded_rps.push_back(d ? rate(d->rps) : "–");
    ded_lat.push_back(d ? micros(d->p50_us) + " / " + micros(d->p99_us) : "–");
  }
  rps.push_back(ded_rps);
  latency.push_back(ded_lat);
  // The event-loop ceiling, when the run measured it: its ratio to dedicated connections is
  // what one thread per request costs on this machine.
  std::vector<std::string> loop_rps{"eventloop"}, loop_ded{"eventloop"}, loop_lat{"eventloop"};
  bool loop = false;
  for (int t : kSteadyThreads) {
    auto l = ceiling_row(rows, "eventloop", "steady", t, payload);
    loop = loop || l.has_value();
    loop_rps.push_back(l ? rate(l->rps) : "–");
    loop_ded.push_back(l && l->a_over_b > 0 ? ratio(l->a_over_b) : "–");
    loop_lat.push_back(l ? micros(l->p50_us) + " / " + micros(l->p99_us) : "–");
  }
  if (loop) {
    rps.push_back(loop_rps);
    vs_ded.push_back(loop_ded);
    latency.push_back(loop_lat);
  }

  out += "### steady, " + p + ": requests/s\n\n" + table(steady_header(), rps);
  if (meta.stages.size() > 1) {
    out += "### steady, " + p + ": ratio to " + first +
           " (each first divided by the dedicated ceiling measured beside it)\n\n" +
           table(steady_header(), vs_first);
  }
  out += "### steady, " + p +
         ": ratio to dedicated connections (measured beside it: median of the pairs)\n\n" +
         table(steady_header(), vs_ded);
  if (loop) {
    out +=
        "`eventloop`: one thread driving as many dedicated connections as the column has "
        "threads with poll(), one echo outstanding on each. Its ratio to dedicated connections "
        "is what one OS thread per request costs on this machine: no pool can buy it back.\n\n";
  }
  out += "### steady, " + p + ": latency p50 / p99\n\n" + table(steady_header(), latency);
  out += "### steady, " + p + ": dials per 1000 requests / peak open connections\n\n" +
         table(steady_header(), conns);
  return out;
}

// Any other scenario: one line per measured configuration and stage.
std::string generic_section(const std::vector<Row>& rows, const std::string& scenario) {
  std::vector<std::vector<std::string>> body;
  for (const auto& r : rows) {
    if (r.scenario != scenario) continue;
    if (r.all_failed()) {
      body.push_back({r.stage, std::to_string(r.threads),
                      r.pool_size ? std::to_string(r.pool_size) : "–",
                      payload_name(r.payload_bytes), "failed", "–", "–", "–", "–", "–", "–"});
      continue;
    }
    body.push_back({r.stage, std::to_string(r.threads),
                    r.pool_size ? std::to_string(r.pool_size) : "–", payload_name(r.payload_bytes),
                    rate(r.rps), micros(r.p50_us), micros(r.p99_us), micros(r.max_us),
                    fixed(r.errors, 0), fixed(r.dials_per_1k, 0),
                    r.peak_open < 0 ? "?" : fixed(r.peak_open, 0)});
  }
  return table({"stage", "threads", "pool", "payload", "req/s", "p50", "p99", "max",
                "failed (all runs)", "dials/1k", "peak open"},
               body);
}

// contention: each stage at 8 and at 64 threads on 8 connections, and the ratio.
std::string contention_section(const std::vector<Row>& rows, const Meta& meta) {
  std::vector<std::vector<std::string>> body;
  for (const auto& stage : meta.stages) {
    const Row* matched = find(rows, "contention", stage, 8, 64);
    const Row* crowded = find(rows, "contention", stage, 64, 64);
    if (!matched || !crowded) continue;
    if (matched->all_failed() || crowded->all_failed()) {
      body.push_back({stage, "failed", "failed", "–", "–", "–", "–", "–"});
      continue;
    }
    double x = crowding_ratio(*crowded, *matched);
    body.push_back({stage, rate(matched->rps), rate(crowded->rps), x > 0 ? ratio(x) : "–",
                    crowded->a_over_c > 0 ? ratio(crowded->a_over_c) : "–", micros(crowded->p99_us),
                    crowded->peak_open < 0 ? "?" : fixed(crowded->peak_open, 0),
                    fixed(crowded->dials_per_1k, 1)});
  }
  if (body.empty()) return "";
  // The event-loop ceiling: one thread, eight connections, as many requests in flight as the
  // pool allows. Its requests/s stand under "8 threads" (8 in flight); its ratio is to them.
  auto loop = ceiling_row(rows, "eventloop", "contention", 8, 64);
  if (loop) {
    body.push_back({"eventloop", rate(loop->rps), "–",
                    loop->a_over_b > 0 ? "÷ 8 threads: " + ratio(loop->a_over_b) : "–", "–", "–",
                    "–", "–"});
  }
  std::string out = "## contention: 8 and 64 threads on a pool of 8\n\n" +
                    table({"stage", "8 threads req/s", "64 threads req/s", "64 ÷ 8",
                           "64 ÷ eventloop", "p99 at 64", "peak open at 64", "dials/1k at 64"},
                          body);
  if (loop) {
    out +=
        "`eventloop`: one thread driving 8 dedicated connections with poll(), one echo "
        "outstanding on each: the 8 requests in flight the pool allows, without a thread per "
        "request. Its row has its requests/s and its ratio to the pool's 8 threads; \"64 ÷ "
        "eventloop\" is each stage's 64 threads against it, measured beside them.\n\n";
  }
  // How long the 64 threads waited for a connection: the price of the cap, and of the order
  // in which the pool hands connections to waiters.
  std::vector<std::vector<std::string>> waits;
  for (const auto& stage : meta.stages) {
    const Row* crowded = find(rows, "contention", stage, 64, 64);
    if (!crowded || crowded->all_failed() || crowded->wait_max_us <= 0) continue;
    waits.push_back({stage, micros(crowded->wait_p50_us), micros(crowded->wait_p99_us),
                     micros(crowded->wait_p999_us), micros(crowded->wait_max_us)});
  }
  if (!waits.empty()) {
    out +=
        "Waiting for a connection at 64 threads (acquire(), timed by the harness from outside "
        "the pool, the same way for every stage; chart: report-wait.svg):\n\n" +
        table({"stage", "wait p50", "wait p99", "wait p99.9", "wait max"}, waits);
  }
  return out;
}

// exhausted: what waiting for a connection costs, and what a deadline does to it.
std::string exhausted_section(const std::vector<Row>& rows, const Meta& meta) {
  std::vector<std::vector<std::string>> body;
  for (const auto& stage : meta.stages) {
    for (const auto& r : rows) {
      if (r.scenario != "exhausted" || r.stage != stage || r.all_failed()) continue;
      double ok = r.requests > 0 ? r.rps * (1.0 - r.errors / r.requests) : 0;
      body.push_back({stage, rate(ok), fixed(r.errors, 0) + " / " + fixed(r.requests, 0),
                      micros(r.p50_us), micros(r.p99_us), micros(r.max_us),
                      r.errors > 0 ? micros(r.failed_p50_us) : "–",
                      r.errors > 0 ? micros(r.failed_max_us) : "–"});
    }
  }
  if (body.empty()) return "";
  return "## exhausted: 64 threads on a pool of 8, a server that answers after 2 ms\n\nStages "
         "with deadlines give each request 10 ms to get a connection; the others wait as long "
         "as it takes.\n\n" +
         table({"stage", "successful req/s", "failed / all", "p50", "p99", "max", "failed: p50",
                "failed: max"},
               body);
}

// The stage x fault matrix: for each stage and fault scenario, the failed requests out of all
// (every repetition) and the p99. The scenarios the harness runs against the in-process server
// only; against an external server the section is left out.
std::string fault_matrix_section(const std::vector<Row>& rows, const Meta& meta) {
  std::vector<std::string> header{"stage"};
  for (const char* f : kFaultScenarios) header.push_back(f);
  std::vector<std::vector<std::string>> body;
  bool any = false;
  for (const auto& stage : meta.stages) {
    std::vector<std::string> line{stage};
    for (const char* f : kFaultScenarios) {
      const Row* r = nullptr;
      for (const auto& row : rows) {
        if (row.scenario == f && row.stage == stage) r = &row;
      }
      if (!r) {
        line.push_back("–");
      } else if (r->all_failed()) {
        line.push_back("failed");
      } else {
        any = true;
        line.push_back(fixed(r->errors, 0) + " / " + fixed(r->requests, 0) + ", p99 " +
                       micros(r->p99_us));
      }
    }
    body.push_back(line);
  }
  if (!any) return "";
  return "## Faults: failed requests and p99, by stage\n\nEach cell: requests that failed out of "
         "all requests, over every repetition, and the 99th percentile latency. What each fault "
         "does is in docs/benchmarking.md; the chart is report-faults.svg.\n\n" +
         table(header, body, /*numeric=*/false);
}

// Every scenario that could not run, and every binary that wrote no results: the rest of the
// report is still there, and the reader sees what is missing from it and why.
std::string failures_section(const std::vector<Row>& rows, const Meta& meta) {
  std::vector<std::vector<std::string>> body;
  for (const auto& r : rows) {
    if (r.failed == 0) continue;
    std::string what =
        r.variant.empty() ? std::to_string(r.threads) + " threads, " + payload_name(r.payload_bytes)
                          : r.variant;
    body.push_back({r.scenario, r.stage, what,
                    std::to_string(r.failed) + " of " + std::to_string(r.repetitions), r.error});
  }
  for (const auto& m : meta.missing) body.push_back({"(all)", m, "–", "all", "no results written"});
  if (body.empty()) return "";
  return "## Runs that failed\n\nThese could not run at all (a failed request inside a run is "
         "counted in its row instead). Their cells below say \"failed\".\n\n" +
         table({"scenario", "stage", "configuration", "runs failed", "error"}, body,
               /*numeric=*/false);
}

// The echo server's own cost: one client beside N idle connections, beside what one ppoll()
// over N descriptors costs with nothing ready.
std::string echo_server_section(const std::vector<Row>& rows) {
  std::map<int, std::pair<const Row*, const Row*>> by_n;  // idle count -> (echo, bare poll)
  for (const auto& r : rows) {
    if (r.stage != "echo_server") continue;
    int n = r.connections;
    if (r.all_failed()) n = std::atoi(r.variant.substr(r.variant.find(':') + 1).c_str());
    if (r.scenario == "echo_beside_idle") by_n[n].first = &r;
    if (r.scenario == "bare_poll") by_n[n].second = &r;
  }
  if (by_n.empty()) return "";
  std::vector<std::vector<std::string>> body;
  for (const auto& [n, pair] : by_n) {
    auto [echo, poll] = pair;
    bool ran = echo && !echo->all_failed();
    body.push_back({std::to_string(n), ran ? micros(echo->p50_us) : "failed",
                    ran ? micros(echo->p99_us) : "–", ran ? micros(echo->max_us) : "–",
                    ran ? rate(echo->rps) : "–",
                    poll && !poll->all_failed() ? nanos(poll->ns_per_op) : "–"});
  }
  return "## echo server: one client beside idle connections\n\nOne client thread echoes 64 B "
         "back to back while N other connections sit idle; the last column is one ppoll() with "
         "no wait over N idle TCP sockets, the part of each loop pass that no poll() server "
         "avoids.\n\n" +
         table({"idle connections", "p50", "p99", "max", "req/s", "ppoll() over N"}, body);
}

// Stage 6's instruments on their own: a histogram written by two threads with one shard and
// with several, and the cost of one stats().
std::string instruments_section(const std::vector<Row>& rows) {
  std::vector<std::vector<std::string>> body;
  const Row* one = nullptr;
  const Row* many = nullptr;
  for (const auto& r : rows) {
    if (r.scenario != "instruments") continue;
    if (r.variant == "histogram_shards:1") one = &r;
    if (r.variant.starts_with("histogram_shards:") && r.variant != "histogram_shards:1") {
      many = &r;
    }
    body.push_back({r.stage, r.variant, std::to_string(r.threads),
                    r.all_failed() ? "failed" : nanos(r.ns_per_op)});
  }
  if (body.empty()) return "";
  std::string out =
      "## instruments: what observing costs\n\nhistogram_shards:N is one observation into a "
      "histogram with N shards while another thread observes into the same histogram (each "
      "thread's time per observation); stats is one Pool::stats().\n\n" +
      table({"stage", "what", "threads", "time"}, body);
  if (one && many && !one->all_failed() && !many->all_failed() && many->ns_per_op > 0) {
    out += "One shard costs " + ratio(one->ns_per_op / many->ns_per_op) + " the time of " +
           many->variant.substr(many->variant.find(':') + 1) +
           " shards: the price of two cores writing one cache line.\n\n";
  }
  return out;
}

}  // namespace

void order_stages(std::vector<std::string>& stages) {
  auto base = [](const std::string& s) { return s.substr(0, s.find('-')); };
  std::ranges::sort(stages, [&](const std::string& x, const std::string& y) {
    return std::pair(base(x), x) < std::pair(base(y), y);
  });
}

void load(const std::vector<std::string>& paths, std::vector<Row>& rows, Meta& meta) {
  std::map<Key, std::vector<Json>> runs;
  std::map<Key, double> bounds;  // each row's binary's starvation_bound_ms
  std::vector<Key> order;
  for (const auto& path : paths) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot read");
    Json doc;
    try {
      doc = Json::parse(without_non_finite(std::string(std::istreambuf_iterator<char>(in), {})));
    } catch (const Json::exception& e) {
      throw std::runtime_error(path + ": not JSON: " + e.what());
    }
    const Json& ctx = doc.value("context", Json::object());
    std::string binary = ctx.value("stage", "");
    if (binary.empty())
      throw std::runtime_error(path + ": no context.stage: not a tcppool bench file");
    // echo_server_bench measures the server, not a pool: it has rows but no stage column. A
    // binary that measures several stages names them all: "stage6+stage6-fifo".
    if (binary != "echo_server") {
      for (std::size_t at = 0; at <= binary.size();) {
        auto plus = std::min(binary.find('+', at), binary.size());
        if (plus > at) meta.stages.push_back(binary.substr(at, plus - at));
        at = plus + 1;
      }
    }
    // A pool with bounded barging says how long a waiter may be passed over (budgets.cpp).
    double starvation_bound_ms = -1;
    if (auto it = ctx.find("starvation_bound_ms"); it != ctx.end()) {
      if (it->is_number()) {
        starvation_bound_ms = it->get<double>();
      } else if (it->is_string()) {
        char* end = nullptr;
        const std::string text = it->get<std::string>();
        double v = std::strtod(text.c_str(), &end);
        if (end != text.c_str() && *end == '\0' && v >= 0) starvation_bound_ms = v;
      }
    }
    // Each binary saw a different TIME_WAIT count at its start (stage 1 leaves thousands).
    if (ctx.contains("time_wait_at_start")) {
      std::string& all = meta.fields["time_wait_by_stage"];
      all += (all.empty() ? "" : ", ") + binary + ": " + ctx.value("time_wait_at_start", "?");
    }
    // Each binary says which network namespace it ran in; the report says "mixed" if they
    // differ (a run with --only merged with an older one, say).
    if (ctx.contains("network")) {
      std::string ns = ctx.value("network", "?");
      auto [it, fresh] = meta.fields.try_emplace("network", ns);
      if (!fresh && it->second != ns) it->second = "mixed";
    }
    if (!meta.fields.contains("date")) {
      for (const char* k : {"date", "host_name", "mode", "endpoint", "compiler", "cxx_flags",
                            "time_wait_at_start", "time_wait_limit", "repetitions", "pairs",
                            "slice_ms", "pinning", "library_build_type"}) {
        if (ctx.contains(k))
          meta.fields[k] = ctx[k].is_string() ? ctx[k].get<std::string>() : ctx[k].dump();
      }
      meta.fields["num_cpus"] = std::to_string(ctx.value("num_cpus", 0));
      meta.fields["mhz_per_cpu"] = std::to_string(ctx.value("mhz_per_cpu", 0));
    }
    for (const Json& b : doc.value("benchmarks", Json::array())) {
      if (b.value("run_type", "iteration") != "iteration") continue;  // we take our own medians
      auto [scenario, stage, variant] = parse_run_name(b.value("run_name", b.value("name", "")));
      auto add = [&](const std::string& who, const Json& counters) {
        Key key{scenario,
                who,
                binary,
                static_cast<int>(number(counters, "threads")),
                static_cast<int>(number(counters, "payload_bytes")),
                static_cast<int>(number(counters, "pool_size")),
                variant};
        if (!runs.contains(key)) order.push_back(key);
        runs[key].push_back(counters);
        bounds[key] = starvation_bound_ms;
      };
      // A run that could not run at all (SkipWithError) has no counters, only its error: it
      // becomes a failed repetition of its row, so the report shows it instead of losing it.
      if (b.value("error_occurred", false)) {
        Json failed = {{"error_message", b.value("error_message", "failed")}};
        // The threads and payload it would have had are in its name; recover them so that the
        // failure lands in the row its successful repetitions would have made.
        const std::string name = b.value("run_name", b.value("name", ""));
        for (auto [tag, field] :
             {std::pair{"threads:", "threads"}, {"payload:", "payload_bytes"}}) {
          if (auto at = name.find(tag); at != std::string::npos) {
            failed[field] = std::atoi(name.c_str() + at + std::strlen(tag));
          }
        }
        add(stage, failed);
        continue;
      }
      add(stage, b);
      // A paired run carries its B side under "b_" names and its C side, if any, under "c_"
      // names; the label says what each is: "b=dedicated,c=eventloop" (scenarios.hpp).
      std::string label = b.value("label", "");
      for (std::size_t at = 0; at < label.size();) {
        auto comma = std::min(label.find(',', at), label.size());
        std::string part = label.substr(at, comma - at);
        at = comma + 1;
        if (part.size() < 2 || part[1] != '=' || (part[0] != 'b' && part[0] != 'c')) continue;
        const std::string prefix = part.substr(0, 1) + "_", is = part.substr(2);
        Json side = Json::object();
        for (const auto& [k, v] : b.items()) {
          if (k.starts_with(prefix)) side[k.substr(2)] = v;
        }
        // C's ratio to B, under the name the report reads a row's ratio to its ceiling by.
        if (prefix == "c_" && b.contains("c_over_b")) side["a_over_b"] = b["c_over_b"];
        // B is the stage itself (contention: 8 threads on its pool) unless it is a ceiling.
        add(is == "dedicated" || is == "eventloop" ? is : stage, side);
      }
    }
  }
  order_stages(meta.stages);
  meta.stages.erase(std::unique(meta.stages.begin(), meta.stages.end()), meta.stages.end());

  for (const Key& key : order) {
    const auto& all = runs[key];
    Row r;
    std::tie(r.scenario, r.stage, r.measured_with, r.threads, r.payload_bytes, r.pool_size,
             r.variant) = key;
    std::vector<Json> reps;  // the repetitions that ran; the others count as failed
    for (const auto& b : all) {
      if (b.contains("error_message")) {
        if (r.failed++ == 0) r.error = b["error_message"].get<std::string>();
      } else {
        reps.push_back(b);
      }
    }
    r.repetitions = static_cast<int>(all.size());
    if (reps.empty()) {
      rows.push_back(r);
      continue;
    }
    auto med = [&](const char* k) {
      std::vector<double> v;
      for (const auto& b : reps) v.push_back(number(b, k));
      return median(v);
    };
    r.rps = med("rps");
    r.p50_us = med("p50_us");
    r.p99_us = med("p99_us");
    r.dials_per_1k = med("dials_per_1k");
    r.tw_after = med("tw_after");
    r.tw_before = number(reps.front(), "tw_before");
    r.a_over_b = med("a_over_b");
    r.a_over_c = med("a_over_c");
    r.starvation_bound_ms = bounds[key];
    r.wait_p50_us = med("wait_p50_us");
    r.wait_p99_us = med("wait_p99_us");
    r.wait_p999_us = med("wait_p999_us");
    r.peak_open = -1;
    r.failed_p50_us = med("failed_p50_us");
    for (const auto& b : reps) {
      r.max_us = std::max(r.max_us, number(b, "max_us"));
      r.failed_max_us = std::max(r.failed_max_us, number(b, "failed_max_us"));
      r.wait_max_us = std::max(r.wait_max_us, number(b, "wait_max_us"));
      r.errors += number(b, "errors");
      r.requests += number(b, "requests");
      r.peak_open = std::max(r.peak_open, number(b, "peak_open", -1));
    }
    r.connections = static_cast<int>(
        std::max(number(reps.front(), "idle_connections"), number(reps.front(), "fds")));
    if (r.scenario == "acquire_release" || r.scenario == "bare_poll" ||
        r.scenario == "instruments") {
      std::vector<double> ns;
      for (const auto& b : reps) {
        double t = number(b, "real_time");
        std::string unit = b.value("time_unit", "ns");
        ns.push_back(unit == "us" ? t * 1e3 : unit == "ms" ? t * 1e6 : t);
      }
      r.ns_per_op = median(ns);
    }
    rows.push_back(r);
  }
}

namespace {

// What the report says of the network namespace the binaries ran in (bench.sh gives each its
// own when run as root, so that TIME_WAIT sockets left by anything else cannot reach it).
std::string network_row(const std::string& ns) {
  if (ns == "own") {
    return "a network namespace of its own for each binary (run as root): TIME_WAIT sockets "
           "and ports used elsewhere do not count";
  }
  if (ns == "host" || ns == "host?") {
    return "the host's (not root, or TCPPOOL_BENCH_NETNS=0): TIME_WAIT sockets left by tests "
           "or other programs count, and can change stage 1's numbers";
  }
  if (ns == "mixed") return "mixed: some binaries ran in a namespace of their own, some not";
  return "unknown (results from before the report recorded it)";
}

}  // namespace

std::string render_markdown(const std::vector<Row>& rows, const Meta& meta,
                            const std::vector<Budget>& budgets) {
  auto field = [&](const char* k) {
    auto it = meta.fields.find(k);
    return it == meta.fields.end() ? std::string("?") : it->second;
  };
  std::string out = "# Benchmark report\n\n";
  std::string stages;
  for (const auto& s : meta.stages) stages += (stages.empty() ? "" : ", ") + s;
  out += table(
      {"", ""},
      {{"date", field("date")},
       {"commit", field("commit")},
       {"machine", field("host_name") + ", " + field("num_cpus") + " CPUs, " + field("cpu_model") +
                       ", " + field("kernel")},
       {"compiler", field("compiler")},
       {"flags", field("cxx_flags")},
       {"mode", field("mode") + ": paired scenarios (steady, contention) in " + field("pairs") +
                    " alternating pairs of " + field("slice_ms") + " ms slices; the others " +
                    field("repetitions") +
                    " repetitions: medians, except max latency and peak open (the "
                    "highest) and failures (the sum)"},
       {"CPU pinning", field("pinning")},
       {"server",
        field("endpoint") == "in-process"
            ? "in-process echo server (common/echo), 127.0.0.1, fresh per run"
            : "external " + field("endpoint") + " (fault scenarios skipped; peak open unknown)"},
       {"network", network_row(field("network"))},
       {"TIME_WAIT sockets at start", field("time_wait_by_stage") + " (the kernel keeps at most " +
                                          field("time_wait_limit") + ")"},
       {"stages", stages}},
      /*numeric=*/false);

  // Past net.ipv4.tcp_max_tw_buckets a closing socket skips TIME_WAIT: stage 1 then pays less
  // than it would on a machine with room, and the reader should know.
  double limit = std::atof(field("time_wait_limit").c_str());
  int full = 0;
  for (const auto& r : rows) {
    if (limit > 0 && r.tw_before >= limit) ++full;
  }
  if (full > 0) {
    out += "**Note:** " + std::to_string(full) +
           " rows of this report were measured starting with the kernel's TIME_WAIT table full (" +
           field("time_wait_limit") +
           " sockets): connections closed during them skipped TIME_WAIT. See "
           "docs/benchmarking.md.\n\n";
  }

  out += failures_section(rows, meta);
  if (!budgets.empty()) {
    std::vector<std::vector<std::string>> body;
    for (const auto& b : budgets) {
      body.push_back({b.claim, b.measured, !b.known ? "–" : b.met ? "met" : "**missed**"});
    }
    out +=
        "## Budgets\n\nWhat the design asks of each stage (docs/benchmarking.md lists the "
        "budgets), measured here. CI does not fail on them; docs/benchmarking.md and the "
        "stage pages explain the misses.\n\n" +
        table({"budget", "measured", "verdict"}, body, /*numeric=*/false);
  }

  out += fault_matrix_section(rows, meta);
  out += "## steady: back-to-back echoes, threads ≤ pool size\n\n";
  for (int p : kSteadyPayloads) out += steady_section(rows, meta, p);

  std::vector<std::vector<std::string>> ar;
  for (const auto& r : rows) {
    if (r.scenario == "acquire_release") {
      ar.push_back({r.stage, r.all_failed() ? "failed" : nanos(r.ns_per_op)});
    }
  }
  if (!ar.empty()) {
    out += "## acquire_release: one acquire + release, no I/O, one thread\n\n" +
           table({"stage", "time"}, ar);
  }

  std::vector<std::string> others;
  for (const auto& r : rows) {
    if (r.scenario != "steady" && r.scenario != "acquire_release" && r.stage != "echo_server" &&
        r.scenario != "instruments" && std::ranges::find(others, r.scenario) == others.end()) {
      others.push_back(r.scenario);
    }
  }
  for (const auto& s : others) {
    if (s == "contention") {
      out += contention_section(rows, meta);
    } else if (s == "exhausted") {
      out += exhausted_section(rows, meta);
    } else {
      out += "## " + s + "\n\n" + generic_section(rows, s);
    }
  }

  out += echo_server_section(rows);
  out += instruments_section(rows);
  out += "## Chart\n\n![steady throughput by stage and threads](report.svg)\n";
  return out;
}

std::string render_json(const std::vector<Row>& rows, const Meta& meta,
                        const std::vector<Budget>& budgets) {
  nlohmann::json doc;
  doc["meta"] = meta.fields;
  doc["meta"]["stages"] = meta.stages;
  doc["rows"] = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json j = {
        {"scenario", r.scenario},
        {"stage", r.stage},
        {"measured_with", r.measured_with},
        {"threads", r.threads},
        {"payload_bytes", r.payload_bytes},
        {"pool_size", r.pool_size},
        {"rps", r.rps},
        {"p50_us", r.p50_us},
        {"p99_us", r.p99_us},
        {"max_us", r.max_us},
        {"failed_p50_us", r.failed_p50_us},
        {"failed_max_us", r.failed_max_us},
        {"errors", r.errors},
        {"requests", r.requests},
        {"dials_per_1k", r.dials_per_1k},
        {"peak_open", r.peak_open < 0 ? nlohmann::json() : nlohmann::json(r.peak_open)},
        {"tw_before", r.tw_before},
        {"tw_after", r.tw_after},
        {"repetitions", r.repetitions}};
    if (r.scenario == "acquire_release" || r.scenario == "bare_poll" ||
        r.scenario == "instruments") {
      j["ns_per_op"] = r.ns_per_op;
    }
    if (r.wait_max_us > 0) {
      j["wait_p50_us"] = r.wait_p50_us;
      j["wait_p99_us"] = r.wait_p99_us;
      j["wait_p999_us"] = r.wait_p999_us;
      j["wait_max_us"] = r.wait_max_us;
    }
    if (!r.variant.empty()) j["variant"] = r.variant;
    if (r.connections > 0) j["connections"] = r.connections;
    if (r.failed > 0) {
      j["failed"] = r.failed;
      j["error"] = r.error;
    }
    if (r.a_over_b > 0) j["a_over_b"] = r.a_over_b;
    if (r.a_over_c > 0) j["a_over_c"] = r.a_over_c;
    if (r.starvation_bound_ms >= 0) j["starvation_bound_ms"] = r.starvation_bound_ms;
    doc["rows"].push_back(j);
  }
  doc["budgets"] = nlohmann::json::array();
  for (const auto& b : budgets) {
    doc["budgets"].push_back({{"claim", b.claim},
                              {"measured", b.measured},
                              {"met", b.known ? nlohmann::json(b.met) : nlohmann::json()}});
  }
  return doc.dump(2) + "\n";
}

std::string chart_data(const std::vector<Row>& rows, const Meta& meta) {
  std::string out = "threads";
  for (const auto& s : meta.stages) out += " " + s;
  out += " dedicated\n";
  for (int t : kSteadyThreads) {
    out += std::to_string(t);
    for (const auto& s : meta.stages) {
      const Row* r = find(rows, "steady", s, t, 64);
      out += " " + (r ? fixed(r->rps, 0) : std::string("0"));
    }
    auto d = dedicated_row(rows, "steady", t, 64);
    out += " " + fixed(d ? d->rps : 0, 0) + "\n";
  }
  return out;
}

std::string chart_script(const Meta& meta, const std::string& data_file, const std::string& png,
                         const std::string& svg) {
  int columns = static_cast<int>(meta.stages.size()) + 2;  // threads + stages + dedicated
  std::string plot = "plot for [c=2:" + std::to_string(columns) + "] '" + data_file +
                     "' using c:xtic(1) title columnheader(c)\n";
  std::string common =
      "set title 'steady echo, 64 B payload: requests/s by stage and client threads'\n"
      "set style data histograms\n"
      "set style histogram clustered gap 1\n"
      "set style fill solid 0.85 border -1\n"
      "set boxwidth 0.9\n"
      "set xlabel 'client threads'\n"
      "set ylabel 'requests/s'\n"
      "set format y '%.0s%c'\n"
      "set yrange [0:*]\n"
      "set grid ytics\n"
      "set key top left\n";
  return "# Generated by bench_report; run by scripts/bench.sh.\n" + common +
         "set terminal svg size 900,500 dynamic font 'sans,11'\n"
         "set output '" +
         svg + "'\n" + plot +
         "set terminal pngcairo size 900,500 font 'sans,10'\n"
         "set output '" +
         png + "'\n" + plot;
}

std::string faults_chart_data(const std::vector<Row>& rows, const Meta& meta) {
  std::string out = "fault";
  for (const auto& s : meta.stages) out += " " + s;
  out += "\n";
  bool any = false;
  for (const char* f : kFaultScenarios) {
    std::string line = f;
    bool measured = false;
    for (const auto& stage : meta.stages) {
      double pct = 0;
      for (const auto& r : rows) {
        if (r.scenario == f && r.stage == stage && r.requests > 0) {
          pct = 100.0 * r.errors / r.requests;
          measured = true;
        }
      }
      line += " " + fixed(pct, 3);
    }
    if (measured) {
      out += line + "\n";
      any = true;
    }
  }
  return any ? out : "";
}

namespace {

// A gnuplot script drawing `data_file` as clustered bars, a cluster per line and a bar per
// column, into `svg` and `png`; `settings` are the chart's own lines (title, axes).
std::string bars_script(const std::string& settings, const std::string& data_file,
                        const std::string& png, const std::string& svg) {
  std::string plot = "plot for [c=2:*] '" + data_file + "' using c:xtic(1) title columnheader(c)\n";
  std::string common = settings +
                       "set style data histograms\n"
                       "set style histogram clustered gap 1\n"
                       "set style fill solid 0.85 border -1\n"
                       "set boxwidth 0.9\n"
                       "set grid ytics\n"
                       "set key top left\n";
  return "# Generated by bench_report; run by scripts/bench.sh.\n" + common +
         "set terminal svg size 900,500 dynamic font 'sans,11'\n"
         "set output '" +
         svg + "'\n" + plot +
         "set terminal pngcairo size 900,500 font 'sans,10'\n"
         "set output '" +
         png + "'\n" + plot;
}

}  // namespace

std::string faults_chart_script(const Meta&, const std::string& data_file, const std::string& png,
                                const std::string& svg) {
  return bars_script(
      "set title 'failed requests under each fault, by stage'\n"
      "set xlabel 'fault scenario'\n"
      "set ylabel 'failed requests (% of all)'\n"
      "set yrange [0:*]\n",
      data_file, png, svg);
}

std::string wait_chart_data(const std::vector<Row>& rows, const Meta& meta) {
  std::string out = "quantile";
  std::vector<const Row*> crowded;
  auto waited = [&](const std::string& stage) -> const Row* {
    const Row* r = find(rows, "contention", stage, 64, 64);
    return r && !r->all_failed() && r->wait_max_us > 0 ? r : nullptr;
  };
  // kWaitChartStages when any of them waited (the chart stays readable), else every stage.
  bool chosen = std::ranges::any_of(kWaitChartStages, [&](const char* s) { return waited(s); });
  for (const auto& stage : meta.stages) {
    if (chosen && std::ranges::find(kWaitChartStages, stage) == std::end(kWaitChartStages)) {
      continue;
    }
    if (const Row* r = waited(stage)) {
      crowded.push_back(r);
      out += " " + stage;
    }
  }
  if (crowded.empty()) return "";
  out += "\n";
  const std::pair<const char*, double Row::*> quantiles[] = {{"p50", &Row::wait_p50_us},
                                                             {"p99", &Row::wait_p99_us},
                                                             {"p99.9", &Row::wait_p999_us},
                                                             {"max", &Row::wait_max_us}};
  for (const auto& [name, field] : quantiles) {
    out += name;
    // A log axis has no zero: a wait too short to measure is drawn at 0.1 us.
    for (const Row* r : crowded) out += " " + fixed(std::max(r->*field, 0.1), 1);
    out += "\n";
  }
  return out;
}

std::string wait_chart_script(const std::string& data_file, const std::string& png,
                              const std::string& svg) {
  return bars_script(
      "set title 'waiting for a connection: 64 threads on a pool of 8 (contention)'\n"
      "set logscale y\n"
      "set xlabel 'quantile of the wait'\n"
      "set ylabel 'acquire() wait (us, log scale)'\n",
      data_file, png, svg);
}

}  // namespace tcppool::bench::report
