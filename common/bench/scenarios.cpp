// common/bench/scenarios.cpp: the scenarios' bodies.
#include "common/bench/scenarios.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <utility>

#include "common/bench/eventloop.hpp"
#include "common/bench/median.hpp"
#include "common/bench/target.hpp"
#include "common/bench/workload.hpp"
#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::bench {
namespace {

using namespace std::chrono_literals;

// A Client that sends every request through the shared pool.
class PoolClient final : public Client {
 public:
  PoolClient(PoolUnderTest& pool, PoolUnderTest::Limits limits) : pool_(pool), limits_(limits) {}
  std::expected<void, std::error_code> request(std::span<const std::byte> request,
                                               std::span<std::byte> reply) override {
    waited_.reset();
    return pool_.request(request, reply, limits_, waited_);
  }
  std::optional<Clock::duration> last_wait() const override { return waited_; }

 private:
  PoolUnderTest& pool_;
  PoolUnderTest::Limits limits_;
  std::optional<Clock::duration> waited_;
};

// The ceiling: a Client that owns one persistent connection, dialed on first use and again
// only after a failure. No pool, no lock, no sharing.
class DedicatedClient final : public Client {
 public:
  explicit DedicatedClient(net::Endpoint endpoint) : endpoint_(endpoint) {}
  std::expected<void, std::error_code> request(std::span<const std::byte> request,
                                               std::span<std::byte> reply) override {
    if (!socket_) {
      auto s = net::dial(endpoint_, net::Deadline::after(kRequestTimeout));
      if (!s) return std::unexpected(s.error());
      (void)net::set_nodelay(s->fd());
      socket_ = std::move(*s);
    }
    auto r = echo::round_trip(socket_.fd(), request, reply, net::Deadline::after(kRequestTimeout));
    if (!r) socket_.reset();
    return r;
  }

 private:
  net::Endpoint endpoint_;
  net::Socket socket_;
};

// Lends a Client that outlives the run to one run's thread: dedicated connections stay open
// from one slice to the next, as a pool's do.
class BorrowedClient final : public Client {
 public:
  explicit BorrowedClient(Client& client) : client_(client) {}
  std::expected<void, std::error_code> request(std::span<const std::byte> request,
                                               std::span<std::byte> reply) override {
    return client_.request(request, reply);
  }

