// netfaults/netfaults.cpp: `make netfaults`, what every stage does when the network itself
// fails, measured and printed as markdown tables (netfaults/README.md).
//
// The tests (common/testing/conformance/network_faults.hpp, health.hpp, deadlines.hpp) assert
// each stage's behaviour with generous bounds; this program measures it. An echo server runs
// across a veth pair in a network namespace of its own (common/testing/netns.hpp), and every
// stage's pool talks to it at once, while the namespace's rules make three faults:
//
//   1. a blackholed server: its SYNs dropped. How long acquire() takes to fail, and with what.
//   2. a peer that vanishes mid-connection: every packet dropped once the connections are
//      made. How long each stage takes to notice, by each mechanism it has, for a request in
//      flight and for a connection idle in the pool; a wait the stage does not end is cut at
//      the program's own limit and reported as not noticed.
//   3. random loss of 5, 10 and 20 % of the packets each way. The latency of verified echoes
//      (every reply checked byte for byte), and the failures, by error.
//
// Root only (the namespace); otherwise it says so and exits with 77, which ctest counts as a
// skip. Exits 1 when a stage fails its promise: a reply that differs from its request, a
// mechanism that should notice the vanished peer (a user timeout, keepalive, a heartbeat, a
// context) not noticing within the limit, or a blackholed acquire that is not bounded.
//
// Usage: netfaults [--quick] [--out FILE]
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/testing/netns.hpp"
#include "stage1-naive/pool.hpp"
#include "stage2-mutex-queue/pool.hpp"
#include "stage3-bounded-channel/pool.hpp"
#include "stage4-health-keepalive/pool.hpp"
#include "stage5-context-timeouts/pool.hpp"
#include "stage6-metrics/pool.hpp"

namespace {

using namespace std::chrono_literals;
namespace echo = tcppool::echo;
namespace net = tcppool::net;
using Clock = net::Clock;
using Ms = std::chrono::milliseconds;
using tcppool::Errc;

// How long the program waits for a stage to notice, and how much it sends.
struct Settings {
  Clock::duration limit = 10s;  // a wait not ended by then is "not noticed"
  std::vector<int> loss_percents = {5, 10, 20};
  int loss_threads = 4;
  int loss_requests = 50;  // per thread
};

// ---- errors, durations and tables as text ----

// "Errc::kTimeout", "ETIMEDOUT": the name a reader can look up, then the message.
std::string describe(const std::error_code& ec) {
  static const std::map<Errc, const char*> kNames = {
      {Errc::kTimeout, "kTimeout"},
      {Errc::kCancelled, "kCancelled"},
      {Errc::kAcquireTimeout, "kAcquireTimeout"},
      {Errc::kPeerClosed, "kPeerClosed"},
      {Errc::kTruncated, "kTruncated"},
      {Errc::kBadReply, "kBadReply"},
      {Errc::kServerUnavailable, "kServerUnavailable"},
      {Errc::kPoolClosed, "kPoolClosed"}};
  if (ec.category() == tcppool::error_category()) {
    auto it = kNames.find(static_cast<Errc>(ec.value()));
    if (it != kNames.end()) return std::string("`Errc::") + it->second + "`";
  }
  if (ec.category() == std::system_category()) {
    if (const char* name = ::strerrorname_np(ec.value())) return std::string("`") + name + "`";
  }
  return ec.message();
}

// The error code of a stage's acquire() failure: an error_code, or stage 5's AcquireError.
template <typename E>
std::error_code code_of(const E& e) {
  if constexpr (requires { e.code(); }) {
    return e.code();
  } else {
    return e;
  }
}

std::string seconds(Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", std::chrono::duration<double>(d).count());
  return text;
}

std::string millis(Clock::duration d) {
  char text[32];
  double ms = std::chrono::duration<double, std::milli>(d).count();
  std::snprintf(text, sizeof text, ms < 10 ? "%.2f ms" : "%.0f ms", ms);
  return text;
}

// A markdown table, built row by row.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str() const {
    std::ostringstream out;
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      out << "|";
      for (const auto& cell : rows_[r]) out << " " << cell << " |";
      out << "\n";
      if (r == 0) {
        out << "|";
        for (std::size_t c = 0; c < rows_[0].size(); ++c) out << "---|";
        out << "\n";
      }
    }
    return out.str();
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// ---- what the program measures ----

