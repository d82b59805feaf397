// Tests for common/net/endpoint.hpp: the endpoint grammar (a table of accepted and rejected
// inputs, each with its error), resolving numeric hosts, zones and names, the resolver's error
// category, and quoting bad input for messages.
//
// Name lookups stay on this machine (testing::keep_lookups_local()): no test sends a DNS query.
#include "common/net/endpoint.hpp"

#include <gtest/gtest.h>
#include <net/if.h>
#include <netdb.h>

#include <cstring>
#include <string>
#include <string_view>

#include "common/net/error.hpp"
#include "common/testing/name_service.hpp"

namespace tcppool::net {
namespace {

using namespace std::string_view_literals;
using Kind = HostPort::Kind;

struct Accepted {
  std::string_view text;
  Kind kind;
  std::string_view host;
  std::string_view zone;
  std::uint16_t port;
};

constexpr Accepted kAccepted[] = {
    {"127.0.0.1:7007", Kind::kIpv4, "127.0.0.1", "", 7007},
    {"0.0.0.0:1", Kind::kIpv4, "0.0.0.0", "", 1},
    {"255.255.255.255:65535", Kind::kIpv4, "255.255.255.255", "", 65535},
    {"10.0.100.200:80", Kind::kIpv4, "10.0.100.200", "", 80},
    {"[::1]:80", Kind::kIpv6, "::1", "", 80},
    {"[::]:80", Kind::kIpv6, "::", "", 80},
    {"[2001:DB8::1]:443", Kind::kIpv6, "2001:DB8::1", "", 443},
    {"[::ffff:127.0.0.1]:80", Kind::kIpv6, "::ffff:127.0.0.1", "", 80},
    {"[fe80::1%lo]:80", Kind::kIpv6, "fe80::1", "lo", 80},
    {"[fe80::1%2]:80", Kind::kIpv6, "fe80::1", "2", 80},
    {"[fe80::1%eth0.100]:80", Kind::kIpv6, "fe80::1", "eth0.100", 80},
    {"localhost:9", Kind::kName, "localhost", "", 9},
    {"a:1", Kind::kName, "a", "", 1},
    {"example.com:80", Kind::kName, "example.com", "", 80},
    {"EXAMPLE.Com:80", Kind::kName, "EXAMPLE.Com", "", 80},
    {"xn--bcher-kva.example:80", Kind::kName, "xn--bcher-kva.example", "", 80},
    {"a-b.c-d:80", Kind::kName, "a-b.c-d", "", 80},
    {"123abc:80", Kind::kName, "123abc", "", 80},
    {"1.2.3.example:80", Kind::kName, "1.2.3.example", "", 80},
    {"0x7f.example:80", Kind::kName, "0x7f.example", "", 80},
    {"example.0x7f:80", Kind::kName, "example.0x7f", "", 80},
    {"0xg:80", Kind::kName, "0xg", "", 80},
    {"tcppool-test.invalid:80", Kind::kName, "tcppool-test.invalid", "", 80},
};

struct Rejected {
  std::string_view text;
  Errc error;
};

constexpr Rejected kRejected[] = {
    // Not "host:port" or "[ipv6]:port".
    {"", Errc::kBadAddress},
    {"127.0.0.1", Errc::kBadAddress},
    {"localhost", Errc::kBadAddress},
    {"::1:80", Errc::kBadAddress},  // IPv6 needs brackets, or the port is ambiguous
    {"fe80::1%lo:80", Errc::kBadAddress},
    {"[::1]80", Errc::kBadAddress},
    {"[::1", Errc::kBadAddress},
    {"[::1]", Errc::kBadAddress},
    {"[::1]]:80", Errc::kBadAddress},
    {"[[::1]]:80", Errc::kBadAddress},
    // Ports: decimal 1..65535, no sign, no leading zeros, nothing else.
    {"127.0.0.1:0", Errc::kBadPort},
    {"127.0.0.1:65536", Errc::kBadPort},
    {"127.0.0.1:99999999999", Errc::kBadPort},
    {"127.0.0.1:", Errc::kBadPort},
    {"127.0.0.1:http", Errc::kBadPort},
    {"127.0.0.1:-1", Errc::kBadPort},
    {"127.0.0.1:+80", Errc::kBadPort},
    {"127.0.0.1:80x", Errc::kBadPort},
    {"127.0.0.1: 80", Errc::kBadPort},
    {"127.0.0.1:80 ", Errc::kBadPort},
    {"127.0.0.1:00080", Errc::kBadPort},
    {"127.0.0.1:080", Errc::kBadPort},
    {"127.0.0.1:00", Errc::kBadPort},
    {"127.0.0.1:0x50", Errc::kBadPort},
    {"127.0.0.1:1e3", Errc::kBadPort},
    {"127.0.0.1:80\0"sv, Errc::kBadPort},
    {"[::1]:", Errc::kBadPort},
    {"[::1]:080", Errc::kBadPort},
    {"localhost:00080", Errc::kBadPort},
    // IPv4: dotted quad only. getaddrinfo() would take every one of these as an address.
    {"127.1:80", Errc::kBadHost},
    {"127.0.1:80", Errc::kBadHost},
    {"4294967295:80", Errc::kBadHost},
    {"0x7f000001:80", Errc::kBadHost},
    {"0x7f.0x1:80", Errc::kBadHost},
    {"0X7F.0.0.1:80", Errc::kBadHost},
    {"0.0.0.0x1:80", Errc::kBadHost},
    {"017.0.0.1:80", Errc::kBadHost},
    {"127.0.0.01:80", Errc::kBadHost},
    // IPv4 that is no address at all.
    {"256.1.1.1:80", Errc::kBadHost},
    {"1.2.3.4.5:80", Errc::kBadHost},
    {"127.0.0.1.:80", Errc::kBadHost},
    // NUL, whitespace and other bytes a name may not hold.
    {"127.0.0.1\0.evil.example.com:80"sv, Errc::kBadHost},
    {"localhost\0:80"sv, Errc::kBadHost},
    {"bad host:80", Errc::kBadHost},
    {" localhost:80", Errc::kBadHost},
    {"localhost :80", Errc::kBadHost},
    {"local\thost:80", Errc::kBadHost},
    {"localhost\n:80", Errc::kBadHost},
    {"host_name:80", Errc::kBadHost},
    {"b\u00fccher.example:80", Errc::kBadHost},  // UTF-8: use the xn-- form
    // Names: labels 1..63 of letters, digits and hyphens; no hyphen at either end.
    {":80", Errc::kBadHost},
    {"-leading:80", Errc::kBadHost},
    {"trailing-.example:80", Errc::kBadHost},
    {"a..b:80", Errc::kBadHost},
    {".example:80", Errc::kBadHost},
    {"example.:80", Errc::kBadHost},
    // IPv6: brackets hold an IPv6 address, and nothing else.
    {"[]:80", Errc::kBadHost},
    {"[not-v6]:80", Errc::kBadHost},
    {"[127.0.0.1]:80", Errc::kBadHost},
    {"[localhost]:80", Errc::kBadHost},
    {"[:::1]:80", Errc::kBadHost},
    {"[::g]:80", Errc::kBadHost},
    {"[1:2:3:4:5:6:7:8:9]:80", Errc::kBadHost},
    {"[ ::1]:80", Errc::kBadHost},
    {"[::1\0]:80"sv, Errc::kBadHost},
    {"[[::1]:80", Errc::kBadHost},
    // Zones: 1..15 of letters, digits and . _ ~ -.
    {"[::1%]:80", Errc::kBadHost},
    {"[::1%eth 0]:80", Errc::kBadHost},
    {"[::1%a/b]:80", Errc::kBadHost},
    {"[::1%0123456789abcdef]:80", Errc::kBadHost},
    {"[::1%lo%lo]:80", Errc::kBadHost},
};

// Shows embedded NULs and control characters in a failure message.
std::string show(std::string_view text) { return quoted(text); }

TEST(HostPort, AcceptsTheGrammar) {
  for (const Accepted& a : kAccepted) {
    auto hp = HostPort::parse(a.text);
    ASSERT_TRUE(hp) << show(a.text) << ": " << hp.error().message();
    EXPECT_EQ(hp->kind(), a.kind) << show(a.text);
    EXPECT_EQ(hp->host(), a.host) << show(a.text);
    EXPECT_EQ(hp->zone(), a.zone) << show(a.text);
    EXPECT_EQ(hp->port(), a.port) << show(a.text);
    EXPECT_EQ(hp->to_string(), a.text) << "to_string() gives back the text parse() took";
    EXPECT_EQ(HostPort::parse(hp->to_string()), hp);
  }
  EXPECT_NE(HostPort::parse("[fe80::1%lo]:80"), HostPort::parse("[fe80::1%2]:80"));
  EXPECT_NE(HostPort::parse("localhost:80"), HostPort::parse("localhost:81"));
}

TEST(HostPort, RejectsEverythingElseWithTheRightError) {
  for (const Rejected& r : kRejected) {
    auto hp = HostPort::parse(r.text);
    ASSERT_FALSE(hp) << show(r.text) << " accepted as " << hp->to_string();
    EXPECT_EQ(hp.error(), r.error) << show(r.text) << ": " << hp.error().message();
    // Endpoint::parse() applies the same grammar before it resolves anything.
    auto ep = Endpoint::parse(r.text);
    ASSERT_FALSE(ep) << show(r.text);
    EXPECT_EQ(ep.error(), r.error) << show(r.text);
  }
}

TEST(HostPort, RejectsOverlongLabelsAndNames) {
  std::string label63(63, 'a');
  EXPECT_TRUE(HostPort::parse(label63 + ".example:80"));
  EXPECT_EQ(HostPort::parse(label63 + "a.example:80").error(), Errc::kBadHost);
  std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_TRUE(HostPort::parse(name253 + ":80"));
  EXPECT_EQ(HostPort::parse(name253 + "b:80").error(), Errc::kBadHost);
  EXPECT_TRUE(HostPort::parse("[fe80::1%" + std::string(15, 'z') + "]:80"));
}

// The hole the grammar closes: the C library reads each of these as an IPv4 address (so a
// name check that let them through handed getaddrinfo() an address in disguise), and the
// grammar refuses every one.
TEST(HostPort, RefusesEveryNameTheResolverWouldReadAsAnAddress) {
  for (const char* host : {"0x7f000001", "0x7f.0x1", "127.1", "1.2.3", "017.0.0.1", "0.0.0.0x1",
                           "4294967295", "0X7F.0.0.1"}) {
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST;  // numeric conversion only: never a lookup
    hints.ai_family = AF_INET;
    addrinfo* list = nullptr;
    ASSERT_EQ(::getaddrinfo(host, nullptr, &hints, &list), 0) << host << " is no longer numeric";
    ::freeaddrinfo(list);
    EXPECT_EQ(HostPort::parse(std::string(host) + ":80").error(), Errc::kBadHost) << host;
  }
  // And no name the grammar accepts is an address to the C library.
  for (const Accepted& a : kAccepted) {
    if (a.kind != Kind::kName) continue;
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* list = nullptr;
    std::string host(a.host);
    EXPECT_NE(::getaddrinfo(host.c_str(), nullptr, &hints, &list), 0) << host;
    if (list != nullptr) ::freeaddrinfo(list);
  }
}

TEST(HostPort, ParseHostTakesAHostAlone) {
  struct Case {
    std::string_view host;
    Kind kind;
    std::string_view text;  // to_string() with port 0
  };
  constexpr Case kHosts[] = {
      {"127.0.0.1", Kind::kIpv4, "127.0.0.1:0"},
      {"localhost", Kind::kName, "localhost:0"},
      {"::1", Kind::kIpv6, "[::1]:0"},
      {"[::1]", Kind::kIpv6, "[::1]:0"},
      {"fe80::1%lo", Kind::kIpv6, "[fe80::1%lo]:0"},
      {"[fe80::1%lo]", Kind::kIpv6, "[fe80::1%lo]:0"},
  };
  for (const Case& c : kHosts) {
    auto hp = HostPort::parse_host(c.host, 0);
    ASSERT_TRUE(hp) << c.host << ": " << hp.error().message();
    EXPECT_EQ(hp->kind(), c.kind) << c.host;
    EXPECT_EQ(hp->to_string(), c.text) << c.host;
  }
  constexpr std::string_view kBadHosts[] = {
      "",
      "[::1]:80",
      "127.0.0.1:80",
      "[127.0.0.1]",
      "[localhost]",
      "[::1",
      "::1]",
      "bad host",
      "0x7f000001",
      "127.1",
      "::1%",
      "127.0.0.1\0.evil.example.com"sv,
  };
  for (std::string_view bad : kBadHosts) {
    auto hp = HostPort::parse_host(bad, 7);
    ASSERT_FALSE(hp) << show(bad);
    EXPECT_EQ(hp.error(), Errc::kBadHost) << show(bad);
  }
}

TEST(HostPort, ResolvesNumericHostsWithoutALookup) {
  auto v4 = HostPort::parse("127.0.0.1:7007")->resolve();
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->address_length(), sizeof(sockaddr_in));
  EXPECT_EQ(v4->to_string(), "127.0.0.1:7007");
  auto v6 = HostPort::parse("[::1]:80")->resolve();
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->address_length(), sizeof(sockaddr_in6));
  EXPECT_EQ(v6->to_string(), "[::1]:80");
}

