// exercises/stage1/exercise2_test.cpp: the grader of stage 1's exercise 2, "Skip TIME_WAIT
// with SO_LINGER{1, 0}" (docs/stage1-naive.md#exercises). Options::reset_on_close makes
// release reset the connection instead of closing it. `make workshop-test STAGE=1 EXERCISE=2`
// runs it; it fails on the reference stage 1, which has no such option, and passes with the
// answer, exercises/stage1/exercise2.patch (docs/answers/stage1.md says why it is a bad cure).
#include "pool.hpp"

#include <gtest/gtest.h>

#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"
#include "exercises/stage1/time_wait.hpp"

namespace stage = tcppool::stage1;

namespace {

using tcppool::echo::CloseCause;
using tcppool::echo::Stats;
using tcppool::exercises::time_wait_at_clients;
using tcppool::exercises::time_wait_at_server;
using tcppool::testing::echo_once;
using tcppool::testing::eventually;

class Stage1Exercise2 : public tcppool::testing::EchoServerTest {};

TEST_F(Stage1Exercise2, ResetOnCloseLeavesNoTimeWaitOnEitherSide) {
  stage::Pool pool({.endpoint = endpoint(), .reset_on_close = true});
  for (std::uint64_t i = 0; i < 5; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(echo_once(lease->fd(), 64, i));
  }
  // The server sees every connection end in a reset: a failed read, not an orderly close.
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.closed(CloseCause::kError) == 5; }))
      << "the server saw " << server().stats().closed(CloseCause::kClientEof) << " orderly closes";
  EXPECT_EQ(server().stats().closed(CloseCause::kClientEof), 0u);
  EXPECT_EQ(time_wait_at_clients(server().port()), 0);
  EXPECT_EQ(time_wait_at_server(server().port()), 0);
}

// The option is off by default: release still ends with a FIN, and the client keeps TIME_WAIT.
TEST_F(Stage1Exercise2, ByDefaultReleaseStillClosesWithAFin) {
  stage::Pool pool({.endpoint = endpoint()});
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(echo_once(lease->fd()));
  }
  ASSERT_TRUE(
      server().wait_until([](const Stats& s) { return s.closed(CloseCause::kClientEof) == 1; }));
  EXPECT_TRUE(eventually([&] { return time_wait_at_clients(server().port()) == 1; }));
}

}  // namespace
