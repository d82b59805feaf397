// exercises/stage4/exercise2_test.cpp: the grader of stage 4's exercise 2, "A probe that
// counts" (docs/stage4-health-keepalive.md#exercises): a maintenance pass sends the echo probe
// to every connection whose heartbeat is due, then waits for all the replies at once, so that
// against a stalled server it waits one heartbeat_timeout, not one per connection. `make
// workshop-test STAGE=4 EXERCISE=2` runs it, and `make workshop-test STAGE=4` checks that the
// health suite still passes; it fails on the reference stage 4, which probes one connection at
// a time, and passes with exercises/stage4/exercise2.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "common/echo/echo_server.hpp"
#include "common/net/deadline.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage4;

namespace {

using namespace std::chrono_literals;
using tcppool::net::Clock;
using tcppool::testing::echo_once;
using tcppool::testing::eventually;

constexpr std::size_t kConnections = 8;
constexpr auto kTimeout = 400ms;

class Stage4Exercise2 : public tcppool::testing::EchoServerTest {
 protected:
  // kConnections connections, idle, each closed at its first missed heartbeat.
  stage::Options options() const {
    stage::Options o{.endpoint = endpoint(), .max_idle = kConnections, .max_open = kConnections};
    o.heartbeat_interval = 600ms;
    o.heartbeat_timeout = kTimeout;
    o.heartbeat_misses = 1;
    o.maintenance_interval = 50ms;
    return o;
  }

  // Opens kConnections connections at once (each echoes once, so the server has accepted
  // them all) and lets them go idle together.
  static void fill(stage::Pool& pool) {
    std::vector<stage::Lease> held;
    for (std::size_t i = 0; i < kConnections; ++i) {
      auto lease = pool.acquire();
      ASSERT_TRUE(lease) << lease.error().message();
      ASSERT_TRUE(echo_once(lease->fd(), 64, i));
      held.push_back(std::move(*lease));
    }
    held.clear();
    ASSERT_TRUE(eventually([&] { return pool.idle_count() == kConnections; }));
  }
};

// Against a stalled server every probe times out. Probed one at a time, the connections are
// closed one heartbeat_timeout apart: the last (kConnections - 1) timeouts after the first,
// 2.8 s. Probed together, they are all closed when the one wait ends. The bound, three
// timeouts, leaves room for a busy machine, and still cannot be met one at a time.
TEST_F(Stage4Exercise2, AStalledServersConnectionsAreClosedAfterOneWaitNotOneEach) {
  stage::Pool pool(options());
  fill(pool);
  server().stall_for(20s);
  ASSERT_TRUE(eventually([&] { return pool.open_count() < kConnections; }, 10s))
      << "no heartbeat missed";
  auto first = Clock::now();
  ASSERT_TRUE(eventually([&] { return pool.open_count() == 0; }, 20s))
      << "still open: " << pool.open_count();
  auto spread = Clock::now() - first;
  EXPECT_LT(spread, 3 * kTimeout)
      << "the last close came "
      << std::chrono::duration_cast<std::chrono::milliseconds>(spread).count()
      << " ms after the first: the probes waited one after another";
  EXPECT_TRUE(server().stats().stalled) << "closed during the stall, by the heartbeats";
}

// Answered probes sent together are all read: every connection is kept, none is dialed again,
// and each still echoes afterwards (no probe's reply is left for a user to read).
TEST_F(Stage4Exercise2, AnsweredProbesKeepEveryConnectionAndLeaveNothingUnread) {
  stage::Pool pool(options());
  fill(pool);
  std::uint64_t before = server().stats().bytes_in;
  ASSERT_TRUE(server().wait_until([&](const tcppool::echo::Stats& s) {
    return s.bytes_in >= before + 2 * kConnections;
  })) << "two rounds of heartbeats";
  EXPECT_EQ(server().stats().accepted, kConnections) << "every connection kept";
  std::vector<stage::Lease> all;
  for (std::size_t i = 0; i < kConnections; ++i) {
    auto lease = pool.acquire();  // waits, should a probe have it out of the pool
    ASSERT_TRUE(lease) << lease.error().message();
    EXPECT_TRUE(echo_once(lease->fd(), 64, i));
    all.push_back(std::move(*lease));
  }
  EXPECT_EQ(server().stats().accepted, kConnections);
}

}  // namespace
