// docs/examples/graceful_shutdown.cpp: a client that shuts down on SIGINT or SIGTERM the way a
// server should, with stage 5's pool. See docs/stage5-context-timeouts.md.
//
// Workers send echo requests through one pool until a signal comes. The signal is read from a
// signalfd in the main thread (no work in a handler: there is none), and it cancels the root
// context. A worker waiting for a connection wakes at once and stops; a worker with a request
// in flight finishes it, because the request's I/O has a deadline of its own, not the root's.
// Meanwhile the pool drains: it hands out nothing more, and waits for the leases to come back
// until --drain has passed; then it force-closes the stragglers, whose requests fail. The exit
// status says whether the shutdown lost anything: 0 when every request that was sent got its
// whole echo back and no connection had to be forced, 1 otherwise, 2 for a bad command line.
//
//   graceful_shutdown [--workers N] [--max-open N] [--latency DURATION] [--drain DURATION]
//                     [--endpoint HOST:PORT]
//
// Without --endpoint it starts an echo server in-process (whose every echo takes --latency,
// so that requests are in flight when the signal comes). ctest runs it twice under load and
// sends SIGTERM (docs/examples/graceful_shutdown_test.cpp).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/bench/target.hpp"
#include "common/echo/cli.hpp"
#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/duration.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"
#include "common/net/socket.hpp"
#include "stage5-context-timeouts/pool.hpp"

namespace echo = tcppool::echo;
namespace net = tcppool::net;
namespace stage5 = tcppool::stage5;
using namespace std::chrono_literals;
using tcppool::Errc;
using Clock = std::chrono::steady_clock;

namespace {

struct Config {
  int workers = 8;
  std::size_t max_open = 4;
  Clock::duration latency = 20ms;  // the in-process server's, per echo
  Clock::duration drain = 2s;      // how long the pool waits for in-flight requests
  std::string endpoint;            // empty: start a server in-process
};

// What the workers did, counted as they go.
struct Tally {
  std::atomic<int> in_flight{0};  // requests between acquire and the end of their echo
  std::atomic<long> echoed{0};    // requests whose whole echo came back, byte for byte
  std::atomic<long> failed{0};    // requests sent whose echo did not come back whole
  std::atomic<long> not_sent{0};  // acquires that failed for a reason other than shutdown
  std::atomic<int> warmed{0};     // workers that have had one request echoed
};

constexpr std::size_t kPayload = 64;
constexpr auto kRequestTimeout = 10s;  // a request's own deadline, shutdown or not

// [worker]
// One worker: acquire within the root context, so that a shutdown wakes a wait for a
// connection at once; then send and receive within a context of the request's own, so that a
// request already in flight when the shutdown begins runs to its end.
void worker(stage5::Pool& pool, const stage5::Context& root, Tally& tally, int index, int workers) {
  std::vector<std::byte> request(kPayload), reply(kPayload);
  bool first = true;
  for (std::uint64_t n = 1; !root.done(); ++n) {
    auto lease = pool.acquire(root.with_timeout(1s));
    if (!lease) {
      if (lease.error() == Errc::kCancelled || lease.error() == Errc::kPoolDraining) break;
      ++tally.not_sent;  // e.g. the server is down: say so, and try again
      std::fprintf(stderr, "graceful_shutdown: %s\n", lease.error().message().c_str());
      continue;
    }
    ++tally.in_flight;
    auto ctx = stage5::Context::background().with_timeout(kRequestTimeout);
    echo::fill_pattern(request, static_cast<std::uint64_t>(index) << 32 | n);
    auto sent = lease->send(request, ctx);
    auto got = sent ? lease->receive(reply, ctx) : sent;
    bool whole = got && std::memcmp(request.data(), reply.data(), kPayload) == 0;
    if (whole) {
      ++tally.echoed;
    } else {
      ++tally.failed;
      std::fprintf(stderr, "graceful_shutdown: a request failed: %s\n",
                   got ? "the echo differs" : got.error().message().c_str());
    }
    lease->reset();  // back to the pool (or closed, if send or receive failed)
    --tally.in_flight;
    if (std::exchange(first, false) && ++tally.warmed == workers) {
      std::printf("graceful_shutdown: ready: every worker has had a request echoed\n");
      std::fflush(stdout);
    }
  }
}
// [worker]

std::expected<Config, std::string> parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) return std::unexpected(std::string(flag) + ": needs a value");
    std::string_view value = argv[++i];
    auto number = [&](auto& out, long lo, long hi) -> std::expected<void, std::string> {
      std::string text(value);
      char* end = nullptr;
      long v = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || v < lo || v > hi) {
        return std::unexpected(std::string(flag) + ": expected a number in " + std::to_string(lo) +
                               ".." + std::to_string(hi) + ", got '" + std::string(value) + "'");
      }
      out = static_cast<std::remove_reference_t<decltype(out)>>(v);
      return {};
    };
    auto duration = [&](Clock::duration& out) -> std::expected<void, std::string> {
      auto d = echo::parse_duration(value);
      if (!d) return std::unexpected(std::string(flag) + ": " + d.error());
      out = *d;
      return {};
    };
    std::expected<void, std::string> ok;
    if (flag == "--workers") {
      ok = number(c.workers, 1, 256);
    } else if (flag == "--max-open") {
      ok = number(c.max_open, 1, 256);
    } else if (flag == "--latency") {
      ok = duration(c.latency);
    } else if (flag == "--drain") {
      ok = duration(c.drain);
    } else if (flag == "--endpoint") {
      c.endpoint = value;
    } else {
      return std::unexpected("unknown flag " + std::string(flag));
    }
    if (!ok) return std::unexpected(ok.error());
  }
  return c;
}

