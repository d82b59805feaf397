// stage3-bounded-channel/pool.hpp: a pool with a cap on open connections.
//
// Technique: a bounded channel (bounded_channel.hpp) holds the pool's tokens, at most max_open
// of them: an idle connection, or an empty socket that is a permit to dial one. acquire() takes
// a token, from the channel or, while fewer than max_open have been handed out, a new permit;
// at the cap it blocks in the channel until a release or a discard sends a token back, and the
// channel hands that token to the thread that has waited longest. So the cap holds for idle,
// in-use and dialing connections together, waiters are served first come first served, and
// close() wakes them all. See docs/stage3-bounded-channel.md.
//
// What it still gets wrong: a connection the server closed while it sat idle is handed out as
// if it were fine (the first request on it fails), and acquire() waits without bound while the
// pool is exhausted, however long a stalled server keeps every connection busy. Stage 4 checks
// connections before reuse; stage 5 adds deadlines.
//
// Changes from stage 2: the idle deque becomes a BoundedChannel of tokens (idle connections
// are now reused oldest first, FIFO), and the mutex now guards only the count of tokens made;
// Options gains max_open; Pool gains try_acquire(), open_count() and waiting(). Compare
// stage2-mutex-queue/pool.hpp (`make diff N=3`).
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <memory>
#include <string>
#include <system_error>

#include "common/net/socket.hpp"

namespace tcppool::stage3 {

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
  /// Zero keeps none. At most max_open.
  std::size_t max_idle = 8;
  /// Connections the constructor dials ahead of the first acquire. At most max_idle.
  std::size_t prefill = 0;
  /// Most connections open at once: idle, in use and being dialed together. At least 1.
  std::size_t max_open = 8;

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

  /// Gives the connection back now and leaves the lease empty: to the longest-waiting
  /// acquirer if there is one, else to the idle connections, unless the pool already keeps
  /// max_idle of them or has been closed; then it is closed and its slot freed. Does nothing
  /// on an empty lease. REQUIRES: the connection is between requests (a response half read
  /// would be read by the next user); otherwise discard() it.
  void reset() noexcept;

  /// Closes the connection now, so that it is never used again (Go's MarkUnusable), and frees
  /// its slot: a waiting acquirer may dial a replacement. Leaves the lease empty. Call it after
  /// an I/O error, when the connection's state is unknown. Does nothing on an empty lease.
  void discard() noexcept;

 private:
  friend class Pool;
  Lease(std::shared_ptr<PoolCore> core, net::Socket socket) noexcept
      : core_(std::move(core)), socket_(std::move(socket)) {}

  std::shared_ptr<PoolCore> core_;
  net::Socket socket_;
};

/// A pool of reusable connections with at most max_open of them open at once: acquire() takes
/// an idle one, dials one while under the cap, and otherwise waits its turn.
///
///     stage3::Pool pool({.endpoint = "127.0.0.1:7007", .max_open = 8});
///     // 64 threads:
///     auto lease = pool.acquire();   // at most 8 hold a connection; the rest queue, in order
///
/// Thread-safe: any number of threads may call any member at once. No lock is held across a
/// dial or a close.
class Pool {
 public:
  /// The options type, for code written once for every stage (tests, the harness).
  using Options = stage3::Options;
  /// The lease type, likewise.
  using Lease = stage3::Lease;

  /// Makes a pool, and dials Options::prefill connections into it. Prefill is best effort:
  /// the first failed dial ends it, and the pool dials on demand as usual (idle_count() tells
  /// how many it has). Throws std::invalid_argument for invalid options (see
  /// Options::validate()).
  explicit Pool(Options options);

  /// Closes the pool (see close()).
  ~Pool();

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Takes the oldest token in the pool: an idle connection, or a permit left by a discard,
  /// for which it dials (waiting at most Options::dial_timeout); with no token free, makes a
  /// new permit while fewer than max_open tokens exist. So it may dial while an idle
  /// connection waits behind a permit, but never beyond the cap. At the cap, blocks until
  /// another thread releases or discards a connection; blocked callers are served in the order
  /// they arrived. There is no bound on that wait (stage 5 adds one). Fails with
  /// Errc::kPoolClosed after close() (waiting callers wake with it), an error in
  /// net::resolver_category() when the name does not resolve (EAI_NONAME; EAI_AGAIN: no answer
  /// from DNS), Errc::kTimeout when the dial times out, or the errno of the failed connect; a
  /// failed dial (or lookup) frees its slot.
  std::expected<Lease, std::error_code> acquire();

  /// Like acquire(), but never waits for another thread: fails with Errc::kPoolExhausted when
  /// max_open connections are open and none is idle. May still dial.
  std::expected<Lease, std::error_code> try_acquire();

  /// Closes the pool: blocked acquire() calls and later ones fail with Errc::kPoolClosed, idle
  /// connections are closed at once, and leases handed out stay usable but are closed, not
  /// kept, when released. Idempotent.
  void close();

  /// Returns the options the pool was made with.
  const Options& options() const noexcept;

  /// Returns how many idle connections the pool holds now.
  std::size_t idle_count() const;

  /// Returns how many connections are open or being dialed now: idle plus in use. Never more
  /// than Options::max_open.
  std::size_t open_count() const;

  /// Returns how many threads are blocked in acquire() now.
  std::size_t waiting() const;

 private:
  // acquire() and try_acquire(): `wait` says whether to block at the cap.
  std::expected<Lease, std::error_code> acquire(bool wait);

  std::shared_ptr<PoolCore> core_;
};

}  // namespace tcppool::stage3
