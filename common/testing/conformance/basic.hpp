// common/testing/conformance/basic.hpp: the conformance suite every stage's pool passes.
//
// A typed, parameterised GoogleTest suite: written once here, instantiated by each stage for
// its Pool type, so every stage is held to the same contract through its public header only.
// A stage claims further capabilities by instantiating further suites in this directory:
//
//   basic.hpp     every stage  acquire, lease semantics, discard, close, errors, name lookups,
//                              threads
//   reuse.hpp     stage 2+     idle connections are reused; max_idle; prefill
//   bounded.hpp   stage 3+     max_open holds under load; waiters are served in order
//   health.hpp    stage 4+     stale, idle, aged and unresponsive connections are found
//   deadlines.hpp stage 5+     every wait is bounded by a context; drain
//   network_faults.hpp         every stage: a blackholed server, a lossy link, across a
//                              real network path (root only)
//   (a metrics suite arrives with stage 6)
//
// Instantiate in the stage's test file, with a prefix naming the stage and the suite:
//
//     INSTANTIATE_TYPED_TEST_SUITE_P(Stage2Basic, BasicConformance, tcppool::stage2::Pool);
//
// GoogleTest names the tests Stage2Basic/BasicConformance/0.AcquiredConnectionEchoes, and
// ctest Stage2Basic.AcquiredConnectionEchoes<tcppool::stage2::Pool>, so `-R Stage2` (ctest)
// and `--gtest_filter='Stage2*'` select one stage. A suite sets only the Options fields that every
// stage claiming the capability has (endpoint here), and reaches the pool only through the shape
// all stages share: Pool(Options), acquire(), close(), and Lease's fd(), reset(), discard().
#pragma once

#include <gtest/gtest.h>
#include <netdb.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/conformance/load.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/name_service.hpp"

namespace tcppool::testing {

/// The fixture of the basic suite: an echo server, an fd-leak check, and pool options.
template <typename Pool>
class BasicConformance : public EchoServerTest {
 protected:
  /// Returns default options pointing at the fixture's server.
  typename Pool::Options options() const {
    typename Pool::Options o;
    o.endpoint = endpoint();
    return o;
  }

  /// Returns the message of the std::invalid_argument the constructor throws for `o`, or "".
  static std::string rejection(const typename Pool::Options& o) {
    try {
      Pool pool(o);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  }
};

TYPED_TEST_SUITE_P(BasicConformance);

TYPED_TEST_P(BasicConformance, AcquiredConnectionEchoes) {
  TypeParam pool(this->options());
  auto lease = pool.acquire();
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_TRUE(*lease);
  EXPECT_GE(lease->fd(), 0);
  EXPECT_TRUE(echo_once(lease->fd(), 64));
  EXPECT_TRUE(echo_once(lease->fd(), 4096, 2));
}

TYPED_TEST_P(BasicConformance, LeaseMovesAndMovedFromIsEmpty) {
  TypeParam pool(this->options());
  auto first = pool.acquire();
  ASSERT_TRUE(first);
  int fd = first->fd();
  auto moved = std::move(*first);
  EXPECT_FALSE(*first);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_EQ(first->fd(), -1);
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_EQ(moved.socket().fd(), fd);
  EXPECT_TRUE(echo_once(moved.fd()));
  decltype(moved) empty;
  EXPECT_FALSE(empty);
  empty = std::move(moved);
  EXPECT_EQ(empty.fd(), fd);
  EXPECT_TRUE(echo_once(empty.fd()));
}

TYPED_TEST_P(BasicConformance, DiscardClosesTheConnection) {
  TypeParam pool(this->options());
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  ASSERT_TRUE(echo_once(lease->fd()));
  ASSERT_TRUE(this->server().wait_until([](const echo::Stats& s) { return s.active == 1; }));
  lease->discard();
  EXPECT_FALSE(*lease);
  lease->discard();  // a second discard, and the destructor, do nothing
  EXPECT_TRUE(this->server().wait_until([](const echo::Stats& s) { return s.active == 0; }))
      << "a discarded connection must be closed, not kept";
}

TYPED_TEST_P(BasicConformance, ClosedPoolRefusesAcquire) {
  TypeParam pool(this->options());
  pool.close();
  auto lease = pool.acquire();
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kPoolClosed);
  pool.close();  // idempotent
  EXPECT_EQ(pool.acquire().error(), Errc::kPoolClosed);
}

TYPED_TEST_P(BasicConformance, LeaseStaysUsableAfterCloseAndAfterThePoolIsGone) {
  std::optional<TypeParam> pool(std::in_place, this->options());
  auto lease = pool->acquire();
  ASSERT_TRUE(lease);
  pool->close();
  EXPECT_TRUE(echo_once(lease->fd()));
  pool.reset();  // the pool is destroyed while the lease is out
  EXPECT_TRUE(echo_once(lease->fd()));
  lease->reset();  // gives it back to a pool that no longer exists: closes it
  EXPECT_FALSE(*lease);
  EXPECT_TRUE(this->server().wait_until([](const echo::Stats& s) { return s.active == 0; }));
}

TYPED_TEST_P(BasicConformance, RefusedPortIsAnErrorAndLeaksNothing) {
  std::uint16_t port;
  {
    auto l = net::listen_on(net::Endpoint::loopback(0));
    ASSERT_TRUE(l);
    port = *net::local_port(l->fd());
  }
  auto o = this->options();
  o.endpoint = "127.0.0.1:" + std::to_string(port);
  TypeParam pool(o);
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.acquire();
    ASSERT_FALSE(lease);
    EXPECT_EQ(lease.error(), std::errc::connection_refused) << lease.error().message();
  }
}

