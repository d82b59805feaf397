// common/net/endpoint.cpp: parsing "host:port" against one grammar, and resolving it.
#include "common/net/endpoint.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

#include "common/net/error.hpp"

namespace tcppool::net {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool all_digits(std::string_view s) { return !s.empty() && std::ranges::all_of(s, is_digit); }

// Reads a decimal number without sign or leading zeros ("0" itself is fine) that is at most
// `max`; nullopt for anything else.
std::optional<std::uint32_t> parse_decimal(std::string_view text, std::uint32_t max) {
  if (!all_digits(text) || text.size() > 10 || (text.size() > 1 && text.front() == '0')) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : text) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  if (value > max) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

std::expected<std::uint16_t, std::error_code> parse_port(std::string_view text) {
  auto value = parse_decimal(text, 65535);
  if (!value || *value == 0) return fail(Errc::kBadPort);
  return static_cast<std::uint16_t>(*value);
}

// Calls `f` with each "."-separated part of `text` (empty parts included) until it returns
// false; returns false when `f` did.
template <typename F>
bool each_label(std::string_view text, F f) {
  for (;;) {
    auto dot = text.find('.');
    if (!f(text.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    text.remove_prefix(dot + 1);
  }
}

// Dotted quad: exactly four decimal parts 0..255, no leading zeros.
bool is_ipv4(std::string_view host) {
  int parts = 0;
  auto decimal_part = [&parts](std::string_view part) {
    return ++parts <= 4 && parse_decimal(part, 255).has_value();
  };
  return each_label(host, decimal_part) && parts == 4;
}

// True for a label inet_aton() reads as a number: decimal, octal (a leading 0, so decimal
// digits again) or hexadecimal with a 0x prefix.
bool is_inet_aton_number(std::string_view label) {
  if (all_digits(label)) return true;
  return label.size() > 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') &&
         std::ranges::all_of(label.substr(2), is_hex);
}

// An RFC 1123 host name (RFC 3696 section 2): labels of 1..63 letters, digits and hyphens, not
// starting or ending with a hyphen; at most 253 characters; the last label not all digits.
// And not every label an inet_aton() number: getaddrinfo() would take "0x7f.0x1" for
// 127.0.0.1. Checking first keeps a malformed name such as "bad host" or "256.1.1.1" from ever
// reaching the resolver, and so from ever leaving the machine.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view last;
  bool all_numbers = true;
  auto valid_label = [&](std::string_view label) {
    auto ok = [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; };
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        !std::ranges::all_of(label, ok)) {
      return false;
    }
    all_numbers = all_numbers && is_inet_aton_number(label);
    last = label;
    return true;
  };
  return each_label(host, valid_label) && !all_digits(last) && !all_numbers;
}

// What a host is, as views into the text it was parsed from.
struct ParsedHost {
  HostPort::Kind kind;
  std::string_view host;
  std::string_view zone;
};

// "address" or "address%zone", without brackets.
std::optional<ParsedHost> parse_ipv6(std::string_view text) {
  auto percent = text.find('%');
  auto address = text.substr(0, percent);
  auto address_char = [](char c) { return is_hex(c) || c == ':' || c == '.'; };
  if (address.size() >= INET6_ADDRSTRLEN || address.find(':') == std::string_view::npos ||
      !std::ranges::all_of(address, address_char)) {
    return std::nullopt;
  }
  std::string terminated(address);  // the characters are checked: inet_pton sees all of them
  in6_addr unused;
  if (::inet_pton(AF_INET6, terminated.c_str(), &unused) != 1) return std::nullopt;
  std::string_view zone;
  if (percent != std::string_view::npos) {
    zone = text.substr(percent + 1);
    auto zone_char = [](char c) {
      return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '~' || c == '-';
    };
    if (zone.empty() || zone.size() >= IF_NAMESIZE || !std::ranges::all_of(zone, zone_char)) {
      return std::nullopt;
    }
  }
  return ParsedHost{HostPort::Kind::kIpv6, address, zone};
}

// A dotted quad or a name: the hosts that need no brackets.
std::optional<ParsedHost> parse_ipv4_or_name(std::string_view host) {
  if (is_ipv4(host)) return ParsedHost{HostPort::Kind::kIpv4, host, {}};
  if (is_host_name(host)) return ParsedHost{HostPort::Kind::kName, host, {}};
  return std::nullopt;
}

// Returns the interface index a zone names: an interface's name, or else its index.
std::expected<std::uint32_t, std::error_code> zone_index(const std::string& zone) {
  if (unsigned index = ::if_nametoindex(zone.c_str()); index != 0) return index;
  int err = errno == 0 ? ENODEV : errno;
  if (auto index = parse_decimal(zone, std::numeric_limits<std::uint32_t>::max());
      index && *index != 0) {
    return *index;
  }
  return fail_errno(err);
}

class ResolverCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
};

}  // namespace

