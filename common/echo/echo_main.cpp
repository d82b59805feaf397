// common/echo/echo_main.cpp: the echo_server binary.
//
// The server runs on its own thread (EchoServer), periodic stalls and restarts included; this
// thread only handles signals. Signals are blocked in every thread and taken synchronously here
// with sigwaitinfo(), so no async-signal-safety rules apply: SIGUSR1 prints the counters,
// SIGUSR2 toggles accepting, SIGINT/SIGTERM stop cleanly. SIGPIPE is ignored: the server's
// sockets never raise it (MSG_NOSIGNAL), but a log reader that has gone away would, on the
// next line written to stderr, and a server must outlive its log reader.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/echo/cli.hpp"
#include "common/net/endpoint.hpp"

namespace echo = tcppool::echo;

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

  // Writing to a closed pipe must fail with EPIPE, not kill the server.
  ::signal(SIGPIPE, SIG_IGN);
  // Block the signals before the server thread starts, so it inherits the mask and only this
  // thread ever receives them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = echo::EchoServer::start(config->server);
  if (!server) {
    // The address was checked when parsed; show it as an endpoint ("[::1]:7007").
    auto where = tcppool::net::HostPort::parse_host(config->server.address, config->server.port);
    std::string shown = where ? where->to_string() : config->server.address;
    std::fprintf(stderr, "echo_server: cannot listen on %s: %s\n", shown.c_str(),
                 server.error().message().c_str());
    return 1;
  }
  echo::EchoServer& srv = **server;
  if (!config->quiet) {
    std::printf("echo_server: listening on %s\n", srv.endpoint().to_string().c_str());
    std::printf("echo_server: at most %zu connections, %zu bytes of buffer each\n",
                srv.connection_limit(), config->server.buffer_bytes);
    std::fflush(stdout);
  }
  if (config->stall.count() > 0) srv.stall_for(config->stall);

  for (;;) {
    int sig = sigwaitinfo(&signals, nullptr);
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