 private:
  Client& client_;
};

// One measured side of a scenario, and what it measured over all its slices. Each side has a
// server of its own, so that its counters (peak open connections, TIME_WAIT) are its own.
struct Side {
  const Target& target;
  Workload workload;
  ClientFactory clients;
  std::size_t pool_size = 0;  // as reported: 0 when the clients keep no pool
  WorkloadResult total{};
  std::uint64_t peak_open = 0;
  // TIME_WAIT sockets to this side's server port before it ran: a fresh port can be one that
  // earlier runs used, with their TIME_WAIT sockets still there.
  std::uint64_t tw_port_before = 0;
  // Runs a slice instead of run_workload(workload, clients): the event-loop ceiling.
  std::function<WorkloadResult(const Workload&)> run{};
};

// Runs one slice of `side`, adds it to the side's totals, and returns its requests per second.
double run_slice(Side& side) {
  Workload w = side.workload;
  echo::EchoServer* server = side.target.server();
  if (server) w.on_measure_start = [server] { server->reset_peak(); };
  WorkloadResult slice = side.run ? side.run(w) : run_workload(w, side.clients);
  side.total.add(slice);
  if (server) side.peak_open = std::max(side.peak_open, server->stats().peak);
  return slice.rps();
}

double micros(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1000.0; }

// Writes a side's counters (see scenarios.hpp), each name prefixed with `prefix`.
void write_counters(benchmark::State& state, const std::string& prefix, const Side& side,
                    std::uint64_t tw_before) {
  const Target& target = side.target;
  const WorkloadResult& r = side.total;
  auto set = [&](const char* name, double value) { state.counters[prefix + name] = value; };
  set("rps", r.rps());
  set("p50_us", micros(r.latency.percentile(50)));
  set("p99_us", micros(r.latency.percentile(99)));
  set("max_us", micros(r.latency.max()));
  set("failed_p50_us", micros(r.failed_latency.percentile(50)));
  set("failed_max_us", micros(r.failed_latency.max()));
  if (r.wait.count() > 0) {
    set("wait_p50_us", micros(r.wait.percentile(50)));
    set("wait_p99_us", micros(r.wait.percentile(99)));
    set("wait_p999_us", micros(r.wait.percentile(99.9)));
    set("wait_max_us", micros(r.wait.max()));
  }
  set("errors", static_cast<double>(r.errors));
  set("non_timeout_errors", static_cast<double>(r.errors - r.timeouts));
  set("requests", static_cast<double>(r.requests));
  set("dials_per_1k",
      r.requests ? 1000.0 * static_cast<double>(r.dials) / static_cast<double>(r.requests) : 0.0);
  set("peak_open", target.server() ? static_cast<double>(side.peak_open) : -1.0);
  set("threads", side.workload.threads);
  set("payload_bytes", static_cast<double>(side.workload.payload_bytes));
  set("pool_size", static_cast<double>(side.pool_size));
  set("tw_before", static_cast<double>(tw_before));
  std::uint64_t tw_now = time_wait_count(target.port());
  set("tw_after",
      static_cast<double>(tw_now > side.tw_port_before ? tw_now - side.tw_port_before : 0));
  for (const auto& [kind, n] : r.error_kinds) {
    std::fprintf(stderr, "    %s%llu failed: %s\n", prefix.c_str(),
                 static_cast<unsigned long long>(n), kind.c_str());
  }
  if (r.requests == 0) state.SkipWithError("no request completed");
}

std::expected<Target, std::error_code> open_target(benchmark::State& state, const Config& config) {
  auto target = Target::open(config.endpoint, config.server_cpu);
  if (!target) state.SkipWithError(("server: " + target.error().message()).c_str());
  return target;
}

ClientFactory pool_clients(PoolUnderTest& pool, PoolUnderTest::Limits limits = {}) {
  return [&pool, limits](int) { return std::make_unique<PoolClient>(pool, limits); };
}

Workload timed(const Config& config, int threads, std::size_t payload,
               net::Clock::duration duration) {
  Workload w;
  w.threads = threads;
  w.payload_bytes = payload;
  w.warmup = config.warmup;
  w.duration = duration;
  w.cpus = config.client_cpus;
  return w;
}

// [measure_paired]
// Measures A and B in alternating slices (A B, B A, A B, ...: the reversal cancels a steady
// drift) and reports A's counters plainly and B's with the prefix "b_". `a_over_b` is the
// median of the pairs' ratios of A's throughput to B's: a slice that the machine slowed down
// moves one pair's ratio, not the result. With a third side C (the event-loop ceiling), each
// round is A B C or C B A, C's counters get the prefix "c_", and `a_over_c` and `c_over_b` are
// the medians of the rounds' ratios in the same way.
void measure_paired(benchmark::State& state, const Config& config, Side& a, Side& b,
                    const char* b_is, Side* c = nullptr, const char* c_is = "") {
  std::uint64_t tw_before = time_wait_count();
  for (Side* side : {&a, &b, c}) {
    if (side) side->tw_port_before = time_wait_count(side->target.port());
  }
  std::vector<double> ratios, a_over_c, c_over_b;
  for (int round = 0; round < config.pairs; ++round) {
    std::vector<Side*> order{&a, &b};  // A B (C), then (C) B A
    if (c) order.push_back(c);
    if (round % 2 == 1) std::ranges::reverse(order);
    double a_rps = 0, b_rps = 0, c_rps = 0;
    for (Side* side : order) {
      double rps = run_slice(*side);
      (side == &a ? a_rps : side == &b ? b_rps : c_rps) = rps;
    }
    if (b_rps > 0) ratios.push_back(a_rps / b_rps);
    if (c && c_rps > 0) a_over_c.push_back(a_rps / c_rps);
    if (c && b_rps > 0) c_over_b.push_back(c_rps / b_rps);
  }
  write_counters(state, "", a, tw_before);
  write_counters(state, "b_", b, tw_before);
  state.counters["a_over_b"] = median(ratios);
  std::string label = std::string("b=") + b_is;
  auto elapsed = a.total.elapsed + b.total.elapsed;
  if (c) {
    write_counters(state, "c_", *c, tw_before);
    state.counters["a_over_c"] = median(a_over_c);
    state.counters["c_over_b"] = median(c_over_b);
    label += std::string(",c=") + c_is;
    elapsed += c->total.elapsed;
  }
  state.SetLabel(label);
  state.SetIterationTime(std::chrono::duration<double>(elapsed).count());
}
// [measure_paired]

// Measures one side once per Google Benchmark repetition.
void measure_single(benchmark::State& state, Side& side) {
  std::uint64_t tw_before = time_wait_count();
  side.tw_port_before = time_wait_count(side.target.port());
  run_slice(side);
  write_counters(state, "", side, tw_before);
  state.SetIterationTime(std::chrono::duration<double>(side.total.elapsed).count());
}

}  // namespace

