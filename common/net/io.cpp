// common/net/io.cpp: whole-buffer I/O with deadlines.
#include "common/net/io.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "common/net/error.hpp"

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
