// common/net/endpoint.hpp: Endpoint, a parsed and resolved "host:port".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>

namespace tcppool::net {

/// A TCP address to dial or listen on, parsed once so that every dial reuses the result.
///
///     auto ep = net::Endpoint::parse("127.0.0.1:7007");
///     if (!ep) return std::unexpected(ep.error());  // message(): "bad port: ..."
///
/// Accepts "host:port" and "[ipv6-address]:port". A numeric address is used as is; a name
/// ("localhost") is resolved with getaddrinfo() when parsed, preferring an IPv4 address (the
/// echo server listens on 127.0.0.1 by default). A value type, thread-compatible.
class Endpoint {
 public:
  /// Parses and resolves `text`. Fails with Errc::kBadAddress when it is not of the form above,
  /// Errc::kBadPort when the port is not a decimal number in 1..65535, and Errc::kBadHost when
  /// the host is neither an address nor a valid name, or does not resolve. Names are checked
  /// before they are resolved, so a malformed one never reaches the resolver.
  static std::expected<Endpoint, std::error_code> parse(std::string_view text);

  /// Resolves `host` (an address, or a name as in parse(); IPv6 without brackets) with the
  /// given port. Port 0 is allowed here, for listening on any free port. Fails with
  /// Errc::kBadHost.
  static std::expected<Endpoint, std::error_code> resolve(std::string_view host,
                                                          std::uint16_t port);

  /// Returns 127.0.0.1:`port`. REQUIRES: port != 0 to dial (port 0 is fine to listen on).
  static Endpoint loopback(std::uint16_t port) noexcept;

  /// Returns a copy with the port replaced.
  Endpoint with_port(std::uint16_t port) const noexcept;

  /// Returns the socket address, for connect() and bind().
  const sockaddr* address() const noexcept { return reinterpret_cast<const sockaddr*>(&addr_); }

  /// Returns the length of address().
  socklen_t address_length() const noexcept { return length_; }

  /// Returns AF_INET or AF_INET6.
  int family() const noexcept { return addr_.ss_family; }

  /// Returns the port, in host byte order.
  std::uint16_t port() const noexcept { return port_; }

  /// Returns the numeric address and port: "127.0.0.1:7007" or "[::1]:7007".
  std::string to_string() const;

 private:
  Endpoint() = default;

  sockaddr_storage addr_{};
  socklen_t length_ = 0;
  std::uint16_t port_ = 0;
};

}  // namespace tcppool::net
