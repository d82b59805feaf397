// common/workshop/runner.hpp: running commands, several at once, each bounded in time.
//
// Grading runs every test in a process of its own, as ctest does: a test that crashes (a
// sanitizer report) or hangs (a waiter nobody wakes) then costs only itself, and is reported
// as what it did. Each process gets its own process group, so that a timeout kills whatever
// it started too.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace tcppool::workshop {

/// A command to run.
struct Job {
  std::vector<std::string> argv{};   ///< The program and its arguments (no shell).
  std::string output{};              ///< File for its standard output and error ("": this one's).
  std::chrono::seconds timeout{60};  ///< Killed (with its process group) after this long.
  std::vector<std::string> env{};    ///< "NAME=value" added to this process's environment.
  std::string cwd{};                 ///< Directory to run in ("" for this one).
};

/// How a job ended.
struct JobResult {
  bool started = false;    ///< False when it could not be started (see output file).
  int exit_status = -1;    ///< Its exit status, when it exited.
  int signal = 0;          ///< The signal that ended it, when one did.
  bool timed_out = false;  ///< Killed at its timeout.

  /// Returns true when it exited with status 0.
  bool ok() const { return started && !timed_out && signal == 0 && exit_status == 0; }
};

/// Runs `jobs`, at most `parallel` at a time, and returns their results in the same order.
/// `progress` is called (from this thread) each time one finishes, with the count so far.
std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, int parallel,
                                void (*progress)(std::size_t done, std::size_t total) = nullptr);

/// Runs one job and returns its result.
JobResult run_job(const Job& job);

/// Reads a whole file ("" when it cannot be read).
std::string read_text(const std::string& path);

/// Writes `text` to `path` unless it already holds exactly that, creating directories; returns
/// true when it wrote (so that a build sees a changed file only when it changed).
bool write_if_changed(const std::string& path, const std::string& text);

}  // namespace tcppool::workshop
