// common/bench/harness.cpp: flags, registration and the run of one stage's benchmark binary.
#include "common/bench/harness.hpp"

#include <sched.h>

#include <cstdio>
#include <string_view>
#include <vector>

#include "common/bench/scenarios.hpp"
#include "common/bench/target.hpp"

#ifndef TCPPOOL_COMPILER
#define TCPPOOL_COMPILER "unknown"
#endif
#ifndef TCPPOOL_CXX_FLAGS
#define TCPPOOL_CXX_FLAGS "unknown"
#endif

namespace tcppool::bench {
namespace {

// The steady grid: thread counts and payload sizes.
constexpr int kSteadyThreads[] = {1, 4, 16, 64};
constexpr std::size_t kSteadyPayloads[] = {64, 4096};

// Counts runs as they start, to say "n of m" while the bench runs, and remembers whether any
// run failed (a server that did not start, a run in which no request completed).
struct Progress {
  std::string stage;
  bool filtered = false;  // --benchmark_filter: the total is unknown, say "n" alone
  int total = 0;
  int started = 0;
  bool failed = false;
};

Progress g_progress;

// Registers one scenario, run `repetitions` times, and wraps it with the progress line. Every
// benchmark has a fixed iteration count (one run of a manually timed scenario, or `iterations`
// of a self-timed one), so Google Benchmark calls it once per repetition.
template <typename Body>
void add(const std::string& name, int repetitions, Body body, std::int64_t iterations = 0) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [name, body](benchmark::State& state) {
    ++g_progress.started;
    std::string of = g_progress.filtered ? "" : "/" + std::to_string(g_progress.total);
    std::fprintf(stderr, "[%s %d%s] %s\n", g_progress.stage.c_str(), g_progress.started, of.c_str(),
                 name.c_str());
    body(state);
    if (state.error_occurred()) g_progress.failed = true;
  });
  b->Repetitions(repetitions);
  if (iterations == 0) {
    b->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  } else {
    b->Iterations(iterations)->Unit(benchmark::kNanosecond);
  }
  g_progress.total += repetitions;
}

std::string named(const std::string& scenario, const std::string& stage, int threads,
                  std::size_t payload = 64) {
  return scenario + "/" + stage + "/threads:" + std::to_string(threads) +
         "/payload:" + std::to_string(payload);
}

// [register_all]
void register_all(const StageInfo& stage, const Config& config) {
  const int reps = config.repetitions;
  if (stage.contention_only) {
    add(named("contention", stage.name, 64), 1,
        [&](benchmark::State& s) { contention(s, stage, config); });
    return;
  }
  // A pool that keeps connections costs nanoseconds per acquire; stage 1 dials each time.
  std::int64_t iterations =
      stage.sized ? (config.quick ? 200'000 : 2'000'000) : (config.quick ? 500 : 5'000);
  add(
      "acquire_release/" + stage.name, reps,
      [&](benchmark::State& s) { acquire_release(s, stage, config); }, iterations);
  // Paired scenarios measure in alternating slices instead of repetitions.
  for (int threads : kSteadyThreads) {
    for (std::size_t payload : kSteadyPayloads) {
      add(named("steady", stage.name, threads, payload), 1,
          [&, threads, payload](benchmark::State& s) {
            steady(s, stage, config, threads, payload);
          });
    }
  }
  add(named("contention", stage.name, 64), 1,
      [&](benchmark::State& s) { contention(s, stage, config); });
  add(named("burst", stage.name, 64), reps, [&](benchmark::State& s) { burst(s, stage, config); });
  if (!has_faults(config)) return;  // an external server: we cannot inject faults
  add(named("idle_close", stage.name, 4), reps,
      [&](benchmark::State& s) { idle_close(s, stage, config); });
  add(named("restart", stage.name, 8), reps,
      [&](benchmark::State& s) { restart(s, stage, config); });
  add(named("rst", stage.name, 8), reps, [&](benchmark::State& s) { rst(s, stage, config); });
  add(named("stall", stage.name, 8), reps, [&](benchmark::State& s) { stall(s, stage, config); });
  add(named("exhausted", stage.name, 64), reps,
      [&](benchmark::State& s) { exhausted(s, stage, config); });
  add(named("accept_queue", stage.name, 64), reps,
      [&](benchmark::State& s) { accept_queue(s, stage, config); });
}
// [register_all]

