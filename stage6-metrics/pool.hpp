// stage6-metrics/pool.hpp: the complete pool: stage 5's, and everything it does can be seen.
//
// Technique: stage 5's bounded, healthy pool, counted as it works. Every acquire, release, dial,
// check, heartbeat and close updates an instrument (metrics.hpp): relaxed atomics, the hot ones
// sharded across cache lines so that threads on different cores do not fight over a counter.
// stats() returns a snapshot of all of it (Stats); exposition.hpp writes it as Prometheus text,
// and metrics_http.hpp serves that on /metrics. A lease held longer than
// Options::leak_threshold is reported once, with the std::source_location of the acquire()
// that took it. What deserves an alert (the breaker opening, an acquire timing out, a
// heartbeat failing, a suspected leak) goes to Options::on_event, on a thread of the pool's
// own, so a slow hook never holds up the pool. See docs/stage6-metrics.md.
//
// What it cannot fix: every request is an OS thread that sleeps and wakes on each round trip.
// Bounded barging (stage 5's, see Options::fairness) keeps connections busy under contention,
// but the thread-per-request model's own cost stays: the benchmark report's event-loop
// ceiling, one thread driving every connection with poll(), shows how much.
//
// Changes from stage 5: Options gains name, histogram_buckets, leak_threshold, on_event and
// event_queue; acquire(), try_acquire() and run() take the caller's std::source_location (a
// defaulted argument); Pool gains stats(). Compare stage5-context-timeouts/pool.hpp
// (`make diff N=6`).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <source_location>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "common/net/deadline.hpp"
#include "common/net/error.hpp"
#include "common/net/socket.hpp"
#include "common/net/tcp.hpp"
#include "context.hpp"
#include "health.hpp"
#include "metrics.hpp"
#include "retry.hpp"

namespace tcppool::stage6 {

/// Who gets a connection given back while threads wait for one (Options::fairness).
enum class Fairness {
  /// A thread that is running may take it ahead of the threads asleep, which are woken one at
  /// a time to look. Once serving the sleepers in order is what it takes for the last of them
  /// to get a connection within Options::starvation_bound (the longest wait so far plus the
  /// queue's time at the rate connections come back), they get them directly, in order.
  kBoundedBarging,
  /// The thread that has waited longest gets it, always (stage 3's hand-off): every release at
  /// the cap waits for a thread to wake before its connection is used again.
  kStrictFifo,
};

/// How to build a Pool. Every field but `endpoint` has a default.
struct Options {
  /// The server: "host:port" or "[ipv6-address]:port" (the grammar is in
  /// common/net/endpoint.hpp). Required. Its syntax is checked when the pool is made; a name
  /// is looked up on every dial, so one that does not resolve fails acquire(), not the
  /// constructor, and the pool works as soon as it resolves.
  std::string endpoint{};
  /// Bound on each connect attempt. 1.5 s, not 1 s: a SYN the server's full accept queue
  /// dropped is sent again after 1 s, and a 1 s timeout gives up at the moment that retry would
  /// connect. A name's lookup comes before it and is not bounded by it. At most one hour.
  std::chrono::milliseconds dial_timeout{1500};
  /// Turns Nagle's algorithm off on every connection, as a request/response protocol wants.
  bool tcp_nodelay = true;
  /// Most idle connections kept for reuse; a connection released beyond this is closed.
  /// Zero keeps none. At most max_open.
  std::size_t max_idle = 8;
  /// Connections the constructor dials ahead of the first acquire. At most max_idle.
  std::size_t prefill = 0;
  /// Most connections open at once: idle, in use and being dialed together. At least 1.
  std::size_t max_open = 8;

  // ---- deadlines (new in stage 5) ----

  /// Longest acquire() waits for a connection (slot and dial together), whatever its context
  /// allows: HikariCP's connectionTimeout. Positive, at most 24 h.
  std::chrono::milliseconds acquire_timeout = std::chrono::seconds(30);
  /// Longest one Lease::send() or Lease::receive() waits, whatever its context allows. Kept
  /// apart from acquire_timeout: waiting for a connection and waiting for a server are different
  /// things, with different budgets. Positive, at most 24 h.
  std::chrono::milliseconds io_timeout = std::chrono::seconds(30);

