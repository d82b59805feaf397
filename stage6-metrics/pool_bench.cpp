// stage6-metrics/pool_bench.cpp: registers this stage's pool with the shared benchmark
// harness.
#include "pool.hpp"

#include "common/bench/harness.hpp"

int main(int argc, char** argv) {
  return tcppool::bench::run_stage<tcppool::stage6::Pool>(argc, argv, "stage6");
}
