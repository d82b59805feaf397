// docs/examples/echo_in_process.cpp: the in-process echo server example of docs/echo-server.md.
// Built with everything else and run by `make test` (ctest: DocsExamples.EchoInProcess); it
// exits 0 only if the server closed the idle connection and the client saw the EOF.
// [example]
#include <array>
#include <cstdio>

#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"

using namespace std::chrono_literals;
namespace echo = tcppool::echo;
namespace net = tcppool::net;

int main() {
  auto server = echo::EchoServer::start({});  // 127.0.0.1, a free port
  if (!server) return 1;
  echo::EchoServer& srv = **server;

  auto conn = net::dial(srv.endpoint(), net::Deadline::after(1s));
  if (!conn) return 1;
  srv.set_faults({.idle_close = 50ms});  // in force when set_faults() returns

  // Wait for the event, not for a time.
  bool closed = srv.wait_until(
      [](const echo::Stats& s) { return s.closed(echo::CloseCause::kIdle) == 1; }, 2s);

  std::array<std::byte, 1> b{};
  auto r = net::recv_exact(conn->fd(), b, net::Deadline::after(1s));
  std::printf("closed=%d recv: %s\n", closed, r ? "ok" : r.error().message().c_str());
  return closed && !r && r.error() == tcppool::Errc::kPeerClosed ? 0 : 1;
}  // the server stops here: every connection closed, its thread joined
// [example]