// One measurement of "how long until the stage noticed", from the moment of the fault.
struct Noticed {
  std::optional<Clock::duration> after;  // nullopt: not within the limit
  std::string how;                       // the error, or what the pool did
};

// A check made after a fault: returns what it saw, waiting at most until `limit_at`.
using Probe = std::function<Noticed(Clock::time_point fault_at, Clock::time_point limit_at)>;

struct VanishProbe {
  std::string stage, what, mechanism, settings;
  bool must_notice;  // the mechanism exists to notice this: not noticing is a failure
  Probe probe;
};

struct BlackholeResult {
  std::string stage, call;
  Clock::duration took{};
  std::string error;
  Clock::duration bound{};  // what the stage promises; slower is a failure
  bool failed_typed = false;
};

struct LossResult {
  std::string stage;
  int percent = 0;
  std::vector<Clock::duration> latencies;  // of the echoes that completed, each verified
  std::map<std::string, int> failures;     // by error
  int corrupted = 0;
};

template <typename Pool>
constexpr bool kHealthy = requires(typename Pool::Options o) {
  o.heartbeat_interval;
};
template <typename Pool>
constexpr bool kHasContext = requires {
  typename Pool::Context;
};

template <typename Pool>
typename Pool::Options defaults(const std::string& endpoint) {
  typename Pool::Options o;
  o.endpoint = endpoint;
  return o;
}

// Sends a request on `fd` and waits for its echo until `limit_at`: the wait is cut there if
// nothing else ends it first.
Noticed await_echo(int fd, Clock::time_point fault_at, Clock::time_point limit_at) {
  std::vector<std::byte> request(64), reply(64);
  echo::fill_pattern(request, 7);
  auto r = echo::round_trip(fd, request, reply, net::Deadline::at(limit_at));
  if (!r && r.error() == Errc::kTimeout) return {std::nullopt, "still waiting for the reply"};
  if (r) return {Clock::now() - fault_at, "the reply came (the peer was not gone)"};
  return {Clock::now() - fault_at, describe(r.error()) + " from the request"};
}

// Waits until `gone()` says the pool no longer holds the connection.
template <typename Gone>
Noticed await_close(Gone gone, Clock::time_point fault_at, Clock::time_point limit_at) {
  while (Clock::now() < limit_at) {
    if (gone()) return {Clock::now() - fault_at, "the pool closed it"};
    std::this_thread::sleep_for(5ms);
  }
  return {std::nullopt, "still idle in the pool"};
}

// ---- each stage, through the shape its Pool has ----

template <typename Pool>
class StageUnderFaults {
 public:
  StageUnderFaults(std::string name, std::string endpoint)
      : name_(std::move(name)), endpoint_(std::move(endpoint)) {}

  // Acquires from a server whose SYNs are dropped: with the defaults, and for a stage with
  // contexts, with a 500 ms deadline.
  std::vector<BlackholeResult> blackhole() {
    std::vector<BlackholeResult> out;
    auto o = defaults<Pool>(endpoint_);
    Clock::duration bound = o.dial_timeout;
    if constexpr (kHealthy<Pool>) bound = o.retry.budget + o.dial_timeout;
    out.push_back(
        acquire_blackholed(o, "`acquire()`, defaults", bound, [](Pool& p) { return p.acquire(); }));
    if constexpr (kHasContext<Pool>) {
      o.dial_timeout = Ms(30000);
      out.push_back(acquire_blackholed(
          o, "`acquire(ctx)`, 500 ms deadline, dial_timeout 30 s", 500ms,
          [](Pool& p) { return p.acquire(Pool::Context::background().with_timeout(500ms)); }));
    }
    return out;
  }

