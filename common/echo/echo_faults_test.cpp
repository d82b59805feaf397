// Tests for the fault injection of common/echo/echo_server.hpp: for every fault, what a client
// observes (delays, EOF, resets, silence, refusals) and how the server counts it.
//
// Timing: the machine running these may be small and busy, so every timed assertion is a lower
// bound ("no sooner than the latency") or a window of silence that is several times shorter
// than the fault that causes it; upper bounds are only the generous I/O deadlines.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;
using testing::echo_once;
using testing::kTestIoTimeout;

// How long a test shows silence for: long enough that a reply sent at once would have
// arrived, and several times shorter than the stalls and downtimes it is measured against.
constexpr auto kSilence = 100ms;

// Returns true for the ways a client sees a connection the server closed: EOF, or a reset when
// the server closed it with bytes unread.
bool is_closed_error(const std::error_code& ec) {
  return ec == Errc::kPeerClosed || ec == std::errc::connection_reset ||
         ec == std::errc::broken_pipe;
}

// Reads one byte with the test deadline and returns the error (or success, which is a bug in
// every caller: these connections have nothing to read).
std::expected<void, std::error_code> read_one(
    int fd, net::Deadline deadline = net::Deadline::after(kTestIoTimeout)) {
  std::byte b;
  return net::recv_exact(fd, {&b, 1}, deadline);
}

class EchoFaults : public testing::EchoServerTest {
 protected:
  // Waits until the server has counted `n` closes for `cause`.
  bool wait_closed(CloseCause cause, std::uint64_t n) {
    return server().wait_until([=](const Stats& s) { return s.closed(cause) >= n; });
  }
};

// ---- latency ------------------------------------------------------------------------------

TEST_F(EchoFaults, LatencyDelaysEveryEcho) {
  constexpr auto kLatency = 40ms;
  server().set_faults({.latency = kLatency});
  net::Socket s = connect();
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto start = Clock::now();
    auto r = echo_once(s.fd(), 100, i);  // checks the bytes, too
    auto elapsed = Clock::now() - start;
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_GE(elapsed, kLatency) << "echo " << i;
  }
}

TEST_F(EchoFaults, LatencyChangedAtRunTimeApplies) {
  net::Socket s = connect();
  ASSERT_TRUE(echo_once(s.fd()));
  constexpr auto kLatency = 50ms;
  server().set_faults({.latency = kLatency});
  EXPECT_EQ(server().faults().latency, kLatency);
  auto start = Clock::now();
  ASSERT_TRUE(echo_once(s.fd(), 64, 2));
  EXPECT_GE(Clock::now() - start, kLatency);

  server().set_faults({});
  EXPECT_EQ(server().faults().latency, 0us);
  ASSERT_TRUE(echo_once(s.fd(), 64, 3));
}

// Each read is delayed from the moment it was read, not from the first byte still buffered.
TEST_F(EchoFaults, LatencyAppliesToEachReadSeparately) {
  constexpr auto kLatency = 60ms;
  server().set_faults({.latency = kLatency});
  net::Socket s = connect();
  std::vector<std::byte> first(32), second(32), got(32);
  fill_pattern(first, 1);
  fill_pattern(second, 2);
  auto deadline = net::Deadline::after(kTestIoTimeout);

  auto sent_first = Clock::now();
  ASSERT_TRUE(net::send_all(s.fd(), first, deadline));
  std::this_thread::sleep_for(20ms);
  auto sent_second = Clock::now();
  ASSERT_TRUE(net::send_all(s.fd(), second, deadline));

  ASSERT_TRUE(net::recv_exact(s.fd(), got, deadline));
  EXPECT_GE(Clock::now() - sent_first, kLatency);
  EXPECT_EQ(got, first);
  ASSERT_TRUE(net::recv_exact(s.fd(), got, deadline));
  EXPECT_GE(Clock::now() - sent_second, kLatency);
  EXPECT_EQ(got, second);
}

// ---- idle_close ---------------------------------------------------------------------------

