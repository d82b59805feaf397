// Tests for stage5-context-timeouts/health.hpp: the echo heartbeat, the peek's verdicts, what
// counts as stale, and the liveness options.
#include "health.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/testing/tcp_pair.hpp"

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;
using tcppool::net::Deadline;
using tcppool::testing::tcp_pair;
namespace stage = tcppool::stage5;

std::vector<std::byte> read_n(const tcppool::net::Socket& s, std::size_t n) {
  std::vector<std::byte> b(n);
  EXPECT_TRUE(tcppool::net::recv_exact(s.fd(), b, Deadline::after(5s)));
  return b;
}

TEST(Stage5EchoProbe, SucceedsWhenItsByteComesBack) {
  auto pair = tcp_pair();
  std::jthread peer([&] {
    auto b = read_n(pair.server, 1);
    EXPECT_TRUE(tcppool::net::send_all(pair.server.fd(), b));
  });
  EXPECT_TRUE(stage::echo_probe(pair.client, Deadline::after(5s), 0));
}

TEST(Stage5EchoProbe, TimesOutWhenNothingComesBack) {
  auto pair = tcp_pair();
  auto r = stage::echo_probe(pair.client, Deadline::after(50ms), 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTimeout);
}

// After a miss the earlier probe's reply is still owed: the next probe reads it as well as its
// own, so no stray byte is left for the next user of the connection.
TEST(Stage5EchoProbe, ReadsTheRepliesStillOwedAfterAMiss) {
  auto pair = tcp_pair();
  ASSERT_FALSE(stage::echo_probe(pair.client, Deadline::after(20ms), 0));  // missed
  auto first = read_n(pair.server, 1);
  std::jthread peer([&] {
    auto second = read_n(pair.server, 1);
    EXPECT_TRUE(tcppool::net::send_all(pair.server.fd(), first));  // the late reply
    EXPECT_TRUE(tcppool::net::send_all(pair.server.fd(), second));
  });
  EXPECT_TRUE(stage::echo_probe(pair.client, Deadline::after(5s), 1));
  peer.join();
  EXPECT_EQ(tcppool::net::peek_peer(pair.client.fd()), tcppool::net::PeerState::kOpen)
      << "nothing left unread";
}

TEST(Stage5EchoProbe, AnyOtherByteIsABadReplyAndEofIsClosed) {
  auto pair = tcp_pair();
  std::jthread peer([&] {
    read_n(pair.server, 1);
    std::byte other{0x01};
    EXPECT_TRUE(tcppool::net::send_all(pair.server.fd(), {&other, 1}));
  });
  auto r = stage::echo_probe(pair.client, Deadline::after(5s), 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kBadReply);
  peer.join();
  pair.server.reset();
  auto eof = stage::echo_probe(pair.client, Deadline::after(5s), 0);
  ASSERT_FALSE(eof);
  EXPECT_TRUE(eof.error() == Errc::kPeerClosed || eof.error() == std::errc::connection_reset ||
              eof.error() == std::errc::broken_pipe)
      << eof.error().message();
}

TEST(Stage5CheckIdle, TellsHealthyClosedAndOutOfStep) {
  auto pair = tcp_pair();
  EXPECT_EQ(stage::check_idle(pair.client), stage::Verdict::kHealthy);
  std::byte b{7};
  ASSERT_TRUE(tcppool::net::send_all(pair.server.fd(), {&b, 1}));
  ASSERT_TRUE(tcppool::net::wait_ready(pair.client.fd(), POLLIN, Deadline::after(5s)));
  EXPECT_EQ(stage::check_idle(pair.client), stage::Verdict::kOutOfStep);
  auto other = tcp_pair();
  other.server.reset();
  ASSERT_TRUE(tcppool::net::wait_ready(other.client.fd(), POLLIN, Deadline::after(5s)));
  EXPECT_EQ(stage::check_idle(other.client), stage::Verdict::kClosed);
}

TEST(Stage5LooksStale, OnlyTheErrorsOfAConnectionAlreadyGone) {
  EXPECT_TRUE(stage::looks_stale(tcppool::make_error_code(Errc::kPeerClosed)));
  EXPECT_TRUE(stage::looks_stale(std::make_error_code(std::errc::connection_reset)));
  EXPECT_TRUE(stage::looks_stale(std::make_error_code(std::errc::broken_pipe)));
  EXPECT_FALSE(stage::looks_stale(tcppool::make_error_code(Errc::kTruncated)))
      << "a reply cut short: the server had the request";
  EXPECT_FALSE(stage::looks_stale(tcppool::make_error_code(Errc::kTimeout)));
  EXPECT_FALSE(stage::looks_stale(tcppool::make_error_code(Errc::kBadReply)));
  EXPECT_FALSE(stage::looks_stale(std::make_error_code(std::errc::connection_refused)));
}

TEST(Stage5LivenessOptions, SetsKeepaliveAndUserTimeoutOnlyWhenAsked) {
  auto pair = tcp_pair();
  auto opt = [&](int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    EXPECT_EQ(::getsockopt(pair.client.fd(), level, name, &v, &len), 0);
    return v;
  };
  ASSERT_TRUE(stage::set_liveness_options(pair.client.fd(), std::nullopt, 0ms));
  EXPECT_EQ(opt(SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
  ASSERT_TRUE(stage::set_liveness_options(
      pair.client.fd(), tcppool::net::KeepaliveOptions{.idle = 9s, .interval = 2s, .count = 5},
      1500ms));
  EXPECT_NE(opt(SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_KEEPIDLE), 9);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_KEEPINTVL), 2);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_KEEPCNT), 5);
  EXPECT_EQ(opt(IPPROTO_TCP, TCP_USER_TIMEOUT), 1500);
  EXPECT_FALSE(stage::set_liveness_options(-1, tcppool::net::KeepaliveOptions{}, 0ms));
}

}  // namespace
