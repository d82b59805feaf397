// End-to-end tests of the echo_server binary (common/echo/echo_main.cpp): it is started as a
// child process with --port 0 and driven as a workshop user would, over loopback and signals;
// its exit status and output are checked.
//
// Every child is owned by a ChildProcess, which kills (SIGKILL, by PID) and reaps it if the
// test ends early, so a failed assertion never leaves a server running.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/echo/cli.hpp"
#include "common/echo/echo_client.hpp"
#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/socket.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/child_process.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/fd_count.hpp"
#include "common/testing/wait.hpp"

extern char** environ;

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::describe;
using testing::exited_with;

constexpr const char* kServerPath = ECHO_SERVER_PATH;

// Parses "echo_server: listening on 127.0.0.1:PORT".
std::optional<net::Endpoint> listening_endpoint(const std::string& line) {
  const std::string prefix = "echo_server: listening on ";
  if (!line.starts_with(prefix)) return std::nullopt;
  auto ep = net::Endpoint::parse(line.substr(prefix.size()));
  if (!ep) return std::nullopt;
  return *ep;
}

class EchoServerBinary : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_EQ(fds_.leaked(), 0) << "file descriptors leaked"; }

 private:
  testing::FdLeakGuard fds_;
};

TEST_F(EchoServerBinary, EchoesReportsStatsOnSigusr1AndExitsCleanlyOnSigterm) {
  ChildProcess child(kServerPath, {"--port", "0"});
  ASSERT_GT(child.pid(), 0);
  auto line = child.stdout_line();
  ASSERT_TRUE(line) << "no listening line; stderr: " << child.rest_of_stderr();
  auto endpoint = listening_endpoint(*line);
  ASSERT_TRUE(endpoint) << *line;
  EXPECT_EQ(endpoint->to_string().rfind("127.0.0.1:", 0), 0u) << *line;
  EXPECT_NE(endpoint->port(), 0);
  auto limits = child.stdout_line();
  ASSERT_TRUE(limits);
  EXPECT_TRUE(limits->starts_with("echo_server: at most ")) << *limits;
  EXPECT_NE(limits->find(" connections, 65536 bytes of buffer each"), std::string::npos) << *limits;

  {
    auto s = net::dial(*endpoint, net::Deadline::after(5s));
    ASSERT_TRUE(s) << s.error().message();
    for (std::size_t size : {1u, 100u, 70000u}) {
      auto r = testing::echo_once(s->fd(), size, size);
      ASSERT_TRUE(r) << size << ": " << r.error().message();
    }
  }

  ASSERT_TRUE(child.signal(SIGUSR1));
  auto stats = child.stderr_line();
  ASSERT_TRUE(stats) << "no stats line after SIGUSR1";
  EXPECT_TRUE(stats->starts_with("echo_server: accepted=1 ")) << *stats;
  EXPECT_NE(stats->find(" closes: "), std::string::npos) << *stats;

  ASSERT_TRUE(child.signal(SIGTERM));
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
  std::string rest = child.rest_of_stderr();
  EXPECT_NE(rest.find("exiting"), std::string::npos) << rest;

  auto refused = net::dial(*endpoint, net::Deadline::after(5s));
  ASSERT_FALSE(refused) << "still listening after exit";
  EXPECT_EQ(refused.error(), std::errc::connection_refused) << refused.error().message();
}

