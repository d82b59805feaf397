// fuzz/endpoint_fuzz.cpp: fuzz target for net::HostPort::parse() and HostPort::parse_host()
// (common/net/endpoint.hpp), on arbitrary bytes.
//
// The input is the text, whole: parse(text), parse_host(text, 0) and parse_host(text, 7007).
// Beyond not crashing, each call is checked against what endpoint.hpp promises:
//   - parse() fails only with kBadAddress, kBadHost or kBadPort, and with the one the grammar
//     calls for (checked by splitting the text apart here: no ":port" or an unbracketed IPv6
//     address is kBadAddress; else a host parse_host() refuses is kBadHost; else kBadPort);
//     parse_host() fails only with kBadHost;
//   - what parses holds only the grammar's characters (never a NUL, a space or a control byte),
//     and prints back as the text it came from: to_string() parses to an equal value;
//   - an accepted IPv4 host is a dotted quad (four decimal parts 0..255, no leading zeros), the
//     very text inet_ntop() prints for it; an IPv6 host is one inet_pton() takes, its zone 1 to
//     15 of the zone characters; a name is one getaddrinfo() would not read as an address;
//   - resolve() of a numeric host never fails, except with ENODEV for a zone that names no
//     interface, and the Endpoint it gives prints back as an equal address.
// Names are never resolved: getaddrinfo() is replaced below by a check that aborts on any call
// that could send a query, so the fuzzer makes no DNS traffic, and numeric hosts are shown
// never to reach the resolver.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <string_view>

#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"
#include "fuzz/fuzz.hpp"

namespace {

using tcppool::Errc;
using tcppool::fuzz::check;
using tcppool::fuzz::fail;
using tcppool::fuzz::shown;
using tcppool::net::Endpoint;
using tcppool::net::HostPort;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The characters of the grammar in endpoint.hpp: letters, digits and ". - : [ ] % _ ~".
bool in_grammar(char c) { return is_alnum(c) || std::string_view(".-:[]%_~").contains(c); }

// A decimal number without leading zeros, at most `max`; written apart from the parser's own.
bool is_decimal(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned value = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= max;
}

bool is_port(std::string_view s) { return is_decimal(s, 65535) && s != "0"; }

bool is_dotted_quad(std::string_view s) {
  for (int part = 0; part < 4; ++part) {
    auto dot = s.find('.');
    if ((part < 3) == (dot == std::string_view::npos)) return false;
    if (!is_decimal(s.substr(0, dot), 255)) return false;
    s.remove_prefix(part < 3 ? dot + 1 : s.size());
  }
  return true;
}

// The host text parse_host() takes for `hp`: an IPv6 address in brackets, with its zone.
std::string host_text(const HostPort& hp) {
  if (hp.kind() != HostPort::Kind::kIpv6) return hp.host();
  return "[" + hp.host() + (hp.zone().empty() ? "" : "%" + hp.zone()) + "]";
}

void check_ipv4(const HostPort& hp) {
  if (!is_dotted_quad(hp.host()))
    fail("an IPv4 host that is not a dotted quad: " + shown(hp.host()));
  in_addr addr{};
  check(::inet_pton(AF_INET, hp.host().c_str(), &addr) == 1, "inet_pton refuses an IPv4 host");
  char printed[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &addr, printed, sizeof printed);
  if (hp.host() != printed) fail("an IPv4 host inet_ntop() prints otherwise: " + shown(hp.host()));
  check(hp.zone().empty(), "an IPv4 host with a zone");
}

void check_ipv6(const HostPort& hp) {
  in6_addr addr{};
  if (::inet_pton(AF_INET6, hp.host().c_str(), &addr) != 1)
    fail("inet_pton refuses an IPv6 host: " + shown(hp.host()));
  const std::string& zone = hp.zone();
  if (zone.size() > 15) fail("a zone longer than 15 characters: " + shown(zone));
  for (char c : zone) {
    if (!is_alnum(c) && !std::string_view("._~-").contains(c))
      fail("a zone character: " + shown(zone));
  }
}

// Whether getaddrinfo() reads `host` as a numeric address, asked without any lookup.
bool getaddrinfo_reads_as_address(const std::string& host) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (list != nullptr) ::freeaddrinfo(list);
  return rc == 0;
}

void check_name(const HostPort& hp) {
  const std::string& name = hp.host();
  if (name.empty() || name.size() > 253) fail("a name of length " + std::to_string(name.size()));
  std::string_view rest = name;
  for (;;) {
    auto label = rest.substr(0, rest.find('.'));
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      fail("a name with a malformed label: " + shown(name));
    for (char c : label) {
      if (!is_alnum(c) && c != '-') fail("a name character: " + shown(name));
    }
    if (label.size() == rest.size()) break;
    rest.remove_prefix(label.size() + 1);
  }
  // The point of the name rules: what is resolved as a name is never taken for an address.
  in_addr v4{};
  if (::inet_aton(name.c_str(), &v4) != 0) fail("inet_aton() reads a name as IPv4: " + shown(name));
  check(!getaddrinfo_reads_as_address(name), "getaddrinfo() reads a name as an address");
  check(hp.zone().empty(), "a name with a zone");
}