TEST(HostPort, ResolvesAZoneAsAnInterfaceNameOrIndex) {
  auto by_index = HostPort::parse("[fe80::1%1]:80")->resolve();
  ASSERT_TRUE(by_index) << by_index.error().message();
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(by_index->address())->sin6_scope_id, 1u);
  EXPECT_EQ(by_index->to_string(), "[fe80::1%1]:80") << "to_string() keeps the zone";
  unsigned lo = ::if_nametoindex("lo");
  if (lo == 0) GTEST_SKIP() << "no loopback interface named lo";
  auto by_name = HostPort::parse("[fe80::1%lo]:80")->resolve();
  ASSERT_TRUE(by_name) << by_name.error().message();
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(by_name->address())->sin6_scope_id, lo);
}

TEST(HostPort, ZoneNamingNoInterfaceFailsWhenResolved) {
  auto hp = HostPort::parse("[fe80::1%tcppool-noif]:80");
  ASSERT_TRUE(hp) << "the zone is well formed; whether the interface exists is a run-time matter";
  auto ep = hp->resolve();
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error(), std::errc::no_such_device) << ep.error().message();
}

// Needs the system to resolve "localhost" to 127.0.0.1 (an /etc/hosts entry, normally): a
// minimal chroot may have none, and then there is nothing of ours to test.
TEST(HostPort, ResolvesANamePreferringIpv4) {
  if (!testing::resolves_to_ipv4_loopback("localhost")) {
    GTEST_SKIP() << "this system does not resolve localhost to 127.0.0.1 (no /etc/hosts entry?)";
  }
  auto ep = HostPort::parse("localhost:9")->resolve();
  ASSERT_TRUE(ep) << ep.error().message();
  EXPECT_EQ(ep->to_string(), "127.0.0.1:9");
  auto again = Endpoint::parse("localhost:9");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->to_string(), "127.0.0.1:9");
}

