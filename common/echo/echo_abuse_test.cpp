// Abuse tests for common/echo/echo_server.hpp: clients that flood, half-close, crowd in by the
// hundred or reset mid-stream. Each may only hurt itself: every other client keeps its echoes,
// and the server's memory stays bounded by its per-connection buffers.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;

// Small, so that floods fill it at once and the bound on buffered bytes is tight.
constexpr std::size_t kBufferBytes = 16 * 1024;

// One echo with the "prompt" bound the abuse must not break: 5 s, generous for a busy machine,
// and far below what a starved client would wait.
std::expected<void, std::error_code> prompt_echo(int fd, std::size_t size, std::uint64_t seed) {
  std::vector<std::byte> request(size), reply(size);
  fill_pattern(request, seed);
  return round_trip(fd, request, reply, net::Deadline::after(5s));
}

class EchoAbuse : public testing::EchoServerTest {
 protected:
  Options server_options() const override { return {.buffer_bytes = kBufferBytes}; }
};

// Sends up to `limit` bytes on `fd` without ever reading, never blocking for long, until
// `stop` is set. Sets `blocked` once a send found no room (the pipeline is full).
void flood(int fd, std::size_t limit, const std::atomic<bool>& stop, std::atomic<bool>& blocked,
           std::atomic<std::uint64_t>& sent) {
  std::vector<std::byte> chunk(64 * 1024);
  fill_pattern(chunk, 99);
  while (!stop.load() && sent.load() < limit) {
    std::size_t n = std::min<std::size_t>(chunk.size(), limit - sent.load());
    ssize_t r = ::send(fd, chunk.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0) {
      sent += static_cast<std::uint64_t>(r);
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      blocked = true;
      (void)net::wait_ready(fd, POLLOUT, net::Deadline::after(10ms));
    } else if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "flood send: " << std::strerror(errno);
      return;
    }
  }
}

TEST_F(EchoAbuse, AFloodingClientNeitherStarvesOthersNorGrowsBuffers) {
  constexpr std::size_t kFlood = 32u << 20;
  constexpr std::uint64_t kConnections = 2;
  net::Socket flooder = connect();
  net::Socket polite = connect();
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == kConnections; }));

  std::atomic<bool> stop{false}, blocked{false};
  std::atomic<std::uint64_t> sent{0};
  std::jthread flooding([&] { flood(flooder.fd(), kFlood, stop, blocked, sent); });
  // Let the flood fill every buffer on its way: the server's buffer for the flooder is full,
  // so the server has stopped reading from it, and the flooder's sends find no room.
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.buffered >= kBufferBytes; }, 10s))
      << "the flood did not fill the server's buffer; flooded " << sent.load() << " bytes";
  ASSERT_TRUE(testing::eventually([&] { return blocked.load(); }));

  for (std::uint64_t i = 0; i < 50; ++i) {
    auto r = prompt_echo(polite.fd(), 4096, i);
    ASSERT_TRUE(r) << "echo " << i << " while flooded: " << r.error().message();
    EXPECT_LE(server().stats().buffered, kConnections * kBufferBytes);
  }
  stop = true;
  flooding.join();

  Stats st = server().stats();
  EXPECT_LE(st.peak_buffered, kConnections * kBufferBytes);
  EXPECT_GT(st.bytes_in, 50u * 4096u) << "the flood never reached the server";
  RecordProperty("flooded_bytes", std::to_string(sent.load()));
}

