// common/echo/echo_server.hpp: the shared RFC 862 echo server, with fault injection.
//
// Every stage's tests and benchmarks talk to this server, in-process; the echo_server binary
// (echo_main.cpp) runs the same code for workshops and for clients written in anything else.
// It is a textbook single-threaded poll() server: non-blocking sockets, a bounded buffer per
// connection with backpressure, partial writes, half-close, and timers instead of sleeps, kept
// in a heap so that a pass of the loop costs the same beside 5,000 idle connections as beside
// none. Its faults are the ways real servers misbehave, so that each pool stage can be shown
// surviving (or not surviving) them; its limits (Limits, connection_limit()) keep any setting
// and any client from freezing it, spinning it or exhausting its memory.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/net/deadline.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/socket.hpp"

namespace tcppool::echo {

using net::Clock;

/// The limits every duration and size the server accepts is checked against (Options::
/// validate(), EchoServer::set_faults(), stall_for(), restart()). A value outside them is
/// refused with std::invalid_argument naming the field, so that no setting can overflow a
/// timer, freeze the server for good or spin its loop.
struct Limits {
  /// Most a latency may delay an echo.
  static constexpr std::chrono::microseconds kMaxLatency = std::chrono::seconds(10);
  /// Longest idle limit, age limit, stall period or restart period.
  static constexpr std::chrono::milliseconds kMaxPeriod = std::chrono::hours(24);
  /// Longest single stall, periodic stall or restart downtime.
  static constexpr std::chrono::milliseconds kMaxStall = std::chrono::hours(1);
  /// Shortest period of periodic stalls: the server must run between them.
  static constexpr std::chrono::milliseconds kMinStallEvery{10};
  /// Shortest period of periodic restarts.
  static constexpr std::chrono::milliseconds kMinRestartEvery{100};
  /// Longest pause between two accepts (Faults::accept_delay).
  static constexpr std::chrono::microseconds kMaxAcceptDelay = std::chrono::seconds(10);
  /// Largest per-connection buffer.
  static constexpr std::size_t kMaxBufferBytes = std::size_t{1} << 30;
  /// Most reads whose echo a latency holds back at once per connection; beyond it the server
  /// stops reading that connection until the oldest is echoed (so memory stays bounded).
  static constexpr std::size_t kMaxDelayedReads = 64;
};

/// The faults the server injects. All are off by default; a zero duration means off. They can
/// be changed at any time with EchoServer::set_faults() and apply from the next loop turn.
struct Faults {
  /// Delays every echo: bytes read at time t are written back no earlier than t + latency.
  /// Timer-driven; the loop never sleeps. At most Limits::kMaxLatency.
  std::chrono::microseconds latency{0};
  /// Closes a connection that has moved no bytes for this long. The client sees EOF, or a
  /// reset if bytes it sent were still unread (backpressure). At most Limits::kMaxPeriod.
  std::chrono::milliseconds idle_close{0};
  /// Closes a connection this long after it was accepted, busy or not: EOF, or a reset if
  /// bytes the client sent were still unread. At most Limits::kMaxPeriod.
  std::chrono::milliseconds max_age{0};
  /// For each read that brings data, resets (RST) the connection instead of echoing, with this
  /// probability in [0, 1].
  double reset_probability = 0.0;
  /// Closes newly accepted connections while this many are already open; 0 means no limit
  /// beyond the server's own (EchoServer::connection_limit()).
  std::size_t max_connections = 0;
  /// When false the server stops accepting: new connections complete their handshake in the
  /// kernel's backlog and wait there, unanswered, and once the backlog is full further SYNs
  /// are dropped (the client's connect then times out).
  bool accepting = true;
  /// Accepts at most one connection per accept_delay: a server whose accept() is slow, so its
  /// listen backlog (Options::backlog) fills under a burst of dials and the kernel drops the
  /// SYNs beyond it; the clients' kernels retransmit them after a second. At most
  /// Limits::kMaxAcceptDelay.
  std::chrono::microseconds accept_delay{0};
  /// Stalls the server (as EchoServer::stall_for() does) for `stall` every `stall_every`, the
  /// first one `stall_every` after the faults are set. Both or neither; `stall` at least 1 ms
  /// and shorter than `stall_every`, which is at least Limits::kMinStallEvery.
  std::chrono::milliseconds stall{0};
  /// See `stall`.
  std::chrono::milliseconds stall_every{0};
  /// Restarts the server (as EchoServer::restart() does) every `restart_every`, refusing
  /// connections for `restart_downtime` each time. `restart_every` at least
  /// Limits::kMinRestartEvery; the downtime shorter than it (or the port never comes back).
  std::chrono::milliseconds restart_every{0};
  /// See `restart_every`.
  std::chrono::milliseconds restart_downtime{0};

