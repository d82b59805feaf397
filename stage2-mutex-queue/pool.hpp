// stage2-mutex-queue/pool.hpp: a pool that keeps idle connections for reuse.
//
// Technique: a std::mutex and a std::deque of idle connections. Releasing a lease puts its
// connection back; the next acquire() takes the most recently released one (LIFO) instead of
// dialing, so a steady load runs on a few long-lived connections with no handshake and no
// TIME_WAIT per request. max_idle bounds what is kept; prefill dials some ahead of time; close()
// empties the pool. See docs/stage2-mutex-queue.md.
//
// What it still gets wrong: nothing bounds the connections in use. A burst of 64 threads opens
// 64 connections (and then closes all but max_idle of them). Stage 3 adds the cap.
//
// Changes from stage 1: PoolCore keeps an idle deque under a mutex; Options gains max_idle and
// prefill; Pool gains idle_count(). Compare stage1-naive/pool.hpp (`make diff N=2`).
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <memory>
#include <string>
#include <system_error>

#include "common/net/socket.hpp"

namespace tcppool::stage2 {

/// How to build a Pool. Every field but `endpoint` has a default.
struct Options {
  /// The server: "host:port" or "[ipv6-address]:port" (the grammar is in
  /// common/net/endpoint.hpp). Required. Its syntax is checked when the pool is made; a name
  /// is looked up on every dial, so one that does not resolve fails acquire(), not the
  /// constructor, and the pool works as soon as it resolves.
  std::string endpoint{};
  /// Bound on each connect: a server that never answers costs at most this. A name's lookup
  /// comes before it and is not bounded by it (net::HostPort::resolve() says what bounds it).
  /// At most one hour.
  std::chrono::milliseconds dial_timeout{1000};
  /// Turns Nagle's algorithm off on every connection, as a request/response protocol wants.
  bool tcp_nodelay = true;
  /// Most idle connections kept for reuse; a connection released beyond this is closed.
  /// Zero keeps none (the pool then behaves like stage 1).
  std::size_t max_idle = 8;
  /// Connections the constructor dials ahead of the first acquire. At most max_idle.
  std::size_t prefill = 0;

  /// Throws std::invalid_argument naming the first invalid option and why, e.g.
  /// `Options.endpoint: "localhost:0": bad port: expected a number in 1..65535 without
  /// leading zeros`.
  void validate() const;
};

struct PoolCore;  // the state a Pool shares with its leases (pool.cpp)

/// Exclusive use of one connection until the lease is destroyed: nobody else reads or writes
/// it meanwhile, so requests on it cannot interleave.
///
///     auto lease = pool.acquire();
///     if (!lease) return std::unexpected(lease.error());
///     if (auto r = echo::round_trip(lease->fd(), request, reply); !r) lease->discard();
///     // destroying the lease gives the connection back
///
/// Move-only. A lease may outlive its Pool: the connection is then closed when the lease goes.
/// Not thread-safe: a lease belongs to one thread at a time.
class Lease {
 public:
  /// Makes an empty lease, holding no connection.
  Lease() noexcept = default;

  /// Gives the connection back, as reset() does.
  ~Lease() { reset(); }

  /// Takes the connection from `other`, leaving it empty.
  Lease(Lease&& other) noexcept = default;

  /// Gives back this lease's connection, then takes the one from `other`.
  Lease& operator=(Lease&& other) noexcept;

  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  /// Returns the connection's descriptor, or -1 for an empty lease.
  int fd() const noexcept { return socket_.fd(); }

  /// Returns the connection, for calls that take a net::Socket. Ownership stays with the
  /// lease (to close it, discard() the lease).
  const net::Socket& socket() const noexcept { return socket_; }

  /// Returns true when the lease holds a connection.
  explicit operator bool() const noexcept { return socket_.valid(); }

  /// Gives the connection back now and leaves the lease empty. The pool keeps it for reuse,
  /// unless it already keeps max_idle connections or has been closed; then it is closed. Does
  /// nothing on an empty lease. REQUIRES: the connection is between requests (a response
  /// half read would be read by the next user); otherwise discard() it.
  void reset() noexcept;

  /// Closes the connection now, so that it is never used again (Go's MarkUnusable), and
  /// leaves the lease empty. Call it after an I/O error, when the connection's state is
  /// unknown. Does nothing on an empty lease.
  void discard() noexcept;

 private:
  friend class Pool;
  Lease(std::shared_ptr<PoolCore> core, net::Socket socket) noexcept
      : core_(std::move(core)), socket_(std::move(socket)) {}

  std::shared_ptr<PoolCore> core_;
  net::Socket socket_;
};

/// A pool of reusable connections: acquire() takes an idle one if there is one, and dials
/// otherwise; releasing keeps up to max_idle of them.
///
///     stage2::Pool pool({.endpoint = "127.0.0.1:7007", .max_idle = 4});
///     for (int i = 0; i < 3; ++i) {
///       auto lease = pool.acquire();    // dials the first time only
///       ...
///     }                                 // kept idle in between
///
/// Thread-safe: any number of threads may call any member at once. The mutex is held only to
/// move a connection in or out of the deque, never across a dial or a close.
class Pool {
 public:
  /// The options type, for code written once for every stage (tests, the harness).
  using Options = stage2::Options;
  /// The lease type, likewise.
  using Lease = stage2::Lease;

  /// Makes a pool, and dials Options::prefill connections into it. Prefill is best effort:
  /// the first failed dial ends it, and the pool dials on demand as usual (idle_count() tells
  /// how many it has). Throws std::invalid_argument for invalid options (see
  /// Options::validate()).
  explicit Pool(Options options);

  /// Closes the pool (see close()).
  ~Pool();

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Returns the most recently released idle connection, or dials a new one (waiting at most
  /// Options::dial_timeout) when none is idle. Never blocks on other threads for longer than
  /// moving a connection out of the deque. Fails with Errc::kPoolClosed after close(), an
  /// error in net::resolver_category() when the name does not resolve (EAI_NONAME; EAI_AGAIN:
  /// no answer from DNS), Errc::kTimeout when the dial times out, or the errno of the failed
  /// connect (ECONNREFUSED: nobody listens; EADDRNOTAVAIL: no local port is free).
  std::expected<Lease, std::error_code> acquire();

  /// Closes the pool: idle connections are closed at once, later acquire() calls fail with
  /// Errc::kPoolClosed, and leases handed out stay usable but are closed, not kept, when
  /// released. Idempotent.
  void close();

  /// Returns the options the pool was made with.
  const Options& options() const noexcept;

  /// Returns how many idle connections the pool holds now.
  std::size_t idle_count() const;

 private:
  std::shared_ptr<PoolCore> core_;
};

}  // namespace tcppool::stage2
