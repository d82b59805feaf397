// stage5-context-timeouts/pool.cpp: a healthy capped pool in which every wait is bounded.
#include "pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "bounded_channel.hpp"
#include "common/net/duration.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "context.hpp"
#include "maintenance.hpp"

namespace tcppool::stage5 {
namespace {

using net::Clock;
using std::chrono::milliseconds;

void require(bool ok, const char* option, const std::string& why) {
  if (!ok) throw std::invalid_argument(std::string("Options.") + option + ": " + why);
}

std::string show(milliseconds d) { return net::format_duration(d); }

std::string within(milliseconds d, milliseconds lo, milliseconds hi) {
  return "must be between " + show(lo) + " and " + show(hi) + ", got " + show(d);
}

}  // namespace

void Options::validate() const {
  if (endpoint.empty()) {
    throw std::invalid_argument("Options.endpoint: required, e.g. \"127.0.0.1:7007\"");
  }
  // Syntax only: a name is looked up on every dial (PoolCore::open_connection()).
  if (auto target = net::HostPort::parse(endpoint); !target) {
    throw std::invalid_argument("Options.endpoint: " + net::quoted(endpoint) + ": " +
                                target.error().message());
  }
  if (dial_timeout.count() <= 0 || dial_timeout > std::chrono::hours(1)) {
    throw std::invalid_argument("Options.dial_timeout: must be positive and at most 1h, got " +
                                std::to_string(dial_timeout.count()) + "ms");
  }
  if (prefill > max_idle) {
    throw std::invalid_argument("Options.prefill: " + std::to_string(prefill) +
                                " is more than max_idle (" + std::to_string(max_idle) +
                                "): the extra connections could not be kept");
  }
  if (max_open == 0) {
    throw std::invalid_argument(
        "Options.max_open: must be at least 1, or acquire() could never succeed");
  }
  if (max_idle > max_open) {
    throw std::invalid_argument("Options.max_idle: " + std::to_string(max_idle) +
                                " is more than max_open (" + std::to_string(max_open) +
                                "): idle connections count as open");
  }
  const milliseconds hour = std::chrono::hours(1), day = std::chrono::hours(24);
  require(acquire_timeout > milliseconds(0) && acquire_timeout <= day, "acquire_timeout",
          within(acquire_timeout, milliseconds(1), day));
  require(io_timeout > milliseconds(0) && io_timeout <= day, "io_timeout",
          within(io_timeout, milliseconds(1), day));
  require(
      fairness == Fairness::kBoundedBarging || fairness == Fairness::kStrictFifo, "fairness",
      "must be kBoundedBarging or kStrictFifo, got " + std::to_string(static_cast<int>(fairness)));
  require(starvation_bound > milliseconds(0) && starvation_bound <= std::chrono::minutes(1),
          "starvation_bound", within(starvation_bound, milliseconds(1), std::chrono::minutes(1)));
  // [validate_health]
  require(skip_check_within >= milliseconds(0) && skip_check_within <= hour, "skip_check_within",
          within(skip_check_within, milliseconds(0), hour));
  if (keepalive) {
    require(
        keepalive->idle.count() >= 1 && keepalive->idle.count() <= 32767, "keepalive.idle",
        "must be 1..32767 s (the kernel's range), got " + std::to_string(keepalive->idle.count()));
    require(keepalive->interval.count() >= 1 && keepalive->interval.count() <= 32767,
            "keepalive.interval",
            "must be 1..32767 s, got " + std::to_string(keepalive->interval.count()));
    require(keepalive->count >= 1 && keepalive->count <= 127, "keepalive.count",
            "must be 1..127, got " + std::to_string(keepalive->count));
  }
  require(user_timeout >= milliseconds(0) && user_timeout <= hour, "user_timeout",
          within(user_timeout, milliseconds(0), hour));
  require(heartbeat_interval >= milliseconds(0) && heartbeat_interval <= day, "heartbeat_interval",
          within(heartbeat_interval, milliseconds(0), day));
  require(heartbeat_timeout > milliseconds(0), "heartbeat_timeout",
          "must be positive, got " + show(heartbeat_timeout));
  require(heartbeat_interval.count() == 0 || heartbeat_interval > heartbeat_timeout,
          "heartbeat_interval",
          show(heartbeat_interval) + " is not longer than heartbeat_timeout (" +
              show(heartbeat_timeout) +
              "): a heartbeat would still be waiting when the next is due");
  require(heartbeat_misses >= 1, "heartbeat_misses",
          "must be at least 1, got " + std::to_string(heartbeat_misses));
  require(idle_timeout >= milliseconds(0) && idle_timeout <= day, "idle_timeout",
          within(idle_timeout, milliseconds(0), day));
  require(max_lifetime >= milliseconds(0) && max_lifetime <= 30 * day, "max_lifetime",
          within(max_lifetime, milliseconds(0), 30 * day));
  require(idle_timeout.count() == 0 || max_lifetime.count() == 0 || idle_timeout <= max_lifetime,
          "idle_timeout",
          show(idle_timeout) + " is longer than max_lifetime (" + show(max_lifetime) +
              "): no connection would ever sit idle that long");
  require(lifetime_jitter >= 0.0 && lifetime_jitter < 1.0, "lifetime_jitter",
          "must be in [0, 1): a fraction of max_lifetime, got " + std::to_string(lifetime_jitter));
  require(min_idle <= max_idle, "min_idle",
          std::to_string(min_idle) + " is more than max_idle (" + std::to_string(max_idle) +
              "): the maintenance thread would dial connections only to close them");
  require(maintenance_interval >= milliseconds(1) && maintenance_interval <= hour,
          "maintenance_interval", within(maintenance_interval, milliseconds(1), hour));
  require(retry.attempts >= 1 && retry.attempts <= 100, "retry.attempts",
          "must be 1..100, got " + std::to_string(retry.attempts));
  require(retry.base_backoff >= milliseconds(0) && retry.base_backoff <= hour, "retry.base_backoff",
          within(retry.base_backoff, milliseconds(0), hour));
  require(retry.max_backoff >= retry.base_backoff && retry.max_backoff <= hour, "retry.max_backoff",
          within(retry.max_backoff, retry.base_backoff, hour));
  require(retry.budget > milliseconds(0) && retry.budget <= hour, "retry.budget",
          within(retry.budget, milliseconds(1), hour));
  require(retry.open_after >= 0, "retry.open_after",
          "must not be negative, got " + std::to_string(retry.open_after));
  require(retry.cooldown >= milliseconds(0) && retry.cooldown <= hour, "retry.cooldown",
          within(retry.cooldown, milliseconds(0), hour));
  // [validate_health]
}

// A token: an idle connection, or an empty socket, which is a permit to dial one. `idle` says
// whether the connection counts against max_idle: one waiting in the channel does; one handed
// straight to a waiting thread is in use again at once and does not.
struct Token {
  Conn conn;
  bool idle = false;
  std::size_t slot = 0;  // the token's own number, 0..max_open-1: its place in LeaseRegistry
};

// [registry]
// Every connection handed out, by its token's slot, so that drain() can force the stragglers:
// it shuts each one down, which wakes the thread blocked on it. Lock-free on the lease path (a
// plain store when a lease is made, one compare-and-swap when it ends, no shared counter), and
// safe against the one race
// that matters: drain() must never shut down a descriptor its owner has closed meanwhile (the
// number could already belong to another file). So drain() first marks the slot (kForcing),
// and a lease that ends while its slot is marked waits until drain() is done with it.
class LeaseRegistry {
 public:
  explicit LeaseRegistry(std::size_t slots) : slots_(new std::atomic<std::int64_t>[slots]) {
    for (std::size_t i = 0; i < slots; ++i) slots_[i].store(kFree, std::memory_order_relaxed);
    size_ = slots;
  }

