// exercises/stage5/exercise2_test.cpp: the grader of stage 5's exercise 2, "Park the dial"
// (docs/stage5-context-timeouts.md#exercises): when a caller gives up on a dial, the dial goes
// on, bounded by dial_timeout alone, and parks its connection in the pool for the next caller;
// close() still ends it at once. `make workshop-test STAGE=5 EXERCISE=2` runs it, and `make
// workshop-test STAGE=5` checks that the deadlines suite still passes; it fails on the
// reference stage 5, which abandons the dial, and passes with exercises/stage5/exercise2.patch.
#include "pool.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <vector>

#include "common/net/deadline.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage5;
namespace net = tcppool::net;

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;
using tcppool::testing::eventually;

// A listener whose backlog is full, so that a dial's SYN is dropped and the dial hangs until
// the client's kernel sends the SYN again (after 1 s) and finds room; open_backlog() makes the
// room. (The same trick as the deadlines suite's ADialIsBoundedByTheContext.)
class SlowDial {
 public:
  SlowDial() {
    auto l = net::listen_on(net::Endpoint::loopback(0), 1);
    EXPECT_TRUE(l) << l.error().message();
    listener_ = std::move(*l);
    endpoint_ = "127.0.0.1:" + std::to_string(*net::local_port(listener_.fd()));
    for (int i = 0; i < 16; ++i) {
      auto s = net::dial(*net::Endpoint::parse(endpoint_), net::Deadline::after(100ms));
      if (!s) break;
      fill_.push_back(std::move(*s));
    }
  }

  const std::string& endpoint() const { return endpoint_; }

  // Accepts what fills the backlog: the next SYN finds room.
  void open_backlog() {
    for (std::size_t i = 0; i < fill_.size(); ++i) {
      int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) accepted_.emplace_back(fd);
    }
  }

 private:
  net::Socket listener_;
  std::string endpoint_;
  std::vector<net::Socket> fill_, accepted_;
};

stage::Options options(const std::string& endpoint) {
  stage::Options o{.endpoint = endpoint, .max_idle = 1, .max_open = 1};
  o.dial_timeout = 10s;
  o.retry.attempts = 1;
  return o;
}

// The caller gives up after 150 ms; the dial goes on, gets through once there is room, and
// leaves its connection idle in the pool, where the next acquire finds it without dialing.
TEST(Stage5Exercise2, AnAbandonedDialParksItsConnection) {
  SlowDial server;
  stage::Pool pool(options(server.endpoint()));
  auto lease = pool.acquire(stage::Context::background().with_timeout(150ms));
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kAcquireTimeout) << lease.error();
  server.open_backlog();
  ASSERT_TRUE(eventually([&] { return pool.idle_count() == 1; }, 8s))
      << "the abandoned dial's connection never arrived: open " << pool.open_count();
  EXPECT_EQ(pool.open_count(), 1u);
  auto dials = net::dial_count();
  auto next = pool.acquire(stage::Context::background().with_timeout(1s));
  ASSERT_TRUE(next) << next.error();
  EXPECT_EQ(net::dial_count(), dials) << "the parked connection, not a new dial";
}

// A dial that fails after its caller has gone gives its slot back: the pool is not one
// connection smaller for ever.
TEST(Stage5Exercise2, AnAbandonedDialThatFailsGivesItsSlotBack) {
  SlowDial server;
  auto o = options(server.endpoint());
  o.dial_timeout = 300ms;
  stage::Pool pool(o);
  auto lease = pool.acquire(stage::Context::background().with_timeout(50ms));
  ASSERT_FALSE(lease);
  ASSERT_TRUE(eventually([&] { return pool.open_count() == 0; }, 5s))
      << "the failed dial kept its slot";
  auto again = pool.try_acquire(stage::Context::background().with_timeout(50ms));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error(), Errc::kPoolExhausted) << "the slot is free: it dials, and times out";
}

// close() does not wait out a parked dial's dial_timeout: it stops it at once.
TEST(Stage5Exercise2, CloseStopsAParkedDialAtOnce) {
  SlowDial server;
  auto o = options(server.endpoint());
  o.dial_timeout = std::chrono::minutes(1);
  auto pool = std::make_unique<stage::Pool>(o);
  auto lease = pool->acquire(stage::Context::background().with_timeout(50ms));
  ASSERT_FALSE(lease);
  auto start = net::Clock::now();
  pool.reset();
  EXPECT_LT(net::Clock::now() - start, 5s) << "close() waited for the dial";
}

}  // namespace
