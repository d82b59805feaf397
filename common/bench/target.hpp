// common/bench/target.hpp: the server a benchmark run talks to, and the TIME_WAIT count.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "common/echo/echo_server.hpp"

namespace tcppool::bench {

/// The echo server of one benchmark run: a fresh in-process EchoServer (clean counters, a new
/// port, so no TIME_WAIT from an earlier run shares its 4-tuples), or an RFC 862 server someone
/// else runs (`make bench ENDPOINT=host:port`), whose counters the harness cannot read.
class Target {
 public:
  /// Starts an in-process server when `external` is empty, its loop pinned to `server_cpu`
  /// unless that is -1; otherwise checks that `external` parses. Fails with the reason.
  static std::expected<Target, std::error_code> open(const std::string& external,
                                                     int server_cpu = -1);

  /// Like open(), with the in-process server started with `server` (a small backlog, faults
  /// from the start). For an external server `server` is ignored.
  static std::expected<Target, std::error_code> open(const std::string& external,
                                                     const echo::Options& server);

  /// Returns "host:port" to hand to a pool.
  const std::string& endpoint() const noexcept { return endpoint_; }

  /// Returns the port.
  std::uint16_t port() const noexcept { return port_; }

  /// Returns the in-process server, or nullptr for an external one.
  echo::EchoServer* server() const noexcept { return server_.get(); }

 private:
  std::string endpoint_;
  std::uint16_t port_ = 0;
  std::shared_ptr<echo::EchoServer> server_;
};

/// Counts TCP sockets in TIME_WAIT in this network namespace (/proc/net/tcp and tcp6): all of
/// them, or only those whose remote port is `remote_port` (a client's, after closing first).
std::uint64_t time_wait_count(std::optional<std::uint16_t> remote_port = std::nullopt);

/// Returns the most TIME_WAIT sockets the kernel keeps (net.ipv4.tcp_max_tw_buckets), or 0 when
/// it cannot be read. Past it, a closing socket skips TIME_WAIT altogether.
std::uint64_t time_wait_limit();

/// Returns which network namespace this process runs in: "own" when it is not the host's
/// (scripts/bench.sh gives each binary one when run as root), "host" when it is, "host?" when
/// the host's cannot be read. The host's is the one in TCPPOOL_HOST_NETNS (bench.sh sets it
/// to its own, `net:[inode]`), else process 1's.
/// TIME_WAIT sockets, ephemeral ports and the tcp_max_tw_buckets table are per namespace.
std::string network_namespace();

}  // namespace tcppool::bench
