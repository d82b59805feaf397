// common/net/io.cpp: whole-buffer I/O with deadlines.
#include "common/net/io.hpp"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/net/error.hpp"
#include "common/net/socket.hpp"

namespace tcppool::net {
namespace {

// Blocking calls need no MSG_DONTWAIT; with a deadline, every call must return at once so the
// wait happens in poll(), where the deadline is enforced.
int dontwait_unless_never(Deadline deadline) { return deadline.is_never() ? 0 : MSG_DONTWAIT; }

}  // namespace

std::expected<short, std::error_code> wait_ready(int fd, short events, Deadline deadline) {
  if (fd < 0) return fail_errno(EBADF);  // poll() would ignore it and wait out the deadline
  pollfd p{fd, events, 0};
  for (;;) {
    timespec ts;
    int n = ::ppoll(&p, 1, deadline.to_timespec(ts), nullptr);
    if (n > 0) {
      if (p.revents & POLLNVAL) return fail_errno(EBADF);
      return p.revents;
    }
    if (n == 0) return fail(Errc::kTimeout);
    if (errno != EINTR) return fail_errno();
  }
}

std::expected<void, std::error_code> send_all(int fd, std::span<const std::byte> data,
                                              Deadline deadline) {
  const int flags = MSG_NOSIGNAL | dontwait_unless_never(deadline);
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), flags);
    if (n >= 0) {
      data = data.subspan(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto ready = wait_ready(fd, POLLOUT, deadline); !ready)
        return std::unexpected(ready.error());
    } else if (errno != EINTR) {
      return fail_errno();
    }
  }
  return {};
}

// [recv_exact]
std::expected<void, std::error_code> recv_exact(int fd, std::span<std::byte> buffer,
                                                Deadline deadline) {
  const int flags = dontwait_unless_never(deadline);
  const std::size_t wanted = buffer.size();
  // The connection ended: before any byte of the message (`nothing_came`), or after some.
  auto ended = [&](std::unexpected<std::error_code> nothing_came) {
    return buffer.size() < wanted ? fail(Errc::kTruncated) : nothing_came;
  };
  while (!buffer.empty()) {
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), flags);
    if (n > 0) {
      buffer = buffer.subspan(static_cast<std::size_t>(n));
    } else if (n == 0) {
      return ended(fail(Errc::kPeerClosed));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto ready = wait_ready(fd, POLLIN, deadline); !ready)
        return std::unexpected(ready.error());
    } else if (errno != EINTR) {
      return ended(fail_errno());
    }
  }
  return {};
}
// [recv_exact]

std::expected<short, std::error_code> wait_ready(int fd, short events, Deadline deadline,
                                                 const std::stop_token& stop) {
  if (!stop.stop_possible()) return wait_ready(fd, events, deadline);
  if (stop.stop_requested()) return fail(Errc::kCancelled);
  if (fd < 0) return fail_errno(EBADF);
  Socket wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) return fail_errno();
  std::stop_callback on_stop(stop, [fd = wake.fd()] {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
  });
  pollfd p[2] = {{fd, events, 0}, {wake.fd(), POLLIN, 0}};
  for (;;) {
    timespec ts;
    int n = ::ppoll(p, 2, deadline.to_timespec(ts), nullptr);
    if (n > 0) {
      if (p[1].revents != 0) return fail(Errc::kCancelled);
      if (p[0].revents & POLLNVAL) return fail_errno(EBADF);
      return p[0].revents;
    }
    if (n == 0) return fail(Errc::kTimeout);
    if (errno != EINTR) return fail_errno();
  }
}

namespace {

// Runs `io` with a std::stop_callback that shuts `fd` down when `stop` is requested, so that
// the call, blocked in poll() or in the kernel, returns at once; reports that as kCancelled.
template <typename Io>
std::expected<void, std::error_code> cancellable(int fd, const std::stop_token& stop, Io io) {
  if (!stop.stop_possible()) return io();
  if (stop.stop_requested()) return fail(Errc::kCancelled);
  std::expected<void, std::error_code> r;
  {
    std::stop_callback on_stop(stop, [fd] { ::shutdown(fd, SHUT_RDWR); });
    r = io();
  }  // the callback has run to its end, or will never run
  if (!r && stop.stop_requested()) return fail(Errc::kCancelled);
  return r;
}

}  // namespace

std::expected<void, std::error_code> send_all(int fd, std::span<const std::byte> data,
                                              Deadline deadline, const std::stop_token& stop) {
  return cancellable(fd, stop, [&] { return send_all(fd, data, deadline); });
}

std::expected<void, std::error_code> recv_exact(int fd, std::span<std::byte> buffer,
                                                Deadline deadline, const std::stop_token& stop) {
  return cancellable(fd, stop, [&] { return recv_exact(fd, buffer, deadline); });
}

PeerState peek_peer(int fd) noexcept {
  std::byte b;
  for (;;) {
    ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return PeerState::kReadable;
    if (n == 0) return PeerState::kClosed;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return PeerState::kOpen;
    if (errno != EINTR) return PeerState::kClosed;  // ECONNRESET, EBADF, ...
  }
}

}  // namespace tcppool::net
