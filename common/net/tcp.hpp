// common/net/tcp.hpp: opening TCP connections and setting their options.
//
// dial() is the one place in the repository that opens a client connection, so every stage's
// pool dials the same way and the benchmark can count dials for all of them (dial_count()).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <stop_token>
#include <system_error>

#include "common/net/deadline.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/socket.hpp"

namespace tcppool::net {

/// Connects to `endpoint`, giving up at `deadline`.
///
/// The connect is non-blocking and waited for with poll(), so a peer that never answers the
/// SYN costs at most the deadline (a blocking connect() waits for the kernel's own timeout,
/// more than a minute by default). The returned socket is in blocking mode with close-on-exec
/// set; the I/O functions in io.hpp bound each call with poll() when given a deadline.
///
/// Fails with Errc::kTimeout when the deadline passes first, or with the errno of the failed
/// connect: ECONNREFUSED for a port nobody listens on, EADDRNOTAVAIL when the local ports are
/// used up (often by TIME_WAIT sockets, see docs/stage1-naive.md).
std::expected<Socket, std::error_code> dial(const Endpoint& endpoint,
                                            Deadline deadline = Deadline::never());

/// dial() that also ends when `stop` is requested: the connect waits in
/// wait_ready(fd, POLLOUT, deadline, stop). Fails with Errc::kCancelled, or as dial() does.
std::expected<Socket, std::error_code> dial(const Endpoint& endpoint, Deadline deadline,
                                            const std::stop_token& stop);

/// Resolves `target` (HostPort::resolve()), then connects as above, giving up at `deadline`.
///
/// The lookup happens on every call, so a name that did not resolve a moment ago (the DNS
/// server was down) works as soon as it resolves again, and a name whose address changed is
/// followed. A numeric host costs no lookup. The deadline bounds the connect, not the lookup:
/// getaddrinfo() takes no timeout (HostPort::resolve() says what bounds it); a deadline that
/// passes during the lookup ends the dial with Errc::kTimeout before it connects.
///
/// Fails as HostPort::resolve() does (an error in resolver_category(), such as EAI_NONAME or
/// EAI_AGAIN), or as dial(const Endpoint&, Deadline) does.
std::expected<Socket, std::error_code> dial(const HostPort& target,
                                            Deadline deadline = Deadline::never());

/// The dial of a HostPort that also ends when `stop` is requested. A lookup already under way is
/// not cut short (getaddrinfo() cannot be): the stop ends the dial once it returns.
std::expected<Socket, std::error_code> dial(const HostPort& target, Deadline deadline,
                                            const std::stop_token& stop);

/// Returns how many times dial() has been called in this process (relaxed; diagnostics).
std::uint64_t dial_count() noexcept;

/// Opens a non-blocking listening socket on `endpoint` with SO_REUSEADDR set, so a restarted
/// server can bind its port again while connections it closed are still in TIME_WAIT. Port 0
/// picks a free port; local_port() tells which.
std::expected<Socket, std::error_code> listen_on(const Endpoint& endpoint, int backlog = 1024);

/// Returns the local port a socket is bound to.
std::expected<std::uint16_t, std::error_code> local_port(int fd);

/// Turns Nagle's algorithm off (TCP_NODELAY) or back on. With it on, a small write that
/// follows another, unacknowledged one waits for that acknowledgement.
std::expected<void, std::error_code> set_nodelay(int fd, bool on = true);

/// Returns a descriptor kept in reserve (/dev/null, read-only) for refuse_at_fd_limit(); empty
/// when even that cannot be had.
Socket open_spare_descriptor();

/// What a server does when accept() fails with EMFILE or ENFILE: the connections wait in the
/// backlog and the listener stays readable, so a poll() loop would spin and the clients wait in
/// silence. Gives up `spare`, accepts up to `max` waiting connections on it, closing each at
/// once (the client sees EOF), then takes the spare back. A spare lost on an earlier call is
/// only taken back, and nothing accepted. Returns how many connections it refused.
std::size_t refuse_at_fd_limit(const Socket& listener, Socket& spare, std::size_t max);

/// TCP keepalive settings: after `idle` without traffic the kernel sends a probe every
/// `interval`; after `count` unanswered probes it resets the connection.
struct KeepaliveOptions {
  std::chrono::seconds idle{30};      ///< TCP_KEEPIDLE: quiet time before the first probe.
  std::chrono::seconds interval{10};  ///< TCP_KEEPINTVL: time between probes.
  int count = 3;                      ///< TCP_KEEPCNT: unanswered probes before giving up.
};

/// Turns on TCP keepalive (SO_KEEPALIVE) with the given timing. Fails with EINVAL for values
/// the kernel rejects (zero, or above its limits).
std::expected<void, std::error_code> set_keepalive(int fd, const KeepaliveOptions& options);

/// Sets TCP_USER_TIMEOUT: how long data this end sent may stay unacknowledged before the
/// kernel gives up and resets the connection (ETIMEDOUT). Keepalive probes are not sent while
/// data is in flight, so this is what finds a peer that vanished in the middle of a request.
/// Zero restores the kernel's default. Fails with EINVAL for a negative value or one above
/// INT_MAX milliseconds.
std::expected<void, std::error_code> set_user_timeout(int fd, std::chrono::milliseconds timeout);

/// Sets or clears O_NONBLOCK.
std::expected<void, std::error_code> set_nonblocking(int fd, bool on = true);

/// Sets SO_LINGER to {on, 0 s}, so that close() sends RST instead of FIN and the socket skips
/// TIME_WAIT. The echo server uses it to inject resets; a client should not.
std::expected<void, std::error_code> set_reset_on_close(int fd);

}  // namespace tcppool::net
