// common/echo/echo_main.cpp: the echo_server binary.
//
// The server runs on its own thread (EchoServer); this thread only handles signals and the
// periodic faults. Signals are blocked in every thread and taken synchronously here with
// sigtimedwait(), so no async-signal-safety rules apply: SIGUSR1 prints the counters, SIGUSR2
// toggles accepting, SIGINT/SIGTERM stop cleanly. The wait's timeout is the next scheduled
// stall or restart.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/echo/cli.hpp"

namespace echo = tcppool::echo;
using echo::Clock;

namespace {

timespec until(Clock::time_point t) {
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(t - Clock::now());
  if (left.count() < 0) left = left.zero();
  return {static_cast<time_t>(left.count() / 1'000'000'000),
          static_cast<long>(left.count() % 1'000'000'000)};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto config = echo::parse_cli(args);
  if (!config) {
    std::fprintf(stderr, "echo_server: %s\n", config.error().c_str());
    return 2;
  }
  if (config->help) {
    std::fputs(echo::usage().c_str(), stdout);
    return 0;
  }

  // Block the signals before the server thread starts, so it inherits the mask and only this
  // thread ever receives them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = echo::EchoServer::start(config->server);
  if (!server) {
    std::fprintf(stderr, "echo_server: cannot listen on %s:%u: %s\n",
                 config->server.address.c_str(), config->server.port,
                 server.error().message().c_str());
    return 1;
  }
  echo::EchoServer& srv = **server;
  if (!config->quiet) {
    std::printf("echo_server: listening on %s\n", srv.endpoint().to_string().c_str());
    std::fflush(stdout);
  }

  const auto never = Clock::time_point::max();
  auto now = Clock::now();
  Clock::time_point next_stall = config->stall.count() > 0 ? now : never;
  Clock::time_point next_restart =
      config->restart_every.count() > 0 ? now + config->restart_every : never;

  for (;;) {
    now = Clock::now();
    if (now >= next_stall) {
      srv.stall_for(config->stall);
      next_stall = config->stall_every.count() > 0 ? now + config->stall_every : never;
    }
    if (now >= next_restart) {
      if (auto r = srv.restart(config->restart_downtime); !r) {
        std::fprintf(stderr, "echo_server: restart: %s (retrying)\n", r.error().message().c_str());
      }
      next_restart = now + config->restart_every;
    }
    Clock::time_point wake = std::min(next_stall, next_restart);
    timespec ts = until(wake);
    int sig = wake == never ? sigwaitinfo(&signals, nullptr) : sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGUSR1) {
      std::fprintf(stderr, "echo_server: %s\n", echo::format_stats(srv.stats()).c_str());
    } else if (sig == SIGUSR2) {
      echo::Faults f = srv.faults();
      f.accepting = !f.accepting;
      srv.set_faults(f);
      if (!config->quiet) {
        std::fprintf(stderr, "echo_server: accepting %s\n", f.accepting ? "on" : "off");
      }
    } else if (sig == SIGINT || sig == SIGTERM) {
      srv.stop();
      if (!config->quiet) {
        std::fprintf(stderr, "echo_server: %s, exiting; %s\n", strsignal(sig),
                     echo::format_stats(srv.stats()).c_str());
      }
      return 0;
    }
  }
}