// Pins the in-process server's loop to the first CPU this process may use and the client
// threads to the others: every echo then crosses cores the same way, run after run, instead of
// wherever the scheduler happened to put the threads this time. Returns a description for the
// report, or "none" when there are fewer than two CPUs to use.
std::string pin(Config& config) {
  cpu_set_t allowed;
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
    return "none";
  }
  std::string clients;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (config.server_cpu < 0) {
      config.server_cpu = cpu;
    } else {
      config.client_cpus.push_back(cpu);
      clients += (clients.empty() ? "" : ",") + std::to_string(cpu);
    }
  }
  return "server on CPU " + std::to_string(config.server_cpu) + ", clients on CPU " + clients;
}

}  // namespace

int run_benchmarks(int argc, char** argv, const StageInfo& stage) {
  return run_benchmarks(argc, argv, std::vector<StageInfo>{stage});
}

int run_benchmarks(int argc, char** argv, const std::vector<StageInfo>& stages) {
  // Our flags first; everything else goes to Google Benchmark, after our defaults so that a
  // --benchmark_* flag on the command line wins.
  bool quick = false;
  bool pinned = true;  // see pin() and docs/benchmarking.md
  std::string endpoint;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--pin=split") {
      pinned = true;
    } else if (arg == "--pin=none") {
      pinned = false;
    } else if (arg.starts_with("--endpoint=")) {
      endpoint = arg.substr(std::string_view("--endpoint=").size());
    } else {
      if (arg.starts_with("--benchmark_filter=")) g_progress.filtered = true;
      rest.push_back(argv[i]);
    }
  }
  Config config = Config::for_mode(quick);
  config.endpoint = endpoint;
  // Pinning is for the in-process server; an external server's CPUs are not ours to plan.
  std::string pinning = pinned && endpoint.empty() ? pin(config) : "none";

  std::vector<char*> gb_args{rest[0]};
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  if (config.repetitions > 1) gb_args.push_back(interleave.data());
  gb_args.insert(gb_args.end(), rest.begin() + 1, rest.end());
  int gb_argc = static_cast<int>(gb_args.size());
  benchmark::Initialize(&gb_argc, gb_args.data());
  if (benchmark::ReportUnrecognizedArguments(gb_argc, gb_args.data())) return 2;

  std::string names;
  for (const auto& stage : stages) {
    names += (names.empty() ? "" : "+") + stage.name;
    register_all(stage, config);
  }
  g_progress.stage = names;

  benchmark::AddCustomContext("stage", names);
  benchmark::AddCustomContext("mode", quick ? "quick" : "full");
  benchmark::AddCustomContext("endpoint", endpoint.empty() ? "in-process" : endpoint);
  benchmark::AddCustomContext("pinning", pinning);
  benchmark::AddCustomContext("compiler", TCPPOOL_COMPILER);
  benchmark::AddCustomContext("cxx_flags", TCPPOOL_CXX_FLAGS);
  benchmark::AddCustomContext("time_wait_at_start", std::to_string(time_wait_count()));
  benchmark::AddCustomContext("time_wait_limit", std::to_string(time_wait_limit()));
  benchmark::AddCustomContext("network", network_namespace());
  auto ms = [](net::Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  benchmark::AddCustomContext("repetitions", std::to_string(config.repetitions));
  benchmark::AddCustomContext("pairs", std::to_string(config.pairs));
  benchmark::AddCustomContext("slice_ms", ms(config.slice));
  warm_up(config);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_progress.failed) {
    std::fprintf(stderr, "%s: a benchmark run failed (see the error above)\n", names.c_str());
    return 1;
  }
  return 0;
}

}  // namespace tcppool::bench
