// common/stress/stress.hpp: the stress driver every stage that survives server faults runs
// (`make stress`): a million verified echoes from 64 threads through a pool of 8, while the
// echo server cycles through its faults and, for a stage with deadlines, callers time out and
// are cancelled at random; the pool's invariants are checked throughout, and the process's
// descriptors and threads at the end.
//
// A stage's stress binary is three lines (stageN-*/pool_stress.cpp, on adapter.hpp):
//
//     int main(int argc, char** argv) {
//       return tcppool::stress::run_stage<tcppool::stage5::Pool>(argc, argv, "stage5");
//     }
//
// The driver reaches the pool only through PoolUnderStress, so it is written once, and a test
// can hand it a pool with a planted bug (stress_test.cpp) to see that every check can fail.
// See docs/stress.md for what is checked, how, and the figures of a full run.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "common/echo/echo_server.hpp"
#include "common/net/deadline.hpp"

namespace tcppool::stress {

using net::Clock;

/// Where the request in flight on one thread leaves the function that cancels it, so that
/// another thread can cancel it (the driver's canceller does, at random).
///
///     slot.arm([cancel] { cancel(); });   // the caller, before its request
///     ... the request ...
///     slot.disarm();                      // after it
///     slot.cancel();                      // any other thread, at any time
///
/// Thread-safe. A cancel that comes after the request ended calls a function whose context is
/// already done, which is harmless.
class CancelSlot {
 public:
  /// Makes `cancel` the function cancel() calls, until disarm().
  void arm(std::function<void()> cancel);

  /// Forgets the function: cancel() does nothing until the next arm().
  void disarm();

  /// Calls the armed function, outside the slot's lock; returns false when none is armed.
  bool cancel();

 private:
  std::mutex mu_;
  std::function<void()> cancel_;  // Guarded by mu_.
};

/// How the driver wants one request made.
struct Call {
  /// Bound on the whole request: waiting for a connection, dialing and the exchange. A stage
  /// without deadlines bounds its exchange by it (its acquire cannot be bounded).
  Clock::duration timeout{};
  /// Non-null: the request must be cancellable, by arming this slot for its duration.
  CancelSlot* cancel = nullptr;
};

/// What one request did.
struct Outcome {
  /// Success (the reply buffer then holds what came back), or why the request failed.
  std::expected<void, std::error_code> result;
  /// How many times the exchange ran: 0 when no connection was had, 2 when run() retried it
  /// on a fresh connection.
  int attempts = 1;
};

/// The pool's gauges, as far as the stage exposes them (an absent one was not measured).
struct Gauges {
  std::size_t open = 0;                   ///< Connections open or being dialed.
  std::size_t idle = 0;                   ///< Idle, ready to hand out.
  std::optional<std::size_t> in_use{};    ///< Held by leases (stage 5 on).
  std::optional<std::size_t> dialing{};   ///< Being dialed (stage 6).
  std::optional<std::size_t> checking{};  ///< Held by the maintenance thread (stage 6).
  std::optional<std::size_t> waiting{};   ///< Threads blocked in acquire().
};

/// A stage's pool as the driver sees it. Thread-safe, as the pool is.
class PoolUnderStress {
 public:
  virtual ~PoolUnderStress() = default;

  /// Makes one request: acquires a connection, sends `request`, receives exactly
  /// `reply.size()` bytes into `reply`, releases the connection (discards it after a failure).
  /// Retries a stale connection once, as the stage's run() does. Checks nothing: the driver
  /// checks the reply. REQUIRES: reply.size() == request.size().
  virtual Outcome request(std::span<const std::byte> request, std::span<std::byte> reply,
                          const Call& call) = 0;

  /// Returns the gauges now.
  virtual Gauges gauges() const = 0;

  /// Returns how many requests the pool itself counted as retried, for a pool that counts
  /// them (stage 6); nullopt otherwise.
  virtual std::optional<std::uint64_t> retries() const { return std::nullopt; }

