// stage1-naive/pool.hpp: the naive pool, which is not a pool at all.
//
// Technique: short connections. acquire() dials a new connection and releasing the lease
// closes it, so every request pays a TCP handshake and leaves a socket in TIME_WAIT on this
// side (the client closes first). It is naive on purpose: the baseline every later stage is
// measured against. See docs/stage1-naive.md.
//
// The shape is the one every later stage keeps, so the tests and the benchmark harness drive
// all of them alike: Options with validate(), acquire(), a move-only Lease with fd(), socket(),
// reset() and discard(), and close().
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <system_error>

#include "common/net/socket.hpp"

namespace tcppool::stage1 {

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

  /// Gives the connection back now and leaves the lease empty. This pool closes it (that is
  /// what makes it naive). Does nothing on an empty lease.
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

/// The naive pool: every acquire() dials, every release closes.
///
///     stage1::Pool pool({.endpoint = "127.0.0.1:7007"});
///     for (int i = 0; i < 3; ++i) {
///       auto lease = pool.acquire();    // a new TCP connection each time
///       ...
///     }                                 // ... closed each time
///
/// Thread-safe: any number of threads may call acquire() and close() at once.
class Pool {
 public:
  /// The options type, for code written once for every stage (tests, the harness).
  using Options = stage1::Options;
  /// The lease type, likewise.
  using Lease = stage1::Lease;

  /// Makes a pool. Throws std::invalid_argument for invalid options (see Options::validate()).
  explicit Pool(Options options);

  /// Closes the pool (see close()).
  ~Pool();

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Dials a new connection, waiting at most Options::dial_timeout. Fails with
  /// Errc::kPoolClosed after close(), an error in net::resolver_category() when the name does
  /// not resolve (EAI_NONAME; EAI_AGAIN: no answer from DNS), Errc::kTimeout when the dial
  /// times out, or the errno of the failed connect (ECONNREFUSED: nobody listens;
  /// EADDRNOTAVAIL: no local port is free).
  std::expected<Lease, std::error_code> acquire();

  /// Closes the pool: later acquire() calls fail with Errc::kPoolClosed. Leases already handed
  /// out stay usable and are closed when released. Idempotent.
  void close();

  /// Returns the options the pool was made with.
  const Options& options() const noexcept;

 private:
  std::shared_ptr<PoolCore> core_;
};

}  // namespace tcppool::stage1