  // ---- fairness at the cap ----

  /// Who gets a connection given back while threads wait: see Fairness.
  Fairness fairness = Fairness::kBoundedBarging;
  /// With kBoundedBarging, about the longest any waiter waits: releases go to the waiters in
  /// order once that is what it takes to serve the last of them within it. 10 ms: well above the
  /// mean wait of 64 threads on 8 connections here (about 1 ms: Go's sync.Mutex's 1 ms would keep
  /// the pool in order nearly always), well below what a caller notices. Positive, at most one
  /// minute.
  std::chrono::milliseconds starvation_bound{10};

  // ---- health checks (new in stage 4) ----

  /// acquire() skips the peek for a connection released less than this long ago (HikariCP
  /// skips its check within 500 ms). Zero, the default, always checks: the peek costs one
  /// system call, and a connection can go stale in a millisecond. At most one hour.
  std::chrono::milliseconds skip_check_within{0};
  /// Runs on every release of a connection, before it goes back to the pool, for protocols
  /// with per-connection state (undo a SELECT, drain a buffer). A failure, or an exception,
  /// closes the connection instead. Empty: no hook. Runs in the releasing thread, with no lock
  /// held.
  std::function<std::expected<void, std::error_code>(const net::Socket&)> reset_hook{};
  /// TCP keepalive, set on every new connection: after `idle` without traffic the kernel probes
  /// every `interval` and resets the connection after `count` unanswered probes. It finds a peer
  /// that vanished; it cannot find one that is alive and hung. Defaults as go-redis's dialer.
  /// nullopt: no keepalive. Each value at least 1, within the kernel's limits (idle and
  /// interval at most 32767 s, count at most 127).
  std::optional<net::KeepaliveOptions> keepalive = net::KeepaliveOptions{
      .idle = std::chrono::seconds(30), .interval = std::chrono::seconds(5), .count = 3};
  /// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the kernel gives up on
  /// the connection (keepalive never fires while data is in flight). Zero: the kernel's
  /// default (about 15 minutes of retransmissions). At most one hour.
  std::chrono::milliseconds user_timeout{0};

  // ---- heartbeats and reaping, done by the maintenance thread ----

  /// A connection idle this long is sent a heartbeat (Options::probe). Zero: no heartbeats.
  /// Longer than heartbeat_timeout; at most 24 h.
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(30);
  /// How long a heartbeat may take. Positive, shorter than heartbeat_interval.
  std::chrono::milliseconds heartbeat_timeout{1000};
  /// Consecutive missed heartbeats after which a connection is closed; until then a connection
  /// that missed one is kept out of use (its reply may still come). At least 1.
  int heartbeat_misses = 2;
  /// The heartbeat. Empty: echo_probe() (health.hpp), for the echo protocol. A probe for
  /// another protocol sends its own ping (see health.hpp for the contract).
  Probe probe{};
  /// Closes a connection idle longer than this. Set it below the server's own idle timeout and
  /// the client closes first, on its own terms. Zero: never. At most 24 h, and no longer than
  /// max_lifetime when both are set.
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
  /// Closes a connection this long after it was dialed: when it comes back, or while idle.
  /// Zero: never. At most 30 days.
  std::chrono::milliseconds max_lifetime = std::chrono::minutes(30);
  /// Shortens each connection's lifetime by a random fraction of it up to this, so that
  /// connections dialed together do not all expire together (HikariCP: 2.5 %). In [0, 1).
  double lifetime_jitter = 0.025;
  /// The maintenance thread dials back up to this many idle connections. At most max_idle.
  std::size_t min_idle = 0;
  /// How often the maintenance thread runs. At least 1 ms, at most one hour.
  std::chrono::milliseconds maintenance_interval{1000};

  // ---- dial retry (retry.hpp) ----

  /// How failed dials are retried, and when the pool stops trying for a while.
  RetryOptions retry{};
  /// Seed for the jitter of lifetimes and backoffs; 0 picks one at random. Tests fix it.
  std::uint64_t seed = 0;

  // ---- metrics (new in stage 6) ----