  void add(std::size_t slot, int fd) noexcept { slots_[slot].store(fd, std::memory_order_release); }

  void remove(std::size_t slot) noexcept {
    std::int64_t v = slots_[slot].load(std::memory_order_acquire);
    for (;;) {
      if (v & kForcing) {  // drain() is shutting this one down: let it finish
        std::this_thread::yield();
        v = slots_[slot].load(std::memory_order_acquire);
      } else if (slots_[slot].compare_exchange_weak(v, kFree, std::memory_order_seq_cst)) {
        break;
      }
    }
  }

  // Shuts down every connection still leased; returns how many.
  std::size_t force_all() noexcept {
    std::size_t forced = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      std::int64_t v = slots_[i].load(std::memory_order_acquire);
      if (v == kFree || (v & kForcing)) continue;
      if (!slots_[i].compare_exchange_strong(v, v | kForcing, std::memory_order_acq_rel)) continue;
      ::shutdown(static_cast<int>(v), SHUT_RDWR);  // the owner cannot close it meanwhile
      slots_[i].store(v, std::memory_order_release);
      ++forced;
    }
    return forced;
  }

  // Counts the slots in use: a scan, so that the lease path pays for no shared counter.
  // Sequentially consistent, like remove()'s exchange: drain() sets `draining` and then counts,
  // release() frees its slot and then reads `draining`, and one of the two must see the other
  // (or drain() would wait for a lease that came back unheard). On x86 it costs nothing more.
  std::size_t in_use() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      n += slots_[i].load(std::memory_order_seq_cst) != kFree ? 1 : 0;
    }
    return n;
  }

 private:
  static constexpr std::int64_t kFree = -1;
  static constexpr std::int64_t kForcing = std::int64_t{1} << 40;  // above any descriptor
  std::unique_ptr<std::atomic<std::int64_t>[]> slots_;
  std::size_t size_ = 0;
};
// [registry]

