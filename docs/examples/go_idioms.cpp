// docs/examples/go_idioms.cpp: the Go idioms of docs/go-to-cpp.md, as code that compiles and
// runs. `make test` runs it (ctest: DocsExamples.GoIdioms) against an in-process echo server.
#include <array>
#include <chrono>
#include <cstdio>
#include <expected>
#include <system_error>

#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "stage3-bounded-channel/pool.hpp"
#include "stage5-context-timeouts/pool.hpp"

namespace echo = tcppool::echo;
namespace stage5 = tcppool::stage5;
using tcppool::stage3::Pool;
using namespace std::chrono_literals;

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

// ctx, cancel := context.WithTimeout(parent, 200*time.Millisecond); defer cancel()
// conn, err := pool.Get(ctx); conn.SetDeadline(deadline); conn.Write(...); conn.Read(...)
std::expected<void, std::error_code> request_with_context(stage5::Pool& pool,
                                                          const stage5::Context& parent) {
  std::array<std::byte, 64> request{}, reply{};
  echo::fill_pattern(request, 8);
  // [context]
  auto ctx = parent.with_timeout(200ms);  // the earlier of the parent's deadline and 200 ms
  auto lease = pool.acquire(ctx);         // conn, err := pool.Get(ctx)
  if (!lease) return std::unexpected(lease.error());
  if (auto sent = lease->send(request, ctx); !sent) return sent;  // within the same deadline
  return lease->receive(reply, ctx);  // a failed call discards the connection on release
  // [context]
}

int main() {
  auto server = echo::EchoServer::start({});
  if (!server) return 1;
  Pool pool({.endpoint = (*server)->endpoint().to_string()});
  auto fd = borrowed_descriptor(pool);
  auto r = one_request(pool);
  stage5::Pool pool5({.endpoint = (*server)->endpoint().to_string()});
  auto [root, cancel] = stage5::Context::background().with_cancel();
  auto c = request_with_context(pool5, root);
  cancel();  // everything derived from root ends now: this acquire fails at once
  auto after = request_with_context(pool5, root);
  bool cancelled = !after && after.error() == tcppool::Errc::kCancelled;
  std::printf("descriptor %d, request %s, with a context %s, after cancel() %s\n", fd.value_or(-1),
              r ? "ok" : r.error().message().c_str(), c ? "ok" : c.error().message().c_str(),
              after ? "ok" : after.error().message().c_str());
  return fd && r && c && cancelled ? 0 : 1;
}
