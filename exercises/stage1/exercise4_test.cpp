// exercises/stage1/exercise4_test.cpp: the grader of stage 1's exercise 4, "Hardcore: run out
// of ports" (docs/stage1-naive.md#exercises). In a network namespace of its own with ten local
// ports, acquire() must ride out a shortage of ports (EADDRNOTAVAIL) by trying again until
// Options::dial_timeout, and no longer. Root only, as the exercise is: a namespace needs
// CAP_SYS_ADMIN (CI runs as root); elsewhere the tests say why they skip.
// `make workshop-test STAGE=1 EXERCISE=4` runs it; it fails on the reference stage 1, which
// gives up at the first EADDRNOTAVAIL, and passes with exercises/stage1/exercise4.patch.
#include "pool.hpp"

#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "common/echo/echo_server.hpp"
#include "common/net/deadline.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"

namespace stage = tcppool::stage1;

namespace {

using namespace std::chrono_literals;
using tcppool::net::Clock;
using tcppool::testing::echo_once;

// Runs `body` on a thread of its own that has entered a new network namespace: loopback only,
// up, ten local ports (40000-40009), and TIME_WAIT reuse on loopback as given. Returns "" when
// it ran, or why it could not.
std::string in_namespace_with_ten_ports(int tw_reuse, const std::function<void()>& body) {
  if (::geteuid() != 0) return "needs root for a network namespace of its own (CI runs as root)";
  std::string why;
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      why = "unshare(CLONE_NEWNET) failed: " + std::string(std::strerror(errno));
      return;
    }
    // Loopback starts down in a new namespace: bring it up (what `ip link set lo up` does).
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq lo{};
    std::strcpy(lo.ifr_name, "lo");
    bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &lo) == 0;
    if (up) {
      lo.ifr_flags |= IFF_UP;
      up = ::ioctl(s, SIOCSIFFLAGS, &lo) == 0;
    }
    if (s >= 0) ::close(s);
    // /proc/sys/net belongs to the namespace of the thread that opens it.
    std::ofstream("/proc/sys/net/ipv4/ip_local_port_range") << "40000 40009";
    std::ofstream("/proc/sys/net/ipv4/tcp_tw_reuse") << tw_reuse;
    if (!up) {
      why = "could not bring loopback up in the namespace";
      return;
    }
    body();
  }).join();
  return why;
}

// One request through the pool; returns the acquire's error, or an empty code.
std::error_code request(stage::Pool& pool, int i) {
  auto lease = pool.acquire();
  if (!lease) return lease.error();
  EXPECT_TRUE(echo_once(lease->fd(), 64, i));
  return {};  // the lease closes here: this side keeps TIME_WAIT, holding a port
}

// Ten ports, twenty requests: the first ten use every port up, the next ten wait for one to
// come out of TIME_WAIT (tcp_tw_reuse 2 lets loopback take one over after a second).
TEST(Stage1Exercise4, AcquireRidesOutAShortageOfPorts) {
  std::string skipped = in_namespace_with_ten_ports(2, [] {
    auto server = tcppool::echo::EchoServer::start({.port = 7100});  // outside the ten
    ASSERT_TRUE(server) << server.error().message();
    stage::Pool pool({.endpoint = (*server)->endpoint().to_string(), .dial_timeout = 5s});
    for (int i = 0; i < 10; ++i) ASSERT_EQ(request(pool, i), std::error_code()) << "request " << i;
    auto direct = tcppool::net::dial((*server)->endpoint(), tcppool::net::Deadline::after(1s));
    ASSERT_FALSE(direct) << "ten requests did not use up the ports: the test shows nothing";
    ASSERT_EQ(direct.error(), std::errc::address_not_available) << direct.error().message();
    for (int i = 10; i < 20; ++i) {
      auto error = request(pool, i);
      EXPECT_EQ(error, std::error_code()) << "request " << i << ": " << error.message();
    }
    (*server)->stop();
  });
  if (!skipped.empty()) GTEST_SKIP() << skipped;
}

// With no TIME_WAIT reuse no port comes back for a minute: acquire() tries until dial_timeout,
// then fails with the shortage's own error.
TEST(Stage1Exercise4, AcquireGivesUpAtTheDialTimeout) {
  std::string skipped = in_namespace_with_ten_ports(0, [] {
    auto server = tcppool::echo::EchoServer::start({.port = 7100});
    ASSERT_TRUE(server) << server.error().message();
    stage::Pool pool({.endpoint = (*server)->endpoint().to_string(), .dial_timeout = 300ms});
    for (int i = 0; i < 10; ++i) ASSERT_EQ(request(pool, i), std::error_code()) << "request " << i;
    auto start = Clock::now();
    auto error = request(pool, 10);
    EXPECT_EQ(error, std::errc::address_not_available) << error.message();
    EXPECT_GE(Clock::now() - start, 300ms) << "it gave up without waiting for a port";
    EXPECT_LT(Clock::now() - start, 5s);
    (*server)->stop();
  });
  if (!skipped.empty()) GTEST_SKIP() << skipped;
}

// Only a shortage of ports is waited out: a refused dial fails at once, as before.
class Stage1Exercise4Refused : public tcppool::testing::EchoServerTest {};

TEST_F(Stage1Exercise4Refused, ARefusedDialIsNotRetried) {
  std::uint16_t port;
  {
    auto l = tcppool::net::listen_on(tcppool::net::Endpoint::loopback(0));
    ASSERT_TRUE(l);
    port = *tcppool::net::local_port(l->fd());
  }
  stage::Pool pool({.endpoint = "127.0.0.1:" + std::to_string(port), .dial_timeout = 3s});
  auto start = Clock::now();
  auto lease = pool.acquire();
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), std::errc::connection_refused) << lease.error().message();
  EXPECT_LT(Clock::now() - start, 2s);
}

}  // namespace
