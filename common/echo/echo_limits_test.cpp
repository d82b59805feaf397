// Tests for the echo server's limits: settings that would freeze, spin or overflow it are
// refused, periodic faults run in the loop, the connection limit is derived from what the
// server can afford, and start() returns every run-time failure instead of throwing.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/fd_count.hpp"

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;
using testing::echo_once;

// Returns the message of the std::invalid_argument `fn` throws, or "" if it throws none.
template <typename Fn>
std::string rejection(Fn fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

class EchoLimits : public testing::EchoServerTest {};

// ---- settings that freeze or spin the server ----------------------------------------------

// A 100 ms stall every 50 ms would start the next stall before the last one ended: the server
// would never run again. The API refuses it as the command line does.
TEST_F(EchoLimits, APeriodicStallNoShorterThanItsPeriodIsRefused) {
  EXPECT_EQ(rejection([&] { server().set_faults({.stall = 100ms, .stall_every = 50ms}); }),
            "faults.stall: 100ms is not shorter than faults.stall_every (50ms): the server would "
            "never run between stalls");
  EXPECT_NE(rejection([&] { server().set_faults({.stall = 1ms, .stall_every = 1ms}); }), "");
  EXPECT_NE(rejection([&] {
              server().set_faults({.stall = 1ms, .stall_every = 5ms});
            }).find("faults.stall_every: must be between 10ms and 24h"),
            std::string::npos);
  EXPECT_NE(
      rejection([&] { server().set_faults({.stall = 10ms}); }).find("needs faults.stall_every"),
      std::string::npos);
  EXPECT_NE(rejection([&] {
              server().set_faults({.restart_every = 10ms});
            }).find("faults.restart_every: must be between 100ms and 24h"),
            std::string::npos);
  EXPECT_NE(rejection([&] {
              server().set_faults({.restart_every = 200ms, .restart_downtime = 200ms});
            }).find("the port would never come back"),
            std::string::npos);
  EXPECT_TRUE(echo_once(connect().fd())) << "a refused setting changes nothing";
}

// Periodic stalls run in the loop itself: echoes get through between them, and they are
// counted.
TEST_F(EchoLimits, PeriodicStallsComeAndGoAndAreCounted) {
  server().set_faults({.stall = 20ms, .stall_every = 60ms});
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.stalls >= 2; }, 10s));
  net::Socket s = connect();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(echo_once(s.fd(), 64, i)) << i;
  server().set_faults({});
  Stats before = server().stats();
  EXPECT_FALSE(before.stalled && before.stalls == 0);
  EXPECT_TRUE(echo_once(s.fd()));
}

TEST_F(EchoLimits, PeriodicRestartsCloseConnectionsAndComeBack) {
  net::Socket s = connect();
  ASSERT_TRUE(echo_once(s.fd()));
  server().set_faults({.restart_every = 100ms});
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.restarts >= 1 && s.listening; }));
  EXPECT_GE(server().stats().closed(CloseCause::kRestart), 1u);
  EXPECT_FALSE(echo_once(s.fd())) << "the restart closed the old connection";
  server().set_faults({});
  net::Socket again = connect();
  EXPECT_TRUE(echo_once(again.fd())) << "the same port listens again";
}

// ---- durations that overflow --------------------------------------------------------------

// Before the limits, idle_close = ms::max() made last_active + idle_close overflow into the
// past, and every connection was closed at once; latency and stall of max() did nothing.
TEST_F(EchoLimits, DurationsBeyondTheirMaximumAreRefusedNamingTheField) {
  EXPECT_NE(rejection([&] {
              server().set_faults({.idle_close = std::chrono::milliseconds::max()});
            }).find("faults.idle_close: must be between 0s and 24h"),
            std::string::npos);
  EXPECT_NE(rejection([&] {
              server().set_faults({.max_age = std::chrono::hours(24 * 365 * 1000)});
            }).find("faults.max_age"),
            std::string::npos);
  EXPECT_NE(rejection([&] {
              server().set_faults({.latency = std::chrono::microseconds::max()});
            }).find("faults.latency: must be between 0s and 10s"),
            std::string::npos);
  EXPECT_NE(rejection([&] { server().set_faults({.accept_delay = -1us}); }).find("accept_delay"),
            std::string::npos);
  EXPECT_NE(rejection([&] { server().stall_for(Clock::duration::max()); }).find("stall_for"),
            std::string::npos);
  EXPECT_NE(rejection([&] { server().stall_for(-1ms); }).find("stall_for"), std::string::npos);
  EXPECT_NE(rejection([&] { (void)server().restart(Clock::duration::max()); }).find("downtime"),
            std::string::npos);
  // The largest accepted values work, and do not close the connection at once.
  net::Socket s = connect();
  server().set_faults({.idle_close = Limits::kMaxPeriod, .max_age = Limits::kMaxPeriod});
  EXPECT_TRUE(echo_once(s.fd()));
  EXPECT_EQ(server().stats().closed(CloseCause::kIdle), 0u);
  EXPECT_EQ(server().stats().closed(CloseCause::kMaxAge), 0u);
}

