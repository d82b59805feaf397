// common/testing/conformance/reuse.hpp: the conformance suite of pools that keep idle
// connections (stage 2 on). See basic.hpp for how suites are instantiated.
//
// It sets the Options fields every reusing stage has: endpoint, max_idle and prefill, and uses
// Pool::idle_count().
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/conformance/load.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/fd_count.hpp"

namespace tcppool::testing {

/// The fixture of the reuse suite.
template <typename Pool>
class ReuseConformance : public EchoServerTest {
 protected:
  /// Returns options pointing at the fixture's server, keeping up to `max_idle` connections.
  typename Pool::Options options(std::size_t max_idle = 8) const {
    typename Pool::Options o;
    o.endpoint = endpoint();
    o.max_idle = max_idle;
    if constexpr (requires { o.max_open; }) o.max_open = std::max<std::size_t>(max_idle, 64);
    return o;
  }

  /// Returns the local port of a connection: unlike the descriptor number, never reused while
  /// the connection is open, so it identifies the connection.
  static std::uint16_t id(int fd) { return net::local_port(fd).value_or(0); }

  /// Waits until the server has exactly `n` connections open.
  bool wait_active(std::uint64_t n) {
    return this->server().wait_until([n](const echo::Stats& s) { return s.active == n; });
  }
};

TYPED_TEST_SUITE_P(ReuseConformance);

TYPED_TEST_P(ReuseConformance, SequentialRequestsReuseOneConnection) {
  TypeParam pool(this->options());
  for (int i = 0; i < 100; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(echo_once(lease->fd(), 64, i));
  }
  ASSERT_TRUE(this->wait_accepted(1));
  EXPECT_EQ(this->server().stats().accepted, 1u) << "100 sequential requests, one connection";
  EXPECT_EQ(pool.idle_count(), 1u);
}

TYPED_TEST_P(ReuseConformance, ReleasedConnectionIsTheOneReused) {
  TypeParam pool(this->options());
  std::uint16_t first;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    first = this->id(lease->fd());
  }
  auto again = pool.acquire();
  ASSERT_TRUE(again);
  EXPECT_EQ(this->id(again->fd()), first);
  EXPECT_TRUE(echo_once(again->fd()));
}

TYPED_TEST_P(ReuseConformance, MaxIdleIsRespected) {
  TypeParam pool(this->options(/*max_idle=*/2));
  {
    std::vector<typename TypeParam::Lease> held;
    for (int i = 0; i < 5; ++i) {
      auto lease = pool.acquire();
      ASSERT_TRUE(lease) << lease.error().message();
      held.push_back(std::move(*lease));
    }
    EXPECT_EQ(pool.idle_count(), 0u);
    ASSERT_TRUE(this->wait_active(5));
  }
  EXPECT_EQ(pool.idle_count(), 2u);
  EXPECT_TRUE(this->wait_active(2)) << "the three released beyond max_idle must be closed";
  EXPECT_EQ(this->server().stats().accepted, 5u);
}

TYPED_TEST_P(ReuseConformance, ZeroMaxIdleKeepsNothing) {
  TypeParam pool(this->options(/*max_idle=*/0));
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    ASSERT_TRUE(echo_once(lease->fd()));
  }
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_TRUE(this->wait_accepted(3));
  EXPECT_TRUE(this->wait_active(0));
}

TYPED_TEST_P(ReuseConformance, PrefillOpensExactlyN) {
  auto o = this->options(/*max_idle=*/4);
  o.prefill = 3;
  TypeParam pool(o);
  EXPECT_EQ(pool.idle_count(), 3u);
  ASSERT_TRUE(this->wait_accepted(3));
  {
    std::vector<typename TypeParam::Lease> held;
    for (int i = 0; i < 3; ++i) {
      auto lease = pool.acquire();
      ASSERT_TRUE(lease);
      ASSERT_TRUE(echo_once(lease->fd()));
      held.push_back(std::move(*lease));
    }
  }
  EXPECT_EQ(this->server().stats().accepted, 3u)
      << "the prefilled connections serve the first acquires";
  EXPECT_EQ(pool.idle_count(), 3u);
}