Config Config::for_mode(bool quick) {
  Config c;
  c.quick = quick;
  c.repetitions = quick ? 1 : 3;
  c.warmup = quick ? 10ms : 15ms;
  c.pairs = quick ? 2 : 8;
  c.slice = quick ? 25ms : 60ms;
  return c;
}

void warm_up(const Config& config) {
  auto target = Target::open(config.endpoint, config.server_cpu);
  if (!target) return;  // the first scenario reports the problem
  auto endpoint = net::Endpoint::parse(target->endpoint());
  Workload w = timed(config, 4, 64, config.quick ? 50ms : 300ms);
  run_workload(w, [&](int) { return std::make_unique<DedicatedClient>(*endpoint); });
}

void acquire_release(benchmark::State& state, const StageInfo& stage, const Config& config) {
  auto target = open_target(state, config);
  if (!target) return;
  auto pool = stage.make_pool(target->endpoint(), 1);
  pool->acquire_release(state);
}

// The event-loop ceiling's side: one thread driving `connections` connections to `target`,
// opened before the side is measured (a failed dial skips the run, naming it).
std::optional<EventLoopClient> open_event_loop(benchmark::State& state, const Target& target,
                                               std::size_t connections) {
  auto endpoint = net::Endpoint::parse(target.endpoint());
  if (!endpoint) {
    state.SkipWithError(("eventloop: " + endpoint.error().message()).c_str());
    return std::nullopt;
  }
  auto loop = EventLoopClient::open(*endpoint, connections, kRequestTimeout);
  if (!loop) {
    state.SkipWithError(("eventloop: dial: " + loop.error().message()).c_str());
    return std::nullopt;
  }
  return std::move(*loop);
}

Side event_loop_side(const Target& target, Workload w, EventLoopClient& loop) {
  Side side{target, std::move(w), {}};
  side.run = [&loop](const Workload& slice) { return loop.run(slice); };
  return side;
}

// Three sides, each with a server of its own: the pool, dedicated connections (one thread
// each) and the event loop (one thread for as many connections as the pool has threads).
void steady(benchmark::State& state, const StageInfo& stage, const Config& config, int threads,
            std::size_t payload) {
  for (auto _ : state) {
    auto for_pool = open_target(state, config);
    auto for_dedicated = open_target(state, config);
    auto for_loop = open_target(state, config);
    if (!for_pool || !for_dedicated || !for_loop) return;
    auto endpoint = net::Endpoint::parse(for_dedicated->endpoint());
    std::vector<std::unique_ptr<DedicatedClient>> dedicated;
    for (int t = 0; t < threads; ++t)
      dedicated.push_back(std::make_unique<DedicatedClient>(*endpoint));
    auto loop = open_event_loop(state, *for_loop, static_cast<std::size_t>(threads));
    if (!loop) return;
    auto pool = stage.make_pool(for_pool->endpoint(), static_cast<std::size_t>(threads));
    Side a{*for_pool, timed(config, threads, payload, config.slice), pool_clients(*pool),
           stage.sized ? static_cast<std::size_t>(threads) : 0};
    Side b{*for_dedicated, timed(config, threads, payload, config.slice),
           [&dedicated](int t) { return std::make_unique<BorrowedClient>(*dedicated[t]); }};
    Side c = event_loop_side(*for_loop, timed(config, threads, payload, config.slice), *loop);
    measure_paired(state, config, a, b, "dedicated", &c, "eventloop");
  }
}

// A and B share one pool, and so one server: the connections are the same eight. The event
// loop drives eight connections of its own, on a server of its own: as many requests in
// flight as the pool lets the 64 threads have, so that it measures what the callers' threads
// cost, not a server with eight times the concurrency.
void contention(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 8;
  for (auto _ : state) {
    auto target = open_target(state, config);
    auto for_loop = open_target(state, config);
    if (!target || !for_loop) return;
    auto loop = open_event_loop(state, *for_loop, kPool);
    if (!loop) return;
    auto pool = stage.make_pool(target->endpoint(), kPool);
    std::size_t shown = stage.sized ? kPool : 0;
    Side a{*target, timed(config, 64, 64, config.slice), pool_clients(*pool), shown};
    Side b{*target, timed(config, 8, 64, config.slice), pool_clients(*pool), shown};
    Side c = event_loop_side(*for_loop, timed(config, kPool, 64, config.slice), *loop);
    measure_paired(state, config, a, b, "threads", &c, "eventloop");
  }
}