TEST_F(EchoServerBinary, Sigusr2TogglesAcceptingAndSigintExitsCleanly) {
  ChildProcess child(kServerPath, {"--port", "0", "--latency", "1ms"});
  ASSERT_GT(child.pid(), 0);
  auto line = child.stdout_line();
  ASSERT_TRUE(line) << "no listening line; stderr: " << child.rest_of_stderr();
  auto endpoint = listening_endpoint(*line);
  ASSERT_TRUE(endpoint) << *line;

  ASSERT_TRUE(child.signal(SIGUSR2));
  auto off = child.stderr_line();
  ASSERT_TRUE(off);
  EXPECT_EQ(*off, "echo_server: accepting off");
  {
    auto s = net::dial(*endpoint, net::Deadline::after(5s));  // waits in the backlog
    ASSERT_TRUE(s) << s.error().message();
    std::vector<std::byte> request(64), reply(64);
    fill_pattern(request, 1);
    ASSERT_TRUE(net::send_all(s->fd(), request, net::Deadline::after(5s)));
    auto silent = net::recv_exact(s->fd(), reply, net::Deadline::after(100ms));
    ASSERT_FALSE(silent) << "echoed while not accepting";
    EXPECT_EQ(silent.error(), Errc::kTimeout);

    ASSERT_TRUE(child.signal(SIGUSR2));
    auto on = child.stderr_line();
    ASSERT_TRUE(on);
    EXPECT_EQ(*on, "echo_server: accepting on");
    auto r = net::recv_exact(s->fd(), reply, net::Deadline::after(testing::kTestIoTimeout));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(reply, request);
  }

  ASSERT_TRUE(child.signal(SIGINT));
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
}

TEST_F(EchoServerBinary, QuietPrintsNothingButStillServes) {
  // With --quiet there is no listening line, so pick the port by asking the kernel for a free
  // one first (a small race with other processes, acceptable in a test).
  std::uint16_t port = 0;
  {
    auto probe = net::listen_on(net::Endpoint::loopback(0), 1);
    ASSERT_TRUE(probe);
    auto p = net::local_port(probe->fd());
    ASSERT_TRUE(p);
    port = *p;
  }
  ChildProcess child(kServerPath, {"--port", std::to_string(port), "--quiet"});
  ASSERT_GT(child.pid(), 0);
  net::Socket conn;
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto s = net::dial(net::Endpoint::loopback(port), net::Deadline::after(1s));
        if (s) {
          conn = std::move(*s);
          return true;
        }
        std::this_thread::sleep_for(10ms);  // not listening yet
        return false;
      },
      10s))
      << "never listened; stderr: " << child.rest_of_stderr();
  EXPECT_TRUE(testing::echo_once(conn.fd()));
  conn.reset();
  ASSERT_TRUE(child.signal(SIGTERM));
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
  EXPECT_EQ(child.rest_of_stdout(), "");
  EXPECT_EQ(child.rest_of_stderr(), "");
}

TEST_F(EchoServerBinary, ABadFlagExitsWithStatus2AndNamesTheFlag) {
  ChildProcess child(kServerPath, {"--port", "70000"});
  ASSERT_GT(child.pid(), 0);
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 2)) << describe(status);
  std::string err = child.rest_of_stderr();
  EXPECT_NE(err.find("--port"), std::string::npos) << err;
  EXPECT_NE(err.find("70000"), std::string::npos) << err;
  EXPECT_EQ(child.rest_of_stdout(), "");
}

TEST_F(EchoServerBinary, AnUnknownFlagExitsWithStatus2) {
  ChildProcess child(kServerPath, {"--frobnicate", "1"});
  ASSERT_GT(child.pid(), 0);
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 2)) << describe(status);
  std::string err = child.rest_of_stderr();
  EXPECT_NE(err.find("--frobnicate"), std::string::npos) << err;
}

TEST_F(EchoServerBinary, HelpPrintsUsageAndExits0) {
  ChildProcess child(kServerPath, {"--help"});
  ASSERT_GT(child.pid(), 0);
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
  std::string out = child.rest_of_stdout();
  EXPECT_EQ(out, usage());
  EXPECT_EQ(child.rest_of_stderr(), "");
}

TEST_F(EchoServerBinary, ATakenPortExitsWithStatus1) {
  auto taken = net::listen_on(net::Endpoint::loopback(0), 1);
  ASSERT_TRUE(taken);
  auto port = net::local_port(taken->fd());
  ASSERT_TRUE(port);
  ChildProcess child(kServerPath, {"--port", std::to_string(*port)});
  ASSERT_GT(child.pid(), 0);
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 1)) << describe(status);
  std::string err = child.rest_of_stderr();
  EXPECT_NE(err.find("cannot listen"), std::string::npos) << err;
}

// ---- a server that outlives what goes wrong around it -------------------------------------

// Starts the binary with `args` and reads its listening line; the endpoint is empty on failure.
std::optional<net::Endpoint> start_listening(ChildProcess& child) {
  auto line = child.stdout_line();
  if (!line) return std::nullopt;
  return listening_endpoint(*line);
}

