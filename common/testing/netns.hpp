// common/testing/netns.hpp: a real network path inside one machine, and the faults a network
// has: a server that takes no new connections (its SYNs dropped), a peer that vanishes without
// a FIN or a reset, and random packet loss.
//
// On loopback none of these can happen: when a process dies its kernel still closes its
// sockets, and loopback loses nothing. Across a link they do: a machine loses power, a firewall
// starts dropping, a link is lossy. IsolatedNetwork makes such a link: a network namespace of
// its own (its own TCP stack), joined to the caller's by a veth pair, with an nftables table
// inside it whose rules make the faults. The namespace has no name: it lives as long as the
// IsolatedNetwork holds a descriptor to it (and its sockets are open), so when the object is
// destroyed, or the process ends however it ends (a failed assertion, a crash, ctest killing
// it at its TIMEOUT), the kernel deletes the namespace and the veth pair with it. Nothing is
// left behind to clean up. The addresses are taken from 198.18.0.0/15, the block reserved for
// network tests (RFC 2544), so they meet no real network, and no packet leaves the machine.
//
// Root only: creating a namespace and a veth pair needs CAP_SYS_ADMIN and CAP_NET_ADMIN, and
// the rules are set with `ip` and `nft` (Debian: iproute2, nftables). create() says why it
// cannot, so that a test skips with that reason.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <fstream>
#include <future>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace tcppool::testing {

/// A network namespace reached at peer_address() through a veth pair, whose packets can be
/// dropped at will.
///
///     auto net = IsolatedNetwork::create();
///     if (!net) GTEST_SKIP() << net.error();
///     auto server = (*net)->in_namespace([&] {
///       return echo::EchoServer::start({.address = (*net)->peer_address()});
///     });
///     (*net)->drop_all();  // the peer is gone without a word
///
/// The fault methods replace each other: each one sets the namespace's rules to its own, and
/// restore() removes them. Not thread-safe: one thread sets the faults (the connections through
/// the pair may be used from any number of threads). Destroying it deletes the namespace once
/// the sockets in it are closed: stop a server started in it first.
class IsolatedNetwork {
 public:
  /// Creates the namespace, the pair and the addresses; fails with the reason it cannot (not
  /// root, `ip` or `nft` missing, or the command that failed).
  static std::expected<std::unique_ptr<IsolatedNetwork>, std::string> create() {
    if (::geteuid() != 0) return std::unexpected("needs root to create a network namespace");
    for (const char* tool : {"ip", "nft"}) {
      if (!run(std::string("command -v ") + tool)) {
        return std::unexpected(std::string("needs `") + tool +
                               "` (Debian: iproute2, nftables; make test installs them)");
      }
    }
    std::unique_ptr<IsolatedNetwork> n(new IsolatedNetwork());
    if (auto made = n->make(); !made) return std::unexpected(made.error());
    return n;
  }

  /// Closes the namespace's descriptor: the kernel deletes it, and the pair, once the last
  /// socket in it is closed.
  ~IsolatedNetwork() {
    if (ns_fd_ >= 0) ::close(ns_fd_);
  }

  IsolatedNetwork(const IsolatedNetwork&) = delete;
  IsolatedNetwork& operator=(const IsolatedNetwork&) = delete;

  /// Returns the address of the namespace's end of the pair ("198.18.x.y"): bind servers to it.
  const std::string& peer_address() const { return peer_; }

  /// Returns the address of the caller's end of the pair, from which connections to
  /// peer_address() come.
  const std::string& host_address() const { return host_; }

  /// Returns the name of the caller's end of the pair ("tpv1234x0h"); it exists while the
  /// namespace does.
  const std::string& host_interface() const { return host_if_; }

  /// Calls `fn` on a thread that has entered the namespace and returns its result. Sockets it
  /// opens, threads it starts and commands it runs (std::system) live in the namespace: an
  /// in-process EchoServer, say.
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

  /// Drops every SYN that reaches the namespace: a dial to it waits for a SYN-ACK that never
  /// comes, as to a blackholed address, while connections already made go on working. Returns
  /// false if the rules could not be set.
  bool drop_new_connections() { return set_rules("tcp flags & (syn | ack) == syn drop", ""); }

  /// Drops every packet into and out of the namespace: its peers go silent, with no FIN and no
  /// reset. Returns false if the rules could not be set.
  bool drop_all() { return set_rules("drop", "drop"); }

