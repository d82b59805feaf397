// common/testing/tcp_pair.hpp: two ends of one loopback TCP connection, for I/O tests that
// need to control the peer byte by byte.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <stdexcept>

#include "common/net/io.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::testing {

/// The two ends of a connected loopback TCP connection; both in blocking mode.
struct TcpPair {
  net::Socket client;  ///< The end that dialed.
  net::Socket server;  ///< The end that was accepted.
};

/// Opens a listener on a free loopback port, dials it and accepts. Throws std::runtime_error
/// if any step fails (a broken test environment, not a test outcome).
inline TcpPair tcp_pair() {
  auto listener = net::listen_on(net::Endpoint::loopback(0), 1);
  if (!listener) throw std::runtime_error("listen: " + listener.error().message());
  auto port = net::local_port(listener->fd());
  if (!port) throw std::runtime_error("getsockname: " + port.error().message());
  auto client =
      net::dial(net::Endpoint::loopback(*port), net::Deadline::after(std::chrono::seconds(5)));
  if (!client) throw std::runtime_error("dial: " + client.error().message());
  if (!net::wait_ready(listener->fd(), POLLIN, net::Deadline::after(std::chrono::seconds(5)))) {
    throw std::runtime_error("accept: nothing to accept");
  }
  net::Socket server(::accept4(listener->fd(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server) throw std::runtime_error("accept failed");
  return {std::move(*client), std::move(server)};
}

}  // namespace tcppool::testing