// Sends SIGUSR1 and parses the stats line into name -> value ("closes:" entries included).
// Other lines before it (the ppoll report, say) go to `others`.
std::map<std::string, std::uint64_t> stats_of(ChildProcess& child,
                                              std::vector<std::string>* others = nullptr) {
  std::map<std::string, std::uint64_t> out;
  if (!child.signal(SIGUSR1)) return out;
  for (;;) {
    auto line = child.stderr_line();
    if (!line) return out;
    if (!line->starts_with("echo_server: accepted=")) {
      if (others) others->push_back(*line);
      continue;
    }
    std::istringstream words(line->substr(std::string("echo_server: ").size()));
    for (std::string w; words >> w;) {
      auto eq = w.find('=');
      if (eq != std::string::npos) out[w.substr(0, eq)] = std::stoull(w.substr(eq + 1));
    }
    return out;
  }
}

// Returns the lowest descriptor number the process has free: the number its next open() or
// accept() gets. With RLIMIT_NOFILE set to it, that call fails with EMFILE.
rlim_t lowest_free_fd_of(pid_t pid) {
  std::vector<bool> used;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    auto fd = std::stoul(e.path().filename().string());
    if (fd >= used.size()) used.resize(fd + 1);
    used[fd] = true;
  }
  rlim_t fd = 0;
  while (fd < used.size() && used[fd]) ++fd;
  return fd;
}

bool set_nofile(pid_t pid, rlim_t soft) {
  rlimit now{};
  if (::prlimit(pid, RLIMIT_NOFILE, nullptr, &now) != 0) return false;
  rlimit next{soft, now.rlim_max};
  return ::prlimit(pid, RLIMIT_NOFILE, &next, nullptr) == 0;
}

// CPU time (user + system) the process has used, from /proc/PID/stat.
std::chrono::milliseconds cpu_time_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
  std::string f;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stol(f);  // utime, stime
  }
  return std::chrono::milliseconds(ticks * 1000 / ::sysconf(_SC_CLK_TCK));
}

// A log reader that has gone away used to kill the server with SIGPIPE (exit 141) at the next
// SIGUSR1 line. It must keep serving, and still exit 0 on SIGTERM.
TEST_F(EchoServerBinary, SurvivesAStderrReaderThatHasGone) {
  ChildProcess child(kServerPath, {"--port", "0"});
  ASSERT_GT(child.pid(), 0);
  auto endpoint = start_listening(child);
  ASSERT_TRUE(endpoint);
  auto s = net::dial(*endpoint, net::Deadline::after(5s));
  ASSERT_TRUE(s);
  child.close_stderr();
  ASSERT_TRUE(child.signal(SIGUSR1));  // a stats line to a pipe nobody reads
  ASSERT_TRUE(child.signal(SIGUSR1));
  auto r = testing::echo_once(s->fd());
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  ASSERT_TRUE(child.signal(SIGTERM));  // and a last line on the way out
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
}

// 500 connections, then the descriptor limit of the running server is lowered to 256: its next
// ppoll() fails with EINVAL (more entries than RLIMIT_NOFILE). That error used to escape the
// loop thread and abort the process; the loop must shed connections to fit, say so, and serve
// the rest.
TEST_F(EchoServerBinary, ShedsConnectionsWhenItsDescriptorLimitIsLowered) {
  constexpr int kConnections = 500;
  ChildProcess child(kServerPath, {"--port", "0"});
  ASSERT_GT(child.pid(), 0);
  auto endpoint = start_listening(child);
  ASSERT_TRUE(endpoint);
  std::vector<net::Socket> conns;
  for (int i = 0; i < kConnections; ++i) {
    auto s = net::dial(*endpoint, net::Deadline::after(5s));
    ASSERT_TRUE(s) << i << ": " << s.error().message();
    conns.push_back(std::move(*s));
  }
  ASSERT_TRUE(testing::echo_once(conns.back().fd())) << "all 500 accepted";
  ASSERT_TRUE(set_nofile(child.pid(), 256));
  // The next turn of the loop meets the lowered limit.
  (void)testing::echo_once(conns.front().fd());
  int served = 0;
  for (auto& c : conns) served += testing::echo_once(c.fd()).has_value() ? 1 : 0;
  EXPECT_GT(served, 100) << "the connections kept must be served";
  EXPECT_LE(served, 256) << "no more connections than the limit allows";
  std::vector<std::string> reported;
  auto stats = stats_of(child, &reported);
  ASSERT_FALSE(stats.empty()) << "no stats line: the server died";
  ASSERT_FALSE(reported.empty()) << "the degradation must be reported on stderr";
  EXPECT_TRUE(reported.front().starts_with("echo_server: ppoll: Invalid argument"))
      << reported.front();
  EXPECT_GE(stats["shed"], static_cast<std::uint64_t>(kConnections - 256));
  EXPECT_GE(stats["loop_errors"], 1u);
  EXPECT_LE(stats["limit"], 256u);
  ASSERT_TRUE(child.signal(SIGTERM));
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
}

