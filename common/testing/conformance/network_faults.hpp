// common/testing/conformance/network_faults.hpp: the conformance suite of real network faults,
// which every stage passes. See basic.hpp for how suites are instantiated.
//
// The other suites run on loopback, where a server can refuse, reset and stall but the path
// itself never fails. Here the server is across a veth pair in a network namespace of its own
// (netns.hpp), so the path can: a server whose SYNs are dropped (a blackholed address, a
// firewall, a host that is down), and a link that loses packets. Every stage must bound a dial
// by its dial_timeout, fail it with a typed error and leak nothing; over a lossy link every
// echo it completes must be byte for byte what was sent. What each stage does when a peer
// vanishes mid-connection is stage 4's lesson (health.hpp) and stage 5's (deadlines.hpp);
// how long each stage takes to notice is measured by `make netfaults` (netfaults/README.md).
//
// Root only: without it every test is skipped, saying why. It sets the Options fields every
// stage has (endpoint, dial_timeout) and, where a stage has them, turns its heartbeats off and
// its dial retries down, so that a test sees one dial.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/fd_count.hpp"
#include "common/testing/netns.hpp"

namespace tcppool::testing {

/// The fixture of the network-faults suite: an echo server across a veth pair, in a network
/// namespace whose packets the test drops, and an fd-leak check around both.
template <typename Pool>
class NetworkFaultsConformance : public ::testing::Test {
 protected:
  /// Durations in the suite's options.
  using Ms = std::chrono::milliseconds;

  /// How much longer than a bound a wait may take before the test calls it unbounded: far
  /// more than any scheduling delay, far less than the kernel's own limits (a blackholed
  /// dial without a deadline takes over two minutes).
  static constexpr auto kSlack = std::chrono::seconds(5);

  /// Creates the network and starts the server in it; skips the test when it cannot.
  void SetUp() override {
    fds_before_ = open_fd_count();
    auto network = IsolatedNetwork::create();
    if (!network) GTEST_SKIP() << "skipped: " << network.error();
    network_ = std::move(*network);
    auto server = network_->in_namespace(
        [&] { return echo::EchoServer::start({.address = network_->peer_address()}); });
    ASSERT_TRUE(server) << "echo server: " << server.error().message();
    server_ = std::move(*server);
  }

  /// Stops the server, deletes the network and checks that no descriptor leaked.
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    network_.reset();
    EXPECT_EQ(open_fd_count(), fds_before_) << "file descriptors leaked";
  }

  /// Returns options pointing at the server across the pair, with `dial_timeout`, and for a
  /// stage with heartbeats and dial retries, neither: one acquire makes one dial.
  typename Pool::Options options(Ms dial_timeout) const {
    typename Pool::Options o;
    o.endpoint = server_->endpoint().to_string();
    o.dial_timeout = dial_timeout;
    if constexpr (requires { o.heartbeat_interval; }) o.heartbeat_interval = Ms(0);
    if constexpr (requires { o.retry.attempts; }) o.retry.attempts = 1;
    return o;
  }

  /// Returns the network, to set its faults.
  IsolatedNetwork& network() { return *network_; }
  /// Returns the server.
  echo::EchoServer& server() { return *server_; }

 private:
  std::size_t fds_before_ = 0;
  std::unique_ptr<IsolatedNetwork> network_;
  std::unique_ptr<echo::EchoServer> server_;
};

TYPED_TEST_SUITE_P(NetworkFaultsConformance);

// A server whose SYNs are dropped never answers: no refusal, no reset. Without a bound a dial
// waits out the kernel's SYN retries (over two minutes); every stage's acquire() gives up at
// its dial_timeout, with Errc::kTimeout, frees what it took, and works again once the path does.
TYPED_TEST_P(NetworkFaultsConformance, ADialToABlackholedServerEndsAtTheDialTimeout) {
  using namespace std::chrono_literals;
  TypeParam pool(this->options(300ms));
  ASSERT_TRUE(this->network().drop_new_connections());
  auto start = net::Clock::now();
  auto lease = pool.acquire();
  auto took = net::Clock::now() - start;
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kTimeout) << lease.error().message();
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + TestFixture::kSlack);
  if constexpr (requires { pool.open_count(); }) {
    EXPECT_EQ(pool.open_count(), 0u) << "the failed dial gave its slot back";
  }
  ASSERT_TRUE(this->network().restore());
  auto after = pool.acquire();
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_TRUE(echo_once(after->fd(), 64));
}

// 10 % of the packets in each direction are dropped, SYNs and ACKs included. TCP retransmits
// what is lost, so an echo that completes is exactly what was sent; what may fail is a dial
// whose SYN was lost more often than dial_timeout (3.5 s: time for two retransmissions) lets it
// retry, and then only with Errc::kTimeout. Most requests succeed.
TYPED_TEST_P(NetworkFaultsConformance, EveryEchoOverALossyLinkIsExactlyWhatWasSent) {
  using namespace std::chrono_literals;
  constexpr int kThreads = 4;
  constexpr int kRequests = 10;
  auto o = this->options(3500ms);
  TypeParam pool(o);
  ASSERT_TRUE(this->network().lose(10));
  std::atomic<int> echoed{0}, dial_timeouts{0};
  std::mutex mu;
  std::map<std::string, int> other_failures;  // Guarded by mu.
  std::vector<std::jthread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        auto lease = pool.acquire();
        if (!lease) {
          if (lease.error() == Errc::kTimeout) {
            ++dial_timeouts;
          } else {
            std::scoped_lock lock(mu);
            ++other_failures["acquire: " + lease.error().message()];
          }
          continue;
        }
        std::size_t size = 64 + static_cast<std::size_t>(t * 997 + i * 131) % 8000;
        auto r = echo_once(lease->fd(), size, static_cast<std::uint64_t>(t) << 32 | i);
        if (!r) {
          lease->discard();
          std::scoped_lock lock(mu);
          ++other_failures["echo: " + r.error().message()];
          continue;
        }
        ++echoed;
      }
    });
  }
  threads.clear();
  ::testing::Test::RecordProperty("echoed", echoed.load());
  ::testing::Test::RecordProperty("dial_timeouts", dial_timeouts.load());
  for (const auto& [what, n] : other_failures) {
    ADD_FAILURE() << n << " x " << what << " (a reply unlike its request is Errc::kBadReply)";
  }
  EXPECT_GE(echoed.load(), kThreads * kRequests / 2)
      << dial_timeouts.load() << " dials timed out: far more than 10 % loss explains";
  ASSERT_TRUE(this->network().restore());
}

REGISTER_TYPED_TEST_SUITE_P(NetworkFaultsConformance, ADialToABlackholedServerEndsAtTheDialTimeout,
                            EveryEchoOverALossyLinkIsExactlyWhatWasSent);

}  // namespace tcppool::testing
