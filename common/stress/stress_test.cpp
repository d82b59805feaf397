// Tests for common/stress/stress.hpp: every check of the stress driver can fail. The driver is
// run on FakePool, a small pool of real connections to the run's echo server with one planted
// bug at a time (a reply left unread, a lease lost, an untyped error, a connection over the
// cap, a descriptor or a thread left behind, an exception, a request that never returns), and
// must report the violation the bug causes; without a bug, through every fault, it must report
// none. The gauge readers of adapter.hpp are tested on small pool shapes.
#include "common/stress/stress.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/stress/adapter.hpp"
#include "common/stress/format.hpp"

namespace tcppool::stress {
namespace {

using namespace std::chrono_literals;

enum class Bug {
  kNone,
  kUnreadReply,       // returns success without reading the echo, and keeps the connection
  kLostLease,         // forgets a lease: its connection stays open, counted in use, never back
  kUntypedError,      // fails a request with an empty error code
  kPoolClosedError,   // fails a request with Errc::kPoolClosed on a pool nobody closed
  kOverCap,           // opens one connection more than the cap, and keeps it
  kLeakedFd,          // opens a descriptor and never closes it
  kLeftThread,        // starts a thread that outlives the run
  kThrows,            // throws from a request
  kNeverReturns,      // blocks in a request until close()
  kMiscountsRetries,  // reports retries it never made
};

// What a planted bug leaves behind for the test to clean up after the run.
struct Leftovers {
  int fd = -1;
  std::promise<void> release_thread;
  std::thread thread;
  void clean() {
    if (fd >= 0) ::close(fd);
    if (thread.joinable()) {
      release_thread.set_value();
      thread.join();
    }
  }
};

// A pool as small as a pool gets: idle connections on a stack, at most `cap` open, a caller at
// the cap waits for a release. No health checks: a connection the server closed fails its next
// request (a typed error, as the driver wants). Cancellation through a std::stop_source per
// request, which net's I/O observes. `bug` fires on the `bug_at`-th request.
class FakePool final : public PoolUnderStress {
 public:
  FakePool(const std::string& endpoint, std::size_t cap, Bug bug, bool exposes_in_use,
           Leftovers& leftovers)
      : endpoint_(*net::Endpoint::parse(endpoint)),
        cap_(cap),
        bug_(bug),
        exposes_in_use_(exposes_in_use),
        leftovers_(leftovers) {}

  Outcome request(std::span<const std::byte> request, std::span<std::byte> reply,
                  const Call& call) override {
    const bool now = bug_ != Bug::kNone && ++calls_ == kBugAt;
    if (now && bug_ == Bug::kUntypedError) return {std::unexpected(std::error_code())};
    if (now && bug_ == Bug::kPoolClosedError) return {fail(Errc::kPoolClosed)};
    if (now && bug_ == Bug::kThrows) throw std::runtime_error("planted");
    if (now && bug_ == Bug::kLeakedFd) leftovers_.fd = ::eventfd(0, EFD_CLOEXEC);
    if (now && bug_ == Bug::kLeftThread) {
      auto released = leftovers_.release_thread.get_future();
      leftovers_.thread = std::thread([f = std::move(released)]() mutable { f.wait(); });
    }
    if (now && bug_ == Bug::kNeverReturns) {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return closed_; });
      return {fail(Errc::kPoolClosed)};
    }
    if (now && bug_ == Bug::kOverCap) {
      auto extra = net::dial(endpoint_, net::Deadline::after(1s));
      std::scoped_lock lock(mu_);
      if (extra) {
        idle_.push_back(std::move(*extra));
        ++open_;
      }
    }
    const auto deadline = net::Deadline::after(call.timeout);
    std::stop_source stop;
    if (call.cancel) call.cancel->arm([stop]() mutable { stop.request_stop(); });
    auto conn = acquire(deadline);
    if (!conn) {
      if (call.cancel) call.cancel->disarm();
      return {std::unexpected(conn.error())};
    }
    auto result = net::send_all(conn->fd(), request, deadline, stop.get_token());
    if (result && !(now && bug_ == Bug::kUnreadReply)) {
      result = net::recv_exact(conn->fd(), reply, deadline, stop.get_token());
    }
    if (call.cancel) call.cancel->disarm();
    if (now && bug_ == Bug::kLostLease) {
      std::scoped_lock lock(mu_);
      lost_.push_back(std::move(*conn));  // still open, still counted in use
      return {result};
    }
    release(std::move(*conn), result.has_value());
    return {result};
  }

