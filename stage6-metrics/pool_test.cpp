// Tests for stage6-metrics: the basic, reuse, bounded, health, deadlines and metrics
// conformance suites, the FIFO reuse order kept from stage 3, and this stage's own options.
#include "pool.hpp"

#include <gtest/gtest.h>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/conformance/barging.hpp"
#include "common/testing/conformance/basic.hpp"
#include "common/testing/conformance/bounded.hpp"
#include "common/testing/conformance/deadlines.hpp"
#include "common/testing/conformance/health.hpp"
#include "common/testing/conformance/metrics.hpp"
#include "common/testing/conformance/network_faults.hpp"
#include "common/testing/conformance/reuse.hpp"
#include "common/testing/echo_fixture.hpp"

namespace stage = tcppool::stage6;

namespace tcppool::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6Basic, BasicConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6Reuse, ReuseConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6Bounded, BoundedConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6Barging, BargingConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6Health, HealthConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6Deadlines, DeadlinesConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6Metrics, MetricsConformance, stage::Pool);
INSTANTIATE_TYPED_TEST_SUITE_P(Stage6NetworkFaults, NetworkFaultsConformance, stage::Pool);
}  // namespace tcppool::testing

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;

class Stage6Pool : public tcppool::testing::EchoServerTest {
 protected:
  static std::uint16_t id(const stage::Lease& lease) {
    return tcppool::net::local_port(lease.fd()).value_or(0);
  }
};

// The channel is a queue: idle connections are reused oldest first (stage 2 was LIFO).
TEST_F(Stage6Pool, ReusesTheLongestIdleFirst) {
  stage::Pool pool({.endpoint = endpoint()});
  auto a = pool.acquire();
  auto b = pool.acquire();
  auto c = pool.acquire();
  ASSERT_TRUE(a && b && c);
  std::uint16_t ida = id(*a), idb = id(*b), idc = id(*c);
  b->reset();  // released order: b, c, a
  c->reset();
  a->reset();
  auto first = pool.acquire();
  auto second = pool.acquire();
  auto third = pool.acquire();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(id(*first), idb);
  EXPECT_EQ(id(*second), idc);
  EXPECT_EQ(id(*third), ida);
}

TEST_F(Stage6Pool, CountsOpenIdleAndWaiting) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 2, .max_open = 2});
  EXPECT_EQ(pool.open_count(), 0u);
  auto a = pool.acquire();
  ASSERT_TRUE(a);
  EXPECT_EQ(pool.open_count(), 1u);
  EXPECT_EQ(pool.idle_count(), 0u);
  a->reset();
  EXPECT_EQ(pool.open_count(), 1u);
  EXPECT_EQ(pool.idle_count(), 1u);
  EXPECT_EQ(pool.waiting(), 0u);
  pool.close();
  EXPECT_EQ(pool.open_count(), 0u);
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST(Stage6Options, ValidateNamesTheOption) {
  EXPECT_NO_THROW(
      (stage::Options{.endpoint = "127.0.0.1:7", .max_idle = 1, .max_open = 1}.validate()));
  try {
    stage::Options{.endpoint = "127.0.0.1:7", .max_idle = 9, .max_open = 8}.validate();
    FAIL() << "max_idle above max_open accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "Options.max_idle: 9 is more than max_open (8): idle connections count as open");
  }
  EXPECT_THROW((stage::Options{.endpoint = "127.0.0.1:7", .max_idle = 0, .max_open = 0}.validate()),
               std::invalid_argument);
  try {
    stage::Options{.endpoint = "127.0.0.1:7",
                   .idle_timeout = std::chrono::minutes(40),
                   .max_lifetime = std::chrono::minutes(30)}
        .validate();
    FAIL() << "an idle timeout longer than the lifetime accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "Options.idle_timeout: 40m is longer than max_lifetime (30m): no connection "
                 "would ever sit idle that long");
  }
  try {
    stage::Options{.endpoint = "127.0.0.1:7",
                   .heartbeat_interval = std::chrono::milliseconds(500),
                   .heartbeat_timeout = std::chrono::seconds(1)}
        .validate();
    FAIL() << "a heartbeat interval shorter than its timeout accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "Options.heartbeat_interval: 500ms is not longer than heartbeat_timeout (1s): a "
                 "heartbeat would still be waiting when the next is due");
  }
}