void burst(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 8;
  for (auto _ : state) {
    auto target = open_target(state, config);
    if (!target) return;
    auto pool = stage.make_pool(target->endpoint(), kPool);  // cold: nothing dialed yet
    Workload w;
    w.threads = 64;
    w.requests_per_thread = config.quick ? 10 : 50;
    w.cpus = config.client_cpus;
    Side side{*target, w, pool_clients(*pool), stage.sized ? kPool : 0};
    measure_single(state, side);
  }
}

void accept_queue(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 8;
  for (auto _ : state) {
    auto target = Target::open(config.endpoint, {.backlog = static_cast<int>(kPool),
                                                 .cpu = config.server_cpu,
                                                 .faults = {.accept_delay = 1ms}});
    if (!target) {
      state.SkipWithError(("server: " + target.error().message()).c_str());
      return;
    }
    auto pool = stage.make_pool(target->endpoint(), kPool);  // cold: nothing dialed yet
    Workload w;
    w.threads = 64;
    w.requests_per_thread = config.quick ? 2 : 5;
    w.cpus = config.client_cpus;
    Side side{*target, w, pool_clients(*pool), stage.sized ? kPool : 0};
    measure_single(state, side);
  }
}

void idle_close(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 4;
  for (auto _ : state) {
    auto target = open_target(state, config);
    if (!target) return;
    target->server()->set_faults({.idle_close = 50ms});
    auto pool = stage.make_pool(target->endpoint(), kPool);
    Workload w;
    w.threads = 4;
    w.round_length = 5;
    w.round_pause = 80ms;
    w.requests_per_thread = w.round_length * (config.quick ? 3 : 8);
    w.cpus = config.client_cpus;
    Side side{*target, w, pool_clients(*pool), stage.sized ? kPool : 0};
    measure_single(state, side);
  }
}

void restart(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 8;
  constexpr auto kDowntime = 20ms;
  const auto measure = config.quick ? 400ms : 800ms;
  for (auto _ : state) {
    auto target = open_target(state, config);
    if (!target) return;
    auto pool = stage.make_pool(target->endpoint(), kPool);
    Workload w = timed(config, 8, 64, measure);
    echo::EchoServer* server = target->server();
    for (int i = 1; i <= 3; ++i) {
      w.events.push_back(
          {measure * i / 4, [server, kDowntime] { (void)server->restart(kDowntime); }});
    }
    Side side{*target, w, pool_clients(*pool), stage.sized ? kPool : 0};
    measure_single(state, side);
  }
}

void rst(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 8;
  for (auto _ : state) {
    auto target = open_target(state, config);
    if (!target) return;
    target->server()->set_faults({.reset_probability = 0.01});
    auto pool = stage.make_pool(target->endpoint(), kPool);
    Side side{*target, timed(config, 8, 64, config.quick ? 300ms : 600ms), pool_clients(*pool),
              stage.sized ? kPool : 0};
    measure_single(state, side);
  }
}

void exhausted(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 8;
  constexpr auto kDeadline = 10ms;
  for (auto _ : state) {
    auto target = open_target(state, config);
    if (!target) return;
    target->server()->set_faults({.latency = 2ms});
    auto pool = stage.make_pool(target->endpoint(), kPool);
    Side side{*target, timed(config, 64, 64, config.quick ? 300ms : 600ms),
              pool_clients(*pool, {.acquire = kDeadline}), stage.sized ? kPool : 0};
    measure_single(state, side);
  }
}

void stall(benchmark::State& state, const StageInfo& stage, const Config& config) {
  constexpr std::size_t kPool = 8;
  constexpr auto kStall = 200ms;
  constexpr auto kStallDeadline = 50ms;  // what a stage with deadlines puts on each request
  for (auto _ : state) {
    auto target = open_target(state, config);
    if (!target) return;
    auto pool = stage.make_pool(target->endpoint(), kPool);
    Workload w = timed(config, 8, 64, 3 * kStall);
    echo::EchoServer* server = target->server();
    w.events = {{kStall, [server, kStall] { server->stall_for(kStall); }}};
    Side side{*target, w,
              pool_clients(*pool, {.acquire = kStallDeadline, .request = kStallDeadline}),
              stage.sized ? kPool : 0};
    measure_single(state, side);
  }
}

}  // namespace tcppool::bench