  Gauges gauges() const override {
    std::scoped_lock lock(mu_);
    Gauges g{.open = open_, .idle = idle_.size(), .waiting = waiting_};
    if (exposes_in_use_) g.in_use = in_use_;
    return g;
  }

  std::optional<std::uint64_t> retries() const override {
    if (bug_ == Bug::kMiscountsRetries) return 7;
    return std::nullopt;
  }

  void close() override {
    std::scoped_lock lock(mu_);
    closed_ = true;
    changed_.notify_all();
  }

 private:
  static constexpr std::uint64_t kBugAt = 50;

  std::expected<net::Socket, std::error_code> acquire(net::Deadline deadline) {
    std::unique_lock lock(mu_);
    ++waiting_;
    bool ready = changed_.wait_until(lock, deadline.when(),
                                     [&] { return !idle_.empty() || open_ < cap_ || closed_; });
    --waiting_;
    if (closed_) return fail(Errc::kPoolClosed);
    if (!ready) return fail(Errc::kAcquireTimeout);
    ++in_use_;
    if (!idle_.empty()) {
      net::Socket s = std::move(idle_.back());
      idle_.pop_back();
      return s;
    }
    ++open_;
    lock.unlock();
    auto s = net::dial(endpoint_, deadline);
    if (!s) {
      lock.lock();
      --open_;
      --in_use_;
      changed_.notify_all();
    }
    return s;
  }

  void release(net::Socket s, bool ok) {
    std::scoped_lock lock(mu_);
    --in_use_;
    if (ok) {
      idle_.push_back(std::move(s));
    } else {
      s.reset();
      --open_;
    }
    changed_.notify_all();
  }

  const net::Endpoint endpoint_;
  const std::size_t cap_;
  const Bug bug_;
  const bool exposes_in_use_;
  Leftovers& leftovers_;
  std::atomic<std::uint64_t> calls_{0};
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<net::Socket> idle_;  // Guarded by mu_.
  std::vector<net::Socket> lost_;  // Guarded by mu_.
  std::size_t open_ = 0;           // Guarded by mu_.
  std::size_t in_use_ = 0;         // Guarded by mu_.
  std::size_t waiting_ = 0;        // Guarded by mu_.
  bool closed_ = false;            // Guarded by mu_.
};

// A short run: one steady phase in which the server's peak is exact, on 8 threads and a pool
// of 4, quiet; the count is 1 so that the phase's length decides when it ends.
Config small() {
  Config c;
  c.name = "fake";
  c.threads = 8;
  c.pool_size = 4;
  c.requests = 1;
  c.time_limit = 60s;
  c.first = {{.name = "steady", .length = 300ms, .rests = 1, .server_exact = true}};
  c.cycle = {};
  c.rest_timeout = 5s;
  c.settle_timeout = 300ms;
  c.sample_every = 200us;
  c.log = nullptr;
  return c;
}

// What a run found, and its summary as printed.
struct Finding {
  Result result;
  std::string summary;
};

Finding run(const Config& config, Bug bug, bool exposes_in_use = true) {
  Leftovers leftovers;
  PoolFactory make = [&](const std::string& endpoint, std::size_t cap) {
    return std::make_unique<FakePool>(endpoint, cap, bug, exposes_in_use, leftovers);
  };
  Finding r{run_stress(config, make), {}};
  leftovers.clean();
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* out = ::open_memstream(&buf, &len);
  print_summary(out, config, r.result);
  std::fclose(out);
  r.summary.assign(buf, len);
  std::free(buf);
  return r;
}

std::uint64_t violations(const Result& r, const char* kind) {
  auto it = r.violations.find(kind);
  return it == r.violations.end() ? 0 : it->second;
}

