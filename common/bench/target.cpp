// common/bench/target.cpp
#include "common/bench/target.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/net/endpoint.hpp"

namespace tcppool::bench {

std::expected<Target, std::error_code> Target::open(const std::string& external, int server_cpu) {
  return open(external, echo::Options{.cpu = server_cpu});
}

std::expected<Target, std::error_code> Target::open(const std::string& external,
                                                    const echo::Options& server_options) {
  Target t;
  if (!external.empty()) {
    auto ep = net::Endpoint::parse(external);
    if (!ep) return std::unexpected(ep.error());
    t.endpoint_ = external;
    t.port_ = ep->port();
    return t;
  }
  auto server = echo::EchoServer::start(server_options);
  if (!server) return std::unexpected(server.error());
  t.server_ = std::move(*server);
  t.endpoint_ = t.server_->endpoint().to_string();
  t.port_ = t.server_->port();
  return t;
}

std::uint64_t time_wait_count(std::optional<std::uint16_t> remote_port) {
  constexpr const char* kTimeWait = "06";  // TCP_TIME_WAIT in include/net/tcp_states.h
  std::uint64_t n = 0;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      if (state != kTimeWait) continue;
      if (remote_port) {
        auto colon = remote.rfind(':');
        if (colon == std::string::npos) continue;
        if (std::stoul(remote.substr(colon + 1), nullptr, 16) != *remote_port) continue;
      }
      ++n;
    }
  }
  return n;
}

std::uint64_t time_wait_limit() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_max_tw_buckets");
  std::uint64_t limit = 0;
  in >> limit;
  return limit;
}

std::string network_namespace() {
  // The host's namespace: as scripts/bench.sh saw it before giving this binary one of its own,
  // else process 1's (unreadable in some containers).
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/ns/net", ec);
  if (ec) return "host?";
  std::filesystem::path host;
  if (const char* seen = std::getenv("TCPPOOL_HOST_NETNS"); seen != nullptr && *seen != '\0') {
    host = seen;
  } else {
    host = std::filesystem::read_symlink("/proc/1/ns/net", ec);
    if (ec) return "host?";
  }
  return self == host ? "host" : "own";
}

}  // namespace tcppool::bench