// The state a Pool shares with its leases: a lease that outlives its pool still has somewhere
// to give its connection back to.
//
// At most max_open tokens exist (`issued` counts them), each either in the channel, in a lease,
// with a thread that is dialing, or with the maintenance thread; so at most max_open
// connections are ever open.
struct PoolCore {
  PoolCore(Options opts, net::HostPort target)
      : options(std::move(opts)),
        endpoint(std::move(target)),
        tokens(options.max_open, options.fairness == Fairness::kBoundedBarging
                                     ? std::optional<net::Clock::duration>(options.starvation_bound)
                                     : std::nullopt),
        leases(options.max_open),
        retry(options.retry, options.seed),
        rng(options.seed != 0 ? options.seed + 1 : std::random_device{}()),
        probe(options.probe ? options.probe : Probe(echo_probe)) {}

  // [open_connection]
  // Resolves the endpoint and dials one connection, retrying transient failures with backoff
  // and failing fast while the server seems down (retry.hpp). Each connect is bounded by the
  // earlier of Options::dial_timeout and `until` (what the acquire has left), all of them by
  // Options::retry.budget, and a cancellation of `ctx` ends a connect or a backoff at once.
  std::expected<Conn, std::error_code> open_connection(const Context& ctx, net::Deadline until) {
    auto socket =
        retry.dial([&](net::Deadline d) { return attempt(d, until, ctx); }, options.dial_timeout,
                   [&](Clock::time_point t) { return sleep_until(t, until, ctx); });
    if (!socket) return std::unexpected(socket.error());
    return new_conn(std::move(*socket));
  }
  // [open_connection]

  // Sets up a new connection: Nagle off, keepalive, and a lifetime shortened by up to
  // lifetime_jitter of itself, so that connections dialed together do not expire together.
  Conn new_conn(net::Socket socket) {
    if (options.tcp_nodelay) (void)net::set_nodelay(socket.fd());
    (void)set_liveness_options(socket.fd(), options.keepalive, options.user_timeout);
    Conn c{.socket = std::move(socket), .created = net::coarse_now()};
    c.last_used = c.created;
    if (options.max_lifetime.count() > 0) {
      double cut;
      {
        std::scoped_lock lock(mu);
        cut = std::uniform_real_distribution<double>(0.0, options.lifetime_jitter)(rng);
      }
      auto lifetime =
          std::chrono::duration_cast<Clock::duration>(options.max_lifetime * (1.0 - cut));
      c.expires = c.created + lifetime;
    }
    return c;
  }

