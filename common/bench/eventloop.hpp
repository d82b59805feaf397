// common/bench/eventloop.hpp: the event-loop ceiling: one thread drives many dedicated
// connections with poll().
//
// The paired scenarios measure a pool beside "dedicated" connections, one thread each: the
// best a thread-per-request client can do. That ceiling still pays for one OS thread per
// request in flight: every echo puts a thread to sleep in recv() and wakes it again, on a
// small machine often on the other core. EventLoopClient is the ceiling without that cost: ONE
// thread, N non-blocking connections, one verified echo outstanding on each, waiting for all of
// them in one poll(), the way Go's runtime parks goroutines on its netpoller. No pool (and no
// thread-per-request client) can beat it by much; the gap between it and the dedicated
// ceiling is what the thread-per-request model itself costs on the machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <system_error>
#include <vector>

#include "common/bench/workload.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/socket.hpp"

namespace tcppool::bench {

/// One client thread that drives a fixed set of dedicated connections, each with one verified
/// echo outstanding at a time, with ppoll(). Its connections persist from one run() to the
/// next (as a pool's and the dedicated clients' do); a connection whose request failed is
/// closed and dialed again for its next request. Not thread-safe: one run() at a time.
class EventLoopClient {
 public:
  /// Dials `connections` connections to `endpoint` (each dial bounded by `timeout`), makes
  /// them non-blocking with TCP_NODELAY, and returns the client; fails with the first dial's
  /// error. `timeout` also bounds every request: send, wait and the whole echo.
  /// REQUIRES: connections > 0.
  static std::expected<EventLoopClient, std::error_code> open(const net::Endpoint& endpoint,
                                                              std::size_t connections,
                                                              Clock::duration timeout);

  /// Returns how many connections the client drives.
  std::size_t connections() const noexcept { return conns_.size(); }

  /// Runs `workload` on one new thread (pinned to workload.cpus), connection k sending the
  /// requests client k of run_workload() would send, and returns the measurements in the same
  /// form: requests started while measuring, their latencies (from the request's first send
  /// to the last byte of its echo, checked byte for byte), failures by kind, dials. Honours
  /// warmup, duration, requests_per_thread (per connection) and on_measure_start; requests in
  /// flight when the measured time ends are finished (and counted, as run_workload() counts
  /// them) before it returns, so no echo is left on a connection for the next run.
  /// REQUIRES: workload.threads == connections(); no rounds and no events.
  WorkloadResult run(const Workload& workload);

 private:
  // One connection and the request on it.
  struct Connection {
    enum class State { kReady, kBusy, kDone };  // next request to start / in flight / finished
    net::Socket socket;
    std::vector<std::vector<std::byte>> requests;  // request_patterns() of its index
    std::vector<std::byte> reply;
    State state = State::kReady;
    std::uint64_t done = 0;  // requests finished in this run
    std::size_t sent = 0;    // of the request in flight
    std::size_t got = 0;     // of its echo
    Clock::time_point start{};
    Clock::time_point deadline{};
    bool measured = false;  // started while measuring
  };

  EventLoopClient(net::Endpoint endpoint, Clock::duration timeout);

  // The loop itself, on the calling thread.
  WorkloadResult drive(const Workload& workload);

  net::Endpoint endpoint_;
  Clock::duration timeout_;
  std::vector<Connection> conns_;
};

}  // namespace tcppool::bench
