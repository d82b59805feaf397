// exercises/stage1/exercise3_test.cpp: the grader of stage 1's exercise 3, "Let the server
// close first" (docs/stage1-naive.md#exercises). Options::await_server_close makes release wait,
// up to that long, for the server's end of file before closing, so that the server, having
// closed first, keeps TIME_WAIT. `make workshop-test STAGE=1 EXERCISE=3` runs it; it fails on
// the reference stage 1 and passes with the answer, exercises/stage1/exercise3.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "common/net/deadline.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"
#include "exercises/stage1/time_wait.hpp"

namespace stage = tcppool::stage1;

namespace {

using namespace std::chrono_literals;
using tcppool::echo::CloseCause;
using tcppool::echo::Stats;
using tcppool::exercises::time_wait_at_clients;
using tcppool::exercises::time_wait_at_server;
using tcppool::net::Clock;
using tcppool::testing::echo_once;
using tcppool::testing::eventually;

// A server that closes a connection 1 ms after it last wrote: the end of every echo.
class Stage1Exercise3 : public tcppool::testing::EchoServerTest {
 protected:
  tcppool::echo::Options server_options() const override { return {.faults = {.idle_close = 1ms}}; }
};

TEST_F(Stage1Exercise3, TheServerClosesFirstAndKeepsTimeWait) {
  stage::Pool pool({.endpoint = endpoint(), .await_server_close = 2s});
  constexpr int kRequests = 10;
  for (int i = 0; i < kRequests; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(echo_once(lease->fd(), 64, i));
  }
  EXPECT_TRUE(server().wait_until([](const Stats& s) {
    return s.closed(CloseCause::kIdle) == kRequests;
  })) << "every connection was closed by the server";
  EXPECT_TRUE(eventually([&] { return time_wait_at_server(server().port()) == kRequests; }))
      << time_wait_at_server(server().port()) << " at the server";
  EXPECT_EQ(time_wait_at_clients(server().port()), 0);
}

// A server that does not close: release gives up at the bound, and closes as before.
class Stage1Exercise3ServerKeepsOpen : public tcppool::testing::EchoServerTest {};

TEST_F(Stage1Exercise3ServerKeepsOpen, ReleaseWaitsNoLongerThanTheBound) {
  stage::Pool pool({.endpoint = endpoint(), .await_server_close = 100ms});
  auto lease = pool.acquire();
  ASSERT_TRUE(lease) << lease.error().message();
  ASSERT_TRUE(echo_once(lease->fd()));
  auto start = Clock::now();
  lease->reset();
  EXPECT_GE(Clock::now() - start, 100ms) << "it waited for the server";
  EXPECT_LT(Clock::now() - start, 5s) << "but not without bound";
  EXPECT_TRUE(
      server().wait_until([](const Stats& s) { return s.closed(CloseCause::kClientEof) == 1; }));
}

TEST(Stage1Exercise3Options, ANegativeWaitIsRejectedNamingTheOption) {
  try {
    stage::Options{.endpoint = "127.0.0.1:7", .await_server_close = -1ms}.validate();
    FAIL() << "a negative await_server_close accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("Options.await_server_close"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(
      (stage::Options{.endpoint = "127.0.0.1:7", .await_server_close = 0ms}.validate()));
}

}  // namespace
