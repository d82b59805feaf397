// Tests for common/bench/eventloop.hpp: the event-loop ceiling, against the in-process echo
// server and against a server that corrupts one reply.
#include "common/bench/eventloop.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <optional>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"

namespace tcppool::bench {
namespace {

using namespace std::chrono_literals;

class EventLoop : public testing::EchoServerTest {
 protected:
  EventLoopClient open(std::size_t connections, Clock::duration timeout = 5s) {
    auto loop = EventLoopClient::open(server().endpoint(), connections, timeout);
    EXPECT_TRUE(loop) << loop.error().message();
    return std::move(*loop);
  }
};

// K connections, N verified echoes each, and nothing dialed while measuring: they were all
// opened before, and stay open from one run to the next.
TEST_F(EventLoop, DoesEveryVerifiedEchoOnEveryConnectionOverConnectionsOpenedBefore) {
  auto loop = open(4);
  ASSERT_TRUE(wait_accepted(4));
  Workload w{.threads = 4, .payload_bytes = 64, .requests_per_thread = 25};
  for (int run = 0; run < 2; ++run) {
    auto r = loop.run(w);
    EXPECT_EQ(r.requests, 100u);
    EXPECT_EQ(r.errors, 0u) << (r.error_kinds.empty() ? "" : r.error_kinds.begin()->first);
    EXPECT_EQ(r.latency.count(), 100u);
    EXPECT_EQ(r.dials, 0u);
    EXPECT_GT(r.elapsed, Clock::duration::zero());
  }
  auto stats = server().stats();
  EXPECT_EQ(stats.accepted, 4u) << "no connection was dialed again";
  EXPECT_EQ(stats.bytes_in, 2u * 100u * 64u) << "every request went out exactly once";
}

// A payload far larger than the socket buffers and the server's: every request is sent in
// pieces while its echo comes back, as echo::round_trip() does on one blocking thread.
TEST_F(EventLoop, EchoesPayloadsLargerThanTheSocketBuffers) {
  auto loop = open(2);
  Workload w{.threads = 2, .payload_bytes = 1 << 20, .requests_per_thread = 3};
  auto r = loop.run(w);
  EXPECT_EQ(r.requests, 6u);
  EXPECT_EQ(r.errors, 0u) << (r.error_kinds.empty() ? "" : r.error_kinds.begin()->first);
}

// Measured from the end of the warm-up for the duration; the requests in flight at the end are
// finished, so the next run finds no stray echo on any connection.
TEST_F(EventLoop, TimedRunMeasuresAfterWarmupAndLeavesNoEchoBehind) {
  auto loop = open(3);
  int starts = 0;
  Workload w{.threads = 3, .payload_bytes = 64, .warmup = 20ms, .duration = 50ms};
  w.on_measure_start = [&] { ++starts; };
  auto before = server().stats().bytes_in;
  auto r = loop.run(w);
  EXPECT_EQ(starts, 1);
  EXPECT_GE(r.elapsed, 50ms);
  EXPECT_GT(r.requests, 0u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_LT(r.requests * 64, server().stats().bytes_in - before)
      << "requests made while warming up must not be counted";
  auto next = loop.run({.threads = 3, .payload_bytes = 64, .requests_per_thread = 5});
  EXPECT_EQ(next.requests, 15u);
  EXPECT_EQ(next.errors, 0u) << (next.error_kinds.empty() ? "" : next.error_kinds.begin()->first);
}

// A connection reset instead of an echo fails the request; the next request dials again.
TEST_F(EventLoop, CountsAResetAsAFailureAndRedialsForTheNextRequest) {
  auto loop = open(2);
  server().set_faults({.reset_probability = 1.0});
  auto r = loop.run({.threads = 2, .payload_bytes = 64, .requests_per_thread = 3});
  EXPECT_EQ(r.requests, 6u);
  EXPECT_EQ(r.errors, 6u);
  EXPECT_EQ(r.timeouts, 0u);
  EXPECT_EQ(r.failed_latency.count(), 6u);
  EXPECT_EQ(r.dials, 4u) << "requests 2 and 3 of each connection dial again";
  EXPECT_FALSE(r.error_kinds.contains(make_error_code(Errc::kBadReply).message()));
}

// A server that stops answering: every request ends at the client's timeout, counted as one.
TEST_F(EventLoop, BoundsEveryRequestByItsTimeout) {
  auto loop = open(2, 50ms);
  server().stall_for(2s);
  auto r = loop.run({.threads = 2, .payload_bytes = 64, .requests_per_thread = 1});
  EXPECT_EQ(r.requests, 2u);
  EXPECT_EQ(r.errors, 2u);
  EXPECT_EQ(r.timeouts, 2u);
  EXPECT_EQ(r.error_kinds[make_error_code(Errc::kTimeout).message()], 2u);
  EXPECT_LT(r.latency.max(), 2s) << "ended by the timeout, not by the stall";
}

// A server that echoes every byte but flips the first one it ever sends back: exactly one
// request fails, as a bad reply, and the connection dialed again echoes the rest correctly.
TEST(EventLoopAgainstACorruptingServer, CountsACorruptedReplyAsABadReply) {
  auto listener = net::listen_on(net::Endpoint::loopback(0));
  ASSERT_TRUE(listener) << listener.error().message();
  auto port = net::local_port(listener->fd());
  ASSERT_TRUE(port);
  std::jthread server([fd = listener->fd()] {
    bool corrupted = false;
    for (int served = 0; served < 2; ++served) {  // the first connection, then its redial
      if (!net::wait_ready(fd, POLLIN, net::Deadline::after(10s))) return;
      net::Socket conn(::accept(fd, nullptr, nullptr));
      if (!conn) return;
      std::byte buf[4096];
      for (;;) {
        if (!net::wait_ready(conn.fd(), POLLIN, net::Deadline::after(10s))) return;
        ssize_t n = ::recv(conn.fd(), buf, sizeof buf, 0);
        if (n <= 0) break;
        if (!corrupted) {
          buf[0] ^= std::byte{0xff};
          corrupted = true;
        }
        auto data = std::span<const std::byte>(buf, static_cast<std::size_t>(n));
        if (!net::send_all(conn.fd(), data, net::Deadline::after(10s))) return;
      }
    }
  });
  std::optional<EventLoopClient> loop;
  auto opened = EventLoopClient::open(net::Endpoint::loopback(*port), 1, 5s);
  ASSERT_TRUE(opened) << opened.error().message();
  loop.emplace(std::move(*opened));
  auto r = loop->run({.threads = 1, .payload_bytes = 64, .requests_per_thread = 4});
  EXPECT_EQ(r.requests, 4u);
  EXPECT_EQ(r.errors, 1u);
  EXPECT_EQ(r.error_kinds[make_error_code(Errc::kBadReply).message()], 1u);
  EXPECT_EQ(r.dials, 1u);
  loop.reset();  // the server sees EOF on its second connection and ends
}

}  // namespace
}  // namespace tcppool::bench
