// docs/examples/metrics_server.cpp: two stage 6 pools under load, and one /metrics page for
// both. See docs/stage6-metrics.md.
//
// It starts an echo server in-process (each echo takes 1 ms) and two pools against it: "fast",
// with as many connections as it has workers, and "starved", with two connections for the same
// workers and a 2 ms acquire timeout, so that its page shows waiting, timeouts and their events.
// Each worker sends --requests verified echoes through its pool (bounded in count); one lease of
// the starved pool is held past its leak threshold, so the leak report shows too. Events are
// printed on stderr as the pools report them. Then it serves the page on 127.0.0.1:--port (0
// picks a free one) until SIGINT or SIGTERM, or until --serve has passed; it prints the address
// on stdout first ("serving http://127.0.0.1:9464/metrics"), so a script can wait for it.
//
//   metrics_server [--requests N] [--port P] [--serve DURATION]
//
// Exit status: 0 after a clean run, 1 when something failed, 2 for a bad command line.
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/echo/cli.hpp"
#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "stage6-metrics/exposition.hpp"
#include "stage6-metrics/metrics_http.hpp"
#include "stage6-metrics/pool.hpp"

namespace echo = tcppool::echo;
namespace net = tcppool::net;
namespace stage6 = tcppool::stage6;
using namespace std::chrono_literals;

namespace {

constexpr int kWorkers = 8;

struct Config {
  int requests = 500;                                                  // per worker and pool
  std::uint16_t port = 9464;                                           // 0: a free one
  std::chrono::milliseconds serve = std::chrono::milliseconds::max();  // until a signal
};

int usage(const char* why) {
  std::fprintf(stderr,
               "metrics_server: %s\n"
               "usage: metrics_server [--requests N] [--port P] [--serve DURATION]\n",
               why);
  return 2;
}

// Parses the command line into `c`; returns an error message, or empty.
std::string parse(int argc, char** argv, Config& c) {
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) return std::string(flag) + " needs a value";
    std::string value = argv[++i];
    char* end = nullptr;
    if (flag == "--requests") {
      long n = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 1'000'000) return "--requests: 1 to 1000000, got " + value;
      c.requests = static_cast<int>(n);
    } else if (flag == "--port") {
      long n = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || n < 0 || n > 65535) return "--port: 0 to 65535, got " + value;
      c.port = static_cast<std::uint16_t>(n);
    } else if (flag == "--serve") {
      auto d = echo::parse_duration(value);
      if (!d) return "--serve: " + d.error();
      if (*d <= 0ms) return "--serve: must be positive, got " + value;
      c.serve = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    } else {
      return "unknown flag " + std::string(flag);
    }
  }
  return "";
}

// Prints an event on stderr, one line each: what a real program would send to its log.
void print_event(const stage6::Event& e) {
  std::fprintf(stderr, "event %s pool=%s: %s\n", std::string(to_string(e.kind)).c_str(),
               e.pool.c_str(), e.message.c_str());
}

// `kWorkers` threads, each sending `requests` verified echoes through `pool`; returns how many
// failed for another reason than an acquire timing out (which the starved pool is for).
int load(stage6::Pool& pool, int requests) {
  std::atomic<int> unexpected{0};
  {
    std::vector<std::jthread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        std::array<std::byte, 64> request{}, reply{};
        for (int i = 0; i < requests; ++i) {
          echo::fill_pattern(request, static_cast<std::uint64_t>(w) << 32 | i);
          auto r = pool.run([&](stage6::Lease& lease) {
            return echo::round_trip(lease.fd(), request, reply, net::Deadline::after(5s));
          });
          if (!r && r.error() != tcppool::Errc::kAcquireTimeout) ++unexpected;
        }
      });
    }
  }
  return unexpected.load();
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  if (std::string why = parse(argc, argv, config); !why.empty()) return usage(why.c_str());

  // Signals are taken synchronously below, so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Every echo takes a millisecond, as a real server's work would: the starved pool's callers
  // queue behind its two connections, and some give up.
  auto server = echo::EchoServer::start({.faults = {.latency = 1ms}});
  if (!server) {
    std::fprintf(stderr, "metrics_server: echo server: %s\n", server.error().message().c_str());
    return 1;
  }
  const std::string endpoint = (*server)->endpoint().to_string();

  // [example_pools]
  stage6::Pool fast({.endpoint = endpoint,
                     .max_idle = kWorkers,
                     .max_open = kWorkers,
                     .name = "fast",
                     .on_event = print_event});
  stage6::Pool starved({.endpoint = endpoint,
                        .max_idle = 2,
                        .max_open = 2,
                        .acquire_timeout = 2ms,
                        .maintenance_interval = 10ms,
                        .name = "starved",
                        .leak_threshold = 50ms,
                        .on_event = print_event});
  // [example_pools]

  int failed = load(fast, config.requests);
  {
    auto leaked = starved.acquire();  // held past leak_threshold: reported with this line
    if (leaked) std::this_thread::sleep_for(100ms);
  }
  failed += load(starved, config.requests);

  // [example_serve]
  auto metrics = stage6::MetricsServer::start({
      .port = config.port,
      .render =
          [&] {
            const std::array<stage6::Stats, 2> pools = {fast.stats(), starved.stats()};
            return stage6::prometheus_text(pools);
          },
  });
  // [example_serve]
  if (!metrics) {
    std::fprintf(stderr, "metrics_server: %s\n", metrics.error().message.c_str());
    return 1;
  }
  std::printf("serving http://127.0.0.1:%u/metrics\n", static_cast<unsigned>((*metrics)->port()));
  std::fflush(stdout);

  if (config.serve == std::chrono::milliseconds::max()) {
    int sig = 0;
    sigwait(&signals, &sig);
  } else {
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(config.serve);
    timespec wait{.tv_sec = static_cast<std::time_t>(secs.count()),
                  .tv_nsec = static_cast<long>((config.serve - secs).count() * 1'000'000)};
    (void)sigtimedwait(&signals, nullptr, &wait);
  }
  (*metrics)->stop();
  if (failed > 0) std::fprintf(stderr, "metrics_server: %d requests failed\n", failed);
  return failed == 0 ? 0 : 1;
}
