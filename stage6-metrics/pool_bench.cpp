// stage6-metrics/pool_bench.cpp: registers this stage's pool with the shared benchmark
// harness, and adds what only this stage has: the cost of its instruments.
//
// instruments/stage6/histogram_shards:N: two threads (one per core of the reference machine)
// observing into one Histogram with N shards, as every acquire and release does. With one
// shard both threads write the same cache lines and each write moves them between the cores
// (false sharing); with kDefaultShards each thread has lines of its own. The report shows the
// two side by side. instruments/stage6/stats: one Pool::stats(), the cost of a scrape.
#include "pool.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/bench/harness.hpp"

namespace {

using tcppool::stage6::Histogram;

// [instruments_bench]
// One histogram shared by the benchmark's threads; made by thread 0 before the others start.
std::unique_ptr<Histogram> shared_histogram;

void observe(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_histogram = std::make_unique<Histogram>(tcppool::stage6::default_buckets(),
                                                   static_cast<std::size_t>(state.range(0)));
  }
  // Google Benchmark starts every thread's loop together, after the setup above.
  std::chrono::nanoseconds d(300 + state.thread_index());
  for (auto _ : state) shared_histogram->observe(d);
}
// [instruments_bench]

BENCHMARK(observe)
    ->Name("instruments/stage6")
    ->Arg(1)
    ->Arg(tcppool::stage6::kDefaultShards)
    ->ArgNames({"histogram_shards"})
    ->Threads(2)
    ->UseRealTime()
    ->Iterations(2'000'000)
    ->Repetitions(3);

void stats(benchmark::State& state) {
  // No server needed: stats() reads counters; an unreachable endpoint is never dialed.
  tcppool::stage6::Pool pool({.endpoint = "127.0.0.1:9"});
  for (auto _ : state) benchmark::DoNotOptimize(pool.stats());
}
BENCHMARK(stats)->Name("instruments/stage6/stats")->Iterations(20'000)->Repetitions(3);

}  // namespace

// As stage 5's: the pool as it comes (bounded barging) and, in the contention scenario alone,
// with strict FIFO selected ("stage6-fifo"), for the report's wait-time chart.
int main(int argc, char** argv) {
  using tcppool::stage6::Pool;
  auto fifo = tcppool::bench::stage_variant<Pool>(
      "stage6-fifo", [](Pool::Options& o) { o.fairness = tcppool::stage6::Fairness::kStrictFifo; });
  fifo.contention_only = true;
  benchmark::AddCustomContext("starvation_bound_ms",
                              std::to_string(Pool::Options{}.starvation_bound.count()));
  return tcppool::bench::run_benchmarks(argc, argv,
                                        {tcppool::bench::stage_info<Pool>("stage6"), fifo});
}
