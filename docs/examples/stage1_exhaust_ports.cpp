// docs/examples/stage1_exhaust_ports.cpp: the answer to stage 1's hardcore exercise (run out of
// ephemeral ports). Meant for a network namespace with a narrowed ip_local_port_range; see
// docs/stage1-naive.md. Built with everything else.
// [example]
#include <array>
#include <cstdio>

#include "common/echo/echo_client.hpp"
#include "stage1-naive/pool.hpp"

int main(int argc, char** argv) {
  tcppool::stage1::Pool pool({.endpoint = argc > 1 ? argv[1] : "127.0.0.1:7022"});
  std::array<std::byte, 64> request{}, reply{};
  for (int i = 1;; ++i) {
    auto lease = pool.acquire();
    if (!lease) {
      std::printf("acquire %d: %s\n", i, lease.error().message().c_str());
      return 1;
    }
    if (!tcppool::echo::round_trip(lease->fd(), request, reply)) lease->discard();
  }  // each lease closes its connection here: TIME_WAIT on this side
}
// [example]
