// common/bench/echo_bench.cpp: echo_server_bench, what the echo server's loop costs beside
// idle connections. `make bench` runs it with the stages and the report shows it.
//
//   echo_beside_idle/echo_server/idle:N  one client's back-to-back 64 B echoes while N other
//                                        connections sit idle: p50, p99, max, requests/s
//   bare_poll/echo_server/fds:N          one ppoll() with no wait over N idle TCP sockets: the
//                                        part of a loop pass no poll() server can avoid
//
// A poll() server pays for every descriptor in every pass inside poll() itself; whatever else
// its pass does per connection (scanning timers, rebuilding the pollfd array) it adds on top.
// The two rows side by side show how much of the client's latency beside N idle connections
// is poll()'s and how much is the loop's own.
#include <benchmark/benchmark.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/bench/histogram.hpp"
#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::bench {
namespace {

using namespace std::chrono_literals;
using net::Clock;

constexpr int kIdleCounts[] = {0, 1000, 5000};

struct EchoBenchConfig {
  bool quick = false;
  int server_cpu = -1;
  int client_cpu = -1;
};

EchoBenchConfig g_config;

// Raises the soft descriptor limit to the hard one: 5,000 idle connections are 10,000
// descriptors in this process (both ends). Returns the limit now in force.
rlim_t raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

void pin_this_thread(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Opens `n` connections to `ep` and returns them; fails (empty) if any dial fails.
std::vector<net::Socket> dial_many(const net::Endpoint& ep, int n, std::string& error) {
  std::vector<net::Socket> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto s = net::dial(ep, net::Deadline::after(5s));
    if (!s) {
      error = "dial " + std::to_string(i) + ": " + s.error().message();
      return {};
    }
    out.push_back(std::move(*s));
  }
  return out;
}

bool enough_descriptors(benchmark::State& state, int idle) {
  rlim_t have = raise_nofile();
  rlim_t need = 2 * static_cast<rlim_t>(idle) + 64;
  if (have >= need) return true;
  state.SkipWithError(
      ("needs " + std::to_string(need) + " descriptors, RLIMIT_NOFILE is " + std::to_string(have))
          .c_str());
  return false;
}

void echo_beside_idle(benchmark::State& state, int idle) {
  if (!enough_descriptors(state, idle)) return;
  for (auto _ : state) {
    auto server = echo::EchoServer::start({.cpu = g_config.server_cpu});
    if (!server) {
      state.SkipWithError(("server: " + server.error().message()).c_str());
      return;
    }
    net::Endpoint ep = (*server)->endpoint();
    std::string error;
    std::vector<net::Socket> idle_conns = dial_many(ep, idle, error);
    auto client = net::dial(ep, net::Deadline::after(5s));
    if (!error.empty() || !client) {
      state.SkipWithError(error.empty() ? "dial the client" : error.c_str());
      return;
    }
    (void)net::set_nodelay(client->fd());
    // Every idle connection must be accepted (in the server's arrays) before measuring.
    if (!(*server)->wait_until(
            [&](const echo::Stats& s) { return s.active == static_cast<std::uint64_t>(idle) + 1; },
            30s)) {
      state.SkipWithError("the server did not accept every idle connection");
      return;
    }
    LatencyHistogram latency;
    std::uint64_t requests = 0, errors = 0;
    std::vector<std::byte> request(64), reply(64);
    echo::fill_pattern(request, 1);
    const auto warmup = g_config.quick ? 20ms : 100ms;
    const auto measure = g_config.quick ? 100ms : 600ms;
    std::jthread worker([&] {
      pin_this_thread(g_config.client_cpu);
      auto start = Clock::now();
      auto measure_from = start + warmup;
      auto until = measure_from + measure;
      for (Clock::time_point now = start; now < until;) {
        auto r = echo::round_trip(client->fd(), request, reply, net::Deadline::after(5s));
        auto end = Clock::now();
        if (now >= measure_from) {
          ++requests;
          latency.record(end - now);
          if (!r) ++errors;
        }
        if (!r) break;
        now = end;
      }
    });
    worker.join();
    auto seconds = std::chrono::duration<double>(measure).count();
    state.SetIterationTime(seconds);
    state.counters["idle_connections"] = idle;
    state.counters["rps"] = static_cast<double>(requests) / seconds;
    state.counters["p50_us"] = static_cast<double>(latency.percentile(50).count()) / 1000.0;
    state.counters["p99_us"] = static_cast<double>(latency.percentile(99).count()) / 1000.0;
    state.counters["max_us"] = static_cast<double>(latency.max().count()) / 1000.0;
    state.counters["errors"] = static_cast<double>(errors);
    state.counters["turns_per_request"] =
        requests ? static_cast<double>((*server)->stats().turns) / static_cast<double>(requests)
                 : 0.0;
    if (requests == 0) state.SkipWithError("no request completed");
  }
}

void bare_poll(benchmark::State& state, int fds) {
  if (!enough_descriptors(state, fds)) return;
  auto listener = net::listen_on(net::Endpoint::loopback(0), 4096);
  if (!listener) {
    state.SkipWithError(("listen: " + listener.error().message()).c_str());
    return;
  }
  auto port = net::local_port(listener->fd());
  std::string error;
  std::vector<net::Socket> clients;
  std::vector<net::Socket> accepted;
  std::vector<pollfd> pfds;
  for (int i = 0; i < fds; ++i) {
    auto c = net::dial(net::Endpoint::loopback(*port), net::Deadline::after(5s));
    if (!c || !net::wait_ready(listener->fd(), POLLIN, net::Deadline::after(5s))) {
      state.SkipWithError("could not open the connections");
      return;
    }
    clients.push_back(std::move(*c));
    accepted.emplace_back(::accept4(listener->fd(), nullptr, nullptr, SOCK_CLOEXEC));
    pfds.push_back({accepted.back().fd(), POLLIN, 0});
  }
  pin_this_thread(g_config.server_cpu);
  timespec zero{0, 0};
  for (auto _ : state) {
    int n = ::ppoll(pfds.data(), pfds.size(), &zero, nullptr);
    benchmark::DoNotOptimize(n);
  }
  state.counters["fds"] = fds;
}

}  // namespace
}  // namespace tcppool::bench

