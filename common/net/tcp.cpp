// common/net/tcp.cpp: dial with a deadline, listen, socket options.
#include "common/net/tcp.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <limits>

#include "common/net/error.hpp"
#include "common/net/io.hpp"

namespace tcppool::net {
namespace {

std::atomic<std::uint64_t> g_dials{0};

std::expected<void, std::error_code> set_int_option(int fd, int level, int name, int value) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return fail_errno();
  return {};
}

}  // namespace

std::expected<Socket, std::error_code> dial(const Endpoint& endpoint, Deadline deadline) {
  return dial(endpoint, deadline, std::stop_token());
}

// [dial]
std::expected<Socket, std::error_code> dial(const Endpoint& endpoint, Deadline deadline,
                                            const std::stop_token& stop) {
  g_dials.fetch_add(1, std::memory_order_relaxed);
  Socket s(::socket(endpoint.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno();

  // A non-blocking connect returns EINPROGRESS at once; the handshake completes in the kernel
  // and the socket becomes writable when it has, successfully or not.
  if (::connect(s.fd(), endpoint.address(), endpoint.address_length()) != 0) {
    if (errno != EINPROGRESS) return fail_errno();
    if (auto ready = wait_ready(s.fd(), POLLOUT, deadline, stop); !ready) {
      return std::unexpected(ready.error());
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return fail_errno();
    if (err != 0) return fail_errno(err);
  }
  if (auto r = set_nonblocking(s.fd(), false); !r) return std::unexpected(r.error());
  return s;
}
// [dial]

std::expected<Socket, std::error_code> dial(const HostPort& target, Deadline deadline) {
  return dial(target, deadline, std::stop_token());
}

std::expected<Socket, std::error_code> dial(const HostPort& target, Deadline deadline,
                                            const std::stop_token& stop) {
  auto endpoint = target.resolve();
  if (stop.stop_requested()) return fail(Errc::kCancelled);
  if (endpoint && !deadline.expired()) return dial(*endpoint, deadline, stop);
  g_dials.fetch_add(1, std::memory_order_relaxed);  // a dial that ends before connecting counts
  if (!endpoint) return std::unexpected(endpoint.error());
  return fail(Errc::kTimeout);  // the lookup outlasted the deadline
}

std::uint64_t dial_count() noexcept { return g_dials.load(std::memory_order_relaxed); }

std::expected<Socket, std::error_code> listen_on(const Endpoint& endpoint, int backlog) {
  Socket s(::socket(endpoint.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno();
  if (auto r = set_int_option(s.fd(), SOL_SOCKET, SO_REUSEADDR, 1); !r) {
    return std::unexpected(r.error());
  }
  if (::bind(s.fd(), endpoint.address(), endpoint.address_length()) != 0) return fail_errno();
  if (::listen(s.fd(), backlog) != 0) return fail_errno();
  return s;
}

std::expected<std::uint16_t, std::error_code> local_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return fail_errno();
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

Socket open_spare_descriptor() { return Socket(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

std::size_t refuse_at_fd_limit(const Socket& listener, Socket& spare, std::size_t max) {
  if (!spare) {  // lost on an earlier try: get it back for next time
    spare = open_spare_descriptor();
    return 0;
  }
  spare.reset();
  std::size_t refused = 0;
  for (; refused < max; ++refused) {
    Socket s(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!s) break;
  }
  spare = open_spare_descriptor();
  return refused;
}

std::expected<void, std::error_code> set_nodelay(int fd, bool on) {
  return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

std::expected<void, std::error_code> set_keepalive(int fd, const KeepaliveOptions& options) {
  if (options.idle.count() <= 0 || options.interval.count() <= 0 || options.count <= 0) {
    return fail_errno(EINVAL);
  }
  if (auto r = set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1); !r) return r;
  if (auto r =
          set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(options.idle.count()));
      !r) {
    return r;
  }
  if (auto r = set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL,
                              static_cast<int>(options.interval.count()));
      !r) {
    return r;
  }
  return set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, options.count);
}

std::expected<void, std::error_code> set_user_timeout(int fd, std::chrono::milliseconds timeout) {
  if (timeout.count() < 0 || timeout.count() > std::numeric_limits<int>::max()) {
    return fail_errno(EINVAL);
  }
  return set_int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, static_cast<int>(timeout.count()));
}

std::expected<void, std::error_code> set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return fail_errno();
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) != 0) return fail_errno();
  return {};
}

std::expected<void, std::error_code> set_reset_on_close(int fd) {
  linger l{1, 0};
  if (::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0) return fail_errno();
  return {};
}

}  // namespace tcppool::net
