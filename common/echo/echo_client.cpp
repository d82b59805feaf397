// common/echo/echo_client.cpp: one verified echo round trip.
#include "common/echo/echo_client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "common/net/error.hpp"
#include "common/net/io.hpp"

namespace tcppool::echo {

void fill_pattern(std::span<std::byte> buffer, std::uint64_t seed) noexcept {
  // splitmix64: cheap, and every seed gives a different sequence.
  std::uint64_t state = seed;
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < buffer.size(); ++i) {
    if (i % 8 == 0) {
      state += 0x9e3779b97f4a7c15ULL;
      word = state;
      word = (word ^ (word >> 30)) * 0xbf58476d1ce4e5b9ULL;
      word = (word ^ (word >> 27)) * 0x94d049bb133111ebULL;
      word ^= word >> 31;
    }
    buffer[i] = static_cast<std::byte>(word >> (8 * (i % 8)));
  }
}

namespace {

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// Sends all of `rest` while receiving into `reply` what has come back meanwhile, and returns
// how many reply bytes that was. Every send and receive is non-blocking; when neither moves a
// byte, waits in poll() until the socket is writable, or readable while the reply has room, or
// the deadline passes. Never asks for POLLIN once the reply is full: a peer that sent too much
// would otherwise make poll() return at once, again and again.
std::expected<std::size_t, std::error_code> send_while_receiving(int fd,
                                                                 std::span<const std::byte> rest,
                                                                 std::span<std::byte> reply,
                                                                 net::Deadline deadline) {
  std::size_t got = 0;
  while (!rest.empty()) {
    bool moved = false;
    ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      rest = rest.subspan(static_cast<std::size_t>(n));
      moved = true;
    } else if (n < 0 && !would_block(errno)) {
      return got > 0 ? fail(Errc::kTruncated) : fail_errno();
    }
    if (got < reply.size()) {
      ssize_t m = ::recv(fd, reply.data() + got, reply.size() - got, MSG_DONTWAIT);
      if (m > 0) {
        got += static_cast<std::size_t>(m);
        moved = true;
      } else if (m == 0) {
        return fail(got > 0 ? Errc::kTruncated : Errc::kPeerClosed);
      } else if (!would_block(errno)) {
        return got > 0 ? fail(Errc::kTruncated) : fail_errno();
      }
    }
    if (moved) {
      if (deadline.expired()) return fail(Errc::kTimeout);  // a trickle must not outlast it
      continue;
    }
    short events = POLLOUT | (got < reply.size() ? POLLIN : 0);
    if (auto ready = net::wait_ready(fd, events, deadline); !ready) {
      return std::unexpected(ready.error());
    }
  }
  return got;
}

}  // namespace

std::expected<void, std::error_code> round_trip(int fd, std::span<const std::byte> request,
                                                std::span<std::byte> reply,
                                                net::Deadline deadline) {
  assert(reply.size() == request.size());
  if (request.empty()) return {};
  // The fast path, for every request the kernel takes in one go (all but large ones): one send,
  // then recv_exact(), the same system calls as a plain send-then-receive. The send never
  // blocks, so a request too large for the socket buffer comes back partly sent instead of
  // waiting for room that only the peer's reading, and so this thread's, can make.
  ssize_t n = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && !would_block(errno)) return fail_errno();
  std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
  std::size_t got = 0;
  if (sent < request.size()) {
    // The slow path: the echo of the first bytes must be read while the rest is sent, or
    // both sides' buffers fill and each waits for the other for good.
    auto early = send_while_receiving(fd, request.subspan(sent), reply, deadline);
    if (!early) return std::unexpected(early.error());
    got = *early;
  }
  if (auto rest = net::recv_exact(fd, reply.subspan(got), deadline); !rest) {
    // Part of the echo came while sending: the connection ending now cuts the reply short.
    bool ended =
        rest.error() == Errc::kPeerClosed || rest.error().category() == std::system_category();
    if (got > 0 && ended) return fail(Errc::kTruncated);
    return rest;
  }
  if (!std::ranges::equal(request, reply)) return fail(Errc::kBadReply);
  return {};
}

}  // namespace tcppool::echo