std::string ms(Clock::duration d) {
  return net::format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

}  // namespace

int main(int argc, char** argv) {
  auto config = parse(argc, argv);
  if (!config) {
    std::fprintf(stderr, "graceful_shutdown: %s\n", config.error().c_str());
    return 2;
  }
  // [signals]
  // Block the signals in every thread (threads inherit the mask, so before any is started),
  // and read them from a descriptor instead: no handler, so nothing runs in signal context.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  net::Socket sigfd(::signalfd(-1, &signals, SFD_CLOEXEC));
  // [signals]
  if (!sigfd) {
    std::perror("graceful_shutdown: signalfd");
    return 1;
  }

  std::unique_ptr<echo::EchoServer> server;  // declared first, so it outlives the pool
  std::string endpoint = config->endpoint;
  if (endpoint.empty()) {
    auto started = echo::EchoServer::start(
        {.faults = {.latency =
                        std::chrono::duration_cast<std::chrono::microseconds>(config->latency)}});
    if (!started) {
      std::fprintf(stderr, "graceful_shutdown: echo server: %s\n",
                   started.error().message().c_str());
      return 1;
    }
    server = std::move(*started);
    endpoint = server->endpoint().to_string();
  }
  auto target = net::HostPort::parse(endpoint);
  if (!target) {
    std::fprintf(stderr, "graceful_shutdown: --endpoint: %s\n", target.error().message().c_str());
    return 2;
  }
  const std::uint16_t port = target->port();
  const auto tw_client_before = tcppool::bench::time_wait_count(port);

  // [shutdown]
  stage5::Pool pool(
      {.endpoint = endpoint, .max_idle = config->max_open, .max_open = config->max_open});
  auto [root, cancel] = stage5::Context::background().with_cancel();
  Tally tally;
  std::printf("graceful_shutdown: %d workers on %s, pool of %zu\n", config->workers,
              endpoint.c_str(), config->max_open);
  std::fflush(stdout);
  std::vector<std::jthread> workers;
  for (int i = 0; i < config->workers; ++i) {
    workers.emplace_back(worker, std::ref(pool), std::cref(root), std::ref(tally), i,
                         config->workers);
  }

  signalfd_siginfo info{};  // wait for SIGINT or SIGTERM
  while (::read(sigfd.fd(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) {
  }
  const int in_flight = tally.in_flight.load();
  const auto t0 = Clock::now();
  cancel();  // waits for a connection end now; requests in flight go on
  std::size_t forced = pool.drain(net::Deadline::after(config->drain));
  const auto drained = Clock::now() - t0;
  workers.clear();  // joins: every worker has seen the cancellation or its request end
  // [shutdown]

  std::printf("graceful_shutdown: %s: stopping with %d requests in flight\n",
              strsignal(static_cast<int>(info.ssi_signo)), in_flight);
  std::printf("graceful_shutdown: drained in %s (deadline %s): %zu connections forced\n",
              ms(drained).c_str(), ms(config->drain).c_str(), forced);
  std::printf("graceful_shutdown: %ld requests echoed, %ld failed, %ld not sent\n",
              tally.echoed.load(), tally.failed.load(), tally.not_sent.load());
  const auto tw_client_after = tcppool::bench::time_wait_count(port);
  std::printf("graceful_shutdown: TIME_WAIT towards port %u: %llu more (the client closed first)\n",
              port,
              static_cast<unsigned long long>(
                  tw_client_after > tw_client_before ? tw_client_after - tw_client_before : 0));
  return tally.failed == 0 && forced == 0 ? 0 : 1;
}
