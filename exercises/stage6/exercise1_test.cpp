// exercises/stage6/exercise1_test.cpp: the grader of stage 6's exercise 1, "A gauge of leases
// held too long" (docs/stage6-metrics.md#exercises): Stats::leases_over_threshold counts the
// leases held longer than Options::leak_threshold now, and the page has it as the gauge
// tcppool_leases_over_threshold. `make workshop-test STAGE=6 EXERCISE=1` runs it; it fails on
// the reference stage 6, which has no such gauge, and passes with
// exercises/stage6/exercise1.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/testing/echo_fixture.hpp"
#include "exposition.hpp"

namespace stage = tcppool::stage6;

namespace {

using namespace std::chrono_literals;

class Stage6Exercise1 : public tcppool::testing::EchoServerTest {};

// The gauge follows the leases: zero, then one once a lease is held past the threshold (the
// test holds it 40 ms, past 30), two with a second, and zero again when they are back.
TEST_F(Stage6Exercise1, TheGaugeCountsLeasesHeldTooLongNow) {
  stage::Pool pool({.endpoint = endpoint(), .name = "ex1", .leak_threshold = 30ms});
  EXPECT_EQ(pool.stats().leases_over_threshold, 0u);
  auto a = pool.acquire();
  ASSERT_TRUE(a);
  EXPECT_EQ(pool.stats().leases_over_threshold, 0u) << "just taken";
  std::this_thread::sleep_for(40ms);  // past the threshold: the lower bound the test enforces
  EXPECT_EQ(pool.stats().leases_over_threshold, 1u);
  auto b = pool.acquire();
  ASSERT_TRUE(b);
  std::this_thread::sleep_for(40ms);
  EXPECT_EQ(pool.stats().leases_over_threshold, 2u);
  a->reset();
  b->reset();
  EXPECT_EQ(pool.stats().leases_over_threshold, 0u) << "back: no longer held";
}

// With leak detection off, nothing is over a threshold there is not.
TEST_F(Stage6Exercise1, TheGaugeIsZeroWithLeakDetectionOff) {
  stage::Pool pool({.endpoint = endpoint()});
  auto a = pool.acquire();
  ASSERT_TRUE(a);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(pool.stats().leases_over_threshold, 0u);
}

// The page has the gauge, with the pool's label.
TEST_F(Stage6Exercise1, ThePageHasTheGauge) {
  stage::Pool pool({.endpoint = endpoint(), .name = "ex1", .leak_threshold = 30ms});
  auto a = pool.acquire();
  ASSERT_TRUE(a);
  std::this_thread::sleep_for(40ms);
  const stage::Stats stats[] = {pool.stats()};
  std::string page = stage::prometheus_text(stats);
  EXPECT_NE(page.find("# TYPE tcppool_leases_over_threshold gauge\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\ntcppool_leases_over_threshold{pool=\"ex1\"} 1\n"), std::string::npos)
      << page;
}

}  // namespace