  /// Closes the pool: wakes any caller still waiting in it (used when a run must be abandoned).
  virtual void close() = 0;
};

/// Makes the pool under stress for `endpoint`, with at most `pool_size` connections.
using PoolFactory =
    std::function<std::unique_ptr<PoolUnderStress>(const std::string& endpoint, std::size_t)>;

/// One stretch of a run: what the server does wrong and how the callers behave.
struct Phase {
  std::string name;            ///< "resets", "stall + cancel": names the phase's table row.
  echo::Faults faults{};       ///< The server's faults while it runs.
  bool impatient = false;      ///< Callers use small random deadlines and are cancelled.
  Clock::duration length{};    ///< How long it runs.
  int rests = 1;               ///< Quiescent points inside it, besides the one at its end.
  Clock::duration rest_for{};  ///< How long callers stay at rest at each (with the faults on:
                               ///< for the idle close, connections must sit idle).
  /// The server's peak is checked against the cap. Only where it is exact: the server counts a
  /// connection until it has read its FIN, so a pool that closes a connection and dials its
  /// replacement at once is seen with one more than it has. A phase whose callers are patient
  /// and whose faults break no connection gives a pool no reason to close one.
  bool server_exact = false;
};

/// What a run does. Config::for_mode() gives the `make stress` and `make stress-quick` ones.
struct Config {
  std::string name = "pool";           ///< Names the run in its output: "stage5".
  int threads = 64;                    ///< Caller threads.
  std::size_t pool_size = 8;           ///< max_open (and max_idle) of the pool.
  std::uint64_t requests = 1'000'000;  ///< Verified echoes to reach: the run ends there.
  Clock::duration time_limit = std::chrono::minutes(4);  ///< The run ends here at the latest,
                                                         ///< failed if short of `requests`.
  std::vector<Phase> first;                              ///< The phases of the first cycle.
  std::vector<Phase> cycle;         ///< The phases of every later cycle, until the run ends.
  int min_cycles = 1;               ///< Cycles to complete before `requests` may end the run, so
                                    ///< that every phase runs (time_limit still ends it).
  std::uint32_t min_payload = 32;   ///< Smallest request, in bytes.
  std::uint32_t max_payload = 512;  ///< Largest request, in bytes.
  Clock::duration patient_timeout = std::chrono::seconds(5);      ///< A patient caller's bound.
  Clock::duration impatient_min = std::chrono::milliseconds(1);   ///< An impatient caller's
  Clock::duration impatient_max = std::chrono::milliseconds(20);  ///< random deadline range.
  Clock::duration cancel_every = std::chrono::milliseconds(1);    ///< Mean time between two
                                                                  ///< cancellations.
  Clock::duration sample_every = std::chrono::microseconds(500);  ///< Gauge sampling period.
  Clock::duration progress_every = std::chrono::seconds(5);       ///< Between progress lines.
  Clock::duration rest_timeout = std::chrono::seconds(30);   ///< For every caller to come to rest
                                                             ///< (each request is bounded).
  Clock::duration settle_timeout = std::chrono::seconds(5);  ///< For a quiescent point's counts
                                                             ///< to agree.
  std::uint64_t seed = 1;   ///< Payload sizes, deadlines, cancellations, server resets.
  std::FILE* log = stderr;  ///< Progress lines; nullptr: none.

  /// Returns the full run (`quick` false) or the short one, for a stage whose callers can be
  /// cancelled (`cancels`, stage 5 on) or not. Phases: steady, resets, idle close, restarts,
  /// latency, stall, with patient callers; a stage that cancels repeats them with impatient
  /// callers after the first cycle, and runs at least one such cycle.
  static Config for_mode(bool quick, bool cancels);