// The defaults are the ones the docs give reasons for.
TEST(Stage6Options, DefaultsAreTheDocumentedOnes) {
  stage::Options o;
  EXPECT_EQ(o.dial_timeout, std::chrono::milliseconds(1500)) << "longer than the 1 s SYN retry";
  EXPECT_EQ(o.skip_check_within, std::chrono::milliseconds(0)) << "always check";
  ASSERT_TRUE(o.keepalive);
  EXPECT_EQ(o.keepalive->idle, std::chrono::seconds(30));
  EXPECT_EQ(o.keepalive->interval, std::chrono::seconds(5));
  EXPECT_EQ(o.keepalive->count, 3);
  EXPECT_EQ(o.heartbeat_misses, 2);
  EXPECT_EQ(o.lifetime_jitter, 0.025);
  EXPECT_EQ(o.acquire_timeout, std::chrono::seconds(30));
  EXPECT_EQ(o.io_timeout, std::chrono::seconds(30));
  EXPECT_NO_THROW((stage::Options{.endpoint = "127.0.0.1:7"}.validate()));
}

// The error of a failed acquire is an error code wherever one is wanted, and carries more.
TEST_F(Stage6Pool, AnAcquireErrorIsAnErrorCodeWithThePoolsState) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1});
  pool.close();
  auto lease = pool.acquire();
  ASSERT_FALSE(lease);
  const std::error_code& ec = lease.error();
  EXPECT_EQ(ec, Errc::kPoolClosed);
  EXPECT_EQ(lease.error().code(), Errc::kPoolClosed);
  EXPECT_EQ(lease.error().category(), tcppool::error_category());
  EXPECT_EQ(lease.error().waited(), std::chrono::nanoseconds(0)) << "it did not wait";
  EXPECT_EQ(lease.error().message(),
            "pool is closed: 0 open (0 in use, 0 idle), 0 waiting, max_open 1");
  std::expected<void, std::error_code> passed_on = std::unexpected(lease.error());
  EXPECT_EQ(passed_on.error(), Errc::kPoolClosed);
}

// A probe for another protocol is called instead of the echo probe, with the count of replies
// still owed after a miss.
TEST_F(Stage6Pool, ACustomProbeIsUsedAndToldWhatIsOwed) {
  std::atomic<int> calls{0};
  std::atomic<int> max_owed{0};
  std::atomic<bool> answer{false};
  stage::Options o{.endpoint = endpoint(),
                   .heartbeat_interval = std::chrono::milliseconds(20),
                   .heartbeat_timeout = std::chrono::milliseconds(10),
                   .heartbeat_misses = 3,
                   .probe = [&](const tcppool::net::Socket&, tcppool::net::Deadline,
                                int unanswered) -> std::expected<void, std::error_code> {
                     ++calls;
                     max_owed = std::max(max_owed.load(), unanswered);
                     if (answer.load()) return {};
                     return tcppool::fail(Errc::kTimeout);
                   },
                   .idle_timeout = std::chrono::milliseconds(0),
                   .max_lifetime = std::chrono::milliseconds(0),
                   .maintenance_interval = std::chrono::milliseconds(5)};
  stage::Pool pool(o);
  { auto lease = pool.acquire(); }
  ASSERT_TRUE(tcppool::testing::eventually([&] { return max_owed.load() >= 1; }));
  EXPECT_EQ(pool.idle_count(), 0u) << "a connection that missed a heartbeat is out of use";
  EXPECT_EQ(pool.open_count(), 1u) << "but not closed before heartbeat_misses";
  answer = true;
  EXPECT_TRUE(tcppool::testing::eventually([&] { return pool.idle_count() == 1; }))
      << "an answered probe puts it back";
  EXPECT_LT(max_owed.load(), 3);
}

}  // namespace