  /// The pool's name: the `pool` label of its metrics and the `pool` of its events, so that
  /// several pools can share one /metrics page. 1 to 128 bytes, no control characters.
  std::string name = "default";
  /// Upper bounds of the buckets of every histogram (wait, use and create time), ascending,
  /// positive, at most kMaxBuckets of them; an implicit +Inf bucket follows the last. The
  /// default is 1 us to 10 s in 1-2.5-5 steps.
  std::vector<std::chrono::nanoseconds> histogram_buckets = default_buckets();
  /// A lease held longer than this is reported once, as a suspected leak: counted, and an
  /// event (EventKind::kSuspectedLeak) that names the file and line of the acquire() that took
  /// it. Checked by the maintenance thread, so it is reported up to maintenance_interval late.
  /// Zero, the default, turns it off (as HikariCP's leakDetectionThreshold). At most 24 h.
  std::chrono::milliseconds leak_threshold{0};
  /// Called for every event (EventKind), on a thread of the pool's own, never with a lock of
  /// the pool held, one event at a time. A slow hook delays only the events after it: they wait
  /// in a queue of event_queue of them, and an event that finds the queue full is dropped and
  /// counted (Stats::events_dropped). An exception from the hook is caught and ignored. The
  /// hook may call the pool (stats(), even acquire()), but must not destroy it. close() waits
  /// for a hook that is running and drops, counted, the events still queued: once close()
  /// returns the hook is not running and is never called again. Empty: no events, and no
  /// thread.
  std::function<void(const Event&)> on_event{};
  /// How many events may wait for a slow hook. 1 to 1,000,000.
  std::size_t event_queue = 1024;

  /// Throws std::invalid_argument naming the first invalid option and why, e.g.
  /// `Options.idle_timeout: 40m is longer than max_lifetime (30m)`.
  void validate() const;
};

/// A connection and what the pool knows about it. The pool's business; a Lease carries one.
/// Its times are read with net::coarse_now(): a few milliseconds do not matter to lifetimes
/// and idle limits, and the cheaper clock keeps acquire and release fast.
struct Conn {
  net::Socket socket;                ///< The connection itself; empty for a permit.
  net::Clock::time_point created{};  ///< When it was dialed.
  net::Clock::time_point expires = net::Clock::time_point::max();  ///< End of its lifetime.
  net::Clock::time_point last_used{};  ///< Released, or answered a heartbeat, last.
  int unanswered = 0;                  ///< Heartbeats sent without a reply since the last one.
};

/// What the pool looked like at one moment: HikariCP's "total=8, active=8, idle=0,
/// waiting=56". The counts are read one after another, not under one lock, so while the pool
/// is busy they may disagree by a connection or a waiter.
struct PoolState {
  std::size_t open = 0;      ///< Connections open or being dialed.
  std::size_t in_use = 0;    ///< Of those, held by leases.
  std::size_t idle = 0;      ///< Of those, idle and ready to be handed out.
  std::size_t waiting = 0;   ///< Threads blocked in acquire().
  std::size_t max_open = 0;  ///< Options::max_open.
};

// [acquire_error]
/// Why acquire() failed, what the pool looked like when it gave up, and how long it waited:
/// everything a caller needs to log the failure in one line at the failure site.
///
///     auto lease = pool.acquire(ctx);
///     if (!lease) {
///       log(lease.error().message());  // "timed out waiting for a connection after 250 ms:
///                                      //  8 open (8 in use, 0 idle), 56 waiting, max_open 8"
///       return std::unexpected(lease.error());  // an std::error_code where one is wanted
///     }
///
/// It converts to std::error_code, and compares with error codes and enums as one does
/// (`lease.error() == Errc::kAcquireTimeout`), so code written for any stage's
/// `std::expected<Lease, std::error_code>` works with it unchanged.
class AcquireError {
 public:
  /// Makes the error.
  AcquireError(std::error_code code, PoolState state, net::Clock::duration waited) noexcept
      : code_(code), state_(state), waited_(waited) {}

