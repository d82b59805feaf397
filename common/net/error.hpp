// common/net/error.hpp: the repository's error model.
//
// Everything that can fail at run time returns std::expected<T, std::error_code>, which reads
// like Go's `conn, err := pool.Get()`. A failed system call carries its errno in
// std::system_category(). The outcomes that are not errno values (a deadline that passed, a
// wait the caller cancelled, a closed or exhausted pool, a malformed "host:port") carry an Errc
// in tcppool::error_category(), so a caller can tell "the pool's deadline passed"
// (Errc::kTimeout) from "the kernel gave up on the peer" (ETIMEDOUT), and "the pool was closed"
// (Errc::kPoolClosed) from a bad file descriptor (EBADF). A name that does not resolve carries
// getaddrinfo()'s EAI_* code in net::resolver_category() (endpoint.hpp): a run-time outcome,
// unlike a malformed "host:port", which is a mistake in the configuration.
//
// Exceptions are kept for programming errors only, such as invalid options handed to a
// constructor, and then carry a message that names the option and the reason.
#pragma once

#include <cerrno>
#include <expected>
#include <system_error>
#include <type_traits>

namespace tcppool {

/// Run-time outcomes that are not errno values. Compare with `ec == tcppool::Errc::kTimeout`.
enum class Errc {
  kTimeout = 1,        ///< A deadline passed before the operation completed.
  kCancelled,          ///< The caller cancelled the wait.
  kPoolClosed,         ///< The pool was closed before or during the call.
  kPoolExhausted,      ///< Every connection is in use and the pool may open no more.
  kAcquireTimeout,     ///< An acquire's deadline passed before a connection was ready for it.
  kPoolDraining,       ///< The pool is draining (or has drained): it hands out no connections.
  kChannelClosed,      ///< A send to a closed channel, or a receive from a closed, empty one.
  kChannelFull,        ///< A non-blocking send found the channel full.
  kChannelEmpty,       ///< A non-blocking receive found the channel empty.
  kPeerClosed,         ///< The peer closed the connection before any of the expected bytes came.
  kTruncated,          ///< The connection ended (EOF or reset) after part of a message had come.
  kBadReply,           ///< The peer answered with bytes other than the ones expected.
  kBadAddress,         ///< An endpoint is not of the form "host:port" or "[v6-address]:port".
  kBadHost,            ///< A host is not an address or a name in the grammar of endpoint.hpp.
  kBadPort,            ///< A port is not a decimal number in 1..65535 without leading zeros.
  kServerUnavailable,  ///< Recent dials all failed: the pool fails fast for a while.
};

/// Returns the category of Errc values; its name() is "tcppool".
const std::error_category& error_category() noexcept;

/// Makes an error code of the tcppool category. Found by argument-dependent lookup, so an Errc
/// converts to std::error_code implicitly.
std::error_code make_error_code(Errc e) noexcept;

/// Returns `std::unexpected` holding `e`: `return fail(Errc::kTimeout);` in a function that
/// returns std::expected.
inline std::unexpected<std::error_code> fail(Errc e) noexcept {
  return std::unexpected(make_error_code(e));
}

/// Returns `std::unexpected` holding the errno value `err` in the system category.
inline std::unexpected<std::error_code> fail_errno(int err = errno) noexcept {
  return std::unexpected(std::error_code(err, std::system_category()));
}

}  // namespace tcppool

/// Lets an Errc convert to std::error_code and compare equal to one.
template <>
struct std::is_error_code_enum<tcppool::Errc> : std::true_type {};