TEST_F(EchoFaults, IdleCloseClosesAQuietConnection) {
  constexpr auto kIdle = 60ms;
  server().set_faults({.idle_close = kIdle});
  net::Socket s = connect();
  // Taken before the echo: the server's idle clock starts when it writes the echo back.
  auto quiet_since = Clock::now();
  ASSERT_TRUE(echo_once(s.fd()));
  auto r = read_one(s.fd());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kPeerClosed) << r.error().message();
  EXPECT_GE(Clock::now() - quiet_since, kIdle);
  ASSERT_TRUE(wait_closed(CloseCause::kIdle, 1));
  Stats st = server().stats();
  EXPECT_EQ(st.closed(CloseCause::kIdle), 1u);
  EXPECT_EQ(st.active, 0u);
}

TEST_F(EchoFaults, IdleCloseSparesAConnectionThatKeepsEchoing) {
  constexpr auto kIdle = 150ms;
  server().set_faults({.idle_close = kIdle});
  net::Socket s = connect();
  // Three idle windows' worth of echoes, each a small fraction of the window after the last.
  auto start = Clock::now();
  auto last = start;
  Clock::duration longest_gap{};
  for (std::uint64_t i = 0; last - start < 3 * kIdle; ++i) {
    std::this_thread::sleep_for(10ms);
    auto r = echo_once(s.fd(), 64, i);
    // A failure here after a gap longer than kIdle means this thread was not scheduled in time.
    ASSERT_TRUE(r) << "echo " << i << ": " << r.error().message() << " (longest gap between echoes "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(longest_gap).count()
                   << " ms)";
    longest_gap = std::max(longest_gap, Clock::now() - last);
    last = Clock::now();
  }
  EXPECT_EQ(server().stats().closed(CloseCause::kIdle), 0u);
  EXPECT_EQ(server().stats().active, 1u);
  // Once it stops, it is closed like any other.
  auto r = read_one(s.fd());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kPeerClosed) << r.error().message();
  ASSERT_TRUE(wait_closed(CloseCause::kIdle, 1));
}

// ---- max_age ------------------------------------------------------------------------------

TEST_F(EchoFaults, MaxAgeClosesEvenABusyConnection) {
  constexpr auto kAge = 150ms;
  server().set_faults({.max_age = kAge});
  auto start = Clock::now();
  net::Socket s = connect();
  std::error_code failure;
  std::uint64_t echoes = 0;
  // Echo back to back until the server closes the connection (bounded: it must within seconds).
  while (Clock::now() - start < 5s) {
    auto r = echo_once(s.fd(), 64, echoes);
    if (!r) {
      failure = r.error();
      break;
    }
    ++echoes;
  }
  ASSERT_TRUE(failure) << "still open after 5 s and " << echoes << " echoes";
  EXPECT_TRUE(is_closed_error(failure)) << failure.message();
  EXPECT_GE(Clock::now() - start, kAge);
  EXPECT_GT(echoes, 0u);
  ASSERT_TRUE(wait_closed(CloseCause::kMaxAge, 1));
  EXPECT_EQ(server().stats().closed(CloseCause::kIdle), 0u);
}

// ---- reset_probability --------------------------------------------------------------------

TEST_F(EchoFaults, ResetProbabilityOneResetsTheFirstEcho) {
  server().set_faults({.reset_probability = 1.0});
  net::Socket s = connect();
  auto r = echo_once(s.fd());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_reset) << r.error().message();
  ASSERT_TRUE(wait_closed(CloseCause::kReset, 1));
  EXPECT_EQ(server().stats().closed(CloseCause::kReset), 1u);
}

TEST_F(EchoFaults, ResetProbabilityZeroNeverResets) {
  server().set_faults({.reset_probability = 1.0});
  {
    net::Socket s = connect();
    ASSERT_FALSE(echo_once(s.fd()));
  }
  server().set_faults({.reset_probability = 0.0});
  std::vector<net::Socket> conns;
  for (int i = 0; i < 4; ++i) conns.push_back(connect());
  for (std::uint64_t i = 0; i < 25; ++i) {
    for (auto& c : conns) {
      auto r = echo_once(c.fd(), 64, i);
      ASSERT_TRUE(r) << r.error().message();
    }
  }
  EXPECT_EQ(server().stats().closed(CloseCause::kReset), 1u);
}

