// exercises/stage2/exercise3_test.cpp: the grader of stage 2's exercise 3, "A first cap"
// (docs/stage2-mutex-queue.md#exercises): Options::max_open caps idle, in-use and dialing
// connections together, and acquire() at the cap fails with Errc::kPoolExhausted. Zero, the
// default, means no cap. `make workshop-test STAGE=2 EXERCISE=3` runs it; it fails on the
// reference stage 2 and passes with exercises/stage2/exercise3.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage2;

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;
using tcppool::echo::Stats;
using tcppool::testing::echo_once;
using tcppool::testing::eventually;

class Stage2Exercise3 : public tcppool::testing::EchoServerTest {};

TEST_F(Stage2Exercise3, AcquireAtTheCapFailsWithPoolExhausted) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 2, .max_open = 2});
  const auto dials = tcppool::net::dial_count();
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  auto c = pool.acquire();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), Errc::kPoolExhausted) << c.error().message();
  a->reset();
  auto d = pool.acquire();
  ASSERT_TRUE(d) << "a released connection is there to take";
  EXPECT_TRUE(echo_once(d->fd()));
  // Counted at this end: the server may not have accepted b's connection yet.
  EXPECT_EQ(tcppool::net::dial_count() - dials, 2u) << "no dial at the cap, none for d";
}

TEST_F(Stage2Exercise3, ADiscardFreesItsSlot) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1});
  auto a = pool.acquire();
  ASSERT_TRUE(a);
  a->discard();
  auto b = pool.acquire();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_TRUE(echo_once(b->fd()));
}

TEST_F(Stage2Exercise3, AFailedDialGivesItsSlotBack) {
  std::uint16_t port;
  {
    auto l = tcppool::net::listen_on(tcppool::net::Endpoint::loopback(0));
    ASSERT_TRUE(l);
    port = *tcppool::net::local_port(l->fd());
  }
  stage::Pool pool({.endpoint = "127.0.0.1:" + std::to_string(port), .max_idle = 1, .max_open = 1});
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.acquire();
    ASSERT_FALSE(lease);
    EXPECT_EQ(lease.error(), std::errc::connection_refused)
        << "try " << i << ": " << lease.error().message();
  }
}

// The slot is taken before the dial, not after it succeeds: while one thread dials a server
// that does not answer, a second acquire() is over the cap at once, and dials nothing.
TEST_F(Stage2Exercise3, ADialUnderWayHoldsItsSlot) {
  auto listener = tcppool::net::listen_on(tcppool::net::Endpoint::loopback(0), 1);
  ASSERT_TRUE(listener);
  auto where = tcppool::net::Endpoint::loopback(*tcppool::net::local_port(listener->fd()));
  std::vector<tcppool::net::Socket> fill;  // fill the backlog: further SYNs go unanswered
  for (int i = 0; i < 8; ++i) {
    auto s = tcppool::net::dial(where, tcppool::net::Deadline::after(100ms));
    if (!s) break;
    fill.push_back(std::move(*s));
  }
  stage::Pool pool(
      {.endpoint = where.to_string(), .dial_timeout = 2s, .max_idle = 1, .max_open = 1});
  auto dials = tcppool::net::dial_count();
  std::jthread dialer([&] {
    auto lease = pool.acquire();
    EXPECT_FALSE(lease) << "the backlog is full: the dial times out";
  });
  ASSERT_TRUE(eventually([&] { return tcppool::net::dial_count() > dials; }));
  auto second = pool.acquire();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), Errc::kPoolExhausted) << second.error().message();
  EXPECT_EQ(tcppool::net::dial_count(), dials + 1) << "the second acquire() dialed too";
}

TEST_F(Stage2Exercise3, ZeroMeansNoCap) {
  stage::Pool pool({.endpoint = endpoint()});
  std::vector<stage::Lease> held;
  for (int i = 0; i < 20; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << "lease " << i << ": " << lease.error().message();
    held.push_back(std::move(*lease));
  }
  EXPECT_TRUE(server().wait_until([](const Stats& s) { return s.active == 20; }));
}

TEST(Stage2Exercise3Options, MaxIdleAboveMaxOpenIsRejectedNamingTheOption) {
  try {
    stage::Options{.endpoint = "127.0.0.1:7", .max_idle = 9, .max_open = 8}.validate();
    FAIL() << "max_idle above max_open accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("Options.max_idle"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("max_open"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW((stage::Options{.endpoint = "127.0.0.1:7", .max_idle = 9}.validate()))
      << "no cap: any max_idle";
}

}  // namespace
