// stage5-context-timeouts/health.hpp: how the pool tells a live connection from a dead one.
//
// Technique: three checks, each for what the others cannot see.
//
//   the peek      one recv(MSG_PEEK | MSG_DONTWAIT) before an idle connection is handed out:
//                 sees a FIN or a reset that has already arrived, and bytes nobody asked for
//                 (a protocol out of step); costs one system call and never blocks
//   keepalive     the kernel probes a connection that has been quiet for a while, and resets
//                 it when nothing answers: finds a peer that vanished without FIN or RST (a
//                 machine that lost power, a network that dropped it)
//   a heartbeat   an application-level request on a connection that sits idle: finds a server
//                 that is alive in the kernel (it acknowledges packets) but hung in the
//                 application, which neither of the others can see
//
// New in stage 4.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <optional>
#include <system_error>

#include "common/net/deadline.hpp"
#include "common/net/socket.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::stage5 {

/// A heartbeat: sends one application-level ping on `socket` and waits, until `deadline`, for
/// its reply and for the replies to the `unanswered` earlier pings that timed out on this
/// connection (their replies come first: a request/response protocol answers in order). Returns
/// success once all have come; Errc::kTimeout when the deadline passes first (the pool counts a
/// miss, and keeps the connection out of use until a later probe succeeds or the misses add up);
/// any other error when the connection is broken (the pool closes it at once). Called by the
/// maintenance thread with no lock held; may block until the deadline. A probe must not
/// leave bytes unread that a later user would see.
using Probe = std::function<std::expected<void, std::error_code>(
    const net::Socket& socket, net::Deadline deadline, int unanswered)>;

/// The probe for the echo protocol (the default): sends one byte and reads `unanswered` + 1
/// bytes back, each of which must be that byte. Fails with Errc::kBadReply for any other byte.
std::expected<void, std::error_code> echo_probe(const net::Socket& socket, net::Deadline deadline,
                                                int unanswered);

/// What the peek shows about an idle connection.
enum class Verdict {
  kHealthy,   ///< Nothing to read: the peer is quiet, the connection looks usable.
  kClosed,    ///< The peer closed or reset it.
  kOutOfStep  ///< Bytes are waiting that nobody asked for: a reply nobody read.
};

/// Looks at an idle connection with one non-blocking peek (net::peek_peer()).
Verdict check_idle(const net::Socket& socket) noexcept;

/// Returns true for the errors a stale connection gives on its first request, before any byte
/// of a reply: the server closed it (Errc::kPeerClosed) or reset it (ECONNRESET), or our
/// write found it gone (EPIPE). Errc::kTruncated, a reply cut short, is not one of them.
bool looks_stale(const std::error_code& ec) noexcept;

/// Sets the options every new connection gets: TCP keepalive (when `keepalive` has a value)
/// and TCP_USER_TIMEOUT (when `user_timeout` is positive). Fails with the errno of the first
/// setsockopt() that fails.
std::expected<void, std::error_code> set_liveness_options(
    int fd, const std::optional<net::KeepaliveOptions>& keepalive,
    std::chrono::milliseconds user_timeout);

}  // namespace tcppool::stage5