  // Waits until `t` (a backoff) and returns an empty error code; returns early, with the
  // reason, when the pool closes (kPoolClosed), `ctx` is cancelled (kCancelled) or `until`
  // passes first (kAcquireTimeout). A cancellation of `ctx` wakes the wait through a callback
  // that notifies under mu: registered, and destroyed, with mu released (see the channel).
  // One connect, bounded by the attempt's own deadline `d` and the caller's `until`. A connect
  // that the caller's deadline cut short fails with Errc::kAcquireTimeout, not the attempt's
  // kTimeout, so that the retry policy does not hold the caller's impatience against the server.
  std::expected<net::Socket, std::error_code> attempt(net::Deadline d, net::Deadline until,
                                                      const Context& ctx) {
    auto s = net::dial(endpoint, earliest(d, until), ctx.stop_token());
    if (!s && s.error() == Errc::kTimeout && until.expired() && !d.expired()) {
      return fail(Errc::kAcquireTimeout);
    }
    return s;
  }

  std::error_code sleep_until(Clock::time_point t, net::Deadline until, const Context& ctx) {
    if (until.when() < t) t = until.when();
    std::optional<std::stop_callback<Notify>> on_cancel;
    if (ctx.stop_token().stop_possible()) on_cancel.emplace(ctx.stop_token(), Notify{this});
    std::error_code why;
    {
      std::unique_lock lock(mu);
      wake.wait_until(lock, closing.get_token(), t, [&] { return ctx.cancelled(); });
      if (closing.stop_requested()) {
        why = make_error_code(Errc::kPoolClosed);
      } else if (ctx.cancelled()) {
        why = make_error_code(Errc::kCancelled);
      } else if (until.expired()) {
        why = make_error_code(Errc::kAcquireTimeout);
      }
    }
    return why;
  }
  struct Notify {
    PoolCore* core;
    void operator()() noexcept {
      std::scoped_lock lock(core->mu);
      core->wake.notify_all();
    }
  };

  // Makes a new permit, numbered, if fewer than max_open tokens exist.
  std::optional<Token> new_permit() {
    std::scoped_lock lock(mu);
    if (issued == options.max_open) return std::nullopt;
    Token permit;
    permit.slot = issued++;
    return permit;
  }

  // [check]
  // Whether an idle connection may be handed out at `now`: not past its lifetime, and, unless
  // it was released moments ago, quiet when peeked at.
  bool usable(const Conn& c, Clock::time_point now) const {
    if (now >= c.expires) return false;
    if (options.skip_check_within.count() > 0 && now - c.last_used < options.skip_check_within) {
      return true;
    }
    return check_idle(c.socket) == Verdict::kHealthy;
  }
  // [check]

  // [release]
  // Takes a connection back from the lease that held slot `slot`: one past its lifetime, or
  // whose reset hook fails, is not reusable; then as put(). A drain() under way hears of it.
  void release(Conn conn, std::size_t slot, bool reusable) {
    leases.remove(slot);
    auto now = net::coarse_now();
    if (reusable && conn.socket && now >= conn.expires) reusable = false;
    if (reusable && conn.socket && options.reset_hook) reusable = run_reset_hook(conn.socket);
    conn.last_used = now;
    Token token;
    token.conn = std::move(conn);
    token.slot = slot;
    put(std::move(token), reusable);
    if (draining.load(std::memory_order_seq_cst)) {  // see LeaseRegistry::in_use()
      std::scoped_lock lock(mu);
      drained.notify_all();
    }
  }
  // [release]

  // [put]
  // Takes a connection back. A reusable one goes back into the channel as an idle connection
  // (to the longest-waiting acquirer, if any) while fewer than max_idle are idle; beyond that
  // it still goes to a thread that is waiting, and is closed only when none is. Either way its
  // token goes back: as the connection, or as a permit.
  void put(Token token, bool reusable) {
    token.idle = false;
    if (reusable && token.conn.socket) {
      token.idle = reserve_idle();
      if (!token.idle && tokens.try_hand_off(std::move(token))) return;
    }
    if (!token.idle) close_connection(token.conn);
    give_back(std::move(token));
  }

  // Sends a token back. Never blocks: the channel has room for every token there is. On a
  // closed pool the send fails and leaves `token` here; a connection is closed, not kept.
  void give_back(Token&& token) {
    if (auto sent = tokens.send(std::move(token)); !sent && token.conn.socket) {
      if (token.idle) idle.fetch_sub(1, std::memory_order_relaxed);
      close_connection(token.conn);
    }
  }
  // [put]

