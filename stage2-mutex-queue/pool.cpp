// stage2-mutex-queue/pool.cpp: reuse idle connections, most recently used first.
#include "pool.hpp"

#include <deque>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::stage2 {

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
}

// The state a Pool shares with its leases: a lease that outlives its pool still has somewhere
// to give its connection back to.
struct PoolCore {
  PoolCore(Options opts, net::HostPort target)
      : options(std::move(opts)), endpoint(std::move(target)) {}

  // Resolves the endpoint and dials one connection, the connect bounded by
  // Options::dial_timeout. Resolving on every dial is what lets the pool recover from a
  // lookup that failed, and follow a name whose address changes.
  std::expected<net::Socket, std::error_code> open_connection() const {
    auto socket = net::dial(endpoint, net::Deadline::after(options.dial_timeout));
    if (socket && options.tcp_nodelay) (void)net::set_nodelay(socket->fd());
    return socket;
  }

  // [put]
  // Takes a connection back from a lease: keeps it idle when it is reusable and there is
  // room, and closes it otherwise. Closing is a system call (it sends a FIN), so it happens
  // after the lock is released.
  void put(net::Socket socket, bool reusable) {
    if (reusable && socket) {
      std::scoped_lock lock(mu);
      if (!closed && idle.size() < options.max_idle) {
        idle.push_back(std::move(socket));
        return;
      }
    }
    // `socket`, if still here, closes as the function returns, outside the lock.
  }
  // [put]

  const Options options;
  const net::HostPort endpoint;  // parsed, not resolved: see open_connection()
  mutable std::mutex mu;
  // Idle connections, most recently released at the back. Guarded by mu.
  std::deque<net::Socket> idle;
  bool closed = false;  // Guarded by mu.
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

// [acquire]
std::expected<Lease, std::error_code> Pool::acquire() {
  // A reference of this call's own: the state outlives the call even if the Pool is destroyed
  // while it dials, and the reference moves into the lease.
  std::shared_ptr<PoolCore> core = core_;
  net::Socket socket;
  {
    std::scoped_lock lock(core->mu);
    if (core->closed) return fail(Errc::kPoolClosed);
    if (!core->idle.empty()) {
      // LIFO: the most recently released connection is the warmest, and the least likely to
      // have been closed by the server while it sat idle.
      socket = std::move(core->idle.back());
      core->idle.pop_back();
    }
  }
  if (!socket) {
    // Dial outside the lock: a slow or unreachable server must not hold up every other thread.
    auto dialed = core->open_connection();
    if (!dialed) return std::unexpected(dialed.error());
    socket = std::move(*dialed);
  }
  return Lease(std::move(core), std::move(socket));
}
// [acquire]

// [close]
void Pool::close() {
  std::deque<net::Socket> doomed;
  {
    std::scoped_lock lock(core_->mu);
    core_->closed = true;
    doomed.swap(core_->idle);
  }
  // `doomed` closes its connections here, outside the lock.
}
// [close]

const Options& Pool::options() const noexcept { return core_->options; }

std::size_t Pool::idle_count() const {
  std::scoped_lock lock(core_->mu);
  return core_->idle.size();
}

}  // namespace tcppool::stage2
