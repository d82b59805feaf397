// common/bench/workload.cpp: the client threads and their controller.
#include "common/bench/workload.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <latch>
#include <thread>

#include "common/echo/echo_client.hpp"
#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::bench {
namespace {

enum Phase : int { kWarmup, kMeasure, kStop };

// Each thread's results, on its own cache lines: no sharing while the run is on.
struct alignas(64) ThreadResult {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;
  std::map<std::string, std::uint64_t> error_kinds;
  LatencyHistogram latency;
  LatencyHistogram failed_latency;
  LatencyHistogram wait;
};

}  // namespace

std::vector<std::vector<std::byte>> request_patterns(int index, std::size_t payload_bytes) {
  std::vector<std::vector<std::byte>> requests(kRequestPatterns,
                                               std::vector<std::byte>(payload_bytes));
  for (int i = 0; i < kRequestPatterns; ++i) {
    echo::fill_pattern(requests[i], static_cast<std::uint64_t>(index) * kRequestPatterns + i + 1);
  }
  return requests;
}

void pin_this_thread(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);  // best effort
}

double WorkloadResult::rps() const {
  double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds > 0 ? static_cast<double>(requests) / seconds : 0.0;
}

void WorkloadResult::add(const WorkloadResult& other) {
  requests += other.requests;
  errors += other.errors;
  timeouts += other.timeouts;
  for (const auto& [kind, n] : other.error_kinds) error_kinds[kind] += n;
  elapsed += other.elapsed;
  dials += other.dials;
  latency.merge(other.latency);
  failed_latency.merge(other.failed_latency);
  wait.merge(other.wait);
}

WorkloadResult run_workload(const Workload& w, const ClientFactory& make_client) {
  const bool timed = w.duration > Clock::duration::zero();
  std::atomic<int> phase{timed && w.warmup > Clock::duration::zero() ? kWarmup : kMeasure};
  std::vector<ThreadResult> results(static_cast<std::size_t>(w.threads));
  std::latch ready(w.threads);  // every thread has its client and its payloads
  std::latch go(1);             // the controller has started measuring (or warming up)
  std::barrier round(w.threads, [&]() noexcept { std::this_thread::sleep_for(w.round_pause); });

  auto worker = [&](ThreadResult& out, int index) {
    pin_this_thread(w.cpus);
    std::unique_ptr<Client> client = make_client(index);
    const auto requests = request_patterns(index, w.payload_bytes);
    std::vector<std::byte> reply(w.payload_bytes);
    ready.count_down();
    go.wait();
    for (std::uint64_t i = 0; i < w.requests_per_thread; ++i) {
      int p = phase.load(std::memory_order_relaxed);
      if (p == kStop) break;
      if (w.round_length != 0 && i != 0 && i % w.round_length == 0) round.arrive_and_wait();
      auto start = Clock::now();
      auto r = client->request(requests[i % kRequestPatterns], reply);
      auto end = Clock::now();
      if (p != kMeasure) continue;
      ++out.requests;
      out.latency.record(end - start);
      if (auto waited = client->last_wait()) out.wait.record(*waited);
      if (!r) {
        ++out.errors;
        if (r.error() == Errc::kTimeout || r.error() == Errc::kAcquireTimeout) {
          ++out.timeouts;
        }
        ++out.error_kinds[r.error().message()];
        out.failed_latency.record(end - start);
      }
    }
    // Leave the round barrier, so a thread that stopped early never holds the others up.
    if (w.round_length != 0) round.arrive_and_drop();
  };

  std::vector<std::jthread> threads;
  threads.reserve(results.size());
  for (int t = 0; t < w.threads; ++t) threads.emplace_back(worker, std::ref(results[t]), t);

  // Controller: once every thread is ready, warm up, then measure for `duration` (or until the
  // threads are done), firing events on the way. Without a warm-up, measuring starts just
  // before the threads are released, so thread start-up is not measured and their first
  // requests are counted against the right dial count and start time.
  std::uint64_t dials_before = 0;
  Clock::time_point t0;
  auto begin_measuring = [&] {
    if (w.on_measure_start) w.on_measure_start();
    dials_before = net::dial_count();
    t0 = Clock::now();
    phase.store(kMeasure, std::memory_order_relaxed);
  };
  const bool warm_up = phase.load(std::memory_order_relaxed) == kWarmup;
  ready.wait();
  if (!warm_up) begin_measuring();
  go.count_down();
  if (warm_up) {
    std::this_thread::sleep_for(w.warmup);
    begin_measuring();
  }
  Clock::time_point t1;
  if (timed) {
    auto events = w.events;
    std::ranges::sort(events, {}, &std::pair<Clock::duration, std::function<void()>>::first);
    for (auto& [offset, fire] : events) {
      std::this_thread::sleep_until(t0 + offset);
      fire();
    }
    std::this_thread::sleep_until(t0 + w.duration);
    t1 = Clock::now();
    phase.store(kStop, std::memory_order_relaxed);
    threads.clear();
  } else {
    threads.clear();
    t1 = Clock::now();
  }

  WorkloadResult total;
  total.elapsed = t1 - t0;
  total.dials = net::dial_count() - dials_before;
  for (const auto& r : results) {
    WorkloadResult one;
    one.requests = r.requests;
    one.errors = r.errors;
    one.timeouts = r.timeouts;
    one.error_kinds = r.error_kinds;
    one.latency = r.latency;
    one.failed_latency = r.failed_latency;
    one.wait = r.wait;
    total.add(one);
  }
  return total;
}

}  // namespace tcppool::bench
