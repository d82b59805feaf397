// exercises/stage2/exercise2_test.cpp: the grader of stage 2's exercise 2, "An idle timeout"
// (docs/stage2-mutex-queue.md#exercises): a connection idle for longer than
// Options::idle_timeout is closed instead of handed out. `make workshop-test STAGE=2
// EXERCISE=2` runs it; it fails on the reference stage 2 and passes with
// exercises/stage2/exercise2.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "common/testing/echo_fixture.hpp"

namespace stage = tcppool::stage2;

namespace {

using namespace std::chrono_literals;
using tcppool::echo::CloseCause;
using tcppool::echo::Stats;
using tcppool::testing::echo_once;

// A server that closes connections idle for 300 ms: ten times the pool's idle timeout below.
class Stage2Exercise2 : public tcppool::testing::EchoServerTest {
 protected:
  tcppool::echo::Options server_options() const override {
    return {.faults = {.idle_close = 300ms}};
  }
};

// By the time the server has closed an idle connection, the pool's 30 ms are long past: the
// next acquire() dials instead of handing out the dead connection.
TEST_F(Stage2Exercise2, AConnectionIdleTooLongIsNotHandedOut) {
  stage::Pool pool({.endpoint = endpoint(), .idle_timeout = 30ms});
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(echo_once(lease->fd()));
  }
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.closed(CloseCause::kIdle) == 1; }));
  auto lease = pool.acquire();
  ASSERT_TRUE(lease) << lease.error().message();
  auto r = echo_once(lease->fd());
  EXPECT_TRUE(r) << "handed out the connection the server closed: " << r.error().message();
  EXPECT_EQ(server().stats().accepted, 2u) << "a fresh dial";
}

TEST_F(Stage2Exercise2, AConnectionIdleLessIsReused) {
  stage::Pool pool({.endpoint = endpoint(), .idle_timeout = 10s});
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(echo_once(lease->fd(), 64, i));
  }
  EXPECT_EQ(server().stats().accepted, 1u);
}

// Expired connections are closed, not kept: the idle count and the server both see it. The
// sleep is the test's subject: time passing, with nothing to wait for instead.
class Stage2Exercise2Quiet : public tcppool::testing::EchoServerTest {};

TEST_F(Stage2Exercise2Quiet, ExpiredConnectionsAreClosedNotKept) {
  stage::Pool pool({.endpoint = endpoint(), .idle_timeout = 30ms});
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    ASSERT_TRUE(a && b && c);
  }
  ASSERT_EQ(pool.idle_count(), 3u);
  std::this_thread::sleep_for(100ms);
  auto lease = pool.acquire();
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_TRUE(echo_once(lease->fd()));
  EXPECT_EQ(pool.idle_count(), 0u) << "the three expired connections were closed";
  EXPECT_TRUE(server().wait_until([](const Stats& s) { return s.accepted == 4 && s.active == 1; }))
      << "accepted " << server().stats().accepted << ", open " << server().stats().active;
}

TEST(Stage2Exercise2Options, ANegativeIdleTimeoutIsRejectedNamingTheOption) {
  try {
    stage::Options{.endpoint = "127.0.0.1:7", .idle_timeout = -1ms}.validate();
    FAIL() << "a negative idle_timeout accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("Options.idle_timeout"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW((stage::Options{.endpoint = "127.0.0.1:7", .idle_timeout = 0ms}.validate()))
      << "zero: no timeout";
}

}  // namespace
