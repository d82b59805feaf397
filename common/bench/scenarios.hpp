// common/bench/scenarios.hpp: the benchmark scenarios, written once for every stage.
//
// Each scenario is one Google Benchmark run with manual timing: it starts a fresh echo server,
// builds the stage's pool, runs client threads (workload.hpp) and reports custom counters:
//
//   rps             requests per second over the measured time
//   p50_us p99_us   latency percentiles, one histogram merged across threads
//   max_us          the slowest request
//   errors          failed requests (every echo is verified byte for byte)
//   dials_per_1k    connections dialed per 1000 requests while measuring
//   peak_open       most connections open at once, from the server's counters (-1: unknown)
//   tw_before       TIME_WAIT sockets in the machine before the run (stage 1 feels them)
//   tw_after        TIME_WAIT sockets to the run's server port that appeared during the run
//   threads payload_bytes pool_size   what was measured
//
// Paired scenarios measure two sides, A and B, in alternating slices (A B B A A B ...), so
// that both see the same machine: on a small shared machine the throughput of the same code
// drifts by tens of percent from one second to the next, and a ratio of two measurements taken
// a minute apart would mostly measure that drift. B's counters carry a `b_` prefix and the
// label says what B is ("b=dedicated", "b=threads"); `a_over_b` is the median over the pairs
// of A's throughput divided by B's, the figure the report's ratios use. steady pairs the pool with
// dedicated connections; contention pairs 64 threads with 8 on the same pool. Both also measure
// a third side, C, in the same rounds (A B C, C B A, ...): the event-loop ceiling
// (eventloop.hpp), one thread driving dedicated connections with poll(). Its counters carry a
// `c_` prefix (its `c_threads` is the connections it drives), the label adds "c=eventloop",
// and `a_over_c` and `c_over_b` are the medians of the rounds' ratios.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "common/bench/harness.hpp"
#include "common/net/deadline.hpp"

namespace tcppool::bench {

/// How long and how often to measure; set by --quick, --endpoint and --pin.
struct Config {
  bool quick = false;              ///< --quick: every scenario, briefly.
  std::string endpoint;            ///< --endpoint: an external server ("" = in-process).
  int repetitions = 3;             ///< Runs of each unpaired scenario (the report takes medians).
  net::Clock::duration warmup{};   ///< Unmeasured start of every timed run and slice.
  int pairs = 8;                   ///< A-B pairs of slices in a paired scenario.
  net::Clock::duration slice{};    ///< Measured time of one slice.
  int server_cpu = -1;             ///< CPU for the in-process server's loop (-1: any).
  std::vector<int> client_cpus{};  ///< CPUs for the client threads (empty: any).

  /// Returns the configuration for full (`make bench`) or quick (`make bench-quick`) runs.
  static Config for_mode(bool quick);
};

/// Whether `config` can run fault scenarios: only against the in-process server.
inline bool has_faults(const Config& config) { return config.endpoint.empty(); }

/// Runs echoes, unmeasured, for a moment before the first scenario, so that it does not pay for
/// a cold machine (page faults, CPU frequency, the scheduler's first placement).
void warm_up(const Config& config);

/// acquire_release: acquire() and release in a loop, no I/O, one thread: the pool's own cost.
void acquire_release(benchmark::State& state, const StageInfo& stage, const Config& config);

/// steady (paired): `threads` clients echo `payload` bytes back to back through a pool that
/// keeps up to `threads` connections (threads <= pool size); B: the same clients, each on a
/// connection of its own (the dedicated ceiling); C: one thread driving `threads` connections
/// (the event-loop ceiling).
void steady(benchmark::State& state, const StageInfo& stage, const Config& config, int threads,
            std::size_t payload);

/// contention (paired): 64 threads share a pool of 8 connections; B: 8 threads on the same
/// pool; C: one thread driving 8 connections (the event-loop ceiling, with as many requests in
/// flight as the pool allows). Shows whether throughput holds with 8 times more threads than
/// connections, and what the threads cost against a client that needs none.
void contention(benchmark::State& state, const StageInfo& stage, const Config& config);

/// burst: 64 threads start at once on a cold pool of 8 and each sends a fixed number of
/// requests. Shows what a sudden spike does: how many connections it opens (peak_open) and
/// what queueing costs in latency.
void burst(benchmark::State& state, const StageInfo& stage, const Config& config);

/// idle_close: the server closes connections idle for 50 ms, and 4 clients pause together for
/// 80 ms after every 5 requests, so idle connections go stale. Counts the failed requests.
void idle_close(benchmark::State& state, const StageInfo& stage, const Config& config);

/// accept_queue: 64 threads start at once on a cold pool of 8 against a server that accepts
/// one connection per millisecond behind a listen backlog of 8: a busy server's accept queue.
/// The dials beyond what the queue holds have their SYNs dropped; the client's kernel resends
/// them after a second, about when the dial timeout gives up. Counts the failed requests.
void accept_queue(benchmark::State& state, const StageInfo& stage, const Config& config);

/// restart: 8 clients on a pool of 8; the server restarts three times during the measured time
/// (at a quarter, a half and three quarters of it), each time closing every connection and
/// refusing new ones for 20 ms. Counts the failed requests: the in-flight ones, the idle
/// connections gone stale, the dials refused.
void restart(benchmark::State& state, const StageInfo& stage, const Config& config);

/// rst: 8 clients on a pool of 8; the server resets a connection instead of echoing with
/// probability 1 % per read. A pool with one retry on a fresh connection fails only the
/// requests whose retry is reset too: about 2 p² of them (the retry, and the first request on
/// the connection dialed to replace the reset one, which has no retry).
void rst(benchmark::State& state, const StageInfo& stage, const Config& config);

/// stall: 8 clients on a pool of 8; 200 ms into the measured time the server stalls for
/// 200 ms. The slowest requests (max_us, p99_us) show how long a caller can be held up. A stage
/// with deadlines puts one of 50 ms on each request.
void stall(benchmark::State& state, const StageInfo& stage, const Config& config);

/// exhausted: 64 clients on a pool of 8 against a server that answers after 2 ms: most callers
/// wait for a connection. A stage with deadlines gives each request 10 ms to get a
/// connection: the requests that time out are counted, and how long they waited is
/// failed_p50_us / failed_max_us.
void exhausted(benchmark::State& state, const StageInfo& stage, const Config& config);

}  // namespace tcppool::bench
