// docs/examples/go_idioms.cpp: the Go idioms of docs/go-to-cpp.md, as code that compiles and
// runs. `make test` runs it (ctest: DocsExamples.GoIdioms) against an in-process echo server.
#include <array>
#include <cstdio>
#include <expected>
#include <system_error>

#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "stage3-bounded-channel/pool.hpp"

namespace echo = tcppool::echo;
using tcppool::stage3::Pool;

// conn, err := pool.Get(); if err != nil { return err }
std::expected<int, std::error_code> borrowed_descriptor(Pool& pool) {
  // [expected]
  auto lease = pool.acquire();                        // conn, err := pool.Get()
  if (!lease) return std::unexpected(lease.error());  // if err != nil { return err }
  int fd = lease->fd();
  // [expected]
  return fd;
}

// defer pool.Put(conn), and MarkUnusable() after an error.
std::expected<void, std::error_code> one_request(Pool& pool) {
  std::array<std::byte, 64> request{}, reply{};
  echo::fill_pattern(request, 7);
  // [lease]
  auto lease = pool.acquire();
  if (!lease) return std::unexpected(lease.error());
  auto r = echo::round_trip(lease->fd(), request, reply);
  if (!r) lease->discard();  // MarkUnusable(): closed, never reused
  return r;                  // the lease's destructor gives the connection back (defer)
  // [lease]
}

int main() {
  auto server = echo::EchoServer::start({});
  if (!server) return 1;
  Pool pool({.endpoint = (*server)->endpoint().to_string()});
  auto fd = borrowed_descriptor(pool);
  auto r = one_request(pool);
  std::printf("descriptor %d, request %s\n", fd.value_or(-1),
              r ? "ok" : r.error().message().c_str());
  return fd && r ? 0 : 1;
}
