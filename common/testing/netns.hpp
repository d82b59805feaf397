// common/testing/netns.hpp: a network namespace across a veth pair, for tests of a peer that
// vanishes without a FIN or a reset.
//
// On loopback a peer cannot vanish: when a process dies its kernel still closes its sockets.
// Across a link it can: the machine loses power, a firewall starts dropping. This helper makes
// such a link in one machine: a network namespace with its own stack, joined to this one by a
// veth pair, and an nftables rule inside it that drops every packet, so that connections to a
// server in the namespace go silent. Root only (creating namespaces needs CAP_SYS_ADMIN, and
// the test shells out to `ip` and `nft`); create() says why it cannot, so a test can skip with
// that reason.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <expected>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace tcppool::testing {

/// A network namespace `tcppool-PID`, reached at peer_address() through a veth pair.
///
///     auto net = IsolatedNetwork::create();
///     if (!net) GTEST_SKIP() << net.error();
///     auto server = (*net)->in_namespace([] { return echo::EchoServer::start({.address = ...});
///     });
///     (*net)->drop_all();  // the peer is gone without a word
///
/// Not thread-safe. The namespace and both ends of the pair are deleted by the destructor.
class IsolatedNetwork {
 public:
  /// Creates the namespace, the pair and the addresses; fails with the reason it cannot (not
  /// root, `ip` or `nft` missing, or a command that failed).
  static std::expected<std::unique_ptr<IsolatedNetwork>, std::string> create() {
    if (::geteuid() != 0) return std::unexpected("needs root to create a network namespace");
    for (const char* tool : {"ip", "nft"}) {
      if (std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) != 0) {
        return std::unexpected(std::string("needs `") + tool +
                               "` (Debian: iproute2, nftables; make test installs them)");
      }
    }
    std::unique_ptr<IsolatedNetwork> n(new IsolatedNetwork());
    if (auto made = n->make(); !made) return std::unexpected(made.error());
    return n;
  }

  ~IsolatedNetwork() {
    if (ns_fd_ >= 0) ::close(ns_fd_);
    run("ip netns del " + ns_ + " 2>/dev/null");  // takes the veth pair with it
  }

  IsolatedNetwork(const IsolatedNetwork&) = delete;
  IsolatedNetwork& operator=(const IsolatedNetwork&) = delete;

  /// Returns the address of the namespace's end of the pair ("10.x.y.z").
  const std::string& peer_address() const { return peer_; }

  /// Calls `fn` on a thread that has entered the namespace and returns its result. Sockets it
  /// opens, and threads it starts, live in the namespace (an in-process EchoServer, say).
  template <typename Fn>
  auto in_namespace(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task([this, &fn] {
      if (::setns(ns_fd_, CLONE_NEWNET) != 0) std::abort();  // a broken test environment
      return fn();
    });
    auto result = task.get_future();
    std::thread(std::move(task)).join();
    return result.get();
  }

  /// Drops every packet that reaches the namespace from now on: its peers go silent, with no
  /// FIN and no reset. Returns false if the rule could not be added.
  bool drop_all() {
    return run("ip netns exec " + ns_ + " nft add table inet tcppool_test") &&
           run("ip netns exec " + ns_ +
               " nft add chain inet tcppool_test in '{ type filter hook input priority 0; "
               "policy drop; }'");
  }

  /// Removes the rule drop_all() added.
  bool restore() { return run("ip netns exec " + ns_ + " nft delete table inet tcppool_test"); }

 private:
  IsolatedNetwork() {
    int pid = static_cast<int>(::getpid());
    ns_ = "tcppool-" + std::to_string(pid);
    host_if_ = "tpv" + std::to_string(pid) + "h";
    peer_if_ = "tpv" + std::to_string(pid) + "n";
    // A /30 of 10.0.0.0/8 derived from the PID, so that tests running at once do not collide.
    int a = 200 + (pid >> 14) % 50, b = (pid >> 6) & 255, c = (pid & 63) << 2;
    std::string net = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    host_ = net + std::to_string(c + 1);
    peer_ = net + std::to_string(c + 2);
  }

  std::expected<void, std::string> make() {
    const std::string in_ns = "ip netns exec " + ns_ + " ";
    for (const std::string& cmd :
         {"ip netns add " + ns_, "ip link add " + host_if_ + " type veth peer name " + peer_if_,
          "ip link set " + peer_if_ + " netns " + ns_,
          "ip addr add " + host_ + "/30 dev " + host_if_, "ip link set " + host_if_ + " up",
          in_ns + "ip addr add " + peer_ + "/30 dev " + peer_if_,
          in_ns + "ip link set " + peer_if_ + " up", in_ns + "ip link set lo up"}) {
      if (!run(cmd)) return std::unexpected("`" + cmd + "` failed");
    }
    ns_fd_ = ::open(("/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd_ < 0) return std::unexpected("cannot open /run/netns/" + ns_);
    return {};
  }

  static bool run(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }

  std::string ns_, host_if_, peer_if_, host_, peer_;
  int ns_fd_ = -1;
};

}  // namespace tcppool::testing