  bool run_reset_hook(const net::Socket& socket) const noexcept {
    try {
      return options.reset_hook(socket).has_value();
    } catch (...) {
      return false;  // a hook that throws has not reset the connection
    }
  }

  // Counts a connection as idle, unless max_idle already are.
  bool reserve_idle() {
    if (idle.fetch_add(1, std::memory_order_relaxed) < options.max_idle) return true;
    idle.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }

  // Closes a connection, leaving an empty socket: a permit. No lock is held here.
  void close_connection(Conn& conn) {
    if (!conn.socket) return;
    conn = Conn{};
    open.fetch_sub(1, std::memory_order_relaxed);
  }

  void maintain(std::stop_token stop);
  bool heartbeat(Conn& conn, std::stop_token stop);

  // Keeps a permit the maintenance pass found or freed if min_idle needs it, and gives it back
  // at once otherwise, so that no acquirer waits for the rest of the pass.
  void keep_for_refill(std::vector<Token>& permits, Token&& permit) {
    if (permits.size() < options.min_idle) {
      permits.push_back(std::move(permit));
    } else {
      give_back(std::move(permit));
    }
  }

  const Options options;
  const net::HostPort endpoint;  // parsed, not resolved: see open_connection()
  BoundedChannel<Token> tokens;  // idle connections and permits, oldest first
  LeaseRegistry leases;          // the connections handed out, for drain()
  std::mutex mu;
  std::size_t issued = 0;  // Guarded by mu. Tokens made so far; never more than max_open.
  std::atomic<bool> draining{false};  // drain() has begun
  std::condition_variable drained;    // notified (with mu) as leases come back during drain()
  DialRetry retry;
  std::mt19937_64 rng;               // Guarded by mu. Lifetime jitter.
  std::condition_variable_any wake;  // backoff sleeps, woken by close()
  std::stop_source closing;          // requested by close()
  const Probe probe;
  // Connections that missed a heartbeat, kept out of the channel until a probe succeeds or
  // they are closed. Only the maintenance thread touches it, and close() once it has stopped.
  std::vector<Token> quarantined;
  std::unique_ptr<Maintenance> maintenance;  // set by Pool's constructor; stopped by close()
  std::once_flag maintenance_stopped;
  // Counters for idle_count() and open_count(). Relaxed: they order nothing, they only count.
  std::atomic<std::size_t> idle{0};
  std::atomic<std::size_t> open{0};
};

// [maintain]
// One pass of the maintenance thread. Every token in the channel when it starts is taken out
// in turn, looked at, and given back (or closed): a connection is never checked and leased at
// once, and no lock is held while it is checked, probed or closed. Taking from the front and
// giving back to the end leaves the order as it was.
void PoolCore::maintain(std::stop_token stop) {
  std::vector<Token> permits;  // closed on the way, kept to refill min_idle
  for (std::size_t n = tokens.size(); n > 0 && !stop.stop_requested(); --n) {
    auto token = tokens.try_receive();
    if (!token) break;  // taken by acquirers meanwhile, or the pool closed
    if (!token->conn.socket) {
      keep_for_refill(permits, std::move(*token));
      continue;
    }
    if (token->idle) idle.fetch_sub(1, std::memory_order_relaxed);
    token->idle = false;
    auto now = net::coarse_now();
    Conn& c = token->conn;
    bool keep = now < c.expires &&
                (options.idle_timeout.count() == 0 || now - c.last_used < options.idle_timeout) &&
                check_idle(c.socket) == Verdict::kHealthy;
    if (keep && options.heartbeat_interval.count() > 0 &&
        now - c.last_used >= options.heartbeat_interval) {
      keep = heartbeat(c, stop);
      if (c.socket && c.unanswered > 0) {  // missed, not yet closed: out of use
        quarantined.push_back(std::move(*token));
        continue;
      }
    }
    if (keep) {
      put(std::move(*token), /*reusable=*/true);
    } else {
      close_connection(c);
      keep_for_refill(permits, std::move(*token));
    }
  }
  // Connections that missed a heartbeat get another; their replies may have come since.
  for (auto it = quarantined.begin(); it != quarantined.end() && !stop.stop_requested();) {
    bool alive = heartbeat(it->conn, stop);
    if (alive && it->conn.unanswered == 0) {
      put(std::move(*it), /*reusable=*/true);
      it = quarantined.erase(it);
    } else if (!alive) {
      close_connection(it->conn);
      keep_for_refill(permits, std::move(*it));
      it = quarantined.erase(it);
    } else {
      ++it;
    }
  }
  // Dial back up to min_idle: with the permits freed above, then with new ones.
  while (idle.load(std::memory_order_relaxed) < options.min_idle && !stop.stop_requested() &&
         !retry.open()) {
    if (permits.empty()) {
      auto permit = new_permit();
      if (!permit) break;
      permits.push_back(std::move(*permit));
    }
    open.fetch_add(1, std::memory_order_relaxed);
    auto conn = open_connection(Context::background(), net::Deadline::after(options.dial_timeout));
    if (!conn) {
      open.fetch_sub(1, std::memory_order_relaxed);
      break;
    }
    Token filled = std::move(permits.back());
    permits.pop_back();
    filled.conn = std::move(*conn);
    put(std::move(filled), /*reusable=*/true);
  }
  for (auto& p : permits) give_back(std::move(p));
}
// [maintain]

