// Tests for stage5-context-timeouts/retry.hpp: which errors are retried, the backoff's bounds,
// and the circuit breaker's states.
#include "retry.hpp"

#include <gtest/gtest.h>
#include <netdb.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;
using tcppool::net::Clock;
namespace stage = tcppool::stage5;
using Pass = stage::DialRetry::Pass;

TEST(Stage5Retry, TransientErrorsAreThoseThatMayPass) {
  for (auto e :
       {std::errc::connection_refused, std::errc::connection_reset, std::errc::host_unreachable,
        std::errc::network_unreachable, std::errc::address_not_available, std::errc::timed_out}) {
    EXPECT_TRUE(stage::is_transient(std::make_error_code(e))) << std::make_error_code(e).message();
  }
  EXPECT_TRUE(stage::is_transient(tcppool::make_error_code(Errc::kTimeout)));
  EXPECT_TRUE(stage::is_transient(tcppool::net::resolver_error(EAI_AGAIN)));
  EXPECT_FALSE(stage::is_transient(tcppool::net::resolver_error(EAI_NONAME)))
      << "a name that does not exist will not exist in 50 ms";
  EXPECT_FALSE(stage::is_transient(std::make_error_code(std::errc::permission_denied)));
  EXPECT_FALSE(stage::is_transient(tcppool::make_error_code(Errc::kPoolClosed)));
}

TEST(Stage5Retry, BackoffDoublesUpToTheCapWithFullJitter) {
  stage::DialRetry retry({.base_backoff = 10ms, .max_backoff = 35ms}, /*seed=*/7);
  const std::chrono::milliseconds bound[] = {10ms, 20ms, 35ms, 35ms, 35ms};
  for (int attempt = 1; attempt <= 5; ++attempt) {
    Clock::duration low = Clock::duration::max(), high{};
    for (int i = 0; i < 400; ++i) {
      auto d = retry.backoff(attempt);
      low = std::min(low, d);
      high = std::max(high, d);
      ASSERT_LE(d, bound[attempt - 1]) << "attempt " << attempt;
      ASSERT_GE(d, Clock::duration::zero());
    }
    EXPECT_LE(low, bound[attempt - 1] / 5) << "full jitter reaches near zero";
    EXPECT_GE(high, bound[attempt - 1] * 4 / 5) << "and near the bound";
  }
  EXPECT_LE(retry.backoff(1000), 35ms) << "a large attempt number does not overflow";
}

TEST(Stage5Retry, TheSameSeedGivesTheSameBackoffs) {
  stage::DialRetry a({}, 99), b({}, 99);
  for (int i = 1; i < 20; ++i) EXPECT_EQ(a.backoff(i % 5 + 1), b.backoff(i % 5 + 1));
}

TEST(Stage5Breaker, OpensAfterConsecutiveFailuresAndProbesAfterTheCooldown) {
  stage::DialRetry retry({.open_after = 3, .cooldown = 100ms}, 1);
  auto t = Clock::now();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(retry.admit(t), Pass::kGo);
    retry.record(false, Pass::kGo, t);
  }
  EXPECT_FALSE(retry.open());
  retry.record(true, Pass::kGo, t);  // a success in between resets the count
  for (int i = 0; i < 3; ++i) retry.record(false, Pass::kGo, t);
  EXPECT_TRUE(retry.open());
  EXPECT_EQ(retry.admit(t + 50ms), Pass::kFailFast) << "during the cool-down";
  EXPECT_EQ(retry.admit(t + 100ms), Pass::kProbe) << "the cool-down is over: one probe";
  EXPECT_EQ(retry.admit(t + 100ms), Pass::kFailFast) << "only one at a time";
  retry.record(false, Pass::kProbe, t + 150ms);  // the probe failed: open again
  EXPECT_EQ(retry.admit(t + 200ms), Pass::kFailFast);
  EXPECT_EQ(retry.admit(t + 250ms), Pass::kProbe);
  retry.record(true, Pass::kProbe, t + 250ms);
  EXPECT_FALSE(retry.open());
  EXPECT_EQ(retry.admit(t + 250ms), Pass::kGo);
}

TEST(Stage5Breaker, ZeroNeverOpens) {
  stage::DialRetry retry({.open_after = 0}, 1);
  for (int i = 0; i < 1000; ++i) retry.record(false, Pass::kGo, Clock::now());
  EXPECT_FALSE(retry.open());
  EXPECT_EQ(retry.admit(Clock::now()), Pass::kGo);
}