std::expected<HostPort, std::error_code> HostPort::parse(std::string_view text) {
  // Split into host and port: "[v6]:port" or "host:port".
  std::optional<ParsedHost> host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(Errc::kBadAddress);
    }
    host = parse_ipv6(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(Errc::kBadAddress);
    auto host_text = text.substr(0, colon);
    if (host_text.find(':') != std::string_view::npos) return fail(Errc::kBadAddress);  // IPv6
    host = parse_ipv4_or_name(host_text);
    port_text = text.substr(colon + 1);
  }
  if (!host) return fail(Errc::kBadHost);
  auto port = parse_port(port_text);
  if (!port) return std::unexpected(port.error());
  HostPort out;
  out.kind_ = host->kind;
  out.host_ = host->host;
  out.zone_ = host->zone;
  out.port_ = *port;
  return out;
}

std::expected<HostPort, std::error_code> HostPort::parse_host(std::string_view host,
                                                              std::uint16_t port) {
  std::optional<ParsedHost> parsed;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    parsed = parse_ipv6(host.substr(1, host.size() - 2));
  } else if (host.find(':') != std::string_view::npos) {
    parsed = parse_ipv6(host);
  } else {
    parsed = parse_ipv4_or_name(host);
  }
  if (!parsed) return fail(Errc::kBadHost);
  HostPort out;
  out.kind_ = parsed->kind;
  out.host_ = parsed->host;
  out.zone_ = parsed->zone;
  out.port_ = port;
  return out;
}

std::expected<Endpoint, std::error_code> HostPort::resolve() const {
  Endpoint ep;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.addr_);
  switch (kind_) {
    case Kind::kIpv4:
      // parse() checked the text, so inet_pton cannot fail here: the checks are defensive.
      if (::inet_pton(AF_INET, host_.c_str(), &v4->sin_addr) != 1) return fail(Errc::kBadHost);
      v4->sin_family = AF_INET;
      ep.length_ = sizeof(sockaddr_in);
      break;
    case Kind::kIpv6:
      if (::inet_pton(AF_INET6, host_.c_str(), &v6->sin6_addr) != 1) return fail(Errc::kBadHost);
      if (!zone_.empty()) {
        auto index = zone_index(zone_);
        if (!index) return std::unexpected(index.error());
        v6->sin6_scope_id = *index;
      }
      v6->sin6_family = AF_INET6;
      ep.length_ = sizeof(sockaddr_in6);
      break;
    case Kind::kName: {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* raw = nullptr;
      if (int rc = ::getaddrinfo(host_.c_str(), nullptr, &hints, &raw); rc != 0) {
        return std::unexpected(resolver_error(rc));
      }
      std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(raw, &::freeaddrinfo);
      if (raw == nullptr) return std::unexpected(resolver_error(EAI_NONAME));
      const addrinfo* pick = raw;
      for (const addrinfo* ai = raw; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
          pick = ai;
          break;
        }
      }
      std::memcpy(&ep.addr_, pick->ai_addr, pick->ai_addrlen);
      ep.length_ = pick->ai_addrlen;
      break;
    }
  }
  return ep.with_port(port_);
}

std::string HostPort::to_string() const {
  std::string out;
  if (kind_ == Kind::kIpv6) {
    out.append("[").append(host_);
    if (!zone_.empty()) out.append("%").append(zone_);
    out.append("]");
  } else {
    out.append(host_);
  }
  return out.append(":").append(std::to_string(port_));
}

std::expected<Endpoint, std::error_code> Endpoint::parse(std::string_view text) {
  auto target = HostPort::parse(text);
  if (!target) return std::unexpected(target.error());
  return target->resolve();
}

std::expected<Endpoint, std::error_code> Endpoint::resolve(std::string_view host,
                                                           std::uint16_t port) {
  auto target = HostPort::parse_host(host, port);
  if (!target) return std::unexpected(target.error());
  return target->resolve();
}

Endpoint Endpoint::loopback(std::uint16_t port) noexcept {
  Endpoint ep;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr_);
  v4->sin_family = AF_INET;
  v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep.length_ = sizeof(sockaddr_in);
  return ep.with_port(port);
}

Endpoint Endpoint::with_port(std::uint16_t port) const noexcept {
  Endpoint ep = *this;
  ep.port_ = port;
  if (ep.family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&ep.addr_)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&ep.addr_)->sin_port = htons(port);
  }
  return ep;
}

std::string Endpoint::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  std::string out;
  if (family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr_);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    out.append("[").append(buf);
    if (v6->sin6_scope_id != 0) out.append("%").append(std::to_string(v6->sin6_scope_id));
    out.append("]");
  } else {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr_);
    ::inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    out.append(buf);
  }
  return out.append(":").append(std::to_string(port_));
}

const std::error_category& resolver_category() noexcept {
  static const ResolverCategory category;
  return category;
}

std::error_code resolver_error(int eai, int err) noexcept {
  if (eai == EAI_SYSTEM && err != 0) return {err, std::system_category()};
  return {eai, resolver_category()};
}

std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.append(1, '\\').append(1, c);
    } else if (byte >= 0x20 && byte < 0x7f) {
      out.append(1, c);
    } else {
      out.append("\\x").append(1, kHex[byte >> 4]).append(1, kHex[byte & 0xf]);
    }
  }
  return out.append("\"");
}

}  // namespace tcppool::net
