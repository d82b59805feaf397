// stage5-context-timeouts/health.cpp: the peek, the echo heartbeat, and liveness options.
#include "health.hpp"

#include <cerrno>
#include <cstddef>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"

namespace tcppool::stage5 {
namespace {

constexpr std::byte kPing{0x5a};

}  // namespace

// [echo_probe]
std::expected<void, std::error_code> echo_probe(const net::Socket& socket, net::Deadline deadline,
                                                int unanswered) {
  if (auto sent = net::send_all(socket.fd(), {&kPing, 1}, deadline); !sent) return sent;
  std::vector<std::byte> replies(static_cast<std::size_t>(unanswered) + 1);
  if (auto got = net::recv_exact(socket.fd(), replies, deadline); !got) return got;
  for (std::byte b : replies) {
    if (b != kPing) return fail(Errc::kBadReply);
  }
  return {};
}
// [echo_probe]

// [check_idle]
Verdict check_idle(const net::Socket& socket) noexcept {
  switch (net::peek_peer(socket.fd())) {
    case net::PeerState::kOpen:
      return Verdict::kHealthy;
    case net::PeerState::kReadable:
      return Verdict::kOutOfStep;
    case net::PeerState::kClosed:
      break;
  }
  return Verdict::kClosed;
}
// [check_idle]

bool looks_stale(const std::error_code& ec) noexcept {
  return ec == Errc::kPeerClosed || ec == std::errc::connection_reset ||
         ec == std::errc::broken_pipe;
}

std::expected<void, std::error_code> set_liveness_options(
    int fd, const std::optional<net::KeepaliveOptions>& keepalive,
    std::chrono::milliseconds user_timeout) {
  if (keepalive) {
    if (auto r = net::set_keepalive(fd, *keepalive); !r) return r;
  }
  if (user_timeout.count() > 0) return net::set_user_timeout(fd, user_timeout);
  return {};
}

}  // namespace tcppool::stage5