// Echoes once on each of `n` connections, one after another, and returns which were reset.
// Every connection either echoes or is reset: anything else is a test failure.
std::vector<bool> reset_pattern(const net::Endpoint& endpoint, int n) {
  std::vector<bool> reset;
  for (int i = 0; i < n; ++i) {
    auto s = net::dial(endpoint, net::Deadline::after(5s));
    EXPECT_TRUE(s) << s.error().message();
    if (!s) break;
    auto r = echo_once(s->fd(), 64, static_cast<std::uint64_t>(i));
    if (!r) {
      EXPECT_EQ(r.error(), std::errc::connection_reset) << i << ": " << r.error().message();
    }
    reset.push_back(!r);
  }
  return reset;
}

TEST_F(EchoFaults, FractionalResetProbabilityResetsSomeButNotAll) {
  constexpr int kConnections = 40;
  server().set_faults({.reset_probability = 0.5});
  std::vector<bool> reset = reset_pattern(server().endpoint(), kConnections);
  ASSERT_EQ(reset.size(), static_cast<std::size_t>(kConnections));
  auto resets = static_cast<std::uint64_t>(std::count(reset.begin(), reset.end(), true));
  EXPECT_GT(resets, 0u);
  EXPECT_LT(resets, static_cast<std::uint64_t>(kConnections));
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == 0; }));
  EXPECT_EQ(server().stats().closed(CloseCause::kReset), resets);
  EXPECT_EQ(server().stats().closed(CloseCause::kClientEof), kConnections - resets);
}

// Options::seed makes the resets reproducible: the same seed and the same traffic reset the
// same connections.
TEST_F(EchoFaults, SameSeedResetsTheSameConnections) {
  constexpr int kConnections = 20;
  server().set_faults({.reset_probability = 0.5});
  std::vector<bool> first = reset_pattern(server().endpoint(), kConnections);
  auto twin = EchoServer::start({.seed = 1, .faults = {.reset_probability = 0.5}});
  ASSERT_TRUE(twin);
  std::vector<bool> second = reset_pattern((*twin)->endpoint(), kConnections);
  EXPECT_EQ(first, second);
}

// ---- stall_for ----------------------------------------------------------------------------

TEST_F(EchoFaults, StallHoldsEchoesBackUntilItEnds) {
  constexpr auto kStall = 400ms;
  net::Socket s = connect();
  ASSERT_TRUE(echo_once(s.fd()));
  std::vector<std::byte> request(64), reply(64);
  fill_pattern(request, 5);

  auto stalled_at = Clock::now();
  server().stall_for(kStall);
  EXPECT_TRUE(server().stats().stalled);
  ASSERT_TRUE(net::send_all(s.fd(), request, net::Deadline::after(kTestIoTimeout)));
  auto silent = net::recv_exact(s.fd(), reply, net::Deadline::after(kSilence));
  ASSERT_FALSE(silent) << "echoed during the stall";
  EXPECT_EQ(silent.error(), Errc::kTimeout) << silent.error().message();
  EXPECT_TRUE(server().stats().stalled);

  auto r = net::recv_exact(s.fd(), reply, net::Deadline::after(kTestIoTimeout));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(reply, request);
  EXPECT_GE(Clock::now() - stalled_at, kStall);
  ASSERT_TRUE(server().wait_until([](const Stats& st) { return !st.stalled; }));
}

// With nothing to do when the stall ends, the end must still show in stats().
TEST_F(EchoFaults, StallEndsOnItsOwn) {
  server().stall_for(300ms);
  EXPECT_TRUE(server().stats().stalled);
  EXPECT_TRUE(server().wait_until([](const Stats& st) { return !st.stalled; }));
}