  // Makes the connections the vanishing peer will leave (each pool's, with one verified echo
  // on it), and returns what to check once it has gone.
  std::vector<VanishProbe> prepare_vanish() {
    std::vector<VanishProbe> out;
    if constexpr (kHasContext<Pool>) {
      out.push_back(in_flight_with_context("`io_timeout`", "defaults (30 s)", false,
                                           defaults<Pool>(endpoint_), std::nullopt));
    } else {
      out.push_back(in_flight("none", "defaults", false, defaults<Pool>(endpoint_)));
    }
    if constexpr (requires(typename Pool::Options o) { o.max_idle; }) {
      if constexpr (!kHealthy<Pool>) {
        out.push_back(idle("none", "defaults", false, defaults<Pool>(endpoint_)));
      } else {
        auto o = quiet();
        o.user_timeout = Ms(1000);
        out.push_back(in_flight("TCP_USER_TIMEOUT", "`user_timeout` 1 s", true, o));
        o = quiet();
        o.heartbeat_interval = Ms(250);
        o.heartbeat_timeout = Ms(100);
        out.push_back(idle("heartbeat",
                           "every 250 ms, 100 ms timeout, 2 misses; maintenance every 50 ms", true,
                           o));
        o = quiet();
        o.keepalive = net::KeepaliveOptions{.idle = 1s, .interval = 1s, .count = 2};
        out.push_back(idle("TCP keepalive", "idle 1 s, then 2 probes 1 s apart", true, o));
        out.push_back(idle("defaults",
                           "heartbeat every 30 s; keepalive idle 30 s, 3 probes 5 s apart", false,
                           defaults<Pool>(endpoint_)));
      }
    }
    if constexpr (kHasContext<Pool>) {
      out.push_back(in_flight_with_context("`Context` deadline", "1 s for the request (`ctx`)",
                                           true, quiet(), Clock::duration(1s)));
    }
    return out;
  }

