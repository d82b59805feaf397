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
#include <sys/wait.h>
#include <unistd.h>

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
#include "common/testing/echo_fixture.hpp"
#include "common/testing/fd_count.hpp"
#include "common/testing/wait.hpp"

extern char** environ;

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;

constexpr const char* kServerPath = ECHO_SERVER_PATH;
constexpr auto kTimeout = 10s;

// A child process with its stdout and stderr on pipes.
class ChildProcess {
 public:
  // Starts kServerPath with `args`; stdin is /dev/null. Fails the test on error (then pid() is
  // -1).
  explicit ChildProcess(const std::vector<std::string>& args) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    out_ = net::Socket(out[0]);
    err_ = net::Socket(err[0]);
    net::Socket out_w(out[1]), err_w(err[1]);

    std::vector<std::string> argv_strings = {kServerPath};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_w.fd(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_w.fd(), 2);
    int rc = ::posix_spawn(&pid_, kServerPath, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      ADD_FAILURE() << "posix_spawn " << kServerPath << ": " << std::strerror(rc);
    }
  }

  ~ChildProcess() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Sends `sig` to the child (only while it has not been reaped, so the PID is still ours).
  bool signal(int sig) { return pid_ > 0 && !status_ && ::kill(pid_, sig) == 0; }

  // Waits up to `timeout` for the child to exit; returns its waitpid() status.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = kTimeout) {
    if (pid_ <= 0) return std::nullopt;
    testing::eventually(
        [&] {
          if (status_) return true;
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
          return status_.has_value();
        },
        timeout);
    return status_;
  }

  // Reads stdout (or stderr) up to and including the next newline; nullopt at EOF or timeout.
  std::optional<std::string> stdout_line() { return read_line(out_, out_buf_); }
  std::optional<std::string> stderr_line() { return read_line(err_, err_buf_); }

  // Reads the rest of stdout (or stderr) until EOF or the timeout.
  std::string rest_of_stdout() { return read_all(out_, out_buf_); }
  std::string rest_of_stderr() { return read_all(err_, err_buf_); }

 private:
  // Reads once, waiting until the deadline; returns false at EOF, error or timeout.
  static bool read_some(const net::Socket& fd, std::string& buf, net::Deadline deadline) {
    if (!net::wait_ready(fd.fd(), POLLIN, deadline)) return false;
    char chunk[4096];
    ssize_t n = ::read(fd.fd(), chunk, sizeof chunk);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  static std::optional<std::string> read_line(const net::Socket& fd, std::string& buf) {
    auto deadline = net::Deadline::after(kTimeout);
    for (;;) {
      if (auto nl = buf.find('\n'); nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      if (!read_some(fd, buf, deadline)) return std::nullopt;
    }
  }

  static std::string read_all(const net::Socket& fd, std::string& buf) {
    auto deadline = net::Deadline::after(kTimeout);
    while (read_some(fd, buf, deadline)) {
    }
    return std::exchange(buf, {});
  }

  pid_t pid_ = -1;
  std::optional<int> status_;
  net::Socket out_, err_;
  std::string out_buf_, err_buf_;
};

// Parses "echo_server: listening on 127.0.0.1:PORT".
std::optional<net::Endpoint> listening_endpoint(const std::string& line) {
  const std::string prefix = "echo_server: listening on ";
  if (!line.starts_with(prefix)) return std::nullopt;
  auto ep = net::Endpoint::parse(line.substr(prefix.size()));
  if (!ep) return std::nullopt;
  return *ep;
}

bool exited_with(std::optional<int> status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

std::string describe(std::optional<int> status) {
  if (!status) return "still running";
  if (WIFEXITED(*status)) return "exit status " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return std::string("killed by ") + strsignal(WTERMSIG(*status));
  return "status " + std::to_string(*status);
}

class EchoServerBinary : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_EQ(fds_.leaked(), 0) << "file descriptors leaked"; }

 private:
  testing::FdLeakGuard fds_;
};

TEST_F(EchoServerBinary, EchoesReportsStatsOnSigusr1AndExitsCleanlyOnSigterm) {
  ChildProcess child({"--port", "0"});
  ASSERT_GT(child.pid(), 0);
  auto line = child.stdout_line();
  ASSERT_TRUE(line) << "no listening line; stderr: " << child.rest_of_stderr();
  auto endpoint = listening_endpoint(*line);
  ASSERT_TRUE(endpoint) << *line;
  EXPECT_EQ(endpoint->to_string().rfind("127.0.0.1:", 0), 0u) << *line;
  EXPECT_NE(endpoint->port(), 0);

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
  ChildProcess child({"--port", "0", "--latency", "1ms"});
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
  ChildProcess child({"--port", std::to_string(port), "--quiet"});
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
  ChildProcess child({"--port", "70000"});
  ASSERT_GT(child.pid(), 0);
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 2)) << describe(status);
  std::string err = child.rest_of_stderr();
  EXPECT_NE(err.find("--port"), std::string::npos) << err;
  EXPECT_NE(err.find("70000"), std::string::npos) << err;
  EXPECT_EQ(child.rest_of_stdout(), "");
}

TEST_F(EchoServerBinary, AnUnknownFlagExitsWithStatus2) {
  ChildProcess child({"--frobnicate", "1"});
  ASSERT_GT(child.pid(), 0);
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 2)) << describe(status);
  std::string err = child.rest_of_stderr();
  EXPECT_NE(err.find("--frobnicate"), std::string::npos) << err;
}

TEST_F(EchoServerBinary, HelpPrintsUsageAndExits0) {
  ChildProcess child({"--help"});
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
  ChildProcess child({"--port", std::to_string(*port)});
  ASSERT_GT(child.pid(), 0);
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 1)) << describe(status);
  std::string err = child.rest_of_stderr();
  EXPECT_NE(err.find("cannot listen"), std::string::npos) << err;
}

}  // namespace
}  // namespace tcppool::echo