  /// Returns the error code: Errc::kAcquireTimeout, Errc::kCancelled, Errc::kPoolClosed,
  /// Errc::kPoolDraining, Errc::kPoolExhausted, Errc::kServerUnavailable, or a dial's error.
  const std::error_code& code() const noexcept { return code_; }
  /// Same as code(), for code that wants an error_code.
  operator const std::error_code&() const noexcept { return code_; }  // NOLINT: implicit by design
  /// Returns code().value().
  int value() const noexcept { return code_.value(); }
  /// Returns code().category().
  const std::error_category& category() const noexcept { return code_.category(); }
  /// Returns the pool's state when the call gave up.
  const PoolState& state() const noexcept { return state_; }
  /// Returns how long the call waited for a connection (zero if it did not wait).
  net::Clock::duration waited() const noexcept { return waited_; }
  /// Returns one line: the error's message, the time waited, and the pool's state.
  std::string message() const;

  /// Compares the error code.
  friend bool operator==(const AcquireError& e, const std::error_code& c) noexcept {
    return e.code_ == c;
  }
  /// Compares the error code with an error code or condition enum (Errc, std::errc).
  template <typename E>
  requires std::is_error_code_enum_v<E> || std::is_error_condition_enum_v<E>
  friend bool operator==(const AcquireError& e, E value) noexcept { return e.code_ == value; }
  /// Writes message(), for logs and test output.
  friend std::ostream& operator<<(std::ostream& out, const AcquireError& e) {
    return out << e.message();
  }

 private:
  std::error_code code_;
  PoolState state_;
  net::Clock::duration waited_;
};
// [acquire_error]

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
  int fd() const noexcept { return conn_.socket.fd(); }

  /// Returns the connection, for calls that take a net::Socket. Ownership stays with the
  /// lease (to close it, discard() the lease).
  const net::Socket& socket() const noexcept { return conn_.socket; }

  /// Returns true when the lease holds a connection.
  explicit operator bool() const noexcept { return conn_.socket.valid(); }

  /// Returns true when the connection was used before and kept idle in between, false when it
  /// was dialed for this lease. Only a reused connection can have gone stale unnoticed.
  bool reused() const noexcept { return reused_; }

  /// Sends all of `data`, waiting no longer than `ctx` and Options::io_timeout allow; a
  /// cancellation of `ctx` from another thread ends the call at once. Fails with
  /// Errc::kTimeout, Errc::kCancelled, or as net::send_all() does. After any failure the
  /// connection's state is unknown: the lease discards it when released. EBADF on an empty lease.
  std::expected<void, std::error_code> send(std::span<const std::byte> data,
                                            const Context& ctx = Context::background());

  /// Receives exactly `buffer.size()` bytes, bounded and cancelled as send() is. Fails with
  /// Errc::kTimeout, Errc::kCancelled, or as net::recv_exact() does (Errc::kPeerClosed,
  /// Errc::kTruncated, ...); after a failure the lease discards its connection when released.
  /// EBADF on an empty lease.
  std::expected<void, std::error_code> receive(std::span<std::byte> buffer,
                                               const Context& ctx = Context::background());

  /// Gives the connection back now and leaves the lease empty: to the longest-waiting
  /// acquirer if there is one, else to the idle connections, unless the pool already keeps
  /// max_idle of them or has been closed; then it is closed and its slot freed. A connection
  /// past its lifetime, whose Options::reset_hook fails, or on which a send() or receive()
  /// failed, is closed instead. Does nothing on an empty lease. REQUIRES: the connection is
  /// between requests (a response half read would be read by the next user); otherwise
  /// discard() it.
  void reset() noexcept;

  /// Closes the connection now, so that it is never used again (Go's MarkUnusable), and frees
  /// its slot: a waiting acquirer may dial a replacement. Leaves the lease empty. Call it after
  /// an I/O error, when the connection's state is unknown. Does nothing on an empty lease.
  void discard() noexcept;

 private:
  friend class Pool;
  Lease(std::shared_ptr<PoolCore> core, Conn conn, std::size_t slot, bool reused,
        net::Clock::time_point since) noexcept
      : core_(std::move(core)),
        conn_(std::move(conn)),
        slot_(slot),
        reused_(reused),
        since_(since) {}

  std::shared_ptr<PoolCore> core_;
  Conn conn_;
  std::size_t slot_ = 0;  // its token's place in the pool's registry of leases (drain())
  bool reused_ = false;
  net::Clock::time_point since_{};  // when acquire() handed it out: for the use-time histogram
  bool broken_ = false;             // a send() or receive() failed: discard, do not keep
};

