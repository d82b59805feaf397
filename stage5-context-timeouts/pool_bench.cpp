// stage5-context-timeouts/pool_bench.cpp: registers this stage's pool with the shared benchmark
// harness.
#include "pool.hpp"

#include "common/bench/harness.hpp"

int main(int argc, char** argv) {
  return tcppool::bench::run_stage<tcppool::stage5::Pool>(argc, argv, "stage5");
}
