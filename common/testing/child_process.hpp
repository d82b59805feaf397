// common/testing/child_process.hpp: running a program of the repository as a child process
// in a test, reading its output and sending it signals.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/net/deadline.hpp"
#include "common/net/io.hpp"
#include "common/net/socket.hpp"
#include "common/testing/wait.hpp"

extern char** environ;

namespace tcppool::testing {

/// How long a ChildProcess waits for a line, for EOF, or for the child to exit, by default.
inline constexpr std::chrono::milliseconds kChildTimeout{10000};

/// A child process with its stdout and stderr on pipes, killed (SIGKILL, by its PID) and reaped
/// if the test ends while it runs, so a failed assertion never leaves it running.
class ChildProcess {
 public:
  /// Starts the program at `path` with `args`; stdin is /dev/null. Fails the test on error
  /// (then pid() is -1).
  ChildProcess(const std::string& path, const std::vector<std::string>& args) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    out_ = net::Socket(out[0]);
    err_ = net::Socket(err[0]);
    net::Socket out_w(out[1]), err_w(err[1]);

    std::vector<std::string> argv_strings = {path};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_w.fd(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_w.fd(), 2);
    int rc = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      ADD_FAILURE() << "posix_spawn " << path << ": " << std::strerror(rc);
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

  /// Returns the child's PID, or -1 when it could not be started.
  pid_t pid() const { return pid_; }

  /// Sends `sig` to the child (only while it has not been reaped, so the PID is still ours).
  bool signal(int sig) { return pid_ > 0 && !status_ && ::kill(pid_, sig) == 0; }

  /// Waits up to `timeout` for the child to exit; returns its waitpid() status (nullopt: still
  /// running).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = kChildTimeout) {
    if (pid_ <= 0) return std::nullopt;
    if (status_) return status_;
    // A pidfd becomes readable when the child exits: wait for that event, not on a timer.
    net::Socket pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    if (pidfd) (void)net::wait_ready(pidfd.fd(), POLLIN, net::Deadline::after(timeout));
    eventually(  // reaps it; polls only where pidfd_open() is missing (Linux before 5.3)
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
          return status_.has_value();
        },
        pidfd ? std::chrono::milliseconds(0) : timeout);
    return status_;
  }

  /// Reads stdout up to and including the next newline; nullopt at EOF or timeout.
  std::optional<std::string> stdout_line() { return read_line(out_, out_buf_); }
  /// Reads stderr up to and including the next newline; nullopt at EOF or timeout.
  std::optional<std::string> stderr_line() { return read_line(err_, err_buf_); }

  /// Closes the read end of the child's stderr: its next write there finds no reader.
  void close_stderr() { err_.reset(); }

  /// Reads the rest of stdout until EOF or the timeout.
  std::string rest_of_stdout() { return read_all(out_, out_buf_); }
  /// Reads the rest of stderr until EOF or the timeout.
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
    auto deadline = net::Deadline::after(kChildTimeout);
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
    auto deadline = net::Deadline::after(kChildTimeout);
    while (read_some(fd, buf, deadline)) {
    }
    return std::exchange(buf, {});
  }

  pid_t pid_ = -1;
  std::optional<int> status_;
  net::Socket out_, err_;
  std::string out_buf_, err_buf_;
};

/// Returns true if `status` (from ChildProcess::wait_exit()) is a normal exit with `code`.
inline bool exited_with(std::optional<int> status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

/// Describes a wait_exit() status: "exit status 1", "killed by Killed", "still running".
inline std::string describe(std::optional<int> status) {
  if (!status) return "still running";
  if (WIFEXITED(*status)) return "exit status " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return std::string("killed by ") + strsignal(WTERMSIG(*status));
  return "status " + std::to_string(*status);
}

}  // namespace tcppool::testing