// [heartbeat]
// Probes an idle connection. Returns false when it should be closed: the probe failed for any
// reason but a timeout, or it missed heartbeat_misses in a row. A timeout short of that leaves
// it open with `unanswered` counting the replies still owed. close() cuts a probe short by
// shutting the socket down (the probe then fails, and the connection is closed).
bool PoolCore::heartbeat(Conn& conn, std::stop_token stop) {
  int fd = conn.socket.fd();
  std::stop_callback cut_short(stop, [fd] { ::shutdown(fd, SHUT_RDWR); });
  auto r = probe(conn.socket, net::Deadline::after(options.heartbeat_timeout), conn.unanswered);
  if (r) {
    conn.unanswered = 0;
    conn.last_used = net::coarse_now();
    return true;
  }
  if (r.error() != Errc::kTimeout || stop.stop_requested()) return false;
  return ++conn.unanswered < options.heartbeat_misses;
}
// [heartbeat]

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    reset();
    core_ = std::move(other.core_);
    conn_ = std::move(other.conn_);
    slot_ = other.slot_;
    reused_ = other.reused_;
    broken_ = std::exchange(other.broken_, false);
  }
  return *this;
}

void Lease::reset() noexcept {
  if (core_) core_->release(std::move(conn_), slot_, /*reusable=*/!broken_);
  core_.reset();
  broken_ = false;
}

void Lease::discard() noexcept {
  if (core_) core_->release(std::move(conn_), slot_, /*reusable=*/false);
  core_.reset();
  broken_ = false;
}

// [lease_io]
// The I/O deadline is the earlier of the context's and io_timeout from now; a cancellation of
// the context shuts the socket down (common/net/io.hpp), which wakes the call at once. Either
// way, a failed call leaves the connection in an unknown state: mark it, so release discards.
std::expected<void, std::error_code> Lease::send(std::span<const std::byte> data,
                                                 const Context& ctx) {
  if (!core_) return fail_errno(EBADF);
  auto until = earliest(ctx.deadline(), net::Deadline::after(core_->options.io_timeout));
  auto r = net::send_all(fd(), data, until, ctx.stop_token());
  if (!r) broken_ = true;
  return r;
}

std::expected<void, std::error_code> Lease::receive(std::span<std::byte> buffer,
                                                    const Context& ctx) {
  if (!core_) return fail_errno(EBADF);
  auto until = earliest(ctx.deadline(), net::Deadline::after(core_->options.io_timeout));
  auto r = net::recv_exact(fd(), buffer, until, ctx.stop_token());
  if (!r) broken_ = true;
  return r;
}
// [lease_io]

