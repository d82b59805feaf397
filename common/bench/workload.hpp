// common/bench/workload.hpp: client threads that send verified echoes through a Client, and
// what they measured.
//
// The engine every scenario uses. It knows nothing about pools: a Client does one request, and
// the harness (harness.hpp) supplies one that goes through a stage's pool, or through a
// connection the thread owns (the "dedicated" ceiling).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/bench/histogram.hpp"
#include "common/net/deadline.hpp"

namespace tcppool::bench {

using net::Clock;

/// One client thread's way of doing a request. Not shared between threads.
class Client {
 public:
  virtual ~Client() = default;

  /// Sends `request` and receives the echo into `reply` (same size), verifying it.
  virtual std::expected<void, std::error_code> request(std::span<const std::byte> request,
                                                       std::span<std::byte> reply) = 0;

  /// Returns how long the last request waited for a connection from a pool (acquire(), the
  /// dial of a new connection included), or nullopt when it got none or uses no pool.
  virtual std::optional<Clock::duration> last_wait() const { return std::nullopt; }
};

/// Makes the Client for one thread; called once on each client thread, with the thread's index
/// (0 .. threads-1).
using ClientFactory = std::function<std::unique_ptr<Client>(int thread)>;

/// What the client threads do.
struct Workload {
  int threads = 1;                 ///< Client threads.
  std::size_t payload_bytes = 64;  ///< Bytes per request (and per echo).
  /// Unmeasured time before measuring starts: pools fill up, connections warm. Timed runs
  /// only (an untimed run measures from its first request).
  Clock::duration warmup{};
  /// Measured time. Zero: measure from the start until every thread has done its requests.
  Clock::duration duration{};
  /// Requests per thread, at most. A time-bounded run still has this cap.
  std::uint64_t requests_per_thread = 10'000'000;
  /// When non-zero, every thread stops after each `round_length` requests until all threads
  /// have, and then all pause for `round_pause` together (connections sit idle).
  std::uint64_t round_length = 0;
  Clock::duration round_pause{};  ///< See round_length.
  /// CPUs the client threads may run on; empty: wherever the scheduler puts them.
  std::vector<int> cpus{};
  /// Called when measuring starts (from the controlling thread): reset server peaks here.
  std::function<void()> on_measure_start{};
  /// Called at offsets into the measured time (from the controlling thread): inject a fault.
  /// Timed runs only.
  std::vector<std::pair<Clock::duration, std::function<void()>>> events{};
};

/// What the client threads measured, over the measured requests only.
struct WorkloadResult {
  std::uint64_t requests = 0;  ///< Requests started while measuring.
  std::uint64_t errors = 0;    ///< Of those, how many failed (any reason).
  std::uint64_t timeouts = 0;  ///< Of the failures, how many were a deadline passing (a
                               ///< request's or an acquire's): the expected way to fail when a
                               ///< scenario gives requests a deadline.
  std::map<std::string, std::uint64_t> error_kinds;  ///< Failure messages and their counts.
  Clock::duration elapsed{};                         ///< Length of the measured time.
  std::uint64_t dials = 0;                           ///< net::dial() calls while measuring.
  LatencyHistogram latency;                          ///< Per-request latency, all threads merged.
  LatencyHistogram failed_latency;  ///< The latency of the failed requests alone (how long a
                                    ///< caller waited to be told no).
  LatencyHistogram wait;            ///< How long each request that got a connection waited for it
                                    ///< (Client::last_wait()); empty for clients without a pool.

  /// Returns requests per second.
  double rps() const;

  /// Adds another run's measurements to this one's (for a measurement made in slices).
  void add(const WorkloadResult& other);
};

/// How many different requests each client cycles through: consecutive requests differ, so a
/// stale or misrouted echo fails the byte-for-byte check.
inline constexpr int kRequestPatterns = 4;

/// Returns the kRequestPatterns requests of `payload_bytes` bytes that client `index` (a
/// thread, or a connection of the event-loop client) sends in turn; every client's differ.
std::vector<std::vector<std::byte>> request_patterns(int index, std::size_t payload_bytes);

/// Pins the calling thread to `cpus` (best effort; empty: leaves it where it is).
void pin_this_thread(const std::vector<int>& cpus);

/// Runs `workload` with one Client per thread from `make_client`, and returns the
/// measurements. Blocks until every thread has finished. Every request is bounded in time by
/// the Client; the run is bounded by duration (or by requests_per_thread).
WorkloadResult run_workload(const Workload& workload, const ClientFactory& make_client);

}  // namespace tcppool::bench
