// stage6-metrics/pool_stress.cpp: runs the shared stress driver (common/stress, `make stress`) on
// this stage's pool.
#include "pool.hpp"

#include "common/stress/adapter.hpp"

int main(int argc, char** argv) {
  return tcppool::stress::run_stage<tcppool::stage6::Pool>(argc, argv, "stage6");
}