// A well-formed name that does not resolve parses (no lookup happens), and fails only when
// resolved, with getaddrinfo()'s own code: a run-time error, not a malformed endpoint.
TEST(HostPort, NameThatDoesNotResolveIsAResolverError) {
  if (!testing::keep_lookups_local()) GTEST_SKIP() << "cannot keep name lookups off DNS here";
  auto hp = HostPort::parse("tcppool-test.invalid:80");  // RFC 6761: .invalid never resolves
  ASSERT_TRUE(hp) << hp.error().message();
  auto ep = hp->resolve();
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().category(), resolver_category()) << ep.error().message();
  EXPECT_EQ(ep.error(), resolver_error(EAI_NONAME)) << ep.error().message();
  EXPECT_NE(ep.error(), Errc::kBadHost);
  EXPECT_EQ(ep.error().message(), ::gai_strerror(EAI_NONAME));
  EXPECT_EQ(Endpoint::parse("tcppool-test.invalid:80").error(), resolver_error(EAI_NONAME));
  EXPECT_EQ(Endpoint::resolve("tcppool-test.invalid", 80).error(), resolver_error(EAI_NONAME));
}

TEST(ResolverCategory, NamesItselfAndUsesGaiStrerror) {
  EXPECT_STREQ(resolver_category().name(), "getaddrinfo");
  for (int eai : {EAI_AGAIN, EAI_NONAME, EAI_FAIL, EAI_MEMORY, EAI_SERVICE}) {
    std::error_code ec = resolver_error(eai);
    EXPECT_EQ(ec.category(), resolver_category());
    EXPECT_EQ(ec.value(), eai);
    EXPECT_EQ(ec.message(), ::gai_strerror(eai));
    EXPECT_TRUE(ec) << "an error code, never success";
  }
  EXPECT_NE(resolver_error(EAI_AGAIN), resolver_error(EAI_NONAME));
}