int main(int argc, char** argv) {
  using namespace tcppool::bench;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--quick") {
      g_config.quick = true;
    } else if (arg == "--pin=none") {
      g_config.server_cpu = g_config.client_cpu = -2;
    } else {
      rest.push_back(argv[i]);
    }
  }
  // As the stage benchmarks do: the server's loop on the first CPU, the client on the next.
  cpu_set_t allowed;
  if (g_config.server_cpu == -1 && ::sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
      CPU_COUNT(&allowed) >= 2) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &allowed)) continue;
      (g_config.server_cpu < 0 ? g_config.server_cpu : g_config.client_cpu) = cpu;
      if (g_config.client_cpu >= 0) break;
    }
  }
  if (g_config.server_cpu < 0) g_config.server_cpu = g_config.client_cpu = -1;
  int gb_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&gb_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(gb_argc, rest.data())) return 2;
  const int reps = g_config.quick ? 1 : 3;
  for (int n : kIdleCounts) {
    benchmark::RegisterBenchmark(("echo_beside_idle/echo_server/idle:" + std::to_string(n)).c_str(),
                                 [n](benchmark::State& s) { echo_beside_idle(s, n); })
        ->UseManualTime()
        ->Iterations(1)
        ->Repetitions(reps)
        ->Unit(benchmark::kMillisecond);
  }
  for (int n : kIdleCounts) {
    if (n == 0) continue;
    benchmark::RegisterBenchmark(("bare_poll/echo_server/fds:" + std::to_string(n)).c_str(),
                                 [n](benchmark::State& s) { bare_poll(s, n); })
        ->Iterations(g_config.quick ? 200 : 2000)
        ->Repetitions(reps)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::AddCustomContext("stage", "echo_server");
  benchmark::AddCustomContext("mode", g_config.quick ? "quick" : "full");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
