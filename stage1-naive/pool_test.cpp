// Tests for stage1-naive: the basic conformance suite, plus what makes this pool naive.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <barrier>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/testing/conformance/basic.hpp"
#include "common/testing/conformance/network_faults.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/fd_count.hpp"

namespace stage = tcppool::stage1;

namespace tcppool::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Stage1Basic, BasicConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage1NetworkFaults, NetworkFaultsConformance, stage::Pool);
}  // namespace tcppool::testing

namespace {

using tcppool::echo::Stats;
using tcppool::testing::echo_once;

class Stage1Pool : public tcppool::testing::EchoServerTest {
 protected:
  stage::Options options() const { return {.endpoint = endpoint()}; }
};

TEST_F(Stage1Pool, EveryAcquireIsAFreshConnection) {
  stage::Pool pool(options());
  for (std::uint64_t i = 1; i <= 5; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(echo_once(lease->fd(), 64, i));
    EXPECT_TRUE(wait_accepted(i));
    EXPECT_EQ(server().stats().accepted, i) << "acquire " << i << " must dial exactly once";
  }
}

TEST_F(Stage1Pool, ReleaseClosesTheConnection) {
  stage::Pool pool(options());
  tcppool::testing::FdLeakGuard guard;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    ASSERT_TRUE(echo_once(lease->fd()));  // the server has accepted by now
    EXPECT_EQ(guard.leaked(), 2) << "one connection: the client's descriptor and the server's";
  }
  EXPECT_TRUE(server().wait_until([](const Stats& s) { return s.active == 0; }));
  EXPECT_EQ(guard.leaked(), 0) << "release must close the connection";
  EXPECT_EQ(server().stats().closed(tcppool::echo::CloseCause::kClientEof), 1u);
}

TEST_F(Stage1Pool, ExplicitResetClosesAtOnce) {
  stage::Pool pool(options());
  tcppool::testing::FdLeakGuard guard;
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  lease->reset();
  EXPECT_FALSE(*lease);
  EXPECT_TRUE(server().wait_until([](const Stats& s) { return s.accepted == 1 && s.active == 0; }));
  EXPECT_EQ(guard.leaked(), 0);
}

// Every thread holds its lease until all have one: with nothing to share, 32 concurrent
// acquires are 32 concurrent connections.
TEST_F(Stage1Pool, ManyThreadsAtOnceOpenOneConnectionEach) {
  constexpr int kThreads = 32;
  stage::Pool pool(options());
  std::barrier all_holding(kThreads);
  std::vector<std::jthread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto lease = pool.acquire();
      EXPECT_TRUE(lease) << lease.error().message();
      if (lease) {
        EXPECT_TRUE(echo_once(lease->fd(), 64, t));
      }
      all_holding.arrive_and_wait();  // reached on every path: a failure must not hang the rest
    });
  }
  threads.clear();
  EXPECT_EQ(server().stats().accepted, static_cast<std::uint64_t>(kThreads));
  EXPECT_EQ(server().stats().peak, static_cast<std::uint64_t>(kThreads));
}

TEST_F(Stage1Pool, OptionsKeepsWhatWasGiven) {
  stage::Pool pool({.endpoint = endpoint(), .dial_timeout = std::chrono::milliseconds(250)});
  EXPECT_EQ(pool.options().endpoint, endpoint());
  EXPECT_EQ(pool.options().dial_timeout, std::chrono::milliseconds(250));
  EXPECT_TRUE(pool.options().tcp_nodelay);
}

TEST(Stage1Options, ValidateNamesTheOption) {
  EXPECT_NO_THROW((stage::Options{.endpoint = "127.0.0.1:7"}.validate()));
  try {
    stage::Options{.endpoint = "localhost:0"}.validate();
    FAIL() << "port 0 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "Options.endpoint: \"localhost:0\": bad port: expected a number in 1..65535 "
                 "without leading zeros");
  }
  EXPECT_THROW((stage::Options{.endpoint = "127.0.0.1:7", .dial_timeout = {}}.validate()),
               std::invalid_argument);
}

}  // namespace