TEST_F(EchoFaults, StallDefersAcceptingNewConnections) {
  constexpr auto kStall = 400ms;
  net::Socket first = connect();
  ASSERT_TRUE(echo_once(first.fd()));
  const std::uint64_t accepted = server().stats().accepted;
  ASSERT_EQ(accepted, 1u);

  server().stall_for(kStall);
  net::Socket late = connect();  // completes in the kernel's backlog
  ASSERT_TRUE(late);
  std::vector<std::byte> request(64), reply(64);
  fill_pattern(request, 6);
  ASSERT_TRUE(net::send_all(late.fd(), request, net::Deadline::after(kTestIoTimeout)));
  auto silent = net::recv_exact(late.fd(), reply, net::Deadline::after(kSilence));
  ASSERT_FALSE(silent) << "echoed during the stall";
  EXPECT_EQ(silent.error(), Errc::kTimeout) << silent.error().message();
  EXPECT_EQ(server().stats().accepted, accepted);
  EXPECT_TRUE(server().stats().stalled);

  ASSERT_TRUE(wait_accepted(accepted + 1));
  auto r = net::recv_exact(late.fd(), reply, net::Deadline::after(kTestIoTimeout));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(reply, request);
  EXPECT_TRUE(echo_once(first.fd()));
}

// A stall pauses connection timers: a connection that was not idle for idle_close before the
// stall is not closed because the stall outlasted idle_close; the time frozen does not count.
TEST_F(EchoFaults, StallPausesConnectionTimers) {
  constexpr auto kIdle = 150ms;
  constexpr auto kStall = 400ms;
  server().set_faults({.idle_close = kIdle});
  net::Socket s = connect();
  ASSERT_TRUE(echo_once(s.fd()));  // just active: a whole idle window left

  server().stall_for(kStall);
  std::vector<std::byte> request(64), reply(64);
  fill_pattern(request, 8);
  ASSERT_TRUE(net::send_all(s.fd(), request, net::Deadline::after(kTestIoTimeout)));
  auto silent = net::recv_exact(s.fd(), reply, net::Deadline::after(kSilence));
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error(), Errc::kTimeout) << silent.error().message();

  // Had the idle timer run on during the stall, the connection would be closed as it ends.
  auto r = net::recv_exact(s.fd(), reply, net::Deadline::after(kTestIoTimeout));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(reply, request);
  EXPECT_EQ(server().stats().closed(CloseCause::kIdle), 0u);

  // After the stall the idle timer runs again.
  auto closed = read_one(s.fd());
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error(), Errc::kPeerClosed) << closed.error().message();
  ASSERT_TRUE(wait_closed(CloseCause::kIdle, 1));
}

// ---- accepting ----------------------------------------------------------------------------

TEST_F(EchoFaults, NotAcceptingLeavesNewConnectionsWaitingInTheBacklog) {
  net::Socket first = connect();
  ASSERT_TRUE(echo_once(first.fd()));
  server().set_faults({.accepting = false});
  EXPECT_FALSE(server().faults().accepting);
  const std::uint64_t accepted = server().stats().accepted;

  net::Socket waiting = connect();  // the kernel completes the handshake
  ASSERT_TRUE(waiting);
  std::vector<std::byte> request(64), reply(64);
  fill_pattern(request, 4);
  ASSERT_TRUE(net::send_all(waiting.fd(), request, net::Deadline::after(kTestIoTimeout)));
  auto silent = net::recv_exact(waiting.fd(), reply, net::Deadline::after(kSilence));
  ASSERT_FALSE(silent) << "echoed while not accepting";
  EXPECT_EQ(silent.error(), Errc::kTimeout) << silent.error().message();
  EXPECT_EQ(server().stats().accepted, accepted);
  EXPECT_TRUE(echo_once(first.fd())) << "established connections are still served";

  server().set_faults({.accepting = true});
  auto r = net::recv_exact(waiting.fd(), reply, net::Deadline::after(kTestIoTimeout));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(reply, request);
  ASSERT_TRUE(wait_accepted(accepted + 1));
}

// ---- restart ------------------------------------------------------------------------------

TEST_F(EchoFaults, RestartClosesConnectionsAndListensAgainOnTheSamePort) {
  const std::uint16_t port = server().port();
  net::Socket old1 = connect();
  net::Socket old2 = connect();
  ASSERT_TRUE(echo_once(old1.fd()));
  ASSERT_TRUE(echo_once(old2.fd()));

  auto restarted = server().restart();
  ASSERT_TRUE(restarted) << restarted.error().message();
  Stats st = server().stats();
  EXPECT_EQ(st.closed(CloseCause::kRestart), 2u);
  EXPECT_EQ(st.active, 0u);
  EXPECT_TRUE(st.listening);
  EXPECT_EQ(server().port(), port);

  for (net::Socket* old : {&old1, &old2}) {
    auto r = echo_once(old->fd());
    ASSERT_FALSE(r) << "an old connection survived the restart";
    EXPECT_TRUE(is_closed_error(r.error())) << r.error().message();
  }
  net::Socket fresh = connect();
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(echo_once(fresh.fd()));
}