std::string AcquireError::message() const {
  std::string line = code_.message();
  if (waited_ > net::Clock::duration::zero()) {
    line += " after " +
            net::format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(waited_));
  }
  return line + ": " + std::to_string(state_.open) + " open (" + std::to_string(state_.in_use) +
         " in use, " + std::to_string(state_.idle) + " idle), " + std::to_string(state_.waiting) +
         " waiting, max_open " + std::to_string(state_.max_open);
}

Pool::Pool(Options options) {
  options.validate();
  // validate() parsed the endpoint, and parsing is pure: this parse cannot fail.
  auto endpoint = net::HostPort::parse(options.endpoint).value();
  core_ = std::make_shared<PoolCore>(std::move(options), std::move(endpoint));
  // Prefill: hold `prefill` leases at once, so that each is a new connection, then release
  // them together into the pool. Best effort: the first failure ends it.
  std::vector<Lease> warm;
  for (std::size_t i = 0; i < core_->options.prefill; ++i) {
    auto lease = acquire();
    if (!lease) break;
    warm.push_back(std::move(*lease));
  }
  warm.clear();
  PoolCore* core = core_.get();
  core_->maintenance = std::make_unique<Maintenance>(
      core_->options.maintenance_interval, [core](std::stop_token stop) { core->maintain(stop); });
}

Pool::~Pool() { close(); }

std::expected<Lease, AcquireError> Pool::acquire(const Context& ctx) {
  return acquire(ctx, /*wait=*/true);
}

std::expected<Lease, AcquireError> Pool::acquire() { return acquire(Context::background()); }

std::expected<Lease, AcquireError> Pool::try_acquire(const Context& ctx) {
  return acquire(ctx, /*wait=*/false);
}

PoolState Pool::state() const {
  return {.open = core_->open.load(std::memory_order_relaxed),
          .in_use = core_->leases.in_use(),
          .idle = core_->idle.load(std::memory_order_relaxed),
          .waiting = core_->tokens.waiting_receivers(),
          .max_open = core_->options.max_open};
}

