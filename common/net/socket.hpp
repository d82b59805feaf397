// common/net/socket.hpp: Socket, the one owner of a file descriptor.
//
// Every OS resource in the repository is a move-only RAII type (C++ Core Guidelines R.1, C.21).
// A Socket closes its descriptor when it is destroyed, so an early return, an exception or a
// forgotten branch cannot leak it: the C++ counterpart of Go's `defer conn.Close()`.
#pragma once

#include <unistd.h>

#include <utility>

namespace tcppool::net {

/// Owns one file descriptor and closes it on destruction.
///
///     net::Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
///     if (!s) return fail_errno();
///     use(s.fd());
///     // closed here, on every path out of the scope
///
/// Move-only: moving transfers ownership and leaves the source empty. Not thread-safe; a Socket
/// is owned by one thread at a time, like the connection it wraps.
class Socket {
 public:
  /// Makes an empty socket that owns nothing.
  Socket() noexcept = default;

  /// Takes ownership of `fd`; a negative `fd` makes an empty socket, so
  /// `Socket(::socket(...))` is safe before checking for failure.
  explicit Socket(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}

  /// Closes the descriptor, if any.
  ~Socket() { reset(); }

  /// Takes ownership from `other`, leaving it empty.
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

  /// Closes the descriptor this socket owns, then takes ownership from `other`.
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  /// Returns the descriptor, or -1 when empty. Ownership stays with the Socket.
  int fd() const noexcept { return fd_; }

  /// Returns true when the socket owns a descriptor.
  bool valid() const noexcept { return fd_ >= 0; }

  /// Same as valid().
  explicit operator bool() const noexcept { return valid(); }

  /// Gives up ownership without closing and returns the descriptor (-1 when empty).
  int release() noexcept { return std::exchange(fd_, -1); }

  /// Closes the descriptor now, if any, and leaves the socket empty. On Linux close() releases
  /// the descriptor even when it fails with EINTR, so it is never retried.
  void reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

}  // namespace tcppool::net