  /// Throws std::invalid_argument naming the first invalid field and why.
  void validate() const;
};

/// One row of the phase table: every run of one phase added up.
struct PhaseTally {
  std::string name;               ///< Phase::name.
  bool impatient = false;         ///< Phase::impatient.
  int runs = 0;                   ///< Times the phase ran.
  std::uint64_t requests = 0;     ///< Requests made.
  std::uint64_t verified = 0;     ///< Replies that matched their request byte for byte.
  std::uint64_t failed = 0;       ///< Requests that failed with an error.
  std::uint64_t retries = 0;      ///< Exchanges run() ran a second time.
  std::uint64_t server_peak = 0;  ///< Most connections the server had open at once.
  bool peak_checked = false;  ///< server_peak was checked against the cap (Phase::server_exact).
  Clock::duration time{};     ///< Time spent in it.
};

/// What a run found.
struct Result {
  std::vector<PhaseTally> phases;             ///< By phase, in the order they first ran.
  std::uint64_t requests = 0;                 ///< Requests made.
  std::uint64_t verified = 0;                 ///< Of those, verified echoes.
  std::uint64_t failed = 0;                   ///< Of those, typed failures and others.
  std::uint64_t bad_replies = 0;              ///< Of those, successes whose reply was wrong.
  std::uint64_t retries = 0;                  ///< Exchanges run a second time (Outcome::attempts).
  std::optional<std::uint64_t> pool_retries;  ///< The pool's own count, if it keeps one.
  std::uint64_t cancels = 0;  ///< Cancellations the canceller sent to requests in flight.
  std::map<std::string, std::uint64_t> failures;  ///< Failed requests by error ("tcppool:
                                                  ///< deadline exceeded", "system: ECONNRESET").
  std::uint64_t samples = 0;                      ///< Gauge samples taken while the callers ran.
  std::size_t worst_open = 0;                     ///< Most open connections any sample saw.
  int quiescent_points = 0;                       ///< Quiescent points checked.
  Clock::duration worst_settle{};                 ///< Longest a quiescent point took to agree.
  std::string rest_equation;  ///< What they checked, as far as the pool exposes its counts:
                              ///< "open = idle + in use" (see Gauges).
  int peak_checks = 0;        ///< Times the server's peak was checked against the cap.
  std::uint64_t worst_checked_peak = 0;             ///< The highest peak among those checks.
  std::size_t fds_before = 0;                       ///< Descriptors open before the run.
  std::size_t fds_after = 0;                        ///< And after it.
  std::size_t threads_before = 0;                   ///< Threads before the run (/proc/self/task).
  std::size_t threads_after = 0;                    ///< And after it.
  Clock::duration elapsed{};                        ///< The run's wall-clock time.
  std::map<std::string, std::uint64_t> violations;  ///< Broken invariants, by kind.
  std::vector<std::string> examples;  ///< The first few violations of each kind, in full.

  /// Returns true when nothing was violated.
  bool passed() const noexcept { return violations.empty(); }
};

/// Runs `config` against a fresh in-process echo server, on the pool `make_pool` makes for it,
/// and returns what it found. Blocks for the run: until config.requests verified echoes or
/// config.time_limit. Violations are in the result, never thrown; throws std::invalid_argument
/// for an invalid config only.
Result run_stress(const Config& config, const PoolFactory& make_pool);

/// Writes the summary tables: phases, failures by error, invariants, verdict.
void print_summary(std::FILE* out, const Config& config, const Result& result);

/// Returns how a failure is counted and shown: "tcppool: deadline exceeded", "system:
/// ECONNRESET (Connection reset by peer)".
std::string error_label(const std::error_code& ec);

/// What the stage binary knows about its stage.
struct StageInfo {
  std::string name;       ///< "stage5".
  bool cancels = false;   ///< Its requests take a Context: callers can time out and cancel.
  PoolFactory make_pool;  ///< Makes its pool.
};

/// Parses the command line (--quick, --requests=N, --time-limit=DURATION, --threads=N,
/// --pool-size=N, --seed=N, --help), runs, prints the summary, and returns the exit code: 0
/// when nothing was violated, 1 when something was, 2 for a bad command line.
int stress_main(int argc, char** argv, const StageInfo& stage);

}  // namespace tcppool::stress