// [acquire]
std::expected<Lease, AcquireError> Pool::acquire(const Context& ctx, bool wait, bool fresh) {
  // A reference of this call's own: the state outlives the call even if the Pool is destroyed
  // while it waits or dials, and the reference moves into the lease.
  std::shared_ptr<PoolCore> core = core_;
  Clock::time_point started{};  // read only if the call has to wait or dial: the fast path
                                // reads no clock
  auto failure = [&](std::error_code ec) {
    auto waited = started == Clock::time_point{} ? Clock::duration::zero() : Clock::now() - started;
    return std::unexpected(AcquireError(ec, state(), waited));
  };
  // The end of what this call may spend waiting and dialing: the context's deadline, or
  // acquire_timeout from the moment it first has to wait, whichever is earlier.
  auto until = [&] {
    if (started == Clock::time_point{}) started = Clock::now();
    return earliest(ctx.deadline(),
                    net::Deadline::at_or_never(started, core->options.acquire_timeout));
  };
  if (ctx.cancelled()) return failure(make_error_code(Errc::kCancelled));
  // A token: one waiting in the channel; else a new permit while under the cap; else, at the
  // cap, the next token given back, in order of arrival, waited for within the deadline.
  // (run()'s retry wants a fresh connection: a new permit if the cap allows one.)
  std::expected<Token, std::error_code> token = fail(Errc::kChannelEmpty);
  if (auto permit = fresh ? core->new_permit() : std::nullopt) {
    token = std::move(*permit);
  } else {
    token = core->tokens.try_receive();
  }
  if (!token && token.error() == Errc::kChannelEmpty) {
    if (auto permit = core->new_permit()) {
      token = std::move(*permit);
    } else if (wait) {
      token = core->tokens.receive(until(), ctx.stop_token());
      // A token handed over as this caller gave up goes on to the next waiter, not lost.
      if (token && ctx.done()) {
        if (token->idle) core->idle.fetch_sub(1, std::memory_order_relaxed);
        core->put(std::move(*token), /*reusable=*/true);
        return failure(ctx.cancelled() ? make_error_code(Errc::kCancelled)
                                       : make_error_code(Errc::kAcquireTimeout));
      }
      if (!token && token.error() == Errc::kTimeout) return failure(Errc::kAcquireTimeout);
      if (!token && token.error() == Errc::kCancelled) return failure(Errc::kCancelled);
    } else {
      return failure(make_error_code(Errc::kPoolExhausted));
    }
  }
  auto closed = [&] {
    return failure(make_error_code(core->draining ? Errc::kPoolDraining : Errc::kPoolClosed));
  };
  if (!token) return closed();  // the channel is closed
  // An idle connection is checked before it is handed out. One that fails is closed, which
  // leaves this call a permit; the next idle connection, if there is one, is checked in turn
  // (and the permit given back), and only when none is left does the permit dial. So a stale
  // connection costs the caller a peek, not an error, and a dial only when nothing good is idle.
  while (token->conn.socket) {
    if (token->idle) core->idle.fetch_sub(1, std::memory_order_relaxed);
    token->idle = false;
    if (!fresh && core->usable(token->conn, net::coarse_now())) {
      core->leases.add(token->slot, token->conn.socket.fd());
      return Lease(std::move(core), std::move(token->conn), token->slot, /*reused=*/true);
    }
    core->close_connection(token->conn);  // now a permit
    if (fresh) break;  // run()'s retry wants a new connection, not another idle one
    auto next = core->tokens.try_receive();
    if (!next) break;
    core->give_back(std::move(*token));  // one permit is enough
    token = std::move(next);
  }
  // A permit: dial, outside any lock, within what the call has left; a failed dial gives the
  // permit back. A pool already closed when this check runs dials nothing. (A dial under way
  // when close() runs still finishes; its connection is closed when its lease is released.)
  if (core->tokens.closed()) {
    core->give_back(std::move(*token));
    return closed();
  }
  core->open.fetch_add(1, std::memory_order_relaxed);
  net::Deadline deadline = until();
  auto conn = core->open_connection(ctx, deadline);
  if (!conn) {
    core->open.fetch_sub(1, std::memory_order_relaxed);
    core->give_back(std::move(*token));
    // A connect cut short by the acquire's own deadline is the acquire timing out; one that
    // timed out on its own dial_timeout is the dial's.
    if (conn.error() == Errc::kTimeout && deadline.expired()) {
      return failure(make_error_code(Errc::kAcquireTimeout));
    }
    return failure(conn.error());
  }
  core->leases.add(token->slot, conn->socket.fd());
  return Lease(std::move(core), std::move(*conn), token->slot, /*reused=*/false);
}
// [acquire]

// [drain]
std::size_t Pool::drain(net::Deadline deadline) {
  core_->draining = true;  // acquire() now fails with kPoolDraining
  close();                 // wakes the waiters, stops the maintenance thread, closes idle ones
  {
    std::unique_lock lock(core_->mu);
    auto all_back = [&] { return core_->leases.in_use() == 0; };
    if (deadline.is_never()) {
      core_->drained.wait(lock, all_back);
    } else {
      core_->drained.wait_until(lock, deadline.when(), all_back);
    }
  }
  return core_->leases.force_all();
}
// [drain]

// [close]
void Pool::close() {
  // The maintenance thread first: it holds tokens while it works, and must give them back
  // before the channel closes. Stopping it cuts a heartbeat short.
  core_->closing.request_stop();  // wakes dials sleeping in a backoff, the maintainer's too
  std::call_once(core_->maintenance_stopped, [core = core_.get()] {
    if (core->maintenance) core->maintenance->stop();
    for (auto& t : core->quarantined) core->close_connection(t.conn);
    core->quarantined.clear();
  });
  core_->tokens.close();  // wakes every blocked acquire() with kPoolClosed (or kPoolDraining)
  // Drain what the channel still holds; connections close here, outside any lock.
  while (auto token = core_->tokens.try_receive()) {
    if (token->idle) core_->idle.fetch_sub(1, std::memory_order_relaxed);
    core_->close_connection(token->conn);
  }
}
// [close]

const Options& Pool::options() const noexcept { return core_->options; }

std::size_t Pool::idle_count() const { return core_->idle.load(std::memory_order_relaxed); }

std::size_t Pool::open_count() const { return core_->open.load(std::memory_order_relaxed); }

std::size_t Pool::waiting() const { return core_->tokens.waiting_receivers(); }

}  // namespace tcppool::stage5