  // Runs `threads` x `requests` verified echoes over the lossy link, with the defaults.
  LossResult loss(int percent, const Settings& s) {
    LossResult result;
    result.stage = name_;
    result.percent = percent;
    Pool pool(defaults<Pool>(endpoint_));
    std::mutex mu;
    std::vector<std::jthread> workers;
    for (int t = 0; t < s.loss_threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < s.loss_requests; ++i) {
          auto start = Clock::now();
          auto lease = pool.acquire();
          std::error_code failed;
          if (!lease) {
            failed = code_of(lease.error());
          } else {
            std::size_t size = 64 + static_cast<std::size_t>(t * 997 + i * 131) % 4000;
            std::vector<std::byte> request(size), reply(size);
            echo::fill_pattern(request, static_cast<std::uint64_t>(t) << 32 | i);
            auto r = echo::round_trip(lease->fd(), request, reply, net::Deadline::after(s.limit));
            if (!r) {
              failed = r.error();
              lease->discard();
            }
          }
          std::scoped_lock lock(mu);
          if (!failed) {
            result.latencies.push_back(Clock::now() - start);
          } else {
            ++result.failures[(lease ? "echo: " : "acquire: ") + describe(failed)];
            if (failed == Errc::kBadReply) ++result.corrupted;
          }
        }
      });
    }
    workers.clear();
    return result;
  }

 private:
  // Defaults with every health mechanism off, so that a probe sees only the one it turns on.
  typename Pool::Options quiet() const {
    auto o = defaults<Pool>(endpoint_);
    if constexpr (kHealthy<Pool>) {
      o.heartbeat_interval = Ms(0);
      o.keepalive.reset();
      o.maintenance_interval = Ms(50);
    }
    return o;
  }

  template <typename Acquire>
  BlackholeResult acquire_blackholed(const typename Pool::Options& o, std::string call,
                                     Clock::duration bound, Acquire acquire) {
    Pool pool(o);
    auto start = Clock::now();
    auto lease = acquire(pool);
    BlackholeResult r;
    r.stage = name_;
    r.call = std::move(call);
    r.took = Clock::now() - start;
    r.bound = bound;
    r.failed_typed = !lease;
    r.error = lease ? "connected (the SYN was not dropped)" : describe(code_of(lease.error()));
    return r;
  }

  // A pool, a lease on it and one verified echo, kept alive by the probe that uses them.
  struct Held {
    std::unique_ptr<Pool> pool;
    typename Pool::Lease lease;
  };

  std::shared_ptr<Held> hold(const typename Pool::Options& o) {
    auto held = std::make_shared<Held>();
    held->pool = std::make_unique<Pool>(o);
    auto lease = held->pool->acquire();
    if (!lease) {
      std::fprintf(stderr, "netfaults: stage %s cannot connect: %s\n", name_.c_str(),
                   describe(code_of(lease.error())).c_str());
      std::exit(2);
    }
    held->lease = std::move(*lease);
    std::vector<std::byte> request(64), reply(64);
    echo::fill_pattern(request, 1);
    if (!echo::round_trip(held->lease.fd(), request, reply, net::Deadline::after(10s))) {
      std::fprintf(stderr, "netfaults: stage %s: the first echo failed\n", name_.c_str());
      std::exit(2);
    }
    return held;
  }

  VanishProbe in_flight(std::string mechanism, std::string settings, bool must,
                        const typename Pool::Options& o) {
    auto held = hold(o);
    return {name_,
            "request in flight",
            std::move(mechanism),
            std::move(settings),
            must,
            [held](Clock::time_point fault_at, Clock::time_point limit_at) {
              Noticed n = await_echo(held->lease.fd(), fault_at, limit_at);
              held->lease.discard();
              return n;
            }};
  }

  VanishProbe idle(std::string mechanism, std::string settings, bool must,
                   const typename Pool::Options& o) {
    auto held = hold(o);
    held->lease.reset();  // back to the pool, idle
    return {name_,
            "connection idle in the pool",
            std::move(mechanism),
            std::move(settings),
            must,
            [held](Clock::time_point fault_at, Clock::time_point limit_at) {
              // Closed, not only kept out of use: open_count() where the stage counts it.
              auto gone = [&] {
                if constexpr (requires { held->pool->open_count(); }) {
                  return held->pool->open_count() == 0;
                } else {
                  return held->pool->idle_count() == 0;
                }
              };
              return await_close(gone, fault_at, limit_at);
            }};
  }

  // The request through the lease's own I/O, bounded by a context of `timeout` (none: only
  // by the stage's io_timeout, and the program's limit).
  VanishProbe in_flight_with_context(std::string mechanism, std::string settings, bool must,
                                     const typename Pool::Options& o,
                                     std::optional<Clock::duration> timeout) {
    auto held = hold(o);
    return {name_,
            "request in flight",
            std::move(mechanism),
            std::move(settings),
            must,
            [held, timeout](Clock::time_point fault_at, Clock::time_point limit_at) {
              auto at = timeout ? std::min(limit_at, Clock::now() + *timeout) : limit_at;
              auto ctx = Pool::Context::background().with_deadline(at);
              std::vector<std::byte> request(64), reply(64);
              echo::fill_pattern(request, 7);
              auto r = held->lease.send(request, ctx);
              if (r) r = held->lease.receive(reply, ctx);
              held->lease.reset();
              if (r) return Noticed{Clock::now() - fault_at, "the reply came"};
              if (Clock::now() >= limit_at)
                return Noticed{std::nullopt, "still waiting for the reply"};
              return Noticed{Clock::now() - fault_at, describe(r.error()) + " from the request"};
            }};
  }

  std::string name_, endpoint_;
};

// Every stage, type-erased, so that the phases below can run them side by side.
struct Stage {
  std::function<std::vector<BlackholeResult>()> blackhole;
  std::function<std::vector<VanishProbe>()> prepare_vanish;
  std::function<LossResult(int, const Settings&)> loss;
};