  /// Throws std::invalid_argument naming the first invalid field ("faults.stall: ...") and why.
  void validate() const;
};

/// Why the server closed a connection; indexes Stats::closes.
enum class CloseCause {
  kClientEof,     ///< The client closed (or half-closed) and everything was echoed.
  kIdle,          ///< Faults::idle_close.
  kMaxAge,        ///< Faults::max_age.
  kReset,         ///< Faults::reset_probability (closed with RST).
  kOverLimit,     ///< Faults::max_connections, or the server's own connection limit.
  kRestart,       ///< EchoServer::restart() or Faults::restart_every.
  kError,         ///< A read or write failed (the client reset the connection, for example).
  kShutdown,      ///< EchoServer::stop().
  kNoMemory,      ///< Its buffer could not be allocated: closed at once, the others go on.
  kNoDescriptor,  ///< Accepted at the descriptor limit (EMFILE) on a spare, and closed at once.
  kShed,          ///< Closed to bring the server under a descriptor limit lowered while it ran.
};

/// The number of CloseCause values.
inline constexpr std::size_t kCloseCauses = 11;

/// Returns the name of a close cause: "client_eof", "idle", ...
const char* to_string(CloseCause cause) noexcept;

/// Counters, read together as one consistent snapshot (EchoServer::stats()).
struct Stats {
  std::uint64_t accepted = 0;       ///< Connections accepted since start, including refused ones.
  std::uint64_t active = 0;         ///< Connections open now.
  std::uint64_t peak = 0;           ///< Most connections open at once since start or reset_peak().
  std::uint64_t bytes_in = 0;       ///< Bytes read from clients.
  std::uint64_t bytes_out = 0;      ///< Bytes written back.
  std::uint64_t buffered = 0;       ///< Bytes read and not yet written back, over all connections.
  std::uint64_t peak_buffered = 0;  ///< Most bytes ever held in buffers at once.
  std::uint64_t closes[kCloseCauses] = {};  ///< Closes by cause, indexed by CloseCause.
  std::uint64_t stalls = 0;                 ///< Stalls begun (stall_for() and Faults::stall).
  std::uint64_t restarts = 0;     ///< Restarts begun (restart() and Faults::restart_every).
  std::uint64_t turns = 0;        ///< Passes of the loop: a spinning loop shows here.
  std::uint64_t loop_errors = 0;  ///< Failures the loop survived: ppoll() errors, exceptions.
  std::uint64_t limit = 0;        ///< The connection limit in force (connection_limit()).
  bool listening = false;         ///< The listening socket is open (false during a restart).
  bool stalled = false;           ///< A stall is in progress.

  /// Returns the count of closes for one cause.
  std::uint64_t closed(CloseCause cause) const noexcept {
    return closes[static_cast<std::size_t>(cause)];
  }
};

/// How to start an EchoServer.
struct Options {
  std::string address = "127.0.0.1";     ///< Address to bind; loopback unless told otherwise.
  std::uint16_t port = 0;                ///< Port to bind; 0 picks a free one (see port()).
  std::size_t buffer_bytes = 64 * 1024;  ///< Per-connection buffer; reading stops when full.
  int backlog = 1024;                    ///< listen() backlog, 1..65535 (the kernel caps it).
  /// Memory the connections' buffers may take together; 0 derives it: 1 GiB, or half of
  /// RLIMIT_AS or RLIMIT_DATA when either is lower. With the descriptor limit it sets
  /// connection_limit().
  std::size_t max_memory = 0;
  std::uint64_t seed = 1;  ///< Seed for Faults::reset_probability.
  int cpu = -1;            ///< Pins the loop thread to this CPU; -1: no pinning.
  Faults faults{};         ///< Faults active from the start.

