// exercises/stage4/exercise3_test.cpp: the grader of stage 4's exercise 3, "Hardcore: retry
// budgets" (docs/stage4-health-keepalive.md#exercises): with Options::retry_budget, run()'s
// retries across the whole pool are limited by a token bucket that successes refill (gRPC's
// retry throttling), so that however many requests fail, the server sees at most
// 1 + ratio times the requests made, plus the bucket's burst. `make workshop-test STAGE=4
// EXERCISE=3` runs it; it fails on the reference stage 4, which retries every stale request,
// and passes with exercises/stage4/exercise3.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "common/echo/echo_server.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage4;

namespace {

using tcppool::testing::echo_once;
using tcppool::testing::eventually;

class Stage4Exercise3 : public tcppool::testing::EchoServerTest {
 protected:
  stage::Options options(stage::RetryBudget budget) const {
    stage::Options o{.endpoint = endpoint()};
    o.retry_budget = budget;
    o.seed = 7;
    return o;
  }
};

// Half of all reads reset: without a budget run() retries about a third of its requests (every
// stale one on a reused connection). With a budget of a tenth and a burst of 10, the requests
// sent, retries included, stay within 1.1 times the requests made, plus 10.
TEST_F(Stage4Exercise3, RetriesStayWithinTheBudgetHoweverManyFail) {
  stage::Pool pool(options({.ratio = 0.1, .burst = 10}));
  server().set_faults({.reset_probability = 0.5});
  constexpr int kRequests = 400;
  int sent = 0;
  for (int i = 0; i < kRequests; ++i) {
    (void)pool.run(
        [&](stage::Lease& lease) {
          ++sent;
          return echo_once(lease.fd(), 64, static_cast<std::uint64_t>(i));
        },
        stage::Idempotent::kYes);
  }
  EXPECT_GT(sent, kRequests) << "no retry at all: the budget's burst allows some";
  EXPECT_LE(sent, kRequests + kRequests / 10 + 10)
      << "retries beyond the budget: " << sent - kRequests << " for " << kRequests << " requests";
}

// Once the bucket is empty, run() returns the first failure without a second attempt.
TEST_F(Stage4Exercise3, AnEmptyBudgetReturnsTheFirstFailure) {
  stage::Pool pool(options({.ratio = 0.01, .burst = 1}));
  {
    std::vector<stage::Lease> held;  // two idle connections, for two reused attempts
    for (int i = 0; i < 2; ++i) {
      auto lease = pool.acquire();
      ASSERT_TRUE(lease) << lease.error().message();
      held.push_back(std::move(*lease));
    }
  }
  ASSERT_TRUE(eventually([&] { return pool.idle_count() == 2; }));
  server().set_faults({.reset_probability = 1.0});
  auto attempts = [&] {
    int calls = 0;
    auto r = pool.run(
        [&](stage::Lease& lease) {
          ++calls;
          return echo_once(lease.fd());
        },
        stage::Idempotent::kYes);
    EXPECT_FALSE(r) << "every read is reset";
    return calls;
  };
  EXPECT_EQ(attempts(), 2) << "the burst's one token: a retry";
  EXPECT_EQ(attempts(), 1) << "no token left: the first failure, not retried";
}

TEST(Stage4Exercise3Options, AnInvalidBudgetIsRejectedNamingTheOption) {
  for (stage::RetryBudget bad :
       {stage::RetryBudget{.ratio = 0, .burst = 10}, stage::RetryBudget{.ratio = 1.5, .burst = 10},
        stage::RetryBudget{.ratio = 0.1, .burst = 0.5}}) {
    stage::Options o{.endpoint = "127.0.0.1:7"};
    o.retry_budget = bad;
    try {
      o.validate();
      ADD_FAILURE() << "accepted ratio " << bad.ratio << ", burst " << bad.burst;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("Options.retry_budget"), std::string::npos) << e.what();
    }
  }
  stage::Options o{.endpoint = "127.0.0.1:7"};
  o.retry_budget = stage::RetryBudget{};
  EXPECT_NO_THROW(o.validate()) << "the defaults: a tenth, a burst of 10";
  EXPECT_FALSE(stage::Options{}.retry_budget.has_value()) << "no budget unless asked";
}

}  // namespace