template <typename Pool>
Stage stage(const char* name, const std::string& endpoint) {
  auto s = std::make_shared<StageUnderFaults<Pool>>(name, endpoint);
  return {[s] { return s->blackhole(); }, [s] { return s->prepare_vanish(); },
          [s](int p, const Settings& st) { return s->loss(p, st); }};
}

// Runs fn(i) for i in [0, n) on n threads; returns the results in order.
template <typename Fn>
auto side_by_side(std::size_t n, Fn fn) {
  std::vector<decltype(fn(0))> results(n);
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < n; ++i) threads.emplace_back([&, i] { results[i] = fn(i); });
  }
  return results;
}

Clock::duration quantile(std::vector<Clock::duration> v, double q) {
  if (v.empty()) return {};
  std::ranges::sort(v);
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

std::string read_sysctl(const char* name) {
  std::string value;
  std::ifstream(std::string("/proc/sys/") + name) >> value;
  return value.empty() ? "?" : value;
}

std::string header(const Settings& s, bool quick) {
  utsname u{};
  ::uname(&u);
  char date[32];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::ostringstream out;
  out << "# Network faults, measured\n\n"
      << "`make netfaults`" << (quick ? " (`--quick`)" : "") << ", " << date << ", " << u.sysname
      << " " << u.release << ", " << std::thread::hardware_concurrency()
      << " cores. Every stage's pool at once, against an echo server across a veth pair in a "
         "network namespace of its own; the limit of every wait is "
      << seconds(s.limit) << ". The client's kernel: `tcp_syn_retries` "
      << read_sysctl("net/ipv4/tcp_syn_retries") << ", `tcp_retries2` "
      << read_sysctl("net/ipv4/tcp_retries2") << ".\n";
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  bool quick = false;
  std::string out_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
      s.limit = 5s;  // keepalive's 1 s + 2 x 1 s, and room
      s.loss_percents = {10};
      s.loss_threads = 2;
      s.loss_requests = 5;
    } else if (arg == "--out" && i + 1 < argc) {
      out_path = argv[++i];
    } else {
      std::fprintf(stderr,
                   "netfaults: unknown argument '%s'\nusage: netfaults [--quick] [--out FILE]\n",
                   arg.c_str());
      return 2;
    }
  }
  auto network = tcppool::testing::IsolatedNetwork::create();
  if (!network) {
    std::fprintf(stderr, "netfaults: skipped: %s\n", network.error().c_str());
    return 77;
  }
  auto server = (*network)->in_namespace(
      [&] { return echo::EchoServer::start({.address = (*network)->peer_address()}); });
  if (!server) {
    std::fprintf(stderr, "netfaults: the echo server: %s\n", server.error().message().c_str());
    return 2;
  }
  const std::string ep = (*server)->endpoint().to_string();
  std::vector<Stage> stages = {
      stage<tcppool::stage1::Pool>("1 naive", ep),
      stage<tcppool::stage2::Pool>("2 mutex-queue", ep),
      stage<tcppool::stage3::Pool>("3 bounded-channel", ep),
      stage<tcppool::stage4::Pool>("4 health-keepalive", ep),
      stage<tcppool::stage5::Pool>("5 context-timeouts", ep),
      stage<tcppool::stage6::Pool>("6 metrics", ep),
  };
  std::vector<std::string> broken;
  std::ostringstream report;
  report << header(s, quick);

  // 1. A blackholed server.
  std::fprintf(stderr, "netfaults: a blackholed server (SYNs dropped)\n");
  (*network)->drop_new_connections();
  auto blackholed =
      side_by_side(stages.size(), [&](std::size_t i) { return stages[i].blackhole(); });
  (*network)->restore();
  Table t1({"stage", "call", "returned after", "with", "bound"});
  for (const auto& rows : blackholed) {
    for (const auto& r : rows) {
      t1.add({r.stage, r.call, seconds(r.took), r.error, seconds(r.bound)});
      if (!r.failed_typed || r.took > r.bound + 2s) {
        broken.push_back("stage " + r.stage + ": " + r.call + " on a blackholed server");
      }
    }
  }
  report << "\n## A blackholed server\n\nEvery SYN to the server dropped: no refusal, no reset. "
            "The bound is what the stage promises: `dial_timeout`, for stages 4 to 6 within the "
            "retry budget, or the context's deadline.\n\n"
         << t1.str();

  // 2. A peer that vanishes mid-connection.
  std::fprintf(stderr, "netfaults: a peer that vanishes mid-connection\n");
  std::vector<VanishProbe> probes;
  for (auto& st : stages) {
    for (auto& p : st.prepare_vanish()) probes.push_back(std::move(p));
  }
  (*network)->drop_all();
  const auto fault_at = Clock::now(), limit_at = fault_at + s.limit;
  auto noticed = side_by_side(probes.size(),
                              [&](std::size_t i) { return probes[i].probe(fault_at, limit_at); });
  Table t2({"stage", "case", "mechanism", "settings", "time to notice", "how"});
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const auto& p = probes[i];
    const auto& n = noticed[i];
    t2.add({p.stage, p.what, p.mechanism, p.settings,
            n.after ? seconds(*n.after) : "not within " + seconds(s.limit), n.how});
    if (p.must_notice && !n.after) broken.push_back("stage " + p.stage + ": " + p.mechanism);
  }
  probes.clear();  // closes every pool while the peer is still silent
  (*network)->restore();
  report << "\n## A peer that vanishes mid-connection\n\nEvery packet to and from the server "
            "dropped once the connections were made and had echoed once: no FIN, no reset, as "
            "when its machine loses power. A request in flight is sent after the drop; an idle "
            "connection is one released to the pool before it. \"Not within\" is the program's "
            "limit, not the stage's: the stage was still waiting.\n\n"
         << t2.str();

  // 3. Random loss.
  Table t3({"stage", "loss each way", "requests", "verified", "failed", "p50", "p99", "max"});
  for (int percent : s.loss_percents) {
    std::fprintf(stderr, "netfaults: %d %% of the packets lost each way\n", percent);
    (*network)->lose(percent);
    auto results =
        side_by_side(stages.size(), [&](std::size_t i) { return stages[i].loss(percent, s); });
    for (const auto& r : results) {
      std::string failed;
      for (const auto& [what, n] : r.failures) {
        failed += (failed.empty() ? "" : "; ") + std::to_string(n) + " " + what;
      }
      t3.add({r.stage, std::to_string(percent) + " %",
              std::to_string(s.loss_threads * s.loss_requests), std::to_string(r.latencies.size()),
              failed.empty() ? "0" : failed, millis(quantile(r.latencies, 0.5)),
              millis(quantile(r.latencies, 0.99)), millis(quantile(r.latencies, 1.0))});
      if (r.corrupted > 0) broken.push_back("stage " + r.stage + ": a corrupted echo");
    }
  }
  (*network)->restore();
  report << "\n## Random loss\n\n"
         << s.loss_threads << " threads, " << s.loss_requests
         << " requests each, through a pool with its defaults; a request is acquire() and one "
            "echo of 64 to 4,063 bytes, every byte checked. Latency is of the verified echoes, "
            "acquire included. An echo's `Errc::kTimeout` is the program's limit on one echo "
            "(stages 1 to 4 put none on I/O); an acquire's is the stage's `dial_timeout`.\n\n"
         << t3.str();

  (*server)->stop();
  std::string text = report.str();
  std::fputs(text.c_str(), stdout);
  if (!out_path.empty()) {
    std::filesystem::create_directories(std::filesystem::path(out_path).parent_path());
    std::ofstream(out_path) << text;
    std::fprintf(stderr, "netfaults: written to %s\n", out_path.c_str());
  }
  for (const auto& b : broken) std::fprintf(stderr, "netfaults: FAILED: %s\n", b.c_str());
  return broken.empty() ? 0 : 1;
}
