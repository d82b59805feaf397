// common/net/endpoint.cpp: parsing and resolving "host:port".
#include "common/net/endpoint.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

#include "common/net/error.hpp"

namespace tcppool::net {
namespace {

// Parses a decimal port in 1..65535.
std::expected<std::uint16_t, std::error_code> parse_port(std::string_view text) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value == 0 || value > 65535) {
    return fail(Errc::kBadPort);
  }
  return static_cast<std::uint16_t>(value);
}

// Returns true when `host` is a syntactically valid DNS name (RFC 1123, RFC 3696 section 2):
// dot-separated labels of letters, digits and hyphens, and a last label that is not all digits.
// Checking first keeps a malformed name such as "bad host" or "256.1.1.1" from ever reaching the
// resolver, and so from ever leaving the machine.
bool valid_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view last;
  while (!host.empty()) {
    auto dot = host.find('.');
    auto label = host.substr(0, dot);
    host = dot == std::string_view::npos ? std::string_view() : host.substr(dot + 1);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    auto ok = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    };
    if (!std::ranges::all_of(label, ok)) return false;
    last = label;
    if (dot == std::string_view::npos) break;
  }
  return !std::ranges::all_of(last, [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::expected<Endpoint, std::error_code> Endpoint::parse(std::string_view text) {
  // Split into host and port: "[v6]:port" or "host:port".
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(Errc::kBadAddress);
    }
    host = text.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos) return fail(Errc::kBadHost);  // not IPv6
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(Errc::kBadAddress);
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail(Errc::kBadAddress);  // bare IPv6
  }
  auto port = parse_port(port_text);
  if (!port) return std::unexpected(port.error());
  return resolve(host, *port);
}

std::expected<Endpoint, std::error_code> Endpoint::resolve(std::string_view host,
                                                           std::uint16_t port) {
  if (host.empty()) return fail(Errc::kBadHost);
  std::string host_z(host);  // inet_pton and getaddrinfo need a terminated string
  Endpoint ep;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.addr_);
  if (::inet_pton(AF_INET, host_z.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    ep.length_ = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host_z.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    ep.length_ = sizeof(sockaddr_in6);
  } else {
    if (!valid_host_name(host)) return fail(Errc::kBadHost);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* raw = nullptr;
    if (::getaddrinfo(host_z.c_str(), nullptr, &hints, &raw) != 0 || raw == nullptr) {
      return fail(Errc::kBadHost);
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(raw, &::freeaddrinfo);
    const addrinfo* pick = raw;
    for (const addrinfo* ai = raw; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET) {
        pick = ai;
        break;
      }
    }
    std::memcpy(&ep.addr_, pick->ai_addr, pick->ai_addrlen);
    ep.length_ = pick->ai_addrlen;
  }
  return ep.with_port(port);
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
    out.append("[").append(buf).append("]");
  } else {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr_);
    ::inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    out.append(buf);
  }
  return out.append(":").append(std::to_string(port_));
}

}  // namespace tcppool::net
