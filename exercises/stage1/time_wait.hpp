// exercises/stage1/time_wait.hpp: counting TIME_WAIT sockets on either side of a server, for
// the tests of stage 1's exercises.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace tcppool::exercises {

/// Returns how many IPv4 TCP sockets are in TIME_WAIT whose local port (`local` true) or remote
/// port (`local` false) is `port`, from /proc/net/tcp of this network namespace.
inline int time_wait_sockets(std::uint16_t port, bool local) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // the header
  int count = 0;
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local_address, remote_address, state;
    fields >> slot >> local_address >> remote_address >> state;
    const std::string& address = local ? local_address : remote_address;
    auto colon = address.find(':');
    if (state != "06" || colon == std::string::npos) continue;  // 06: TCP_TIME_WAIT
    if (std::stoul(address.substr(colon + 1), nullptr, 16) == port) ++count;
  }
  return count;
}

/// TIME_WAIT sockets the server keeps: those whose local port is the server's.
inline int time_wait_at_server(std::uint16_t server_port) {
  return time_wait_sockets(server_port, /*local=*/true);
}

/// TIME_WAIT sockets the clients keep: those whose remote port is the server's.
inline int time_wait_at_clients(std::uint16_t server_port) {
  return time_wait_sockets(server_port, /*local=*/false);
}

}  // namespace tcppool::exercises