// A listener that never accepts, with its backlog full: the kernel drops further SYNs and the
// dial can only end at Options::dial_timeout.
TYPED_TEST_P(BasicConformance, UnansweredDialEndsAtDialTimeout) {
  auto listener = net::listen_on(net::Endpoint::loopback(0), 1);
  ASSERT_TRUE(listener);
  auto o = this->options();
  o.endpoint = "127.0.0.1:" + std::to_string(*net::local_port(listener->fd()));
  o.dial_timeout = std::chrono::milliseconds(100);
  std::vector<net::Socket> fill;
  for (int i = 0; i < 8; ++i) {
    auto s = net::dial(*net::Endpoint::parse(o.endpoint), net::Deadline::after(o.dial_timeout));
    if (!s) break;
    fill.push_back(std::move(*s));
  }
  TypeParam pool(o);
  auto start = net::Clock::now();
  auto lease = pool.acquire();
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error(), Errc::kTimeout) << lease.error().message();
  EXPECT_GE(net::Clock::now() - start, o.dial_timeout);
  EXPECT_LT(net::Clock::now() - start, std::chrono::seconds(5));
}

TYPED_TEST_P(BasicConformance, InvalidOptionsAreRejectedNamingTheOption) {
  auto o = this->options();
  o.endpoint = "";
  EXPECT_NE(this->rejection(o).find("endpoint"), std::string::npos) << this->rejection(o);
  for (const char* bad : {"127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1", "bad host:80",
                          "0x7f000001:80", "127.0.0.1:00080", "[::1]:080"}) {
    o.endpoint = bad;
    std::string why = this->rejection(o);
    EXPECT_NE(why.find("endpoint"), std::string::npos) << bad << ": " << why;
    EXPECT_NE(why.find(bad), std::string::npos) << "the message quotes the value: " << why;
  }
  // An embedded NUL is refused, not cut off, and shows escaped: the message goes on past it.
  const char nul[] = "127.0.0.1\0.evil.example.com:80";
  o.endpoint.assign(nul, sizeof nul - 1);
  std::string why = this->rejection(o);
  EXPECT_NE(why.find(R"("127.0.0.1\x00.evil.example.com:80": bad host)"), std::string::npos) << why;
  for (auto bad : {std::chrono::milliseconds(0), std::chrono::milliseconds(-5),
                   std::chrono::milliseconds::max()}) {
    o = this->options();
    o.dial_timeout = bad;
    EXPECT_NE(this->rejection(o).find("dial_timeout"), std::string::npos) << this->rejection(o);
  }
  EXPECT_EQ(this->rejection(this->options()), "") << "valid options must be accepted";
}

// A well-formed name that does not resolve is no invalid option: the pool is made, and each
// acquire() fails with the resolver's own error, as a run-time outcome (RFC 6761: a .invalid
// name never resolves). Lookups are kept to /etc/hosts, so no DNS query leaves the machine.
TYPED_TEST_P(BasicConformance, NameThatDoesNotResolveFailsAcquireNotTheConstructor) {
  if (!keep_lookups_local()) GTEST_SKIP() << "cannot keep name lookups off DNS here";
  auto o = this->options();
  o.endpoint = "tcppool-test.invalid:" + std::to_string(this->server().port());
  std::optional<TypeParam> pool;
  ASSERT_NO_THROW(pool.emplace(o));
  for (int i = 0; i < 3; ++i) {
    auto lease = pool->acquire();
    ASSERT_FALSE(lease);
    EXPECT_EQ(lease.error(), net::resolver_error(EAI_NONAME)) << lease.error().message();
  }
}

// A pool made while no name resolves (the name service is down) serves as soon as names
// resolve again, without being made anew: it looks its endpoint up on every dial.
TYPED_TEST_P(BasicConformance, PoolMadeDuringANameServiceOutageWorksOnceItEnds) {
  if (!resolves_to_ipv4_loopback("localhost")) {
    GTEST_SKIP() << "this system does not resolve localhost to 127.0.0.1 (no /etc/hosts entry?)";
  }
  auto o = this->options();
  o.endpoint = "localhost:" + std::to_string(this->server().port());
  std::optional<TypeParam> pool;
  {
    NameServiceOutage outage;
    if (!outage.active()) GTEST_SKIP() << "cannot simulate a name service outage here";
    ASSERT_NO_THROW(pool.emplace(o));
    auto lease = pool->acquire();
    ASSERT_FALSE(lease) << "localhost resolved during the outage";
    EXPECT_EQ(lease.error(), net::HostPort::parse(o.endpoint)->resolve().error())
        << "acquire() reports the resolver's error: " << lease.error().message();
  }
  auto lease = pool->acquire();
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_TRUE(echo_once(lease->fd()));
}

TYPED_TEST_P(BasicConformance, ManyThreadsEchoWithoutLeaks) {
  TypeParam pool(this->options());
  EXPECT_EQ(run_verified_echoes(pool, /*threads=*/8, /*requests=*/50), 8 * 50);
}

REGISTER_TYPED_TEST_SUITE_P(BasicConformance, AcquiredConnectionEchoes,
                            LeaseMovesAndMovedFromIsEmpty, DiscardClosesTheConnection,
                            ClosedPoolRefusesAcquire,
                            LeaseStaysUsableAfterCloseAndAfterThePoolIsGone,
                            RefusedPortIsAnErrorAndLeaksNothing, UnansweredDialEndsAtDialTimeout,
                            InvalidOptionsAreRejectedNamingTheOption,
                            NameThatDoesNotResolveFailsAcquireNotTheConstructor,
                            PoolMadeDuringANameServiceOutageWorksOnceItEnds,
                            ManyThreadsEchoWithoutLeaks);

}  // namespace tcppool::testing