/// Whether a request may be sent twice: `run()` retries only an idempotent one.
enum class Idempotent : bool { kNo, kYes };

/// A pool of reusable connections with at most max_open of them open at once, which checks a
/// connection before handing it out, keeps idle ones alive and healthy, and retries dials.
///
///     stage6::Pool pool({.endpoint = "127.0.0.1:7007", .idle_timeout = 50s});
///     auto r = pool.run([&](stage6::Lease& lease) {  // a stale connection is retried once
///       return echo::round_trip(lease.fd(), request, reply);
///     }, stage6::Idempotent::kYes);
///
/// Thread-safe: any number of threads may call any member at once. No lock is held across a
/// dial, a health check, a heartbeat, a reset hook or a close.
class Pool {
 public:
  /// The options type, for code written once for every stage (tests, the harness).
  using Options = stage6::Options;
  /// The lease type, likewise.
  using Lease = stage6::Lease;
  /// Whether a request may be retried, likewise.
  using Idempotent = stage6::Idempotent;
  /// The context type, likewise.
  using Context = stage6::Context;
  /// The snapshot stats() returns, for the metrics suite.
  using Stats = stage6::Stats;
  /// What Options::on_event receives, likewise.
  using Event = stage6::Event;
  /// The kinds of Event, likewise.
  using EventKind = stage6::EventKind;
  /// Why a connection was closed (Stats::closed()), likewise.
  using CloseReason = stage6::CloseReason;

  /// Makes a pool, dials Options::prefill connections into it, and starts its maintenance
  /// thread. Prefill is best effort: the first failed dial ends it, and the pool dials on
  /// demand as usual (idle_count() tells how many it has). Throws std::invalid_argument for
  /// invalid options (see Options::validate()).
  explicit Pool(Options options);

