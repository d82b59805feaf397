// common/workshop/runner.cpp: posix_spawn, a process group per job, and a deadline loop.
#include "common/workshop/runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace tcppool::workshop {
namespace {

using Clock = std::chrono::steady_clock;

struct Running {
  std::size_t index{};
  pid_t pid{};
  Clock::time_point deadline{};
};

// Starts a job; returns its pid, or -1 (with the reason written to its output file).
pid_t start(const Job& job) {
  std::vector<std::string> env_strings{};
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& add : job.env) {
    auto name = add.substr(0, add.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& s) { return s.starts_with(name); });
    env_strings.push_back(add);
  }
  std::vector<char*> envp{};
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = job.argv;
  std::vector<char*> argv{};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (!job.output.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, job.output.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  if (!job.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, job.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::string why = "cannot run " + job.argv[0] + ": " + std::strerror(rc) + "\n";
    if (job.output.empty()) {
      std::fputs(why.c_str(), stderr);
    } else {
      std::ofstream(job.output) << why;
    }
    return -1;
  }
  return pid;
}

JobResult finished(int status) {
  JobResult r{.started = true};
  if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

}  // namespace

std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, int parallel,
                                void (*progress)(std::size_t done, std::size_t total)) {
  std::vector<JobResult> results(jobs.size());
  std::vector<Running> running{};
  std::size_t next = 0, done = 0;
  if (parallel < 1) parallel = 1;
  while (done < jobs.size()) {
    while (next < jobs.size() && static_cast<int>(running.size()) < parallel) {
      pid_t pid = start(jobs[next]);
      if (pid < 0) {
        results[next] = JobResult{};
        ++done;
        if (progress) progress(done, jobs.size());
      } else {
        running.push_back({next, pid, Clock::now() + jobs[next].timeout});
      }
      ++next;
    }
    bool reaped = false;
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      pid_t r = ::waitpid(it->pid, &status, WNOHANG);
      if (r == it->pid) {
        // The job is done; anything it left running in its group goes with it.
        ::kill(-it->pid, SIGKILL);
        if (results[it->index].timed_out) {
          results[it->index].started = true;
        } else {
          results[it->index] = finished(status);
        }
        it = running.erase(it);
        ++done;
        reaped = true;
        if (progress) progress(done, jobs.size());
        continue;
      }
      if (Clock::now() > it->deadline && !results[it->index].timed_out) {
        results[it->index].timed_out = true;
        ::kill(-it->pid, SIGKILL);
      }
      ++it;
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return results;
}

JobResult run_job(const Job& job) { return run_jobs({job}, 1).front(); }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s{};
  s << in.rdbuf();
  return s.str();
}

bool write_if_changed(const std::string& path, const std::string& text) {
  if (std::filesystem::exists(path) && read_text(path) == text) return false;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return true;
}

}  // namespace tcppool::workshop
