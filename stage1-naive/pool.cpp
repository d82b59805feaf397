// stage1-naive/pool.cpp: dial on acquire, close on release.
#include "pool.hpp"

#include <atomic>
#include <stdexcept>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::stage1 {

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
  // Takes a connection back from a lease. The naive pool keeps nothing: the socket closes
  // when `socket` goes out of scope, whether or not it could have been reused.
  void put(net::Socket socket, bool reusable) {
    (void)socket;
    (void)reusable;
  }
  // [put]

  const Options options;
  const net::HostPort endpoint;  // parsed, not resolved: see open_connection()
  std::atomic<bool> closed{false};
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
}

Pool::~Pool() { close(); }

// [acquire]
std::expected<Lease, std::error_code> Pool::acquire() {
  // A reference of this call's own: the state outlives the call even if the Pool is destroyed
  // while it dials, and the reference moves into the lease.
  std::shared_ptr<PoolCore> core = core_;
  if (core->closed.load(std::memory_order_acquire)) return fail(Errc::kPoolClosed);
  auto socket = core->open_connection();
  if (!socket) return std::unexpected(socket.error());
  return Lease(std::move(core), std::move(*socket));
}
// [acquire]

void Pool::close() { core_->closed.store(true, std::memory_order_release); }

const Options& Pool::options() const noexcept { return core_->options; }

}  // namespace tcppool::stage1
