// stage4-health-keepalive/pool_bench.cpp: registers this stage's pool with the shared benchmark
// harness.
#include "pool.hpp"

#include "common/bench/harness.hpp"

int main(int argc, char** argv) {
  return tcppool::bench::run_stage<tcppool::stage4::Pool>(argc, argv, "stage4");
}
