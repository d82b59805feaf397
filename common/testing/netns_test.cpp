// common/testing/netns_test.cpp: IsolatedNetwork (netns.hpp) does what the fault tests rely
// on: traffic passes until a fault is set; drop_new_connections() stops dials and nothing
// else; drop_all() silences a connection without ending it; lose() drops about the share it
// is given; and the namespace and its veth pair are gone when the object is, or when the
// process dies without running a destructor. Root only: skipped elsewhere, saying why.
#include "common/testing/netns.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/socket.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/fd_count.hpp"
#include "common/testing/wait.hpp"

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;
using tcppool::testing::echo_once;
using tcppool::testing::eventually;
using tcppool::testing::IsolatedNetwork;
namespace echo = tcppool::echo;
namespace net = tcppool::net;

bool interface_exists(const std::string& name) {
  return std::system(("ip link show dev " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// Returns the IPv4 address a socket is bound to, or "".
std::string local_address(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  char text[INET_ADDRSTRLEN] = "";
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  return ::inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text) ? text : "";
}

// A network with an echo server in it, and a descriptor-leak check around both.
class IsolatedNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = tcppool::testing::open_fd_count();
    auto made = IsolatedNetwork::create();
    if (!made) GTEST_SKIP() << "skipped: " << made.error();
    network_ = std::move(*made);
    auto started = network_->in_namespace(
        [&] { return echo::EchoServer::start({.address = network_->peer_address()}); });
    ASSERT_TRUE(started) << started.error().message();
    server_ = std::move(*started);
  }

  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    network_.reset();
    EXPECT_EQ(tcppool::testing::open_fd_count(), fds_before_) << "file descriptors leaked";
  }

  std::expected<net::Socket, std::error_code> dial(std::chrono::milliseconds timeout) {
    return net::dial(server_->endpoint(), net::Deadline::after(timeout));
  }

  std::size_t fds_before_ = 0;
  std::unique_ptr<IsolatedNetwork> network_;
  std::unique_ptr<echo::EchoServer> server_;
};

TEST_F(IsolatedNetworkTest, PassesTrafficAcrossThePairUntilAFaultIsSet) {
  EXPECT_TRUE(interface_exists(network_->host_interface()));
  EXPECT_NE(network_->peer_address(), network_->host_address());
  EXPECT_TRUE(network_->peer_address().starts_with("198.1")) << network_->peer_address();
  auto s = dial(5s);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(echo_once(s->fd(), 4096));
  EXPECT_EQ(local_address(s->fd()), network_->host_address())
      << "the connection crosses the pair, not loopback";
}

TEST_F(IsolatedNetworkTest, DropNewConnectionsStopsDialsAndNothingElse) {
  auto before = dial(5s);
  ASSERT_TRUE(before) << before.error().message();
  ASSERT_TRUE(network_->drop_new_connections());
  auto start = net::Clock::now();
  auto blackholed = dial(300ms);
  ASSERT_FALSE(blackholed);
  EXPECT_EQ(blackholed.error(), Errc::kTimeout) << blackholed.error().message();
  EXPECT_GE(net::Clock::now() - start, 300ms) << "no refusal: the SYN is not answered at all";
  EXPECT_TRUE(echo_once(before->fd(), 64)) << "the established connection still echoes";
  ASSERT_TRUE(network_->restore());
  auto after = dial(5s);
  EXPECT_TRUE(after) << after.error().message();
}

TEST_F(IsolatedNetworkTest, DropAllSilencesAConnectionWithoutEndingIt) {
  auto s = dial(5s);
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_TRUE(echo_once(s->fd(), 64));
  ASSERT_TRUE(network_->drop_all());
  std::vector<std::byte> request(64), reply(64);
  echo::fill_pattern(request, 2);
  auto silent = echo::round_trip(s->fd(), request, reply, net::Deadline::after(300ms));
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error(), Errc::kTimeout)
      << "neither a FIN nor a reset: " << silent.error().message();
  ASSERT_TRUE(network_->restore());
  // The request is still in flight: TCP retransmits it, and the echo comes.
  auto r = net::recv_exact(s->fd(), reply, net::Deadline::after(10s));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(reply, request);
}

// Datagrams into the namespace at 50 % loss: of 400, about 200 arrive. The bounds are ten
// standard deviations wide: a real 50 % drop never fails them; no drop, or all, always does.
TEST_F(IsolatedNetworkTest, LoseDropsAboutTheShareItIsGiven) {
  auto receiver = network_->in_namespace([&] {
    net::Socket s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, network_->peer_address().c_str(), &addr.sin_addr);
    if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) s.reset();
    return s;
  });
  ASSERT_TRUE(receiver);
  sockaddr_in to{};
  socklen_t len = sizeof to;
  ASSERT_EQ(::getsockname(receiver.fd(), reinterpret_cast<sockaddr*>(&to), &len), 0);
  net::Socket sender(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(network_->lose(50));
  constexpr int kSent = 400;
  for (int i = 0; i < kSent; ++i) {
    ASSERT_EQ(::sendto(sender.fd(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 1);
  }
  int received = 0;
  char byte;
  // Until 200 ms pass with nothing new: every datagram that was not dropped has come by then.
  while (net::wait_ready(receiver.fd(), POLLIN, net::Deadline::after(200ms))) {
    while (::recv(receiver.fd(), &byte, 1, 0) == 1) ++received;
  }
  EXPECT_GT(received, kSent / 2 - 100);
  EXPECT_LT(received, kSent / 2 + 100);
  ASSERT_TRUE(network_->lose(0));
  EXPECT_TRUE(dial(5s)) << "lose(0) drops nothing";
}

TEST_F(IsolatedNetworkTest, DestroyingItDeletesTheNamespaceAndThePair) {
  std::string name = network_->host_interface();
  ASSERT_TRUE(interface_exists(name));
  server_->stop();
  server_.reset();
  network_.reset();
  EXPECT_TRUE(eventually([&] { return !interface_exists(name); }, 10s)) << name << " is left";
}

// The promise the tests rely on when they fail: a process that dies without unwinding (an
// abort, a crash, ctest's kill at the TIMEOUT) leaves nothing behind either.
TEST(IsolatedNetworkDeathTest, AProcessThatDiesLeavesNoNamespaceOrPairBehind) {
  if (::geteuid() != 0) GTEST_SKIP() << "skipped: needs root to create a network namespace";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The child re-runs this test from the top: it finds the parent's file name in its
  // environment instead of making one of its own.
  const char* kFileVar = "TCPPOOL_NETNS_DEATH_FILE";
  if (std::getenv(kFileVar) == nullptr) {
    std::string made = ::testing::TempDir() + "tcppool-netns-death-" + std::to_string(::getpid());
    ::setenv(kFileVar, made.c_str(), 1);
  }
  const std::string file = std::getenv(kFileVar);
  EXPECT_EXIT(
      {
        auto made = IsolatedNetwork::create();
        if (!made) std::_Exit(2);
        std::ofstream(file) << (*made)->host_interface();
        std::_Exit(interface_exists((*made)->host_interface()) ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
  std::string name;
  std::ifstream(file) >> name;
  std::remove(file.c_str());
  ::unsetenv(kFileVar);
  ASSERT_FALSE(name.empty());
  EXPECT_TRUE(eventually([&] { return !interface_exists(name); }, 10s)) << name << " is left";
}

}  // namespace
