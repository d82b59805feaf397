// stage5-context-timeouts/pool_bench.cpp: registers this stage's pool with the shared benchmark
// harness, twice: as it comes (bounded barging, the default) and with strict FIFO selected,
// "stage5-fifo", in the contention scenario alone, where the two differ. The report puts them
// side by side, with the wait-time chart, and checks the wait against starvation_bound_ms.
#include "pool.hpp"

#include <benchmark/benchmark.h>

#include <string>

#include "common/bench/harness.hpp"

int main(int argc, char** argv) {
  using tcppool::stage5::Pool;
  auto fifo = tcppool::bench::stage_variant<Pool>(
      "stage5-fifo", [](Pool::Options& o) { o.fairness = tcppool::stage5::Fairness::kStrictFifo; });
  fifo.contention_only = true;
  benchmark::AddCustomContext("starvation_bound_ms",
                              std::to_string(Pool::Options{}.starvation_bound.count()));
  return tcppool::bench::run_benchmarks(argc, argv,
                                        {tcppool::bench::stage_info<Pool>("stage5"), fifo});
}
