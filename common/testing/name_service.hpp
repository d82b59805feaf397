// common/testing/name_service.hpp: keeping a test's name lookups on this machine, and making
// them fail for a while, as in an outage of the name service.
//
// Tests send traffic to loopback only, and a lookup of a name that is not in /etc/hosts would
// otherwise go on to DNS, whose server is usually elsewhere. glibc lets a process choose its
// own name services with __nss_configure_lookup() (<nss.h>: for programs that must work
// around a missing service; each call keeps a few bytes it cannot free, which a test can
// afford). These helpers use it; where there is no such switch they report false, and the
// test skips instead of sending queries.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#if defined(__GLIBC__)
#include <nss.h>
#endif

namespace tcppool::testing {

/// Points the "hosts" database at the NSS services in `services` ("files": /etc/hosts only).
/// Returns false where the C library cannot.
inline bool use_host_services(const char* services) {
#if defined(__GLIBC__)
  return ::__nss_configure_lookup("hosts", services) == 0;
#else
  (void)services;
  return false;
#endif
}

/// Restricts host name lookups in this process to /etc/hosts (the NSS "files" service), for
/// the rest of the process: a name that is not there fails with EAI_NONAME at once, and no
/// DNS query leaves the machine. Does it once per process. Returns false where the C library
/// cannot do this.
inline bool keep_lookups_local() {
  static const bool local = use_host_services("files");
  return local;
}

/// Returns true when `name` resolves (with lookups kept local) to 127.0.0.1 first among its
/// IPv4 addresses, as the echo server's default address needs.
inline bool resolves_to_ipv4_loopback(const char* name) {
  if (!keep_lookups_local()) return false;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo(name, nullptr, &hints, &list) != 0) return false;
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(list->ai_addr);
  bool loopback = ntohl(v4->sin_addr.s_addr) == INADDR_LOOPBACK;
  ::freeaddrinfo(list);
  return loopback;
}

/// While it lives, every host name lookup in this process fails: the "hosts" database is
/// pointed at an NSS service that does not exist, so getaddrinfo() fails at once (with
/// EAI_SYSTEM) without reading /etc/hosts or sending a query. Destroying it brings lookups
/// back, local ones only (keep_lookups_local()). Check active() before relying on it.
///
///     {
///       testing::NameServiceOutage outage;
///       if (!outage.active()) GTEST_SKIP() << "...";
///       ...  // "localhost" does not resolve
///     }        // now it does
///
/// Not thread-safe: make and destroy it while no other thread is looking up a name.
class NameServiceOutage {
 public:
  /// Starts the outage.
  NameServiceOutage()
      : active_(keep_lookups_local() && use_host_services("tcppool_name_service_outage")) {}

  /// Ends the outage.
  ~NameServiceOutage() {
    if (active_) use_host_services("files");
  }

  NameServiceOutage(const NameServiceOutage&) = delete;
  NameServiceOutage& operator=(const NameServiceOutage&) = delete;

  /// Returns true when lookups do fail while this lives.
  bool active() const noexcept { return active_; }

 private:
  bool active_ = false;
};

}  // namespace tcppool::testing