void check_resolve(const HostPort& hp) {
  if (hp.kind() == HostPort::Kind::kName) return;  // a lookup: never from the fuzzer
  auto ep = hp.resolve();
  if (!ep) {
    if (hp.zone().empty() || ep.error() != std::error_code(ENODEV, std::system_category()))
      fail("resolve() of " + shown(hp.to_string()) + " failed: " + ep.error().message());
    return;
  }
  int family = hp.kind() == HostPort::Kind::kIpv4 ? AF_INET : AF_INET6;
  check(ep->family() == family && ep->port() == hp.port(), "resolve() changed family or port");
  if (hp.port() == 0) return;  // parse() takes no port 0
  auto again = Endpoint::parse(ep->to_string());
  if (!(again.has_value() && again->address_length() == ep->address_length() &&
        std::memcmp(again->address(), ep->address(), ep->address_length()) == 0))
    fail("Endpoint " + shown(ep->to_string()) + " does not parse back to the same address");
}

// Everything an accepted value promises, whichever call accepted it.
void check_accepted(const HostPort& hp) {
  for (char c : hp.to_string()) {
    if (!in_grammar(c)) fail("accepted a character outside the grammar: " + shown(hp.to_string()));
  }
  switch (hp.kind()) {
    case HostPort::Kind::kIpv4:
      check_ipv4(hp);
      break;
    case HostPort::Kind::kIpv6:
      check_ipv6(hp);
      break;
    case HostPort::Kind::kName:
      check_name(hp);
      break;
  }
  auto again = HostPort::parse_host(host_text(hp), hp.port());
  if (!again || *again != hp) fail("parse_host(host) differs for " + shown(host_text(hp)));
  if (hp.port() != 0) {
    auto parsed = HostPort::parse(hp.to_string());
    if (!parsed || *parsed != hp) fail("to_string() does not parse back: " + shown(hp.to_string()));
  }
  check_resolve(hp);
}

// The host and port parts of a "host:port" as endpoint.hpp defines them, or nothing for text
// that has neither form (which parse() must refuse with kBadAddress).
struct Parts {
  bool ok = false;
  std::string_view host;  // "[...]" kept for IPv6
  std::string_view port;
};

Parts split(std::string_view text) {
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") return {};
    return {true, text.substr(0, close + 1), text.substr(close + 2)};
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return {};
  auto host = text.substr(0, colon);
  if (host.contains(':')) return {};  // an IPv6 address without brackets
  return {true, host, text.substr(colon + 1)};
}

void check_parse(std::string_view text) {
  auto hp = HostPort::parse(text);
  Parts parts = split(text);
  Errc expected = Errc::kBadAddress;
  if (parts.ok) {
    auto host = HostPort::parse_host(parts.host, 1);
    expected = !host ? Errc::kBadHost : !is_port(parts.port) ? Errc::kBadPort : Errc{};
  }
  if (hp) {
    if (expected != Errc{}) fail("parse() accepted " + shown(text));
    if (hp->to_string() != text)
      fail("parse() accepted a spelling it does not print: " + shown(text) + " prints " +
           shown(hp->to_string()));
    check_accepted(*hp);
    return;
  }
  if (expected == Errc{}) fail("parse() refused " + shown(text) + ": " + hp.error().message());
  if (hp.error() != tcppool::make_error_code(expected))
    fail("parse(" + shown(text) + ") failed with " + hp.error().message() + ", not " +
         tcppool::make_error_code(expected).message());
}

void check_parse_host(std::string_view text, std::uint16_t port) {
  auto hp = HostPort::parse_host(text, port);
  if (!hp) {
    if (hp.error() != Errc::kBadHost) fail("parse_host() failed with " + hp.error().message());
    return;
  }
  check(hp->port() == port, "parse_host() changed the port");
  check_accepted(*hp);
}

}  // namespace

// Replaces the C library's getaddrinfo() in this program: a call that may query a name server
// aborts; one with AI_NUMERICHOST, which only converts text, goes on to the real function.
extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) {
  if (hints == nullptr || (hints->ai_flags & AI_NUMERICHOST) == 0) {
    fail("getaddrinfo() would look up " + shown(node != nullptr ? node : "(null)"));
  }
  using Real = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static const auto real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "getaddrinfo"));
  check(real != nullptr, "the C library's getaddrinfo() not found");
  return real(node, service, hints, res);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_parse(text);
  check_parse_host(text, 0);
  check_parse_host(text, 7007);
  return 0;
}