  /// Drops each packet into or out of the namespace with probability `percent` / 100, both
  /// directions alike. REQUIRES: 0 <= percent <= 100. Returns false if the rules could not be
  /// set.
  bool lose(int percent) {
    std::string rule = "numgen random mod 100 < " + std::to_string(percent) + " drop";
    return set_rules(rule, rule);
  }

  /// Removes the rules the fault methods set: every packet passes again.
  bool restore() {
    return in_namespace([] { return run("nft delete table inet tcppool_faults"); });
  }

 private:
  IsolatedNetwork() = default;

  // Makes the namespace on a thread of its own, which leaves for good once it has a descriptor
  // to it; puts one end of the pair in the caller's namespace, and gives both ends addresses.
  std::expected<void, std::string> make() {
    static std::atomic<unsigned> made{0};
    const unsigned seq = made.fetch_add(1) % 4;
    const long pid = ::getpid();
    const std::string base = "tpv" + std::to_string(pid) + "x" + std::to_string(seq);
    const std::string ns_if = base + "n";
    host_if_ = base + "h";
    // The caller's namespace, by a path `ip` can open (the caller's thread waits below).
    const std::string here = "/proc/" + std::to_string(pid) + "/task/" +
                             std::to_string(::syscall(SYS_gettid)) + "/ns/net";
    // A /30 of 198.18.0.0/15 (2^15 of them) from the PID: tests running at once differ.
    unsigned subnet = static_cast<unsigned>(pid * 4 + seq) % (1u << 15);
    std::string net = "198." + std::to_string(18 + (subnet >> 14)) + "." +
                      std::to_string((subnet >> 6) & 255) + ".";
    host_ = net + std::to_string(((subnet & 63) << 2) + 1);
    peer_ = net + std::to_string(((subnet & 63) << 2) + 2);

    std::expected<void, std::string> inside;
    std::thread([&] {
      if (::unshare(CLONE_NEWNET) != 0) {
        inside = std::unexpected("unshare(CLONE_NEWNET) failed");
        return;
      }
      ns_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (ns_fd_ < 0) {
        inside = std::unexpected("cannot open /proc/thread-self/ns/net");
        return;
      }
      inside =
          run_all({"ip link set lo up",
                   "ip link add " + ns_if + " type veth peer name " + host_if_ + " netns " + here,
                   "ip addr add " + peer_ + "/30 dev " + ns_if, "ip link set " + ns_if + " up"});
    }).join();
    if (!inside) return inside;
    auto outside = run_all(
        {"ip addr add " + host_ + "/30 dev " + host_if_, "ip link set " + host_if_ + " up"});
    if (!outside) return outside;
    // A veth end is up once both are: until then the first SYN would be lost, and resent only
    // a second later. Wait for it, a few milliseconds at most.
    const std::string state = "/sys/class/net/" + host_if_ + "/operstate";
    for (int i = 0; i < 2000; ++i) {
      std::string word;
      std::ifstream(state) >> word;
      if (word == "up") return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::unexpected(host_if_ + " did not come up within 2 s");
  }

  // Replaces the namespace's rules, in one transaction: `in` for packets arriving (loopback
  // exempt), `out` for packets leaving; either may be empty.
  bool set_rules(const std::string& in, const std::string& out) {
    auto chain = [](const char* name, const char* hook, const char* lo, const std::string& rule) {
      return std::string("  chain ") + name + " { type filter hook " + hook +
             " priority 0; policy accept; " + lo + " lo accept;" +
             (rule.empty() ? "" : " " + rule + ";") + " }\n";
    };
    std::string script =
        "nft -f - >/dev/null 2>&1 <<'EOF'\n"
        "table inet tcppool_faults\n"
        "delete table inet tcppool_faults\n"
        "table inet tcppool_faults {\n" +
        chain("in", "input", "iif", in) + chain("out", "output", "oif", out) + "}\nEOF\n";
    return in_namespace([&] { return std::system(script.c_str()) == 0; });
  }

  static bool run(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }

  static std::expected<void, std::string> run_all(std::initializer_list<std::string> cmds) {
    for (const std::string& cmd : cmds) {
      if (!run(cmd)) return std::unexpected("`" + cmd + "` failed");
    }
    return {};
  }

  std::string host_, peer_, host_if_;
  int ns_fd_ = -1;  // holds the namespace: it lives while this is open
};

}  // namespace tcppool::testing