  /// Throws std::invalid_argument naming the first invalid option and why.
  void validate() const;
};

/// An RFC 862 echo server on its own thread: every byte a client sends comes back.
///
///     auto server = echo::EchoServer::start({});   // 127.0.0.1, a free port
///     if (!server) return std::unexpected(server.error());
///     auto ep = (*server)->endpoint();
///     (*server)->set_faults({.idle_close = 50ms});
///     auto s = (*server)->stats();                  // accepted, active, peak, ...
///
/// Thread-safe: every member may be called from any thread. Control calls (set_faults(),
/// faults(), stall_for(), restart(), reset_peak()) run on the server's loop thread and return
/// once it has applied them, so their effect shows in stats() when they return. stats() reads
/// the snapshot the loop publishes before each wait, so it reflects every event the loop has
/// handled.
class EchoServer {
 public:
  /// Binds, listens and starts the loop thread. Throws std::invalid_argument for invalid
  /// options (see Options::validate()). Every run-time failure is returned: the errno of a
  /// failed bind or listen (EADDRINUSE), of a descriptor the server needs (EMFILE) or of a
  /// thread it cannot start (EAGAIN); Errc::kBadHost for an address that does not follow the
  /// host grammar (common/net/endpoint.hpp), or an error in net::resolver_category() for a
  /// name that does not resolve.
  static std::expected<std::unique_ptr<EchoServer>, std::error_code> start(const Options& options);

  /// Stops the server (see stop()).
  ~EchoServer();

  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  /// Returns the port the server listens on (fixed for its lifetime, restarts included).
  std::uint16_t port() const noexcept { return endpoint_.port(); }

  /// Returns the endpoint to dial: the bound address and port().
  net::Endpoint endpoint() const { return endpoint_; }

  /// Returns the most connections the server keeps open at once, fixed at start from what it
  /// can afford: descriptors (RLIMIT_NOFILE, less a reserve) and buffers (Options::max_memory
  /// divided by the memory of one connection). A connection accepted beyond it is closed at
  /// once (CloseCause::kOverLimit). The loop lowers it if the descriptor limit is lowered
  /// while it runs; stats().limit shows the value in force.
  std::size_t connection_limit() const noexcept { return limit_; }

  /// Returns a snapshot of the counters.
  Stats stats() const;

  /// Sets `peak` to the number of connections open now and `peak_buffered` to the bytes held
  /// now, so the next snapshot shows the peak of what follows.
  void reset_peak();

  /// Returns the faults in force.
  Faults faults() const;

  /// Replaces the faults in force. Throws std::invalid_argument naming the field for a value
  /// outside its Limits or a combination that cannot work (see Faults).
  void set_faults(const Faults& faults);

  /// Freezes the server for `duration`: it accepts, reads and writes nothing, and its
  /// connection timers pause. Clients see silence, then the echoes. Returns at once. Throws
  /// std::invalid_argument for a negative duration or one above Limits::kMaxStall.
  void stall_for(Clock::duration duration);

  /// Closes every connection and the listening socket, then listens on the same port again,
  /// after `downtime` (during which connecting is refused). Returns once the connections are
  /// closed and, for a zero downtime, the port is accepting again. Fails with the errno of a
  /// failed bind (the port was taken meanwhile; the server then retries every 50 ms), or with
  /// ESHUTDOWN after stop(). Throws std::invalid_argument for a negative downtime or one above
  /// Limits::kMaxStall.
  std::expected<void, std::error_code> restart(Clock::duration downtime = Clock::duration::zero());

  /// Waits until `predicate(stats())` holds or `timeout` passes; returns whether it held.
  /// Evaluated whenever the counters change, so a test waits for an event, not for a sleep.
  /// The predicate runs with the counters' lock held: it must only read its argument, never
  /// call back into the server.
  bool wait_until(const std::function<bool(const Stats&)>& predicate,
                  Clock::duration timeout = std::chrono::seconds(5)) const;

  /// Closes every connection and stops the loop thread. Idempotent.
  void stop();

 private:
  struct Connection;
  struct Timer;
  struct Loop;

  EchoServer(const Options& options, net::Endpoint bound, std::size_t limit,
             std::unique_ptr<Loop> loop);

  // Runs `fn` on the loop thread and waits for it; returns false, without running it, when
  // the loop has stopped.
  bool run_in_loop(std::function<void(Loop&)> fn) const;

  const Options options_;
  const net::Endpoint endpoint_;
  const std::size_t limit_;
  std::unique_ptr<Loop> loop_;
  std::jthread thread_;
  std::once_flag stopped_;  // stop() joins the loop thread once, whoever calls it
};

}  // namespace tcppool::echo