// Many threads ask at once when the cool-down ends: exactly one gets the probe.
TEST(Stage5Breaker, ExactlyOneProbeAmongManyCallers) {
  stage::DialRetry retry({.open_after = 1, .cooldown = 0ms}, 1);
  retry.record(false, Pass::kGo, Clock::now());
  ASSERT_TRUE(retry.open());
  std::atomic<int> probes{0}, fast{0};
  std::vector<std::jthread> callers;
  for (int i = 0; i < 16; ++i) {
    callers.emplace_back([&] {
      auto p = retry.admit(Clock::now());
      if (p == Pass::kProbe) ++probes;
      if (p == Pass::kFailFast) ++fast;
    });
  }
  callers.clear();
  EXPECT_EQ(probes.load(), 1);
  EXPECT_EQ(fast.load(), 15);
}

// dial() with a scripted attempt and a sleep that records instead of sleeping.
class Stage5Dial : public ::testing::Test {
 protected:
  std::vector<std::error_code> script;  // what each attempt returns, in order
  std::vector<Clock::time_point> slept;
  bool sleep_ok = true;
  int attempts = 0;

  std::expected<tcppool::net::Socket, std::error_code> dial(stage::DialRetry& retry) {
    return retry.dial(
        [&](tcppool::net::Deadline) -> std::expected<tcppool::net::Socket, std::error_code> {
          auto ec = script.at(static_cast<std::size_t>(attempts++));
          if (ec) return std::unexpected(ec);
          return tcppool::net::Socket(::dup(0));
        },
        1000ms,
        [&](Clock::time_point t) -> std::error_code {
          slept.push_back(t);
          if (sleep_ok) return {};
          return tcppool::make_error_code(Errc::kCancelled);
        });
  }
};

TEST_F(Stage5Dial, RetriesTransientFailuresUntilOneConnects) {
  stage::DialRetry retry({.attempts = 4, .base_backoff = 1ms}, 1);
  auto refused = std::make_error_code(std::errc::connection_refused);
  script = {refused, refused, {}};
  auto s = dial(retry);
  EXPECT_TRUE(s);
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(slept.size(), 2u) << "a backoff before each retry";
}

TEST_F(Stage5Dial, StopsAtTheAttemptLimitWithTheLastError) {
  stage::DialRetry retry({.attempts = 3, .base_backoff = 1ms}, 1);
  script = {tcppool::make_error_code(Errc::kTimeout), tcppool::make_error_code(Errc::kTimeout),
            std::make_error_code(std::errc::connection_refused)};
  auto s = dial(retry);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::connection_refused);
  EXPECT_EQ(attempts, 3);
}

TEST_F(Stage5Dial, DoesNotRetryWhatWillNotPass) {
  stage::DialRetry retry({.attempts = 5}, 1);
  script = {std::make_error_code(std::errc::permission_denied)};
  EXPECT_EQ(dial(retry).error(), std::errc::permission_denied);
  EXPECT_EQ(attempts, 1);
  EXPECT_TRUE(slept.empty());
}

TEST_F(Stage5Dial, ACancelledSleepStopsTheRetriesWithItsReason) {
  stage::DialRetry retry({.attempts = 5, .base_backoff = 1ms}, 1);
  script = {std::make_error_code(std::errc::connection_refused)};
  sleep_ok = false;
  EXPECT_EQ(dial(retry).error(), Errc::kCancelled);
  EXPECT_EQ(attempts, 1);
}

TEST_F(Stage5Dial, TheBudgetBoundsTheBackoffs) {
  // Backoffs of up to 10 s each against a budget of 50 ms: no pause can end inside it, so the
  // first failure is the last, or a pause drawn short enough lets one more attempt in.
  stage::DialRetry retry(
      {.attempts = 100, .base_backoff = 10000ms, .max_backoff = 10000ms, .budget = 50ms}, 1);
  script.assign(100, std::make_error_code(std::errc::connection_refused));
  EXPECT_FALSE(dial(retry));
  for (auto t : slept) EXPECT_LT(t, Clock::now() + 50ms);
  EXPECT_LE(attempts, 3);
}

TEST_F(Stage5Dial, FailsFastWhileTheBreakerIsOpenAndAProbeDoesNotRetry) {
  stage::DialRetry retry({.attempts = 5, .base_backoff = 1ms, .open_after = 1, .cooldown = 0ms}, 1);
  auto refused = std::make_error_code(std::errc::connection_refused);
  script = {refused, refused, refused, refused, refused, refused};
  EXPECT_EQ(dial(retry).error(), std::errc::connection_refused);  // 5 attempts, then open
  EXPECT_EQ(attempts, 5);
  EXPECT_TRUE(retry.open());
  EXPECT_EQ(dial(retry).error(), std::errc::connection_refused) << "the probe, once";
  EXPECT_EQ(attempts, 6);
  stage::DialRetry closed({.open_after = 1, .cooldown = 1h}, 1);
  closed.record(false, Pass::kGo, Clock::now());
  attempts = 0;
  EXPECT_EQ(dial(closed).error(), Errc::kServerUnavailable);
  EXPECT_EQ(attempts, 0) << "no attempt at all while open";
}

}  // namespace
