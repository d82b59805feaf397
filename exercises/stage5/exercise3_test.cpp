// exercises/stage5/exercise3_test.cpp: the grader of stage 5's exercise 3, "Hardcore: deadline
// propagation" (docs/stage5-context-timeouts.md#exercises). The attempt's deadline_echo.hpp
// holds both halves: send_with_deadline() prefixes a request with the milliseconds its context
// has left (4 bytes, big-endian; 0 for no deadline), and DeadlineEchoServer, a variant of the
// echo server, drops a request whose deadline would pass before its answer, without doing the
// work. `make workshop-test STAGE=5 EXERCISE=3` runs it; it fails on the reference stage 5,
// which has no such file, and passes with exercises/stage5/exercise3.patch.
#include "deadline_echo.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "common/net/deadline.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/wait.hpp"
#include "pool.hpp"

namespace stage = tcppool::stage5;
namespace net = tcppool::net;

namespace {

using namespace std::chrono_literals;
using tcppool::testing::eventually;

constexpr std::size_t kSize = 64;

// The prefix as a server reads it.
std::uint32_t big_endian(const std::array<std::byte, 4>& b) {
  return std::to_integer<std::uint32_t>(b[0]) << 24 | std::to_integer<std::uint32_t>(b[1]) << 16 |
         std::to_integer<std::uint32_t>(b[2]) << 8 | std::to_integer<std::uint32_t>(b[3]);
}

// What send_with_deadline() puts on the wire, read by a plain listener.
TEST(Stage5Exercise3, TheRequestCarriesTheTimeItsContextHasLeft) {
  auto listener = net::listen_on(net::Endpoint::loopback(0));
  ASSERT_TRUE(listener);
  std::string endpoint = "127.0.0.1:" + std::to_string(*net::local_port(listener->fd()));
  stage::Pool pool({.endpoint = endpoint});
  std::array<std::byte, kSize> payload{};
  payload.fill(std::byte{7});
  auto read_prefix = [&](const stage::Context& ctx) -> std::uint32_t {
    auto lease = pool.acquire();
    EXPECT_TRUE(lease) << lease.error();
    if (!lease) return 0;
    EXPECT_TRUE(stage::send_with_deadline(*lease, ctx, payload));
    net::Socket peer(::accept4(listener->fd(), nullptr, nullptr, SOCK_CLOEXEC));
    std::array<std::byte, 4> prefix{};
    std::array<std::byte, kSize> body{};
    EXPECT_TRUE(net::recv_exact(peer.fd(), prefix, net::Deadline::after(5s)));
    EXPECT_TRUE(net::recv_exact(peer.fd(), body, net::Deadline::after(5s)));
    EXPECT_EQ(body, payload) << "the payload follows the prefix unchanged";
    lease->discard();
    return big_endian(prefix);
  };
  std::uint32_t left = read_prefix(stage::Context::background().with_timeout(800ms));
  EXPECT_GT(left, 0u);
  EXPECT_LE(left, 800u) << "milliseconds left, big-endian";
  EXPECT_EQ(read_prefix(stage::Context::background()), 0u) << "no deadline: 0";
}

class Stage5Exercise3Server : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = stage::DeadlineEchoServer::start(kSize, /*work=*/100ms);
    ASSERT_TRUE(s) << s.error().message();
    server_ = std::move(*s);
  }

  // One request through a pool, within `ctx`; returns whether the echo came back.
  bool request(stage::Pool& pool, const stage::Context& ctx, std::uint8_t fill) {
    auto lease = pool.acquire();
    EXPECT_TRUE(lease) << lease.error();
    if (!lease) return false;
    std::array<std::byte, kSize> payload{}, reply{};
    payload.fill(std::byte{fill});
    if (!stage::send_with_deadline(*lease, ctx, payload)) return false;
    auto got = lease->receive(reply, ctx);
    if (!got) return false;
    EXPECT_EQ(reply, payload);
    return true;
  }

  std::unique_ptr<stage::DeadlineEchoServer> server_;
};

// A server that needs 100 ms answers a request with time to spare, and one without a deadline.
TEST_F(Stage5Exercise3Server, ARequestWithTimeLeftIsAnswered) {
  stage::Pool pool({.endpoint = server_->endpoint()});
  EXPECT_TRUE(request(pool, stage::Context::background().with_timeout(3s), 1));
  EXPECT_TRUE(request(pool, stage::Context::background(), 2));
  EXPECT_EQ(server_->answered(), 2u);
  EXPECT_EQ(server_->dropped(), 0u);
}

// A request with 30 ms left, to a server that needs 100 ms, is dropped on arrival: the caller
// has given up by the time the answer could come, so the work would be for nobody.
TEST_F(Stage5Exercise3Server, ARequestThatCannotBeAnsweredInTimeIsDropped) {
  stage::Pool pool({.endpoint = server_->endpoint()});
  EXPECT_FALSE(request(pool, stage::Context::background().with_timeout(30ms), 3));
  EXPECT_TRUE(eventually([&] { return server_->dropped() == 1; }, 5s))
      << "dropped " << server_->dropped();
  EXPECT_EQ(server_->answered(), 0u) << "no work done for a caller who has gone";
  EXPECT_TRUE(request(pool, stage::Context::background().with_timeout(3s), 4))
      << "the next request, with time, is answered";
}

}  // namespace
