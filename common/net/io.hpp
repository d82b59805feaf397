// common/net/io.hpp: whole-buffer I/O with deadlines, and the peer-closed check.
//
// send() and recv() may transfer fewer bytes than asked, fail with EINTR, or (on a
// non-blocking socket) with EAGAIN. These functions hide all three and add what Go's
// SetReadDeadline gives: each call tries the transfer first and, only when the socket is not
// ready, waits in poll() for readiness or the deadline, whichever comes first.
//
// Every send uses MSG_NOSIGNAL: writing to a connection the peer has reset fails with EPIPE
// instead of killing the process with SIGPIPE, and no process-wide signal setting is needed.
#pragma once

#include <poll.h>

#include <cstddef>
#include <expected>
#include <span>
#include <system_error>

#include "common/net/deadline.hpp"

namespace tcppool::net {

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or the deadline passes, restarting
/// after signals. Returns the revents poll() reported, which may include POLLERR or POLLHUP
/// (the next recv or send then reports the error). Fails with Errc::kTimeout, or EBADF for a
/// descriptor that is not open.
std::expected<short, std::error_code> wait_ready(int fd, short events, Deadline deadline);

/// Sends all of `data`, blocking until done, an error, or the deadline. Fails with
/// Errc::kTimeout (part of the data may have been sent: the connection is then unusable), or
/// with EPIPE / ECONNRESET when the peer is gone.
std::expected<void, std::error_code> send_all(int fd, std::span<const std::byte> data,
                                              Deadline deadline = Deadline::never());

/// Receives exactly `buffer.size()` bytes. Fails with Errc::kPeerClosed when the peer closes
/// (EOF) before any byte arrives, Errc::kTruncated when the connection ends (EOF or a reset)
/// after some have, Errc::kTimeout when the deadline passes first (part of the buffer may have
/// been filled), or with the errno of the failed recv, such as ECONNRESET, when nothing came.
/// kPeerClosed and kTruncated tell a connection that was already gone from a reply cut short:
/// stage 4 retries an idempotent request only for the first.
std::expected<void, std::error_code> recv_exact(int fd, std::span<std::byte> buffer,
                                                Deadline deadline = Deadline::never());

/// What one non-blocking look at an idle connection shows.
enum class PeerState {
  kOpen,      ///< Nothing to read: the peer is quiet and the connection looks usable.
  kClosed,    ///< The peer closed (EOF) or reset the connection.
  kReadable,  ///< Bytes are waiting that nobody asked for: a protocol out of step.
};

/// Looks at `fd` with one recv(MSG_PEEK | MSG_DONTWAIT) of one byte: a single system call that
/// never blocks and consumes nothing. It sees a FIN or RST that has already arrived; it cannot
/// see a peer that vanished without sending either (TCP keepalive and heartbeats cover that).
PeerState peek_peer(int fd) noexcept;

/// Returns true when peek_peer(fd) reports the peer closed or reset the connection.
inline bool peer_closed(int fd) noexcept { return peek_peer(fd) == PeerState::kClosed; }

}  // namespace tcppool::net