TEST(ResolverCategory, SystemErrorsCarryErrno) {
  std::error_code ec = resolver_error(EAI_SYSTEM, EMFILE);
  EXPECT_EQ(ec.category(), std::system_category());
  EXPECT_EQ(ec, std::errc::too_many_files_open);
}

TEST(Quoted, EscapesQuotesBackslashesAndUnprintableBytes) {
  EXPECT_EQ(quoted("localhost:80"), "\"localhost:80\"");
  EXPECT_EQ(quoted(""), "\"\"");
  EXPECT_EQ(quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(quoted("127.0.0.1\0.evil:80"sv), R"("127.0.0.1\x00.evil:80")");
  EXPECT_EQ(quoted("\t\n\x7f\xff"), R"("\x09\x0a\x7f\xff")");
}

TEST(Endpoint, ResolveTakesAHostAloneAndPortZero) {
  auto ep = Endpoint::resolve("127.0.0.1", 0);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->port(), 0);
  EXPECT_EQ(ep->with_port(5).port(), 5);
  for (const char* v6 : {"::1", "[::1]"}) {
    auto six = Endpoint::resolve(v6, 7);
    ASSERT_TRUE(six) << v6 << ": " << six.error().message();
    EXPECT_EQ(six->to_string(), "[::1]:7") << v6;
  }
  EXPECT_EQ(Endpoint::resolve("not an address", 0).error(), Errc::kBadHost);
  EXPECT_EQ(Endpoint::resolve("[::1]:80", 0).error(), Errc::kBadHost);
}

TEST(Endpoint, LoopbackAndWithPort) {
  Endpoint ep = Endpoint::loopback(1234);
  EXPECT_EQ(ep.to_string(), "127.0.0.1:1234");
  EXPECT_EQ(ep.with_port(4321).to_string(), "127.0.0.1:4321");
  auto v6 = Endpoint::parse("[::1]:1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->with_port(2).to_string(), "[::1]:2");
}

TEST(Endpoint, ToStringParsesBackToTheSameAddress) {
  for (const char* text : {"127.0.0.1:7007", "[::1]:80", "[fe80::1%1]:443", "[::ffff:1.2.3.4]:9"}) {
    auto ep = Endpoint::parse(text);
    ASSERT_TRUE(ep) << text;
    auto again = Endpoint::parse(ep->to_string());
    ASSERT_TRUE(again) << ep->to_string();
    EXPECT_EQ(again->to_string(), ep->to_string());
    EXPECT_EQ(again->address_length(), ep->address_length());
    EXPECT_EQ(std::memcmp(again->address(), ep->address(), ep->address_length()), 0) << text;
  }
}

}  // namespace
}  // namespace tcppool::net
