// docs/examples/stage1_server_closes_first.cpp: the answer to stage 1's first exercise (move
// TIME_WAIT to the server). Run it against `echo_server --port 7024 --idle-close 1ms`; it exits
// 0 when every connection was closed by the server first. Built with everything else.
// [example]
#include <array>

#include "common/echo/echo_client.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "stage1-naive/pool.hpp"

using namespace std::chrono_literals;
namespace net = tcppool::net;

int main(int argc, char** argv) {
  tcppool::stage1::Pool pool({.endpoint = argc > 1 ? argv[1] : "127.0.0.1:7024"});
  std::array<std::byte, 64> request{}, reply{};
  for (int i = 0; i < 20; ++i) {
    auto lease = pool.acquire();
    if (!lease) return 1;
    if (!tcppool::echo::round_trip(lease->fd(), request, reply)) return 1;
    std::array<std::byte, 1> more{};
    auto r = net::recv_exact(lease->fd(), more, net::Deadline::after(1s));
    if (r || r.error() != tcppool::Errc::kPeerClosed) return 2;  // expected EOF
  }
}
// [example]