TEST_F(EchoFaults, RestartWithDowntimeRefusesConnectionsUntilItIsOver) {
  constexpr auto kDowntime = 400ms;
  net::Socket old = connect();
  ASSERT_TRUE(echo_once(old.fd()));

  auto started = Clock::now();
  auto restarted = server().restart(kDowntime);
  ASSERT_TRUE(restarted) << restarted.error().message();
  EXPECT_FALSE(server().stats().listening);
  EXPECT_EQ(server().stats().closed(CloseCause::kRestart), 1u);
  auto refused = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_FALSE(refused) << "connected during the downtime";
  EXPECT_EQ(refused.error(), std::errc::connection_refused) << refused.error().message();
  auto dead = read_one(old.fd());
  ASSERT_FALSE(dead) << "an old connection survived the restart";
  EXPECT_TRUE(is_closed_error(dead.error())) << dead.error().message();

  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.listening; }));
  EXPECT_GE(Clock::now() - started, kDowntime);
  net::Socket fresh = connect();
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(echo_once(fresh.fd()));
}

// Control calls return once applied, so stats() read right after one already shows it.
TEST_F(EchoFaults, ControlCallsAreVisibleInStatsWhenTheyReturn) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(server().restart(1h));
    ASSERT_FALSE(server().stats().listening) << "iteration " << i;
    ASSERT_TRUE(server().restart());
    ASSERT_TRUE(server().stats().listening) << "iteration " << i;
  }
  EXPECT_EQ(server().stats().closed(CloseCause::kRestart), 0u);
  net::Socket s = connect();
  EXPECT_TRUE(echo_once(s.fd()));
}

// ---- max_connections ----------------------------------------------------------------------

TEST_F(EchoFaults, MaxConnectionsClosesTheOneOverTheLimit) {
  constexpr std::size_t kMax = 3;
  server().set_faults({.max_connections = kMax});
  std::vector<net::Socket> within;
  for (std::size_t i = 0; i < kMax; ++i) within.push_back(connect());
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == kMax; }));

  net::Socket over = connect();  // the handshake completes; then the server closes it
  ASSERT_TRUE(over);
  ASSERT_TRUE(wait_closed(CloseCause::kOverLimit, 1));
  auto r = read_one(over.fd());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_closed_error(r.error())) << r.error().message();

  for (auto& c : within) EXPECT_TRUE(echo_once(c.fd()));
  Stats st = server().stats();
  EXPECT_EQ(st.accepted, kMax + 1);
  EXPECT_EQ(st.active, kMax);

  // The limit counts open connections: when one closes, a new one is served.
  within.pop_back();
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == kMax - 1; }));
  net::Socket next = connect();
  EXPECT_TRUE(echo_once(next.fd()));
  EXPECT_EQ(server().stats().closed(CloseCause::kOverLimit), 1u);
}

// Faults given in Options are in force from the first connection.
class EchoFaultsFromStart : public testing::EchoServerTest {
 protected:
  Options server_options() const override {
    return {.faults = {.latency = 30ms, .max_connections = 1}};
  }
};

TEST_F(EchoFaultsFromStart, OptionsFaultsApplyToTheFirstConnection) {
  EXPECT_EQ(server().faults().latency, 30ms);
  auto a = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_TRUE(a) << a.error().message();
  auto start = Clock::now();
  ASSERT_TRUE(echo_once(a->fd()));
  EXPECT_GE(Clock::now() - start, 30ms);

  auto b = net::dial(server().endpoint(), net::Deadline::after(5s));
  ASSERT_TRUE(b) << b.error().message();
  auto r = read_one(b->fd());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_closed_error(r.error())) << r.error().message();
  EXPECT_TRUE(server().wait_until([](const Stats& s) { return s.closed(CloseCause::kOverLimit); }));
  EXPECT_TRUE(echo_once(a->fd()));
}

}  // namespace
}  // namespace tcppool::echo
