// common/net/endpoint.hpp: HostPort, a parsed "host:port"; Endpoint, a resolved one; and the
// error category of failed name lookups.
//
// Parsing and resolving are separate steps. HostPort::parse() checks the text against one
// grammar and never blocks, so an invalid endpoint is caught where it is configured. Resolving
// turns it into an address: at once for a numeric host, with getaddrinfo() for a name. A name's
// lookup can fail for a while (the DNS server is down) and then work again, so code that keeps
// an endpoint for a long time, such as a pool, keeps the HostPort and resolves it when it dials.
//
// The grammar (anything else is refused, NUL bytes and whitespace included):
//
//   endpoint  = ipv4 ":" port | name ":" port | "[" ipv6 "]" ":" port
//   ipv4      = four decimal parts 0..255 separated by ".", no leading zeros ("10.0.0.1")
//   ipv6      = an address in RFC 4291 text form, then optionally "%" and a zone: an
//               interface name or index, 1 to 15 of A-Z a-z 0-9 . _ ~ - ("fe80::1%eth0")
//   name      = an RFC 1123 host name: labels of 1 to 63 letters, digits and hyphens, not
//               starting or ending with a hyphen, joined by "."; at most 253 characters; no
//               trailing "."; the last label not all digits, and not every label a number in
//               the C library's inet_aton() sense (so "0x7f000001", "0x7f.0x1", "127.1" and
//               "017.0.0.1", which getaddrinfo() would read as addresses, are refused)
//   port      = a decimal number 1..65535 without leading zeros ("80", not "080")
//
// A host given alone (HostPort::parse_host(), the echo server's --address) takes the same
// forms, and an IPv6 address there may also go without brackets ("::1" or "[::1]").
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>

namespace tcppool::net {

class Endpoint;

/// A "host:port" checked against the grammar above, not yet resolved.
///
///     auto target = net::HostPort::parse("db.example.com:7007");  // never blocks
///     if (!target) return std::unexpected(target.error());        // Errc::kBadHost, ...
///     auto ep = target->resolve();  // getaddrinfo(): may block, may fail for a while
///
/// A value type, thread-compatible.
class HostPort {
 public:
  /// What the host is.
  enum class Kind {
    kIpv4,  ///< A dotted-quad IPv4 address.
    kIpv6,  ///< An IPv6 address, possibly with a zone.
    kName,  ///< A host name, to be looked up.
  };

  /// Parses "host:port", "[ipv6]:port" or "[ipv6%zone]:port". Syntax only: never blocks and
  /// never looks anything up. Fails with Errc::kBadAddress when `text` is not of one of these
  /// forms (no ":port", or an IPv6 address without brackets), Errc::kBadHost when the host
  /// does not follow the grammar, and Errc::kBadPort when the port does not.
  static std::expected<HostPort, std::error_code> parse(std::string_view text);

  /// Parses a host given alone ("127.0.0.1", "localhost", "::1", "[::1]", "fe80::1%eth0") and
  /// pairs it with `port`. Port 0 is allowed here, for listening on any free port. Fails with
  /// Errc::kBadHost.
  static std::expected<HostPort, std::error_code> parse_host(std::string_view host,
                                                             std::uint16_t port);

  /// Returns the address to connect to or bind. A numeric host is converted in place; a zone
  /// is looked up with if_nametoindex(), or read as an interface index, and fails with ENODEV
  /// when it is neither. A name is resolved with getaddrinfo(), preferring an IPv4 address
  /// (the echo server listens on 127.0.0.1 by default), and fails with an error in
  /// resolver_category(): EAI_NONAME when the name does not exist, EAI_AGAIN when the name
  /// server did not answer; try again later, a name that fails now may resolve then.
  ///
  /// Blocks for a name, and nothing here bounds for how long: getaddrinfo() takes no timeout
  /// and cannot be cancelled. A name in /etc/hosts resolves at once. A query to DNS waits for
  /// an answer up to the resolver's `timeout` (resolv.conf(5); 5 s by default), longer at the
  /// second and third name server, for each of its `attempts` (2), and a name that fails is
  /// tried again with each search-list domain: with the defaults and one name server that
  /// does not answer, a lookup fails after about 10 s. `options timeout:1 attempts:1` in
  /// resolv.conf, or in the RES_OPTIONS environment variable, shortens that.
  std::expected<Endpoint, std::error_code> resolve() const;

  /// Returns what the host is.
  Kind kind() const noexcept { return kind_; }

  /// Returns the host without brackets or zone: "127.0.0.1", "fe80::1", "localhost".
  const std::string& host() const noexcept { return host_; }

  /// Returns the zone of an IPv6 address ("eth0" in "[fe80::1%eth0]:80"), or "".
  const std::string& zone() const noexcept { return zone_; }

  /// Returns the port.
  std::uint16_t port() const noexcept { return port_; }

  /// Returns the text parse() takes: "127.0.0.1:7007", "[fe80::1%eth0]:80", "localhost:9".
  std::string to_string() const;

  /// Compares kind, host, zone and port.
  friend bool operator==(const HostPort&, const HostPort&) = default;

 private:
  HostPort() = default;

  Kind kind_ = Kind::kName;
  std::string host_;
  std::string zone_;
  std::uint16_t port_ = 0;
};

/// A resolved TCP address to dial or listen on.
///
///     auto ep = net::Endpoint::parse("127.0.0.1:7007");
///     if (!ep) return std::unexpected(ep.error());  // message(): "bad port: ..."
///
/// A value type, thread-compatible.
class Endpoint {
 public:
  /// Parses `text` as HostPort::parse() does, then resolves it as HostPort::resolve() does,
  /// failing as they do. Code that keeps an endpoint for long should keep the HostPort, and
  /// resolve it again each time it needs the address.
  static std::expected<Endpoint, std::error_code> parse(std::string_view text);

  /// Parses `host` as HostPort::parse_host() does (an IPv6 address with or without brackets;
  /// port 0 allowed, for listening on any free port), then resolves it, failing as
  /// HostPort::resolve() does.
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

  /// Returns the numeric address and port, in a form parse() takes: "127.0.0.1:7007",
  /// "[::1]:7007", or "[fe80::1%2]:7007" (an IPv6 zone as its interface index).
  std::string to_string() const;

 private:
  friend class HostPort;
  Endpoint() = default;

  sockaddr_storage addr_{};
  socklen_t length_ = 0;
  std::uint16_t port_ = 0;
};

/// Returns the category of failed getaddrinfo() calls, as Asio's addrinfo category: name()
/// "getaddrinfo", value() the EAI_* code (EAI_NONAME, EAI_AGAIN, ...), message() the text of
/// gai_strerror(). Compare with `ec == net::resolver_error(EAI_AGAIN)`.
const std::error_category& resolver_category() noexcept;

/// Returns getaddrinfo()'s result `eai` as an error code: in resolver_category(), except
/// EAI_SYSTEM, which becomes `err` (errno) in std::system_category() unless `err` is 0.
std::error_code resolver_error(int eai, int err = errno) noexcept;

/// Returns `text` in double quotes for an error message, with `"` and `\` escaped and every
/// byte that is not printable ASCII written as \xNN, so that a NUL or a control character in
/// bad input shows in the message instead of cutting it short or hiding.
std::string quoted(std::string_view text);

}  // namespace tcppool::net
