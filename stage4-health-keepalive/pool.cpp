// stage4-health-keepalive/pool.cpp: a capped token pool that checks, reaps and retries.
#include "pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <vector>

#include "bounded_channel.hpp"
#include "common/net/duration.hpp"
#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "maintenance.hpp"

namespace tcppool::stage4 {
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
  // [validate_health]
  const milliseconds hour = std::chrono::hours(1), day = std::chrono::hours(24);
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
};

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
        tokens(options.max_open),
        retry(options.retry, options.seed),
        rng(options.seed != 0 ? options.seed + 1 : std::random_device{}()),
        probe(options.probe ? options.probe : Probe(echo_probe)) {}

  // [open_connection]
  // Resolves the endpoint and dials one connection, retrying transient failures with backoff
  // and failing fast while the server seems down (retry.hpp), each connect bounded by
  // Options::dial_timeout and all of them by Options::retry.budget.
  std::expected<Conn, std::error_code> open_connection() {
    auto socket =
        retry.dial([this](net::Deadline d) { return net::dial(endpoint, d); }, options.dial_timeout,
                   [this](Clock::time_point t) { return sleep_until(t); });
    if (!socket) return std::unexpected(socket.error());
    return new_conn(std::move(*socket));
  }
  // [open_connection]

  // Sets up a new connection: Nagle off, keepalive, and a lifetime shortened by up to
  // lifetime_jitter of itself, so that connections dialed together do not expire together.
  Conn new_conn(net::Socket socket) {
    if (options.tcp_nodelay) (void)net::set_nodelay(socket.fd());
    (void)set_liveness_options(socket.fd(), options.keepalive, options.user_timeout);
    Conn c{.socket = std::move(socket), .created = Clock::now()};
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

  // Waits until `t`; returns false early if the pool is closed meanwhile.
  bool sleep_until(Clock::time_point t) {
    std::unique_lock lock(mu);
    return !wake.wait_until(lock, closing.get_token(), t, [] { return false; }) &&
           !closing.stop_requested();
  }

  // Makes a new permit if fewer than max_open tokens exist.
  bool new_permit() {
    std::scoped_lock lock(mu);
    if (issued == options.max_open) return false;
    ++issued;
    return true;
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
  // Takes a connection back from a lease: one past its lifetime, or whose reset hook fails, is
  // not reusable; then as put().
  void release(Conn conn, bool reusable) {
    auto now = Clock::now();
    if (reusable && conn.socket && now >= conn.expires) reusable = false;
    if (reusable && conn.socket && options.reset_hook) reusable = run_reset_hook(conn.socket);
    conn.last_used = now;
    put(std::move(conn), reusable);
  }
  // [release]

  // [put]
  // Takes a connection back. A reusable one goes back into the channel as an idle connection
  // (to the longest-waiting acquirer, if any) while fewer than max_idle are idle; beyond that
  // it still goes to a thread that is waiting, and is closed only when none is. Either way its
  // token goes back: as the connection, or as a permit.
  void put(Conn conn, bool reusable) {
    Token token{std::move(conn)};
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
  std::mutex mu;
  std::size_t issued = 0;  // Guarded by mu. Tokens made so far; never more than max_open.
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
    auto now = Clock::now();
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
      put(std::move(c), /*reusable=*/true);
    } else {
      close_connection(c);
      keep_for_refill(permits, std::move(*token));
    }
  }
  // Connections that missed a heartbeat get another; their replies may have come since.
  for (auto it = quarantined.begin(); it != quarantined.end() && !stop.stop_requested();) {
    bool alive = heartbeat(it->conn, stop);
    if (alive && it->conn.unanswered == 0) {
      put(std::move(it->conn), /*reusable=*/true);
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
      if (!new_permit()) break;
      permits.emplace_back();
    }
    open.fetch_add(1, std::memory_order_relaxed);
    auto conn = open_connection();
    if (!conn) {
      open.fetch_sub(1, std::memory_order_relaxed);
      break;
    }
    permits.pop_back();
    put(std::move(*conn), /*reusable=*/true);
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
    conn.last_used = Clock::now();
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
    reused_ = other.reused_;
  }
  return *this;
}

void Lease::reset() noexcept {
  if (core_) core_->release(std::move(conn_), /*reusable=*/true);
  core_.reset();
}

void Lease::discard() noexcept {
  if (core_) core_->put(std::move(conn_), /*reusable=*/false);
  core_.reset();
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

std::expected<Lease, std::error_code> Pool::acquire() { return acquire(/*wait=*/true); }

std::expected<Lease, std::error_code> Pool::try_acquire() { return acquire(/*wait=*/false); }

// [acquire]
std::expected<Lease, std::error_code> Pool::acquire(bool wait, bool fresh) {
  // A reference of this call's own: the state outlives the call even if the Pool is destroyed
  // while it waits or dials, and the reference moves into the lease.
  std::shared_ptr<PoolCore> core = core_;
  // A token: one waiting in the channel; else a new permit while under the cap; else, at the
  // cap, the next token given back, in order of arrival.
  // (run()'s retry wants a fresh connection: a new permit if the cap allows one.)
  auto token = fresh && core->new_permit() ? std::expected<Token, std::error_code>(Token{})
                                           : core->tokens.try_receive();
  if (!token && token.error() == Errc::kChannelEmpty) {
    if (core->new_permit()) {
      token = Token{};
    } else if (wait) {
      token = core->tokens.receive();
    } else {
      return fail(Errc::kPoolExhausted);
    }
  }
  if (!token) return fail(Errc::kPoolClosed);  // the channel is closed
  // An idle connection is checked before it is handed out. One that fails is closed, which
  // leaves this call a permit; the next idle connection, if there is one, is checked in turn
  // (and the permit given back), and only when none is left does the permit dial. So a stale
  // connection costs the caller a peek, not an error, and a dial only when nothing good is idle.
  while (token->conn.socket) {
    if (token->idle) core->idle.fetch_sub(1, std::memory_order_relaxed);
    token->idle = false;
    if (!fresh && core->usable(token->conn, Clock::now())) {
      return Lease(std::move(core), std::move(token->conn), /*reused=*/true);
    }
    core->close_connection(token->conn);  // now a permit
    if (fresh) break;  // run()'s retry wants a new connection, not another idle one
    auto next = core->tokens.try_receive();
    if (!next) break;
    core->give_back(std::move(*token));  // one permit is enough
    token = std::move(next);
  }
  // A permit: dial, outside any lock; a failed dial gives the permit back. A pool already
  // closed when this check runs dials nothing. (A dial under way when close() runs still
  // finishes; its connection is closed when its lease is released.)
  if (core->tokens.closed()) {
    core->give_back(std::move(*token));
    return fail(Errc::kPoolClosed);
  }
  core->open.fetch_add(1, std::memory_order_relaxed);
  auto conn = core->open_connection();
  if (!conn) {
    core->open.fetch_sub(1, std::memory_order_relaxed);
    core->give_back(std::move(*token));
    return std::unexpected(conn.error());
  }
  return Lease(std::move(core), std::move(*conn), /*reused=*/false);
}
// [acquire]

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
  core_->tokens.close();  // wakes every blocked acquire() with kPoolClosed
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

}  // namespace tcppool::stage4