TEST(EchoLimitsOptions, InvalidOptionsNameTheOption) {
  auto why = [](Options o) { return rejection([&] { (void)EchoServer::start(o); }); };
  EXPECT_NE(why({.buffer_bytes = Limits::kMaxBufferBytes + 1}).find("buffer_bytes"),
            std::string::npos);
  EXPECT_NE(why({.backlog = 70000}).find("backlog"), std::string::npos);
  EXPECT_NE(why({.buffer_bytes = 4096, .max_memory = 4095}).find("max_memory"), std::string::npos);
  EXPECT_NE(why({.faults = {.stall = 100ms, .stall_every = 50ms}}).find("faults.stall"),
            std::string::npos);
}

// ---- what the server can afford -----------------------------------------------------------

// Memory for three buffers: the fourth connection is refused at once (EOF), and the three keep
// being served.
TEST(EchoConnectionLimit, DerivesFromMemoryAndRefusesBeyondIt) {
  testing::FdLeakGuard guard;
  constexpr std::size_t kBuffer = 64 * 1024;
  {
    // Each connection costs its buffer plus the loop's own record of it (under 2 KiB), so
    // this is room for 3 connections, not 4.
    auto server = EchoServer::start({.buffer_bytes = kBuffer, .max_memory = 3 * (kBuffer + 2048)});
    ASSERT_TRUE(server);
    EchoServer& srv = **server;
    EXPECT_EQ(srv.connection_limit(), 3u);
    EXPECT_EQ(srv.stats().limit, 3u);
    std::vector<net::Socket> kept;
    for (int i = 0; i < 3; ++i) {
      auto s = net::dial(srv.endpoint(), net::Deadline::after(5s));
      ASSERT_TRUE(s);
      kept.push_back(std::move(*s));
    }
    ASSERT_TRUE(srv.wait_until([](const Stats& s) { return s.active == 3; }));
    auto fourth = net::dial(srv.endpoint(), net::Deadline::after(5s));
    ASSERT_TRUE(fourth) << "the handshake completes in the kernel";
    auto r = echo_once(fourth->fd());
    ASSERT_FALSE(r) << "the fourth connection must be refused";
    EXPECT_TRUE(
        srv.wait_until([](const Stats& s) { return s.closed(CloseCause::kOverLimit) == 1; }));
    for (auto& s : kept) EXPECT_TRUE(echo_once(s.fd()));
  }
  EXPECT_EQ(guard.leaked(), 0);
}

TEST(EchoConnectionLimit, DefaultsToWhatDescriptorsAndMemoryAllow) {
  auto server = EchoServer::start({});
  ASSERT_TRUE(server);
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  std::size_t limit = (*server)->connection_limit();
  EXPECT_GT(limit, 0u);
  if (rl.rlim_cur != RLIM_INFINITY) {
    EXPECT_LT(limit, rl.rlim_cur) << "descriptors bound it";
  }
  EXPECT_LE(limit, (std::size_t{1} << 30) / (64 * 1024)) << "1 GiB of 64 KiB buffers bounds it";
}

// ---- start() returns every failure --------------------------------------------------------

// Lowers this process's descriptor limit for the scope of the object; restores it after.
class NofileLimit {
 public:
  explicit NofileLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~NofileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  NofileLimit(const NofileLimit&) = delete;
  NofileLimit& operator=(const NofileLimit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

// With room for the listening socket and nothing more, the eventfd start() needs cannot be
// made. That used to throw std::system_error out of start(); it must come back as EMFILE.
TEST(EchoStart, ADescriptorItCannotGetIsAnErrorNotAnException) {
  testing::FdLeakGuard guard;
  // Probe which descriptor numbers are free; the limit is one above the highest in use, so
  // the next descriptor the server opens (the listener) is the last one allowed.
  int probe = ::dup(0);
  ASSERT_GE(probe, 0);
  ::close(probe);
  std::expected<std::unique_ptr<EchoServer>, std::error_code> started;
  {
    NofileLimit limit(static_cast<rlim_t>(probe) + 1);
    ASSERT_TRUE(limit.ok());
    EXPECT_NO_THROW(started = EchoServer::start({}));
  }
  ASSERT_FALSE(started) << "started with no descriptor to spare";
  EXPECT_EQ(started.error(), std::errc::too_many_files_open) << started.error().message();
  EXPECT_EQ(guard.leaked(), 0) << "the listener opened before the failure is closed again";
}

}  // namespace
}  // namespace tcppool::echo
