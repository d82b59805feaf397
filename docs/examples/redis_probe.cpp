// docs/examples/redis_probe.cpp: a stage 4 heartbeat for a protocol other than echo, Redis's
// PING. It runs against a stand-in for Redis that answers every PING with +PONG, so that
// `make test` can run it (ctest: DocsExamples.RedisProbe); against a real Redis the probe is
// the same. See docs/stage4-health-keepalive.md.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>
#include <thread>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "stage4-health-keepalive/pool.hpp"

namespace net = tcppool::net;
namespace stage4 = tcppool::stage4;
using namespace std::chrono_literals;

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

// [redis_ping]
// Sends PING and reads "+PONG\r\n": first the replies owed to pings that timed out earlier
// (Redis answers in order), then this one's. A reply that is not +PONG means the stream is out
// of step, and the pool closes the connection.
std::expected<void, std::error_code> redis_ping(const net::Socket& s, net::Deadline deadline,
                                                int unanswered) {
  constexpr std::string_view kPing = "PING\r\n", kPong = "+PONG\r\n";
  if (auto sent = net::send_all(s.fd(), bytes(kPing), deadline); !sent) return sent;
  for (int i = 0; i <= unanswered; ++i) {
    char reply[kPong.size()];
    if (auto got = net::recv_exact(s.fd(), std::as_writable_bytes(std::span(reply)), deadline);
        !got) {
      return got;
    }
    if (std::string_view(reply, sizeof reply) != kPong)
      return tcppool::fail(tcppool::Errc::kBadReply);
  }
  return {};
}
// [redis_ping]

// A stand-in for Redis: accepts connections and answers each "PING\r\n" with "+PONG\r\n".
void fake_redis(const net::Socket& listener, std::atomic<int>& pongs, std::stop_token stop) {
  while (!stop.stop_requested()) {
    if (!net::wait_ready(listener.fd(), POLLIN, net::Deadline::after(20ms))) continue;
    net::Socket conn(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    char ping[6];
    while (!stop.stop_requested()) {
      auto got = net::recv_exact(conn.fd(), std::as_writable_bytes(std::span(ping)),
                                 net::Deadline::after(50ms));
      if (!got && got.error() == tcppool::Errc::kTimeout) continue;  // quiet: wait on
      if (!got || !net::send_all(conn.fd(), bytes("+PONG\r\n"))) break;
      ++pongs;
    }
  }
}

int main() {
  auto listener = net::listen_on(net::Endpoint::loopback(0));
  if (!listener) return 1;
  std::atomic<int> pongs{0};
  std::jthread redis([&](std::stop_token stop) { fake_redis(*listener, pongs, stop); });
  stage4::Pool pool({.endpoint = "127.0.0.1:" + std::to_string(*net::local_port(listener->fd())),
                     .max_idle = 1,
                     .max_open = 1,
                     .heartbeat_interval = 50ms,
                     .heartbeat_timeout = 40ms,
                     .probe = redis_ping,
                     .maintenance_interval = 10ms});
  { auto lease = pool.acquire(); }  // one connection, idle from now on
  auto give_up = net::Clock::now() + 10s;
  while (pongs.load() < 3 && net::Clock::now() < give_up) std::this_thread::sleep_for(10ms);
  std::printf("heartbeats answered: %d, idle connections: %zu\n", pongs.load(), pool.idle_count());
  return pongs.load() >= 3 ? 0 : 1;
}