TYPED_TEST_P(ReuseConformance, PrefillIsBestEffortWhenTheServerIsDown) {
  auto o = this->options(/*max_idle=*/4);
  o.prefill = 4;
  std::uint16_t port;
  {
    auto l = net::listen_on(net::Endpoint::loopback(0));
    ASSERT_TRUE(l);
    port = *net::local_port(l->fd());
  }
  o.endpoint = "127.0.0.1:" + std::to_string(port);
  TypeParam pool(o);  // must not throw: the server being down is not a programming error
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(pool.acquire().error(), std::errc::connection_refused);
}

TYPED_TEST_P(ReuseConformance, PrefillAboveMaxIdleIsRejected) {
  auto o = this->options(/*max_idle=*/2);
  o.prefill = 3;
  try {
    TypeParam pool(o);
    FAIL() << "prefill > max_idle accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("prefill"), std::string::npos) << e.what();
  }
}

TYPED_TEST_P(ReuseConformance, DiscardedConnectionIsNotReused) {
  TypeParam pool(this->options());
  std::uint16_t discarded;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    discarded = this->id(lease->fd());
    lease->discard();
  }
  EXPECT_EQ(pool.idle_count(), 0u);
  auto next = pool.acquire();
  ASSERT_TRUE(next);
  EXPECT_NE(this->id(next->fd()), discarded);
  EXPECT_TRUE(echo_once(next->fd()));
  EXPECT_TRUE(this->wait_accepted(2));
}

TYPED_TEST_P(ReuseConformance, CloseClosesIdleNowAndLaterReleases) {
  TypeParam pool(this->options());
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  {
    auto idle = pool.acquire();
    ASSERT_TRUE(idle);
  }
  ASSERT_EQ(pool.idle_count(), 1u);
  ASSERT_TRUE(this->wait_active(2));
  pool.close();
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_TRUE(this->wait_active(1)) << "close() closes idle connections at once";
  EXPECT_TRUE(echo_once(held->fd())) << "a lease handed out before close() stays usable";
  held->reset();
  EXPECT_EQ(pool.idle_count(), 0u) << "released after close(): closed, not kept";
  EXPECT_TRUE(this->wait_active(0));
}

// 16 threads x 1000 verified echoes: every byte right, no connection beyond what the threads
// can hold at once, and no descriptor left behind.
TYPED_TEST_P(ReuseConformance, ManyThreadsVerifiedEchoesWithoutLeaks) {
  constexpr int kThreads = 16;
  constexpr int kRequests = 1000;
  FdLeakGuard guard;
  {
    TypeParam pool(this->options(/*max_idle=*/kThreads));
    EXPECT_EQ(run_verified_echoes(pool, kThreads, kRequests), kThreads * kRequests);
    EXPECT_LE(this->server().stats().accepted, static_cast<std::uint64_t>(kThreads));
  }
  // The in-process server's descriptors count too: wait until it has seen every close.
  ASSERT_TRUE(this->wait_active(0));
  EXPECT_EQ(guard.leaked(), 0);
}

REGISTER_TYPED_TEST_SUITE_P(ReuseConformance, SequentialRequestsReuseOneConnection,
                            ReleasedConnectionIsTheOneReused, MaxIdleIsRespected,
                            ZeroMaxIdleKeepsNothing, PrefillOpensExactlyN,
                            PrefillIsBestEffortWhenTheServerIsDown, PrefillAboveMaxIdleIsRejected,
                            DiscardedConnectionIsNotReused, CloseClosesIdleNowAndLaterReleases,
                            ManyThreadsVerifiedEchoesWithoutLeaks);

}  // namespace tcppool::testing
