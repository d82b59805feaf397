// Tests for common/echo/echo_server.hpp: the echo itself, counters, and control calls.
#include "common/echo/echo_server.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;
using testing::echo_once;

class EchoServerBasics : public testing::EchoServerTest {};

TEST_F(EchoServerBasics, EchoesEveryByte) {
  net::Socket s = connect();
  for (std::size_t size : {1u, 64u, 4096u, 100000u}) {
    auto r = echo_once(s.fd(), size, size);
    EXPECT_TRUE(r) << size << ": " << r.error().message();
  }
}

TEST_F(EchoServerBasics, ListensOnLoopbackAndAFreePort) {
  EXPECT_NE(server().port(), 0);
  EXPECT_EQ(server().endpoint().to_string(), "127.0.0.1:" + std::to_string(server().port()));
  EXPECT_TRUE(server().stats().listening);
}

TEST_F(EchoServerBasics, CountsAcceptedActivePeakAndBytes) {
  {
    net::Socket a = connect();
    net::Socket b = connect();
    ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == 2; }));
    ASSERT_TRUE(echo_once(a.fd(), 100));
    ASSERT_TRUE(echo_once(b.fd(), 28));
  }
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == 0; }));
  Stats s = server().stats();
  EXPECT_EQ(s.accepted, 2u);
  EXPECT_EQ(s.peak, 2u);
  EXPECT_EQ(s.bytes_in, 128u);
  EXPECT_EQ(s.bytes_out, 128u);
  EXPECT_EQ(s.buffered, 0u);
  EXPECT_EQ(s.closed(CloseCause::kClientEof), 2u);
}

TEST_F(EchoServerBasics, ResetPeakStartsFromTheConnectionsOpenNow) {
  net::Socket a = connect();
  {
    net::Socket b = connect();
    ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == 2; }));
  }
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == 1; }));
  EXPECT_EQ(server().stats().peak, 2u);
  server().reset_peak();
  EXPECT_EQ(server().stats().peak, 1u);
}

// Half-close: the client sends, then shuts down its write side. The server must still write
// back everything it read before closing its side.
TEST_F(EchoServerBasics, HalfCloseFlushesThenCloses) {
  net::Socket s = connect();
  std::vector<std::byte> out(200000);
  fill_pattern(out, 9);
  std::jthread writer([&] {
    EXPECT_TRUE(net::send_all(s.fd(), out, net::Deadline::after(10s)));
    ::shutdown(s.fd(), SHUT_WR);
  });
  std::vector<std::byte> in(out.size());
  ASSERT_TRUE(net::recv_exact(s.fd(), in, net::Deadline::after(10s)));
  EXPECT_EQ(in, out);
  std::byte extra;
  EXPECT_EQ(net::recv_exact(s.fd(), {&extra, 1}, net::Deadline::after(10s)).error(),
            Errc::kPeerClosed);
  writer.join();
  ASSERT_TRUE(server().wait_until([](const Stats& st) { return st.active == 0; }));
  EXPECT_EQ(server().stats().closed(CloseCause::kClientEof), 1u);
}

TEST_F(EchoServerBasics, ServesManyClientsConcurrently) {
  std::vector<std::jthread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      net::Socket s = connect();
      for (int i = 0; i < 200; ++i) {
        auto r = echo_once(s.fd(), 64 + t, t * 1000 + i);
        ASSERT_TRUE(r) << r.error().message();
      }
    });
  }
  clients.clear();
  EXPECT_EQ(server().stats().accepted, 8u);
}

TEST_F(EchoServerBasics, StopClosesConnectionsAndIsIdempotent) {
  net::Socket s = connect();
  ASSERT_TRUE(echo_once(s.fd()));
  server().stop();
  std::byte b;
  EXPECT_EQ(net::recv_exact(s.fd(), {&b, 1}, net::Deadline::after(5s)).error(), Errc::kPeerClosed);
  Stats st = server().stats();
  EXPECT_EQ(st.closed(CloseCause::kShutdown), 1u);
  EXPECT_FALSE(st.listening);
  server().stop();
  auto again = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::connection_refused);
}

// stop() from two threads at once: both return, the thread is joined once.
TEST_F(EchoServerBasics, ConcurrentStopsBothReturn) {
  std::jthread other([&] { server().stop(); });
  server().stop();
  other.join();
  EXPECT_FALSE(server().stats().listening);
}

// A stopped server stays stopped: restart() refuses instead of listening again.
TEST_F(EchoServerBasics, RestartAfterStopFailsAndDoesNotListen) {
  server().stop();
  auto r = server().restart();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::error_code(ESHUTDOWN, std::system_category()));
  EXPECT_FALSE(server().stats().listening);
  auto dial = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_FALSE(dial);
  EXPECT_EQ(dial.error(), std::errc::connection_refused);
}

TEST_F(EchoServerBasics, SetFaultsIsVisibleAtOnce) {
  server().set_faults({.idle_close = 123ms, .max_connections = 7});
  Faults f = server().faults();
  EXPECT_EQ(f.idle_close, 123ms);
  EXPECT_EQ(f.max_connections, 7u);
  EXPECT_TRUE(f.accepting);
}

TEST(EchoServerOptions, InvalidOptionsNameTheOption) {
  auto expect_rejected = [](Options o, const std::string& name) {
    try {
      (void)EchoServer::start(o);
      ADD_FAILURE() << name << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  expect_rejected({.buffer_bytes = 0}, "buffer_bytes");
  expect_rejected({.backlog = 0}, "backlog");
  expect_rejected({.faults = {.reset_probability = 1.5}}, "reset_probability");
  expect_rejected({.faults = {.reset_probability = -0.1}}, "reset_probability");
  expect_rejected({.faults = {.latency = -1us}}, "latency");
}

TEST(EchoServerOptions, SetFaultsRejectsInvalidFaults) {
  auto server = EchoServer::start({});
  ASSERT_TRUE(server);
  EXPECT_THROW((*server)->set_faults({.reset_probability = 2}), std::invalid_argument);
  EXPECT_THROW((*server)->set_faults({.idle_close = -1ms}), std::invalid_argument);
  EXPECT_THROW((*server)->set_faults({.max_age = -1ms}), std::invalid_argument);
}

TEST(EchoServerOptions, BadAddressOrTakenPortIsAnError) {
  auto bad = EchoServer::start({.address = "not an address"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errc::kBadHost);
  auto first = EchoServer::start({});
  ASSERT_TRUE(first);
  auto second = EchoServer::start({.port = (*first)->port()});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

// The address takes the host grammar of net::HostPort: an IPv6 address with or without
// brackets (echo_server --address [::1] was refused before).
TEST(EchoServerOptions, ListensOnABracketedIpv6Address) {
  if (!net::listen_on(*net::Endpoint::resolve("::1", 0))) GTEST_SKIP() << "no IPv6 loopback";
  for (const char* address : {"[::1]", "::1"}) {
    auto server = EchoServer::start({.address = address});
    ASSERT_TRUE(server) << address << ": " << server.error().message();
    EXPECT_EQ((*server)->endpoint().to_string(), "[::1]:" + std::to_string((*server)->port()));
    auto s = net::dial((*server)->endpoint(), net::Deadline::after(testing::kTestIoTimeout));
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_TRUE(echo_once(s->fd()));
  }
}

}  // namespace
}  // namespace tcppool::echo
