// Tests for common/net/io.hpp: whole-buffer I/O with deadlines, and the peer-closed check.
#include "common/net/io.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <numeric>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/tcp_pair.hpp"

namespace tcppool::net {
namespace {

using namespace std::chrono_literals;
using testing::tcp_pair;

std::vector<std::byte> bytes(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i * 7 + 3);
  return v;
}

// Caps both socket buffers of a connection at a few hundred KiB (well above the loopback MSS of
// 64 KiB: a receive buffer below two segments stalls TCP on zero-window probes).
void shrink_buffers(const testing::TcpPair& pair) {
  int snd = 64 << 10;
  int rcv = 256 << 10;
  ::setsockopt(pair.client.fd(), SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  ::setsockopt(pair.server.fd(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
}

// Many times the socket buffers, so send_all must wait for the reader many times and
// recv_exact must gather many partial reads.
TEST(SendRecv, MoveWholeBuffersThroughPartialTransfers) {
  for (Deadline deadline : {Deadline::never(), Deadline::after(20s)}) {
    auto pair = tcp_pair();
    shrink_buffers(pair);
    const auto out = bytes(8 << 20);
    std::jthread writer([&] { EXPECT_TRUE(send_all(pair.client.fd(), out, deadline)); });
    std::vector<std::byte> in(out.size());
    auto r = recv_exact(pair.server.fd(), in, deadline);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(in, out);
  }
}

TEST(SendRecv, WorkOnANonBlockingSocketWithoutDeadline) {
  auto pair = tcp_pair();
  ASSERT_TRUE(set_nonblocking(pair.server.fd()));
  const auto out = bytes(1000);
  std::jthread writer([&] {
    std::this_thread::sleep_for(20ms);  // make the reader find nothing and wait in poll()
    EXPECT_TRUE(send_all(pair.client.fd(), out));
  });
  std::vector<std::byte> in(out.size());
  ASSERT_TRUE(recv_exact(pair.server.fd(), in));
  EXPECT_EQ(in, out);
}

TEST(SendRecv, EmptyBuffersSucceedAtOnce) {
  auto pair = tcp_pair();
  EXPECT_TRUE(send_all(pair.client.fd(), {}, Deadline::after(1s)));
  EXPECT_TRUE(recv_exact(pair.client.fd(), {}, Deadline::after(1s)));
}

TEST(RecvExact, TimesOutWhenNothingArrives) {
  auto pair = tcp_pair();
  std::vector<std::byte> in(8);
  auto start = Clock::now();
  auto r = recv_exact(pair.client.fd(), in, Deadline::after(50ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTimeout);
  EXPECT_GE(Clock::now() - start, 50ms);
}

TEST(RecvExact, TimesOutAfterAPartialRead) {
  auto pair = tcp_pair();
  ASSERT_TRUE(send_all(pair.server.fd(), bytes(3)));
  std::vector<std::byte> in(8);
  EXPECT_EQ(recv_exact(pair.client.fd(), in, Deadline::after(50ms)).error(), Errc::kTimeout);
  EXPECT_EQ(in[0], bytes(3)[0]) << "the bytes that did arrive are in the buffer";
}

// A message cut short (some bytes, then EOF) is not the same as a connection already gone
// (EOF before any byte): stage 4 retries a request only for the second.
TEST(RecvExact, PeerClosedMidReadIsTruncatedAndThenPeerClosed) {
  for (Deadline d : {Deadline::never(), Deadline::after(5s)}) {
    auto pair = tcp_pair();
    ASSERT_TRUE(send_all(pair.server.fd(), bytes(10)));
    pair.server.reset();
    std::vector<std::byte> in(20);
    auto cut = recv_exact(pair.client.fd(), in, d);
    ASSERT_FALSE(cut);
    EXPECT_EQ(cut.error(), Errc::kTruncated) << cut.error().message();
    auto gone = recv_exact(pair.client.fd(), in, d);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error(), Errc::kPeerClosed) << gone.error().message();
  }
}

TEST(RecvExact, PeerResetMidReadIsTruncated) {
  auto pair = tcp_pair();
  ASSERT_TRUE(send_all(pair.server.fd(), bytes(10)));
  ASSERT_TRUE(wait_ready(pair.client.fd(), POLLIN, Deadline::after(5s)));
  std::vector<std::byte> first(5);
  ASSERT_TRUE(recv_exact(pair.client.fd(), first, Deadline::after(5s)));
  // Unread bytes in the server's receive queue make its close a reset.
  ASSERT_TRUE(send_all(pair.client.fd(), bytes(3)));
  ASSERT_TRUE(wait_ready(pair.server.fd(), POLLIN, Deadline::after(5s)));
  pair.server.reset();
  std::vector<std::byte> in(20);
  auto r = recv_exact(pair.client.fd(), in, Deadline::after(5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTruncated) << r.error().message();
}

TEST(RecvExact, PeerResetIsConnectionReset) {
  auto pair = tcp_pair();
  ASSERT_TRUE(set_reset_on_close(pair.server.fd()));
  pair.server.reset();
  std::vector<std::byte> in(4);
  auto r = recv_exact(pair.client.fd(), in, Deadline::after(5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_reset);
}

TEST(RecvExact, BadDescriptorFails) {
  std::vector<std::byte> in(4);
  EXPECT_EQ(recv_exact(-1, in).error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(send_all(-1, bytes(4)).error(), std::errc::bad_file_descriptor);
}

TEST(SendAll, TimesOutWhenThePeerDoesNotRead) {
  auto pair = tcp_pair();
  shrink_buffers(pair);
  auto start = Clock::now();
  auto r = send_all(pair.client.fd(), bytes(16 << 20), Deadline::after(100ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kTimeout);
  EXPECT_GE(Clock::now() - start, 100ms);
  EXPECT_LT(Clock::now() - start, 10s);
}

// Without MSG_NOSIGNAL the second send would raise SIGPIPE and kill the test binary.
TEST(SendAll, ToAResetPeerFailsWithoutSigpipe) {
  auto pair = tcp_pair();
  ASSERT_TRUE(set_reset_on_close(pair.server.fd()));
  pair.server.reset();
  ASSERT_TRUE(wait_ready(pair.client.fd(), POLLIN, Deadline::after(5s)));  // the RST is here
  std::error_code error;
  for (int i = 0; i < 3 && !error; ++i) {
    if (auto r = send_all(pair.client.fd(), bytes(64), Deadline::after(5s)); !r) error = r.error();
  }
  EXPECT_TRUE(error == std::errc::broken_pipe || error == std::errc::connection_reset)
      << error.message();
}

TEST(WaitReady, ReportsReadableAndTimesOut) {
  auto pair = tcp_pair();
  auto quiet = wait_ready(pair.client.fd(), POLLIN, Deadline::after(20ms));
  ASSERT_FALSE(quiet);
  EXPECT_EQ(quiet.error(), Errc::kTimeout);
  ASSERT_TRUE(send_all(pair.server.fd(), bytes(1)));
  auto ready = wait_ready(pair.client.fd(), POLLIN, Deadline::after(5s));
  ASSERT_TRUE(ready);
  EXPECT_NE(*ready & POLLIN, 0);
  auto writable = wait_ready(pair.client.fd(), POLLOUT, Deadline::never());
  ASSERT_TRUE(writable);
  EXPECT_NE(*writable & POLLOUT, 0);
}

// poll() skips a negative descriptor silently; without a check this would wait forever.
TEST(WaitReady, NegativeDescriptorIsBadDescriptorAtOnce) {
  EXPECT_EQ(wait_ready(-1, POLLIN, Deadline::never()).error(), std::errc::bad_file_descriptor);
}

TEST(WaitReady, ClosedDescriptorIsBadDescriptor) {
  int fd;
  {
    auto pair = tcp_pair();
    fd = pair.client.fd();
  }
  EXPECT_EQ(wait_ready(fd, POLLIN, Deadline::after(1s)).error(), std::errc::bad_file_descriptor);
}

TEST(PeekPeer, QuietConnectionIsOpen) {
  auto pair = tcp_pair();
  EXPECT_EQ(peek_peer(pair.client.fd()), PeerState::kOpen);
  EXPECT_FALSE(peer_closed(pair.client.fd()));
}

TEST(PeekPeer, UnexpectedBytesAreReadableAndNotConsumed) {
  auto pair = tcp_pair();
  ASSERT_TRUE(send_all(pair.server.fd(), bytes(2)));
  ASSERT_TRUE(wait_ready(pair.client.fd(), POLLIN, Deadline::after(5s)));
  EXPECT_EQ(peek_peer(pair.client.fd()), PeerState::kReadable);
  EXPECT_FALSE(peer_closed(pair.client.fd()));
  std::vector<std::byte> in(2);
  ASSERT_TRUE(recv_exact(pair.client.fd(), in, Deadline::after(5s)));
  EXPECT_EQ(in, bytes(2));
}

TEST(PeekPeer, ClosedPeerIsClosed) {
  auto pair = tcp_pair();
  pair.server.reset();
  ASSERT_TRUE(wait_ready(pair.client.fd(), POLLIN, Deadline::after(5s)));
  EXPECT_EQ(peek_peer(pair.client.fd()), PeerState::kClosed);
  EXPECT_TRUE(peer_closed(pair.client.fd()));
}

TEST(PeekPeer, ResetPeerIsClosed) {
  auto pair = tcp_pair();
  ASSERT_TRUE(set_reset_on_close(pair.server.fd()));
  pair.server.reset();
  ASSERT_TRUE(wait_ready(pair.client.fd(), POLLIN, Deadline::after(5s)));
  EXPECT_TRUE(peer_closed(pair.client.fd()));
}

TEST(PeekPeer, NeverBlocksOnABlockingSocket) {
  auto pair = tcp_pair();  // blocking mode: a plain recv() here would wait forever
  for (int i = 0; i < 100; ++i) EXPECT_EQ(peek_peer(pair.client.fd()), PeerState::kOpen);
}

}  // namespace
}  // namespace tcppool::net
