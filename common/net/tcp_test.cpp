// Tests for common/net/tcp.hpp: dial with a deadline, listen, socket options.
#include "common/net/tcp.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/testing/fd_count.hpp"
#include "common/testing/name_service.hpp"
#include "common/testing/tcp_pair.hpp"

namespace tcppool::net {
namespace {

using namespace std::chrono_literals;

int int_option(int fd, int level, int name) {
  int value = -1;
  socklen_t len = sizeof value;
  EXPECT_EQ(::getsockopt(fd, level, name, &value, &len), 0);
  return value;
}

Socket listen_any(int backlog = 16) {
  auto l = listen_on(Endpoint::loopback(0), backlog);
  EXPECT_TRUE(l) << l.error().message();
  return std::move(*l);
}

std::uint16_t port_of(const Socket& s) {
  auto p = local_port(s.fd());
  EXPECT_TRUE(p);
  return p.value_or(0);
}

TEST(Dial, ConnectsAndReturnsABlockingCloseOnExecSocket) {
  Socket listener = listen_any();
  auto s = dial(Endpoint::loopback(port_of(listener)), Deadline::after(5s));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(::fcntl(s->fd(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(s->fd(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_TRUE(wait_ready(listener.fd(), POLLIN, Deadline::after(5s)));
  Socket accepted(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted);
}

TEST(Dial, WithoutDeadlineConnects) {
  Socket listener = listen_any();
  EXPECT_TRUE(dial(Endpoint::loopback(port_of(listener))));
}

TEST(Dial, RefusedPortFailsWithConnectionRefused) {
  std::uint16_t port;
  {
    Socket listener = listen_any();
    port = port_of(listener);
  }  // nobody listens on `port` any more
  testing::FdLeakGuard guard;
  auto s = dial(Endpoint::loopback(port), Deadline::after(5s));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::connection_refused) << s.error().message();
  EXPECT_EQ(guard.leaked(), 0) << "a failed dial must close its socket";
}

// A listener that never accepts holds backlog+1 handshaken connections; after that the kernel
// drops SYNs, and a connect waits for a SYN-ACK that does not come: the deadline must end it.
TEST(Dial, UnansweredConnectEndsAtTheDeadline) {
  Socket listener = listen_any(/*backlog=*/1);
  Endpoint ep = Endpoint::loopback(port_of(listener));
  testing::FdLeakGuard guard;
  std::vector<Socket> queued;
  std::error_code last;
  for (int i = 0; i < 16 && last != Errc::kTimeout; ++i) {
    auto start = Clock::now();
    auto s = dial(ep, Deadline::after(100ms));
    if (s) {
      queued.push_back(std::move(*s));
      continue;
    }
    last = s.error();
    EXPECT_GE(Clock::now() - start, 100ms);
    EXPECT_LT(Clock::now() - start, 5s);
  }
  EXPECT_EQ(last, Errc::kTimeout) << "never blocked; queued " << queued.size();
  queued.clear();
  EXPECT_EQ(guard.leaked(), 0);
}

TEST(Dial, ExpiredDeadlineTimesOutUnlessAlreadyConnected) {
  Socket listener = listen_any(1);
  Endpoint ep = Endpoint::loopback(port_of(listener));
  std::vector<Socket> keep;
  // Fill the backlog so the next connect cannot complete at once.
  for (int i = 0; i < 8; ++i) {
    auto s = dial(ep, Deadline::after(50ms));
    if (!s) break;
    keep.push_back(std::move(*s));
  }
  auto s = dial(ep, Deadline::at(Clock::now() - 1s));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), Errc::kTimeout);
}

TEST(Dial, CountsEveryAttempt) {
  Socket listener = listen_any();
  std::uint64_t before = dial_count();
  EXPECT_TRUE(dial(Endpoint::loopback(port_of(listener))));
  EXPECT_TRUE(dial(Endpoint::loopback(port_of(listener))));
  EXPECT_EQ(dial_count() - before, 2u);
}

TEST(Dial, HostPortIsResolvedThenConnected) {
  Socket listener = listen_any();
  auto target = HostPort::parse("127.0.0.1:" + std::to_string(port_of(listener)));
  ASSERT_TRUE(target);
  auto s = dial(*target, Deadline::after(5s));
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_TRUE(wait_ready(listener.fd(), POLLIN, Deadline::after(5s)));
  Socket accepted(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted);
}

TEST(Dial, HostPortThatDoesNotResolveFailsWithTheResolverErrorAndCounts) {
  if (!testing::keep_lookups_local()) GTEST_SKIP() << "cannot keep name lookups off DNS here";
  auto target = HostPort::parse("tcppool-test.invalid:7");
  ASSERT_TRUE(target);
  std::uint64_t before = dial_count();
  auto s = dial(*target, Deadline::after(5s));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), resolver_error(EAI_NONAME)) << s.error().message();
  EXPECT_EQ(dial_count() - before, 1u);
}

TEST(Dial, HostPortWithAPassedDeadlineTimesOutWithoutConnecting) {
  Socket listener = listen_any();
  auto target = HostPort::parse("127.0.0.1:" + std::to_string(port_of(listener)));
  ASSERT_TRUE(target);
  auto s = dial(*target, Deadline::at(Clock::now() - 1s));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), Errc::kTimeout);
  // Nothing to accept (the listener is non-blocking): no connect was even tried. A loopback
  // connect completes its handshake before connect() returns, so one would show here.
  Socket accepted(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_FALSE(accepted) << "a dial whose deadline passed must not connect";
}

TEST(Listen, PortZeroPicksAFreePort) {
  Socket a = listen_any();
  Socket b = listen_any();
  EXPECT_NE(port_of(a), 0);
  EXPECT_NE(port_of(a), port_of(b));
}

TEST(Listen, SamePortTwiceFailsWithAddressInUse) {
  Socket a = listen_any();
  auto b = listen_on(Endpoint::loopback(port_of(a)));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), std::errc::address_in_use);
}

