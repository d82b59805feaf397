// Tests for common/net/endpoint.hpp: parsing "host:port".
#include "common/net/endpoint.hpp"

#include <gtest/gtest.h>
#include <netdb.h>

#include "common/net/error.hpp"

namespace tcppool::net {
namespace {

TEST(Endpoint, ParsesIpv4) {
  auto ep = Endpoint::parse("127.0.0.1:7007");
  ASSERT_TRUE(ep) << ep.error().message();
  EXPECT_EQ(ep->family(), AF_INET);
  EXPECT_EQ(ep->port(), 7007);
  EXPECT_EQ(ep->address_length(), sizeof(sockaddr_in));
  EXPECT_EQ(ep->to_string(), "127.0.0.1:7007");
}

TEST(Endpoint, ParsesBracketedIpv6) {
  auto ep = Endpoint::parse("[::1]:80");
  ASSERT_TRUE(ep) << ep.error().message();
  EXPECT_EQ(ep->family(), AF_INET6);
  EXPECT_EQ(ep->port(), 80);
  EXPECT_EQ(ep->to_string(), "[::1]:80");
}

// Needs the system to resolve "localhost" (an /etc/hosts entry, normally): a minimal chroot
// may have none, and then there is nothing of ours to test.
TEST(Endpoint, ResolvesLocalhostPreferringIpv4) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo("localhost", nullptr, &hints, &list) != 0) {
    GTEST_SKIP() << "this system does not resolve localhost (no /etc/hosts entry?)";
  }
  ::freeaddrinfo(list);
  auto ep = Endpoint::parse("localhost:9");
  ASSERT_TRUE(ep) << ep.error().message();
  EXPECT_EQ(ep->to_string(), "127.0.0.1:9");
}

TEST(Endpoint, AcceptsPortBounds) {
  EXPECT_TRUE(Endpoint::parse("127.0.0.1:1"));
  auto top = Endpoint::parse("127.0.0.1:65535");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->port(), 65535);
}

TEST(Endpoint, RejectsPortZeroAndAboveRange) {
  for (const char* text : {"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999999999"}) {
    auto ep = Endpoint::parse(text);
    ASSERT_FALSE(ep) << text;
    EXPECT_EQ(ep.error(), Errc::kBadPort) << text;
  }
}

TEST(Endpoint, RejectsPortThatIsNotADecimalNumber) {
  for (const char* text : {"127.0.0.1:", "127.0.0.1:http", "127.0.0.1:-1", "127.0.0.1:+80",
                           "127.0.0.1:80x", "127.0.0.1: 80"}) {
    auto ep = Endpoint::parse(text);
    ASSERT_FALSE(ep) << text;
    EXPECT_EQ(ep.error(), Errc::kBadPort) << text;
  }
}

TEST(Endpoint, RejectsMalformedText) {
  for (const char* text : {"", "127.0.0.1", "::1:80", "[::1]80", "[::1", "[::1]:"}) {
    auto ep = Endpoint::parse(text);
    ASSERT_FALSE(ep) << text;
    EXPECT_TRUE(ep.error() == Errc::kBadAddress || ep.error() == Errc::kBadPort) << text;
  }
  EXPECT_EQ(Endpoint::parse("::1:80").error(), Errc::kBadAddress);
  EXPECT_EQ(Endpoint::parse("127.0.0.1").error(), Errc::kBadAddress);
}

// None of these names is valid, so none reaches the resolver (no traffic leaves the machine).
TEST(Endpoint, RejectsBadHostWithoutResolving) {
  for (const char* text :
       {":80", "bad host:80", "host_name:80", "256.1.1.1:80", "-leading:80", "trailing-.example:80",
        "a..b:80", "[not-v6]:80", "[]:80", "1.2.3.4.5:80"}) {
    auto ep = Endpoint::parse(text);
    ASSERT_FALSE(ep) << text;
    EXPECT_EQ(ep.error(), Errc::kBadHost) << text;
  }
}

TEST(Endpoint, ResolveAllowsPortZeroForListening) {
  auto ep = Endpoint::resolve("127.0.0.1", 0);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->port(), 0);
  EXPECT_EQ(ep->with_port(5).port(), 5);
}

TEST(Endpoint, LoopbackAndWithPort) {
  Endpoint ep = Endpoint::loopback(1234);
  EXPECT_EQ(ep.to_string(), "127.0.0.1:1234");
  EXPECT_EQ(ep.with_port(4321).to_string(), "127.0.0.1:4321");
  auto v6 = Endpoint::parse("[::1]:1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->with_port(2).to_string(), "[::1]:2");
}

}  // namespace
}  // namespace tcppool::net
