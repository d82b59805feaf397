// exercises/stage5/exercise1_test.cpp: the grader of stage 5's exercise 1, "A deadline for the
// whole of run()" (docs/stage5-context-timeouts.md#exercises): with Options::retry_share,
// run()'s retry starts only if at least that share of the context's budget, as it was when
// run() began, is left. `make workshop-test STAGE=5 EXERCISE=1` runs it; it fails on the
// reference stage 5, which retries whatever is left, and passes with
// exercises/stage5/exercise1.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage5;

namespace {

using namespace std::chrono_literals;
using tcppool::testing::echo_once;
using tcppool::testing::eventually;

class Stage5Exercise1 : public tcppool::testing::EchoServerTest {
 protected:
  // A pool with one idle connection, so that run()'s first attempt is on a reused one.
  std::unique_ptr<stage::Pool> warm_pool(double retry_share) {
    stage::Options o{.endpoint = endpoint()};
    o.retry_share = retry_share;
    auto pool = std::make_unique<stage::Pool>(o);
    {
      auto lease = pool->acquire();
      EXPECT_TRUE(lease) << lease.error();
    }
    EXPECT_TRUE(eventually([&] { return pool->idle_count() == 1; }));
    return pool;
  }

  // A request whose first attempt takes `first_takes` and then fails as a stale connection
  // does; a retry echoes. Returns how many attempts run() made, and run()'s result.
  static std::pair<int, std::expected<void, std::error_code>> request(
      stage::Pool& pool, const stage::Context& ctx, std::chrono::milliseconds first_takes) {
    int attempts = 0;
    auto r = pool.run(
        ctx,
        [&](stage::Lease& lease) -> std::expected<void, std::error_code> {
          if (++attempts == 1) {
            std::this_thread::sleep_for(first_takes);  // the slow first attempt, by design
            return std::unexpected(std::make_error_code(std::errc::connection_reset));
          }
          return echo_once(lease.fd());
        },
        stage::Idempotent::kYes);
    return {attempts, r};
  }
};

// The first attempt used four fifths of a 200 ms budget: a fifth is left, below the quarter
// asked for, so run() returns the first failure instead of starting a retry likely to time out.
TEST_F(Stage5Exercise1, NoRetryWhenLessThanTheShareIsLeft) {
  auto pool = warm_pool(0.25);
  auto [attempts, r] = request(*pool, stage::Context::background().with_timeout(200ms), 160ms);
  EXPECT_EQ(attempts, 1) << "a retry with a fifth of the budget left";
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_reset) << r.error().message();
}

// A first attempt that failed at once leaves nearly all the budget: the retry is made.
TEST_F(Stage5Exercise1, ARetryWhenEnoughIsLeft) {
  auto pool = warm_pool(0.25);
  auto [attempts, r] = request(*pool, stage::Context::background().with_timeout(2s), 0ms);
  EXPECT_EQ(attempts, 2);
  EXPECT_TRUE(r) << r.error().message();
}

// Without a deadline there is no budget to share: the retry is made, as before.
TEST_F(Stage5Exercise1, NoDeadlineAlwaysAllowsTheRetry) {
  auto pool = warm_pool(0.9);
  auto [attempts, r] = request(*pool, stage::Context::background(), 50ms);
  EXPECT_EQ(attempts, 2);
  EXPECT_TRUE(r) << r.error().message();
}

TEST(Stage5Exercise1Options, AShareOutsideZeroToOneIsRejectedNamingTheOption) {
  for (double bad : {-0.1, 1.5}) {
    stage::Options o{.endpoint = "127.0.0.1:7"};
    o.retry_share = bad;
    try {
      o.validate();
      ADD_FAILURE() << "accepted retry_share " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("Options.retry_share"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(stage::Options{}.retry_share, 0.0) << "0, the default: retry whatever is left";
}

}  // namespace