// The client sends everything, then shuts down its write side; it must get every byte back
// (through a buffer many times smaller than the stream) and then EOF.
TEST_F(EchoAbuse, AHalfClosingClientGetsEverythingBackThenEof) {
  // With latency every buffer-full waits out the delay, so that stream is kept shorter. Sizes
  // are not multiples of the buffer, so the EOF is read while the last bytes are still held.
  for (auto [latency, size] : {std::pair{0ms, (1u << 20) + 123}, std::pair{30ms, 100'000u}}) {
    SCOPED_TRACE("latency " + std::to_string(latency.count()) + " ms");
    server().set_faults({.latency = latency});
    const std::uint64_t eofs = server().stats().closed(CloseCause::kClientEof);
    net::Socket s = connect();
    std::vector<std::byte> out(size);
    fill_pattern(out, 3);
    std::jthread writer([&] {
      EXPECT_TRUE(net::send_all(s.fd(), out, net::Deadline::after(testing::kTestIoTimeout)));
      ::shutdown(s.fd(), SHUT_WR);
    });
    std::vector<std::byte> in(out.size());
    auto r = net::recv_exact(s.fd(), in, net::Deadline::after(testing::kTestIoTimeout));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(in, out);
    std::byte extra;
    auto eof = net::recv_exact(s.fd(), {&extra, 1}, net::Deadline::after(testing::kTestIoTimeout));
    ASSERT_FALSE(eof);
    EXPECT_EQ(eof.error(), Errc::kPeerClosed) << eof.error().message();
    writer.join();
    EXPECT_TRUE(server().wait_until(
        [eofs](const Stats& st) { return st.closed(CloseCause::kClientEof) == eofs + 1; }));
  }
}

TEST_F(EchoAbuse, AClientThatHalfClosesAtOnceIsClosed) {
  net::Socket s = connect();
  ASSERT_EQ(::shutdown(s.fd(), SHUT_WR), 0);
  std::byte b;
  auto r = net::recv_exact(s.fd(), {&b, 1}, net::Deadline::after(testing::kTestIoTimeout));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kPeerClosed) << r.error().message();
  EXPECT_TRUE(server().wait_until(
      [](const Stats& st) { return st.closed(CloseCause::kClientEof) == 1 && st.active == 0; }));
}

TEST_F(EchoAbuse, HundredsOfConnectionsAtOnceAllEcho) {
  constexpr std::size_t kConnections = 320;
  std::vector<net::Socket> conns;
  conns.reserve(kConnections);
  for (std::size_t i = 0; i < kConnections; ++i) {
    conns.push_back(connect());
    ASSERT_TRUE(conns.back()) << "connection " << i;
  }
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == kConnections; }, 10s));

  // Every request is in flight before the first reply is read.
  std::vector<std::vector<std::byte>> requests(kConnections, std::vector<std::byte>(200));
  auto deadline = net::Deadline::after(testing::kTestIoTimeout);
  for (std::size_t i = 0; i < kConnections; ++i) {
    fill_pattern(requests[i], i);
    ASSERT_TRUE(net::send_all(conns[i].fd(), requests[i], deadline)) << i;
  }
  std::vector<std::byte> reply(200);
  for (std::size_t i = 0; i < kConnections; ++i) {
    auto r = net::recv_exact(conns[i].fd(), reply, deadline);
    ASSERT_TRUE(r) << "connection " << i << ": " << r.error().message();
    EXPECT_EQ(reply, requests[i]) << "connection " << i << " got another's bytes";
  }
  EXPECT_GE(server().stats().peak, kConnections);

  // Still responsive: a newcomer and an old-timer both echo.
  net::Socket newcomer = connect();
  EXPECT_TRUE(prompt_echo(newcomer.fd(), 64, 1));
  EXPECT_TRUE(prompt_echo(conns.front().fd(), 64, 2));
  conns.clear();
  newcomer.reset();
  EXPECT_TRUE(server().wait_until([](const Stats& s) { return s.active == 0; }, 10s));
  EXPECT_EQ(server().stats().closed(CloseCause::kClientEof), kConnections + 1);
}

// A client resets its connection (SO_LINGER 0) with bytes in flight both ways. The server
// closes that connection as an error and carries on serving everyone else.
TEST_F(EchoAbuse, AClientResettingMidStreamHurtsOnlyItself) {
  net::Socket other = connect();
  ASSERT_TRUE(prompt_echo(other.fd(), 64, 1));
  {
    net::Socket rude = connect();
    std::vector<std::byte> burst(256 * 1024);
    fill_pattern(burst, 2);
    ssize_t n = ::send(rude.fd(), burst.data(), burst.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ASSERT_GT(n, 0);
    // Mid-stream: the server has read some of it and echoed some back, unread.
    ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.bytes_out > 64; }));
    ASSERT_TRUE(net::set_reset_on_close(rude.fd()));
  }  // RST
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == 1; }));
  Stats st = server().stats();
  EXPECT_EQ(st.closed(CloseCause::kError), 1u);
  EXPECT_EQ(st.buffered, 0u) << "the reset connection's buffer was not released";
  for (std::uint64_t i = 0; i < 20; ++i) {
    auto r = prompt_echo(other.fd(), 1000, i);
    ASSERT_TRUE(r) << r.error().message();
  }
  net::Socket next = connect();
  EXPECT_TRUE(prompt_echo(next.fd(), 64, 3));
}

// Connections that come and go without a byte cost nothing and count as client EOFs.
TEST_F(EchoAbuse, ConnectAndCloseChurnLeavesNothingBehind) {
  constexpr std::uint64_t kChurn = 100;
  for (std::uint64_t i = 0; i < kChurn; ++i) connect();  // each closed as the statement ends
  ASSERT_TRUE(server().wait_until(
      [](const Stats& s) { return s.accepted == kChurn && s.active == 0; }, 10s));
  Stats st = server().stats();
  EXPECT_EQ(st.closed(CloseCause::kClientEof), kChurn);
  EXPECT_EQ(st.buffered, 0u);
  net::Socket s = connect();
  EXPECT_TRUE(prompt_echo(s.fd(), 64, 1));
}

}  // namespace
}  // namespace tcppool::echo