// With no descriptor to spare, accept() fails with EMFILE while connections wait and the
// listener stays readable: a loop that polled it again at once would spin. The server must
// answer those connections (accepted on its spare descriptor and closed: EOF, not silence),
// stay quiet in between, and keep serving the connections it has.
TEST_F(EchoServerBinary, AtTheDescriptorLimitRefusesNewcomersWithoutSpinning) {
  ChildProcess child(kServerPath, {"--port", "0"});
  ASSERT_GT(child.pid(), 0);
  auto endpoint = start_listening(child);
  ASSERT_TRUE(endpoint);
  std::vector<net::Socket> kept;
  for (int i = 0; i < 10; ++i) {
    auto s = net::dial(*endpoint, net::Deadline::after(5s));
    ASSERT_TRUE(s);
    kept.push_back(std::move(*s));
  }
  for (auto& c : kept) ASSERT_TRUE(testing::echo_once(c.fd()));
  ASSERT_TRUE(set_nofile(child.pid(), lowest_free_fd_of(child.pid())));  // none free

  auto before = stats_of(child);
  auto cpu_before = cpu_time_of(child.pid());
  auto wall_before = Clock::now();
  constexpr int kNewcomers = 20;
  for (int i = 0; i < kNewcomers; ++i) {
    auto s = net::dial(*endpoint, net::Deadline::after(5s));
    ASSERT_TRUE(s) << "the kernel completes the handshake";
    std::byte b;
    auto r = net::recv_exact(s->fd(), {&b, 1}, net::Deadline::after(testing::kTestIoTimeout));
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error() == Errc::kPeerClosed || r.error() == std::errc::connection_reset)
        << "a newcomer must be told (EOF), not left waiting: " << r.error().message();
    auto kept_echo = testing::echo_once(kept[i % kept.size()].fd());
    EXPECT_TRUE(kept_echo) << "the others keep being served: "
                           << (kept_echo ? "" : kept_echo.error().message());
  }
  std::this_thread::sleep_for(300ms);  // a window in which a spinning loop would show
  auto after = stats_of(child);
  auto cpu = cpu_time_of(child.pid()) - cpu_before;
  auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - wall_before);
  ASSERT_FALSE(after.empty()) << "the server died";
  EXPECT_EQ(after["no_fd"] - before["no_fd"], static_cast<std::uint64_t>(kNewcomers));
  // Each newcomer and each echo costs a turn or two; a spinning loop makes hundreds of thousands.
  EXPECT_LT(after["turns"] - before["turns"], 40u * kNewcomers)
      << "turns " << before["turns"] << " -> " << after["turns"];
  RecordProperty("cpu_ms_over_limit", std::to_string(cpu.count()));
  RecordProperty("wall_ms_over_limit", std::to_string(wall.count()));

  ASSERT_TRUE(set_nofile(child.pid(), 4096));  // room again: newcomers are served again
  auto later = net::dial(*endpoint, net::Deadline::after(5s));
  ASSERT_TRUE(later);
  EXPECT_TRUE(testing::echo_once(later->fd()));
  ASSERT_TRUE(child.signal(SIGTERM));
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
}

}  // namespace
}  // namespace tcppool::echo
