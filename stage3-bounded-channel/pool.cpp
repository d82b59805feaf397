// stage3-bounded-channel/pool.cpp: tokens in a bounded channel cap the open connections.
#include "pool.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "bounded_channel.hpp"
#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::stage3 {

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
}

// A token: an idle connection, or an empty socket, which is a permit to dial one. `idle` says
// whether the connection counts against max_idle: one waiting in the channel does; one handed
// straight to a waiting thread is in use again at once and does not.
struct Token {
  net::Socket socket;
  bool idle = false;
};

// The state a Pool shares with its leases: a lease that outlives its pool still has somewhere
// to give its connection back to.
//
// At most max_open tokens exist (`issued` counts them), each either in the channel, in a lease,
// or with a thread that is dialing; so at most max_open connections are ever open.
struct PoolCore {
  PoolCore(Options opts, net::HostPort target)
      : options(std::move(opts)), endpoint(std::move(target)), tokens(options.max_open) {}

  // Resolves the endpoint and dials one connection, the connect bounded by
  // Options::dial_timeout. Resolving on every dial is what lets the pool recover from a
  // lookup that failed, and follow a name whose address changes.
  std::expected<net::Socket, std::error_code> open_connection() const {
    auto socket = net::dial(endpoint, net::Deadline::after(options.dial_timeout));
    if (socket && options.tcp_nodelay) (void)net::set_nodelay(socket->fd());
    return socket;
  }

  // Makes a new permit if fewer than max_open tokens exist.
  bool new_permit() {
    std::scoped_lock lock(mu);
    if (issued == options.max_open) return false;
    ++issued;
    return true;
  }

  // [put]
  // Takes a connection back from a lease. A reusable one goes back into the channel as an idle
  // connection (to the longest-waiting acquirer, if any) while fewer than max_idle are idle;
  // beyond that it still goes to a thread that is waiting, and is closed only when none is.
  // Either way its token goes back: as the connection, or as a permit.
  void put(net::Socket socket, bool reusable) {
    Token token{std::move(socket)};
    if (reusable && token.socket) {
      token.idle = reserve_idle();
      if (!token.idle && tokens.try_hand_off(std::move(token))) return;
    }
    if (!token.idle) close_connection(token.socket);
    give_back(std::move(token));
  }

  // Sends a token back. Never blocks: the channel has room for every token there is. On a
  // closed pool the send fails and leaves `token` here; a connection is closed, not kept.
  void give_back(Token&& token) {
    if (auto sent = tokens.send(std::move(token)); !sent && token.socket) {
      if (token.idle) idle.fetch_sub(1, std::memory_order_relaxed);
      close_connection(token.socket);
    }
  }
  // [put]

  // Counts a connection as idle, unless max_idle already are.
  bool reserve_idle() {
    if (idle.fetch_add(1, std::memory_order_relaxed) < options.max_idle) return true;
    idle.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }

  // Closes a connection, leaving an empty socket: a permit. No lock is held here.
  void close_connection(net::Socket& socket) {
    if (!socket) return;
    socket.reset();
    open.fetch_sub(1, std::memory_order_relaxed);
  }

  const Options options;
  const net::HostPort endpoint;  // parsed, not resolved: see open_connection()
  BoundedChannel<Token> tokens;  // idle connections and permits, oldest first
  std::mutex mu;
  std::size_t issued = 0;  // Guarded by mu. Tokens made so far; never more than max_open.
  // Counters for idle_count() and open_count(). Relaxed: they order nothing, they only count.
  std::atomic<std::size_t> idle{0};
  std::atomic<std::size_t> open{0};
};

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    reset();
    core_ = std::move(other.core_);
    socket_ = std::move(other.socket_);
  }
  return *this;
}

void Lease::reset() noexcept {
  if (core_) core_->put(std::move(socket_), /*reusable=*/true);
  core_.reset();
}

void Lease::discard() noexcept {
  if (core_) core_->put(std::move(socket_), /*reusable=*/false);
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
}

Pool::~Pool() { close(); }

std::expected<Lease, std::error_code> Pool::acquire() { return acquire(/*wait=*/true); }

std::expected<Lease, std::error_code> Pool::try_acquire() { return acquire(/*wait=*/false); }

// [acquire]
std::expected<Lease, std::error_code> Pool::acquire(bool wait) {
  // A reference of this call's own: the state outlives the call even if the Pool is destroyed
  // while it waits or dials, and the reference moves into the lease.
  std::shared_ptr<PoolCore> core = core_;
  // A token: one waiting in the channel; else a new permit while under the cap; else, at the
  // cap, the next token given back, in order of arrival.
  auto token = core->tokens.try_receive();
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
  if (token->socket) {
    if (token->idle) core->idle.fetch_sub(1, std::memory_order_relaxed);
    return Lease(std::move(core), std::move(token->socket));
  }
  // A permit: dial, outside any lock; a failed dial gives the permit back. A pool already
  // closed when this check runs dials nothing. (A dial under way when close() runs still
  // finishes; its connection is closed when its lease is released.)
  if (core->tokens.closed()) return fail(Errc::kPoolClosed);
  core->open.fetch_add(1, std::memory_order_relaxed);
  auto socket = core->open_connection();
  if (!socket) {
    core->open.fetch_sub(1, std::memory_order_relaxed);
    core->give_back(Token{});
    return std::unexpected(socket.error());
  }
  return Lease(std::move(core), std::move(*socket));
}
// [acquire]

// [close]
void Pool::close() {
  core_->tokens.close();  // wakes every blocked acquire() with kPoolClosed
  // Drain what the channel still holds; connections close here, outside any lock.
  while (auto token = core_->tokens.try_receive()) {
    if (token->idle) core_->idle.fetch_sub(1, std::memory_order_relaxed);
    core_->close_connection(token->socket);
  }
}
// [close]

const Options& Pool::options() const noexcept { return core_->options; }

std::size_t Pool::idle_count() const { return core_->idle.load(std::memory_order_relaxed); }

std::size_t Pool::open_count() const { return core_->open.load(std::memory_order_relaxed); }

std::size_t Pool::waiting() const { return core_->tokens.waiting_receivers(); }

}  // namespace tcppool::stage3