TEST(StressDriver, AHealthyPoolPassesThroughEveryFaultAndCancellation) {
  Config c = Config::for_mode(/*quick=*/true, /*cancels=*/true);
  c.name = "fake";
  c.threads = 16;
  c.pool_size = 4;
  c.requests = 1;
  c.log = nullptr;
  for (auto* list : {&c.first, &c.cycle}) {
    for (Phase& p : *list) p.length = 120ms;
  }
  Finding r = run(c, Bug::kNone);
  EXPECT_TRUE(r.result.passed()) << r.summary;
  EXPECT_EQ(r.result.phases.size(), 12u);
  for (const PhaseTally& p : r.result.phases) EXPECT_EQ(p.runs, 1) << p.name;
  EXPECT_GT(r.result.verified, 0u);
  EXPECT_GT(r.result.samples, 0u);
  EXPECT_GT(r.result.peak_checks, 0);
  EXPECT_GE(r.result.quiescent_points, 12);
  EXPECT_EQ(r.result.requests, r.result.verified + r.result.failed + r.result.bad_replies);
  EXPECT_NE(r.summary.find("fake: PASS"), std::string::npos) << r.summary;
}

TEST(StressDriver, AReplyLeftUnreadIsLostAndTheNextOneStale) {
  Config c = small();
  c.threads = 1;  // so that the next request on the connection is the same thread's
  c.pool_size = 1;
  Finding r = run(c, Bug::kUnreadReply);
  EXPECT_EQ(violations(r.result, kind::kLostReply), 1u) << r.summary;
  EXPECT_GE(violations(r.result, kind::kStaleReply), 1u) << r.summary;
  EXPECT_GT(r.result.bad_replies, 1u);
  EXPECT_NE(r.summary.find("stale reply to thread 0 #51"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("FAIL"), std::string::npos);
}

TEST(StressDriver, ALostLeaseBreaksTheCountsAtRest) {
  // A stage that shows no in-use gauge (stage 4): open = idle no longer holds.
  Finding r = run(small(), Bug::kLostLease, /*exposes_in_use=*/false);
  EXPECT_GE(violations(r.result, kind::kCounts), 1u) << r.summary;
  EXPECT_EQ(r.result.rest_equation, "open = idle");
  // One that does (stage 5 on): the sum holds, but a lease is in use with every caller at rest.
  Finding shown = run(small(), Bug::kLostLease, /*exposes_in_use=*/true);
  EXPECT_GE(violations(shown.result, kind::kBusyAtRest), 1u) << shown.summary;
  EXPECT_EQ(shown.result.rest_equation, "open = idle + in use");
}

TEST(StressDriver, AnUntypedFailureIsAViolation) {
  Finding r = run(small(), Bug::kUntypedError);
  EXPECT_EQ(violations(r.result, kind::kUntyped), 1u) << r.summary;
  EXPECT_EQ(r.result.failures.at("no error (an empty error code)"), 1u);
}

TEST(StressDriver, AFailureNoCallerCouldCauseIsAViolation) {
  Finding r = run(small(), Bug::kPoolClosedError);
  EXPECT_EQ(violations(r.result, kind::kUnexpected), 1u) << r.summary;
  EXPECT_EQ(r.result.failures.at("tcppool: pool is closed"), 1u);
}

TEST(StressDriver, AConnectionOverTheCapIsSeenByTheSamplerAndTheServer) {
  Finding r = run(small(), Bug::kOverCap);
  EXPECT_GE(violations(r.result, kind::kOverCap), 1u) << r.summary;
  EXPECT_EQ(r.result.worst_open, 5u);
  EXPECT_GE(violations(r.result, kind::kServerOverCap), 1u) << r.summary;
  EXPECT_EQ(r.result.worst_checked_peak, 5u);
}

TEST(StressDriver, ALeakedDescriptorIsSeenAtRestAndAtTheEnd) {
  Finding r = run(small(), Bug::kLeakedFd);
  EXPECT_GE(violations(r.result, kind::kFdsAtRest), 1u) << r.summary;
  EXPECT_EQ(violations(r.result, kind::kFdLeak), 1u) << r.summary;
  EXPECT_EQ(r.result.fds_after, r.result.fds_before + 1);
}

TEST(StressDriver, AThreadLeftBehindIsAViolation) {
  Finding r = run(small(), Bug::kLeftThread);
  EXPECT_EQ(violations(r.result, kind::kThreadLeak), 1u) << r.summary;
  EXPECT_EQ(r.result.threads_after, r.result.threads_before + 1);
}

TEST(StressDriver, AnExceptionFromThePoolIsCaughtAndReported) {
  Finding r = run(small(), Bug::kThrows);
  EXPECT_EQ(violations(r.result, kind::kException), 1u) << r.summary;
  EXPECT_EQ(r.result.failures.at("exception"), 1u);
  EXPECT_NE(r.summary.find("the pool threw: planted"), std::string::npos) << r.summary;
}

TEST(StressDriver, ACallerThatNeverComesBackAbandonsTheRunAndTheThreadsStillEnd) {
  Config c = small();
  c.rest_timeout = 300ms;
  Finding r = run(c, Bug::kNeverReturns);
  EXPECT_EQ(violations(r.result, kind::kStuck), 1u) << r.summary;
  EXPECT_EQ(violations(r.result, kind::kThreadLeak), 0u) << "close() released the caller";
}

TEST(StressDriver, RetriesThePoolCountedMustBeTheOnesItsCallersSaw) {
  Finding r = run(small(), Bug::kMiscountsRetries);
  EXPECT_EQ(violations(r.result, kind::kRetries), 1u) << r.summary;
  ASSERT_TRUE(r.result.pool_retries);
  EXPECT_EQ(*r.result.pool_retries, 7u);
  EXPECT_EQ(r.result.retries, 0u);
}

TEST(StressDriver, ARunThatEndsShortOfItsRequestsFails) {
  Config c = small();
  c.requests = 1'000'000'000;
  c.time_limit = 200ms;
  Finding r = run(c, Bug::kNone);
  EXPECT_EQ(violations(r.result, kind::kShort), 1u) << r.summary;
  EXPECT_LT(r.result.elapsed, 10s);
}

TEST(StressDriver, TheFirstCycleRunsBeforeTheCountCanEndTheRun) {
  Config c = small();
  c.first.push_back({.name = "second", .length = 100ms});
  c.cycle = {{.name = "again", .length = 100ms}};
  c.min_cycles = 2;
  Finding r = run(c, Bug::kNone);
  EXPECT_TRUE(r.result.passed()) << r.summary;
  ASSERT_EQ(r.result.phases.size(), 3u);
  EXPECT_EQ(r.result.phases[2].name, "again");
  EXPECT_EQ(r.result.phases[2].runs, 1);
}

TEST(StressConfig, FullAndQuickRunsCycleThroughEveryFault) {
  for (bool quick : {false, true}) {
    Config c = Config::for_mode(quick, /*cancels=*/true);
    EXPECT_NO_THROW(c.validate());
    ASSERT_EQ(c.first.size(), 6u);
    ASSERT_EQ(c.cycle.size(), 6u);
    EXPECT_EQ(c.min_cycles, 2);
    for (const Phase& p : c.first) EXPECT_FALSE(p.impatient) << p.name;
    for (const Phase& p : c.cycle) {
      EXPECT_TRUE(p.impatient) << p.name;
      EXPECT_FALSE(p.server_exact) << p.name;
      EXPECT_NE(p.name.find(" + cancel"), std::string::npos);
    }
    EXPECT_EQ(c.threads, 64);
    EXPECT_EQ(c.pool_size, 8u);
  }
  EXPECT_EQ(Config::for_mode(false, false).requests, 1'000'000u);
  Config patient = Config::for_mode(true, /*cancels=*/false);
  EXPECT_EQ(patient.min_cycles, 1);
  for (const Phase& p : patient.cycle) EXPECT_FALSE(p.impatient) << p.name;
}

TEST(StressConfig, InvalidFieldsAreNamed) {
  auto message = [](Config c) {
    try {
      c.validate();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  Config c = small();
  c.threads = 0;
  EXPECT_NE(message(c).find("Config.threads"), std::string::npos) << message(c);
  c = small();
  c.min_payload = 8;
  EXPECT_NE(message(c).find("Config.min_payload"), std::string::npos) << message(c);
  c = small();
  c.first[0].faults.stall = 50ms;  // without stall_every
  EXPECT_NE(message(c).find("'steady'"), std::string::npos) << message(c);
  c = small();
  c.first.clear();
  EXPECT_NE(message(c).find("no phase"), std::string::npos) << message(c);
}

TEST(StressCancelSlot, CancelsOnlyWhileArmed) {
  CancelSlot slot;
  int calls = 0;
  EXPECT_FALSE(slot.cancel());
  slot.arm([&] { ++calls; });
  EXPECT_TRUE(slot.cancel());
  EXPECT_EQ(calls, 1);
  slot.disarm();
  EXPECT_FALSE(slot.cancel());
  EXPECT_EQ(calls, 1);
}

TEST(StressErrorLabel, NamesTheCategoryAndTheError) {
  EXPECT_EQ(error_label(std::error_code(ECONNRESET, std::system_category())),
            "system: ECONNRESET (Connection reset by peer)");
  EXPECT_EQ(error_label(make_error_code(Errc::kTimeout)), "tcppool: deadline exceeded");
  EXPECT_EQ(error_label({}), "no error (an empty error code)");
}

TEST(StressMain, ABadFlagIsNamedAndNothingRuns) {
  bool made = false;
  StageInfo info{
      .name = "fake", .cancels = false, .make_pool = [&](const std::string&, std::size_t) {
        made = true;
        return std::unique_ptr<PoolUnderStress>();
      }};
  auto call = [&](std::vector<std::string> args) {
    std::vector<char*> argv;
    std::string prog = "fake_stress";
    argv.push_back(prog.data());
    for (auto& a : args) argv.push_back(a.data());
    return stress_main(static_cast<int>(argv.size()), argv.data(), info);
  };
  EXPECT_EQ(call({"--requests=lots"}), 2);
  EXPECT_EQ(call({"--threads=0"}), 2);
  EXPECT_EQ(call({"--time-limit=5"}), 2);  // no unit
  EXPECT_EQ(call({"--frobnicate"}), 2);
  EXPECT_EQ(call({"--help"}), 0);
  EXPECT_FALSE(made);
}

// Pool shapes for the gauge readers: what each stage exposes.
struct CountsPool {  // stage 4
  std::size_t open_count() const { return 5; }
  std::size_t idle_count() const { return 2; }
  std::size_t waiting() const { return 1; }
};
struct StatePool : CountsPool {  // stage 5
  struct State {
    std::size_t open = 6, in_use = 3, idle = 2, waiting = 4, max_open = 8;
  };
  State state() const { return {}; }
};
struct StatsPool : StatePool {  // stage 6
  struct Stats {
    std::size_t open = 7, idle = 1, in_use = 2, dialing = 3, checking = 1, waiting = 9;
    std::uint64_t retries = 11;
  };
  Stats stats() const { return {}; }
};

TEST(StressAdapter, ReadsTheRichestGaugesThePoolHas) {
  Gauges a = read_gauges(CountsPool{});
  EXPECT_EQ(a.open, 5u);
  EXPECT_EQ(a.idle, 2u);
  EXPECT_FALSE(a.in_use);
  EXPECT_EQ(a.waiting, 1u);
  EXPECT_FALSE(read_retries(CountsPool{}));
  Gauges b = read_gauges(StatePool{});
  EXPECT_EQ(b.open, 6u);
  EXPECT_EQ(b.in_use, 3u);
  EXPECT_FALSE(b.dialing);
  EXPECT_EQ(b.waiting, 4u);
  EXPECT_FALSE(read_retries(StatePool{}));
  Gauges c = read_gauges(StatsPool{});
  EXPECT_EQ(c.open, 7u);
  EXPECT_EQ(c.in_use, 2u);
  EXPECT_EQ(c.dialing, 3u);
  EXPECT_EQ(c.checking, 1u);
  EXPECT_EQ(c.waiting, 9u);
  EXPECT_EQ(read_retries(StatsPool{}), 11u);
}

}  // namespace
}  // namespace tcppool::stress