  /// Closes the pool (see close()).
  ~Pool();

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Takes the oldest token in the pool: an idle connection, which it checks first (see
  /// below), or a permit, for which it dials; with no token free, makes a new permit while fewer
  /// than max_open tokens exist. At the cap, waits until another thread releases or discards a
  /// connection, in the order callers arrived, but no longer than `ctx` and
  /// Options::acquire_timeout allow, and only until `ctx` is cancelled (a cancellation from
  /// another thread wakes it at once). A connection handed to a caller at the moment it gives up
  /// goes back to the pool, to the next waiter.
  ///
  /// The check: an idle connection past its lifetime, or whose peek shows the server closed or
  /// reset it, or bytes nobody asked for, is closed, and the next idle connection is checked
  /// in turn; when none is left, the freed slot dials. The caller sees none of it. A dial is
  /// retried as Options::retry says; each attempt is bounded by the earlier of dial_timeout and
  /// what the acquire has left, and the retries stop when the acquire's time is up.
  ///
  /// Fails with an AcquireError carrying the pool's state: Errc::kAcquireTimeout when the
  /// acquire's time ran out (waiting for a slot, or dialing), Errc::kCancelled, Errc::kPoolClosed
  /// after close(), Errc::kPoolDraining once drain() has begun, Errc::kServerUnavailable while
  /// the pool fails fast after repeated failed dials, or the last dial attempt's error:
  /// Errc::kTimeout (the attempt's own dial_timeout), the errno of the failed connect
  /// (ECONNREFUSED), or an error in net::resolver_category(). A failed dial frees its slot.
  ///
  /// `where` is the caller's place in the source, filled in by the default argument: a lease
  /// held longer than Options::leak_threshold is reported with it.
  std::expected<Lease, AcquireError> acquire(
      const Context& ctx, std::source_location where = std::source_location::current());

  /// acquire() with the background context: bounded by Options::acquire_timeout alone.
  std::expected<Lease, AcquireError> acquire(
      std::source_location where = std::source_location::current());

  /// Like acquire(), but never waits for another thread: fails with Errc::kPoolExhausted when
  /// max_open connections are open and none is idle. May still dial, bounded by `ctx`.
  std::expected<Lease, AcquireError> try_acquire(
      const Context& ctx = Context::background(),
      std::source_location where = std::source_location::current());

  /// Runs `fn(lease)` on a connection from acquire(ctx) and returns what it returns; `fn`
  /// returns a std::expected<T, std::error_code> (use `ctx` for its I/O: lease.send(data, ctx)).
  /// If `fn` fails, the connection is closed (its state is unknown). If the request is
  /// idempotent, the connection was reused, and `fn` failed the way a stale connection fails
  /// before any reply byte (Errc::kPeerClosed, ECONNRESET or EPIPE), runs `fn` once more on a
  /// freshly dialed connection, within the same `ctx`, and returns that result. Never for a
  /// request that is not idempotent, never more than once, never after a reply was cut short
  /// (Errc::kTruncated: the server had the request), and never once `ctx` is done.
  /// A retry is counted (Stats::retries).
  template <typename Fn>
  std::invoke_result_t<Fn&, Lease&> run(
      const Context& ctx, Fn&& fn, Idempotent idempotent = Idempotent::kNo,
      std::source_location where = std::source_location::current());

  /// run() with the background context.
  template <typename Fn>
  std::invoke_result_t<Fn&, Lease&> run(
      Fn&& fn, Idempotent idempotent = Idempotent::kNo,
      std::source_location where = std::source_location::current()) {
    return run(Context::background(), std::forward<Fn>(fn), idempotent, where);
  }

  /// Drains the pool, the way a server shuts down: stops handing out connections (acquire()
  /// fails with Errc::kPoolDraining, and callers waiting in it wake with it), closes the idle
  /// connections, and waits until every lease has come back or `deadline` passes. Then it
  /// force-closes the connections still out: each is shut down (shutdown(SHUT_RDWR)), so that a
  /// call blocked on it returns an error at once and its owner discards it. Returns how many
  /// it forced. Afterwards the pool is closed, as by close(). Call it once.
  std::size_t drain(net::Deadline deadline);

  /// Returns what the pool looks like now (see PoolState for how exact that is).
  PoolState state() const;

  /// Returns every gauge, counter and histogram of the pool (see Stats for which fields are
  /// read together). Takes no lock the hot path takes but the channel's, for a moment, to count
  /// its waiters; cheap enough to call on every scrape.
  Stats stats() const;

  /// Closes the pool at once: stops the maintenance thread (even mid-heartbeat), wakes the
  /// callers waiting in acquire() or in a dial's backoff (they return Errc::kPoolClosed),
  /// closes idle connections, and leases handed out stay usable but are closed, not kept, when
  /// released. Idempotent. drain() is the graceful way.
  void close();

  /// Returns the options the pool was made with.
  const Options& options() const noexcept;

  /// Returns how many idle connections the pool holds now, ready to be handed out (not those a
  /// heartbeat is checking, or that missed one).
  std::size_t idle_count() const;

  /// Returns how many connections are open or being dialed now: idle, in use, and being
  /// checked by the maintenance thread. Never more than Options::max_open.
  std::size_t open_count() const;

  /// Returns how many threads are blocked in acquire() now.
  std::size_t waiting() const;

 private:
  // acquire(), try_acquire() and run()'s retry: `wait` says whether to block at the cap,
  // `fresh` whether to dial a new connection even when an idle one is free.
  std::expected<Lease, AcquireError> acquire(const Context& ctx, bool wait, bool fresh,
                                             const std::source_location& where);
  // Counts one retry of run().
  void count_retry() noexcept;

  std::shared_ptr<PoolCore> core_;
};

// [run]
template <typename Fn>
std::invoke_result_t<Fn&, Lease&> Pool::run(const Context& ctx, Fn&& fn, Idempotent idempotent,
                                            std::source_location where) {
  auto lease = acquire(ctx, /*wait=*/true, /*fresh=*/false, where);
  if (!lease) return std::unexpected(lease.error().code());
  const bool reused = lease->reused();
  auto result = fn(*lease);
  if (result) return result;
  lease->discard();  // after a failure the connection's state is unknown
  if (idempotent == Idempotent::kNo || !reused || !looks_stale(result.error()) || ctx.done()) {
    return result;
  }
  auto fresh = acquire(ctx, /*wait=*/true, /*fresh=*/true, where);
  if (!fresh) return std::unexpected(fresh.error().code());
  count_retry();  // it runs again: a retry whose acquire failed ran nothing
  auto again = fn(*fresh);
  if (!again) fresh->discard();
  return again;
}
// [run]

}  // namespace tcppool::stage6