// The server closes first, so its side of the connection sits in TIME_WAIT on the listening
// port; SO_REUSEADDR is what lets a restarted server bind that port again at once.
TEST(Listen, RebindsAPortWhoseConnectionsAreInTimeWait) {
  std::uint16_t port;
  {
    Socket listener = listen_any();
    port = port_of(listener);
    auto c = dial(Endpoint::loopback(port), Deadline::after(5s));
    ASSERT_TRUE(c);
    ASSERT_TRUE(wait_ready(listener.fd(), POLLIN, Deadline::after(5s)));
    Socket accepted(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    accepted.reset();  // server closes first: TIME_WAIT on the server's side
    std::byte b;
    EXPECT_EQ(recv_exact(c->fd(), {&b, 1}, Deadline::after(5s)).error(), Errc::kPeerClosed);
  }
  auto again = listen_on(Endpoint::loopback(port));
  EXPECT_TRUE(again) << again.error().message();
}

TEST(Listen, UnbindableAddressFails) {
  auto ep = Endpoint::resolve("192.0.2.1", 0);  // TEST-NET-1: not an address of this machine
  ASSERT_TRUE(ep);
  auto l = listen_on(*ep);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error(), std::errc::address_not_available);
}

TEST(LocalPort, FailsOnABadDescriptor) {
  auto p = local_port(-1);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), std::errc::bad_file_descriptor);
}

TEST(SocketOptions, NodelayTurnsOnAndOff) {
  auto pair = testing::tcp_pair();
  ASSERT_TRUE(set_nodelay(pair.client.fd()));
  EXPECT_NE(int_option(pair.client.fd(), IPPROTO_TCP, TCP_NODELAY), 0);
  ASSERT_TRUE(set_nodelay(pair.client.fd(), false));
  EXPECT_EQ(int_option(pair.client.fd(), IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(set_nodelay(-1).error(), std::errc::bad_file_descriptor);
}

TEST(SocketOptions, KeepaliveSetsAllFourOptions) {
  auto pair = testing::tcp_pair();
  ASSERT_TRUE(set_keepalive(pair.client.fd(), {.idle = 7s, .interval = 3s, .count = 4}));
  EXPECT_NE(int_option(pair.client.fd(), SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(int_option(pair.client.fd(), IPPROTO_TCP, TCP_KEEPIDLE), 7);
  EXPECT_EQ(int_option(pair.client.fd(), IPPROTO_TCP, TCP_KEEPINTVL), 3);
  EXPECT_EQ(int_option(pair.client.fd(), IPPROTO_TCP, TCP_KEEPCNT), 4);
}

TEST(SocketOptions, KeepaliveRejectsNonPositiveValues) {
  auto pair = testing::tcp_pair();
  EXPECT_EQ(set_keepalive(pair.client.fd(), {.idle = 0s}).error(), std::errc::invalid_argument);
  EXPECT_EQ(set_keepalive(pair.client.fd(), {.interval = -1s}).error(),
            std::errc::invalid_argument);
  EXPECT_EQ(set_keepalive(pair.client.fd(), {.count = 0}).error(), std::errc::invalid_argument);
  EXPECT_EQ(set_keepalive(pair.client.fd(), {.idle = 100000s}).error(), std::errc::invalid_argument)
      << "the kernel caps TCP_KEEPIDLE at 32767 s";
}

TEST(SocketOptions, UserTimeoutIsSetAndReadBack) {
  auto pair = testing::tcp_pair();
  ASSERT_TRUE(set_user_timeout(pair.client.fd(), 2500ms));
  EXPECT_EQ(int_option(pair.client.fd(), IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
  ASSERT_TRUE(set_user_timeout(pair.client.fd(), 0ms));
  EXPECT_EQ(int_option(pair.client.fd(), IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
  EXPECT_EQ(set_user_timeout(pair.client.fd(), -1ms).error(), std::errc::invalid_argument);
  EXPECT_EQ(set_user_timeout(pair.client.fd(), std::chrono::milliseconds::max()).error(),
            std::errc::invalid_argument);
}

TEST(SocketOptions, NonblockingTogglesTheFlag) {
  auto pair = testing::tcp_pair();
  ASSERT_TRUE(set_nonblocking(pair.client.fd()));
  EXPECT_NE(::fcntl(pair.client.fd(), F_GETFL) & O_NONBLOCK, 0);
  ASSERT_TRUE(set_nonblocking(pair.client.fd()));  // already set: no change, no error
  ASSERT_TRUE(set_nonblocking(pair.client.fd(), false));
  EXPECT_EQ(::fcntl(pair.client.fd(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(set_nonblocking(-1).error(), std::errc::bad_file_descriptor);
}

TEST(SocketOptions, ResetOnCloseSendsRst) {
  auto pair = testing::tcp_pair();
  ASSERT_TRUE(set_reset_on_close(pair.server.fd()));
  pair.server.reset();
  std::byte b;
  auto r = recv_exact(pair.client.fd(), {&b, 1}, Deadline::after(5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_reset) << r.error().message();
  EXPECT_EQ(set_reset_on_close(-1).error(), std::errc::bad_file_descriptor);
}

}  // namespace
}  // namespace tcppool::net
