// common/stress/stress.cpp: the stress run: caller threads, the sampler, the canceller, and the
// controller that moves the run from phase to phase through quiescent points.
#include "common/stress/stress.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"
#include "common/stress/format.hpp"
#include "common/stress/payload.hpp"
#include "common/testing/fd_count.hpp"
#include "common/testing/thread_count.hpp"
#include "common/testing/wait.hpp"

namespace tcppool::stress {

void CancelSlot::arm(std::function<void()> cancel) {
  std::scoped_lock lock(mu_);
  cancel_ = std::move(cancel);
}

void CancelSlot::disarm() {
  std::function<void()> gone;
  {
    std::scoped_lock lock(mu_);
    gone.swap(cancel_);
  }  // destroyed outside the lock
}

bool CancelSlot::cancel() {
  std::function<void()> fn;
  {
    std::scoped_lock lock(mu_);
    fn = cancel_;
  }
  if (!fn) return false;
  fn();
  return true;
}

namespace {

using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

using namespace kind;
using format::millis;
using format::seconds;
using format::thousands;

constexpr std::size_t kExamplesPerKind = 3;

const char* verdict_kind(Verdict v) {
  switch (v) {
    case Verdict::kLost:
      return kLostReply;
    case Verdict::kStale:
      return kStaleReply;
    case Verdict::kCrossed:
      return kCrossedReply;
    default:
      return kCorruptReply;
  }
}

// An error code the caller can act on: a tcppool outcome, an errno, or a resolver error.
bool typed(const std::error_code& ec) {
  if (!ec) return false;
  const std::error_category& c = ec.category();
  return c == error_category() || c == std::system_category() || c == std::generic_category() ||
         c == net::resolver_category();
}

// What a pool may fail with while the server misbehaves. Any other tcppool outcome means the
// pool did what nothing asked of it: closed itself, judged a reply it was not given to check,
// or cancelled a caller nobody cancelled.
bool expected(const std::error_code& ec, bool impatient) {
  if (ec.category() != error_category()) return true;
  switch (static_cast<Errc>(ec.value())) {
    case Errc::kTimeout:
    case Errc::kAcquireTimeout:
    case Errc::kPeerClosed:
    case Errc::kTruncated:
    case Errc::kServerUnavailable:
      return true;
    case Errc::kCancelled:
      return impatient;
    default:
      return false;
  }
}

// Counts of one phase, kept by one caller thread.
struct Counts {
  std::uint64_t requests = 0;
  std::uint64_t verified = 0;
  std::uint64_t failed = 0;
  std::uint64_t retries = 0;
};

using ErrorKey = std::pair<const std::error_category*, int>;  // {nullptr, 0}: an exception

// One caller thread's results, on cache lines of its own. The atomics are read by the
// controller for progress lines; everything else is read after the thread has been joined.
struct alignas(64) CallerTally {
  std::atomic<std::uint64_t> verified{0};
  std::atomic<std::uint64_t> failed{0};
  std::uint64_t bad_replies = 0;
  std::vector<Counts> phases;  // by phase slot
  std::map<ErrorKey, std::uint64_t> failures;
};

// Where callers come to rest, so that the controller can look at a pool nobody is using.
class Gate {
 public:
  // Callers: returns at once while the gate is open; rests while it is closed; returns false
  // when the run is over.
  bool pass() {
    if (!closing_.load(std::memory_order_acquire)) return true;
    std::unique_lock lock(mu_);
    ++resting_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !closed_ || stop_; });
    --resting_;
    return !stop_;
  }

  // Controller: closes the gate and waits until all `callers` rest, no longer than `timeout`;
  // returns how many are resting.
  int close_and_wait(int callers, Clock::duration timeout) {
    std::unique_lock lock(mu_);
    closed_ = true;
    closing_.store(true, std::memory_order_release);
    changed_.wait_for(lock, timeout, [&] { return resting_ == callers; });
    return resting_;
  }

  void open() {
    std::scoped_lock lock(mu_);
    closed_ = false;
    closing_.store(false, std::memory_order_release);
    changed_.notify_all();
  }

  void stop() {
    std::scoped_lock lock(mu_);
    stop_ = true;
    closing_.store(true, std::memory_order_release);
    changed_.notify_all();
  }

 private:
  std::atomic<bool> closing_{true};  // closed_ || stop_, for the callers' fast path
  std::mutex mu_;
  std::condition_variable changed_;
  int resting_ = 0;     // Guarded by mu_.
  bool closed_ = true;  // Guarded by mu_. Closed at first: callers wait for the first phase.
  bool stop_ = false;   // Guarded by mu_.
};

class Run {
 public:
  Run(const Config& config, const PoolFactory& make_pool)
      : cfg_(config),
        make_pool_(make_pool),
        callers_(static_cast<std::size_t>(config.threads)),
        slots_(static_cast<std::size_t>(config.threads)) {
    for (const auto* list : {&cfg_.first, &cfg_.cycle}) {
      for (const Phase& p : *list) {
        auto it = std::ranges::find(result_.phases, p.name, &PhaseTally::name);
        if (it == result_.phases.end()) {
          result_.phases.push_back({.name = p.name, .impatient = p.impatient});
        }
      }
    }
    for (auto& c : callers_) c.phases.resize(result_.phases.size());
  }

  Result go();

 private:
  void caller(int index);
  void sample(std::stop_token stop);
  void cancel(std::stop_token stop);
  bool run_phase(const Phase& phase, int cycle);
  bool rest_all(const std::string& where);
  void settle_server();
  void quiescent_point(const std::string& where, PhaseTally& tally);
  bool wait_while_running(Clock::time_point until);
  bool done() const;
  void progress();
  void finish();
  void violation(const char* kind, std::string detail);
  std::uint64_t total_verified() const;

  const Config& cfg_;
  const PoolFactory& make_pool_;
  Result result_;
  std::mutex violations_mu_;  // guards result_.violations and result_.examples during the run
  std::unique_ptr<echo::EchoServer> server_;
  std::unique_ptr<PoolUnderStress> pool_;
  std::vector<CallerTally> callers_;
  std::vector<CancelSlot> slots_;
  Gate gate_;
  // Written by the controller only while every caller rests (the gate orders it).
  const Phase* phase_ = nullptr;
  std::size_t phase_slot_ = 0;
  std::string phase_label_;  // for progress lines; the controller's own
  int cycles_done_ = 0;
  std::atomic<bool> cancelling_{false};
  std::atomic<std::uint64_t> cancels_{0};
  std::atomic<std::uint64_t> samples_{0};
  std::atomic<std::size_t> worst_open_{0};
  std::size_t fd_base_ = 0;  // descriptors with the pool and the server holding no connection
  Clock::time_point start_{};
  Clock::time_point next_progress_{};
  bool abandoned_ = false;
};

void Run::violation(const char* kind, std::string detail) {
  std::scoped_lock lock(violations_mu_);
  auto& n = result_.violations[kind];
  if (n++ < kExamplesPerKind) result_.examples.push_back(std::string(kind) + ": " + detail);
}

std::uint64_t Run::total_verified() const {
  std::uint64_t n = 0;
  for (const auto& c : callers_) n += c.verified.load(std::memory_order_relaxed);
  return n;
}

bool Run::done() const {
  return abandoned_ || (cycles_done_ >= cfg_.min_cycles && total_verified() >= cfg_.requests) ||
         Clock::now() - start_ >= cfg_.time_limit;
}

// [caller]
// One caller: stamped requests back to back, each reply checked byte for byte, each failure
// counted by its error and checked to be one a caller can act on.
void Run::caller(int index) {
  CallerTally& me = callers_[static_cast<std::size_t>(index)];
  std::vector<std::byte> request(cfg_.max_payload), reply(cfg_.max_payload);
  std::mt19937_64 rng(cfg_.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(index));
  std::uniform_int_distribution<Clock::rep> deadline(cfg_.impatient_min.count(),
                                                     cfg_.impatient_max.count());
  const auto thread = static_cast<std::uint32_t>(index);
  for (std::uint64_t seq = 1; gate_.pass(); ++seq) {
    const Phase& phase = *phase_;
    Counts& counts = me.phases[phase_slot_];
    Stamp stamp{thread, seq, request_size(thread, seq, cfg_.min_payload, cfg_.max_payload)};
    auto out = std::span(request).first(stamp.size);
    auto in = std::span(reply).first(stamp.size);
    encode(stamp, out);
    poison(in);
    Call call{.timeout = phase.impatient ? Clock::duration(deadline(rng)) : cfg_.patient_timeout,
              .cancel = phase.impatient ? &slots_[static_cast<std::size_t>(index)] : nullptr};
    ++counts.requests;
    Outcome outcome;
    bool threw = true;
    try {
      outcome = pool_->request(out, in, call);
      threw = false;
    } catch (const std::exception& e) {
      violation(kException, std::string("the pool threw: ") + e.what());
    } catch (...) {
      violation(kException, "the pool threw something that is not a std::exception");
    }
    if (threw) {
      ++me.failures[{nullptr, 0}];
      ++counts.failed;
      me.failed.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    counts.retries += static_cast<std::uint64_t>(std::max(outcome.attempts - 1, 0));
    if (outcome.result) {
      Check check = verify(stamp, in);
      if (check.verdict == Verdict::kOk) {
        ++counts.verified;
        me.verified.fetch_add(1, std::memory_order_relaxed);
      } else {
        ++me.bad_replies;
        violation(verdict_kind(check.verdict), describe(stamp, check));
      }
      continue;
    }
    const std::error_code& ec = outcome.result.error();
    ++me.failures[{&ec.category(), ec.value()}];
    ++counts.failed;
    me.failed.fetch_add(1, std::memory_order_relaxed);
    if (!typed(ec)) {
      violation(kUntyped, "a request failed with " + error_label(ec));
    } else if (!expected(ec, phase.impatient)) {
      violation(kUnexpected,
                "a request failed with " + error_label(ec) + " in phase '" + phase.name + "'");
    }
  }
}
// [caller]

void Run::sample(std::stop_token stop) {
  while (!stop.stop_requested()) {
    Gauges g = pool_->gauges();
    samples_.fetch_add(1, std::memory_order_relaxed);
    std::size_t worst = worst_open_.load(std::memory_order_relaxed);
    while (g.open > worst && !worst_open_.compare_exchange_weak(worst, g.open)) {
    }
    if (g.open > cfg_.pool_size) {
      violation(kOverCap, "a sample saw " + std::to_string(g.open) + " open, max_open " +
                              std::to_string(cfg_.pool_size));
    }
    if (g.in_use && *g.in_use > cfg_.pool_size) {
      violation(kOverCap, "a sample saw " + std::to_string(*g.in_use) + " in use");
    }
    std::this_thread::sleep_for(cfg_.sample_every);
  }
}

// Cancels a random caller's request in flight, at random intervals, while a phase with
// impatient callers runs: a std::stop_source stopped from another thread.
void Run::cancel(std::stop_token stop) {
  std::mt19937_64 rng(cfg_.seed ^ 0xC0FFEEULL);
  std::uniform_int_distribution<std::size_t> who(0, slots_.size() - 1);
  std::exponential_distribution<double> gap(
      1.0 /
      static_cast<double>(duration_cast<std::chrono::microseconds>(cfg_.cancel_every).count()));
  while (!stop.stop_requested()) {
    auto pause = std::chrono::microseconds(static_cast<std::int64_t>(gap(rng)));
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, 10ms));
    if (!cancelling_.load(std::memory_order_relaxed)) continue;
    if (slots_[who(rng)].cancel()) cancels_.fetch_add(1, std::memory_order_relaxed);
  }
}

// Closes the gate and waits for every caller to finish its request and rest.
bool Run::rest_all(const std::string& where) {
  int resting = gate_.close_and_wait(cfg_.threads, cfg_.rest_timeout);
  if (resting == cfg_.threads) return true;
  violation(kStuck, std::to_string(cfg_.threads - resting) + " of " + std::to_string(cfg_.threads) +
                        " callers still in a request " + millis(cfg_.rest_timeout) + " after " +
                        where + " began");
  abandoned_ = true;
  return false;
}

// Lets the server catch up before its peak is reset for an exact phase: a connection the pool
// closed, or a client-closed one still in the listen backlog, counts until the server's loop
// has read its FIN. With every caller at rest nothing new happens, so once the loop has made no
// turn for a while, it has read them all.
void Run::settle_server() {
  const auto give_up = Clock::now() + cfg_.settle_timeout;
  (void)server_->wait_until([](const echo::Stats& s) { return !s.stalled; }, cfg_.settle_timeout);
  while (Clock::now() < give_up) {
    std::uint64_t turns = server_->stats().turns;
    if (!server_->wait_until([&](const echo::Stats& s) { return s.turns > turns; }, 20ms)) return;
  }
}

// [quiescent_point]
// With every caller at rest: the pool's counts must add up (open = idle + in use + dialing +
// checking, as far as it exposes them), nothing may be in use or waiting, the server may hold
// no connection the pool does not count, and the process's descriptors must be exactly the
// baseline plus the pool's and the server's connections. The maintenance thread may be
// checking a connection, a stalled server may not have accepted one yet: the counts get
// settle_timeout to agree. In a phase where it is exact (Phase::server_exact), the server's
// peak is checked too.
void Run::quiescent_point(const std::string& where, PhaseTally& tally) {
  ++result_.quiescent_points;
  const auto began = Clock::now();
  Gauges g;
  echo::Stats s;
  std::size_t fds = 0;
  auto accounted = [&] {
    return g.idle + g.in_use.value_or(0) + g.dialing.value_or(0) + g.checking.value_or(0);
  };
  auto counts_agree = [&] { return g.open == accounted(); };
  auto at_rest = [&] { return g.in_use.value_or(0) == 0 && g.waiting.value_or(0) == 0; };
  auto fds_agree = [&] { return s.listening && fds == fd_base_ + g.open + s.active; };
  bool agreed = testing::eventually(
      [&] {
        g = pool_->gauges();
        s = server_->stats();
        fds = testing::open_fd_count();
        return counts_agree() && at_rest() && s.active <= g.open && fds_agree();
      },
      duration_cast<milliseconds>(cfg_.settle_timeout));
  result_.worst_settle = std::max(result_.worst_settle, Clock::now() - began);
  result_.rest_equation = std::string("open = idle") + (g.in_use ? " + in use" : "") +
                          (g.dialing ? " + dialing" : "") + (g.checking ? " + checking" : "");
  std::string state = "open " + std::to_string(g.open) + ", idle " + std::to_string(g.idle) +
                      ", in use " + (g.in_use ? std::to_string(*g.in_use) : "?") + ", dialing " +
                      (g.dialing ? std::to_string(*g.dialing) : "?") + ", checking " +
                      (g.checking ? std::to_string(*g.checking) : "?") + ", waiting " +
                      (g.waiting ? std::to_string(*g.waiting) : "?");
  if (!agreed) {
    std::string at = " after " + where + ", " + millis(cfg_.settle_timeout) + " after rest: ";
    if (!counts_agree()) violation(kCounts, "open != the sum of the rest" + at + state);
    if (!at_rest())
      violation(kBusyAtRest,
                "a lease is in use or a caller waits with every caller at rest" + at + state);
    if (!fds_agree() || s.active > g.open) {
      violation(kFdsAtRest, std::to_string(fds) + " descriptors open, expected baseline " +
                                std::to_string(fd_base_) + " + pool's " + std::to_string(g.open) +
                                " + server's " + std::to_string(s.active) + at + state);
    }
  }
  tally.server_peak = std::max<std::uint64_t>(tally.server_peak, s.peak);
  if (phase_->server_exact) {
    tally.peak_checked = true;
    ++result_.peak_checks;
    result_.worst_checked_peak = std::max<std::uint64_t>(result_.worst_checked_peak, s.peak);
    if (s.peak > cfg_.pool_size) {
      violation(kServerOverCap, "the server had " + std::to_string(s.peak) +
                                    " connections open at once during " + where + ", max_open " +
                                    std::to_string(cfg_.pool_size));
    }
  }
}
// [quiescent_point]

void Run::progress() {
  std::uint64_t verified = 0, failed = 0, violations = 0;
  for (const auto& c : callers_) {
    verified += c.verified.load(std::memory_order_relaxed);
    failed += c.failed.load(std::memory_order_relaxed);
  }
  {
    std::scoped_lock lock(violations_mu_);
    for (const auto& [kind, n] : result_.violations) violations += n;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  Gauges g = pool_->gauges();
  std::fprintf(
      cfg_.log,
      "[%s %5.1f s] %s verified (%.0f/s), %s failed, %s violations | %s | open %zu, idle %zu\n",
      cfg_.name.c_str(), elapsed, thousands(verified).c_str(),
      static_cast<double>(verified) / elapsed, thousands(failed).c_str(),
      thousands(violations).c_str(), phase_label_.c_str(), g.open, g.idle);
}

// Sleeps until `until` while the callers run, writing progress lines; returns false, early,
// when the run is done.
bool Run::wait_while_running(Clock::time_point until) {
  for (;;) {
    if (done()) return false;
    auto now = Clock::now();
    if (now >= until) return true;
    if (cfg_.log && now >= next_progress_) {
      progress();
      next_progress_ = now + cfg_.progress_every;
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(10ms, until - now));
  }
}

// Runs one phase: its faults on, the callers released, brought to rest `rests` times on the
// way (staying at rest for rest_for with the faults still on), and once more at its end, with
// the faults off, for the last quiescent point. Returns false when the callers would not rest.
bool Run::run_phase(const Phase& phase, int cycle) {
  auto slot = static_cast<std::size_t>(
      std::ranges::find(result_.phases, phase.name, &PhaseTally::name) - result_.phases.begin());
  PhaseTally& tally = result_.phases[slot];
  ++tally.runs;
  phase_ = &phase;
  phase_slot_ = slot;
  phase_label_ = phase.name + " (cycle " + std::to_string(cycle + 1) + ")";
  server_->set_faults(phase.faults);
  if (phase.server_exact) settle_server();
  server_->reset_peak();
  cancelling_.store(phase.impatient, std::memory_order_relaxed);
  const auto began = Clock::now();
  for (int part = 1; part <= phase.rests + 1; ++part) {
    gate_.open();
    bool ended = !wait_while_running(began + phase.length * part / (phase.rests + 1));
    std::string where = "'" + phase.name + "' (cycle " + std::to_string(cycle + 1) + ")";
    if (!rest_all(where)) return false;
    bool last = ended || part == phase.rests + 1;
    if (last) {
      cancelling_.store(false, std::memory_order_relaxed);
      server_->set_faults({});
    } else if (phase.rest_for > Clock::duration::zero()) {
      std::this_thread::sleep_for(phase.rest_for);  // connections sit idle, faults on
    }
    quiescent_point(where, tally);
    if (last) break;
  }
  tally.time += Clock::now() - began;
  return true;
}

Result Run::go() {
  // A runtime may start a helper thread of its own with the process's first thread (TSan
  // does): one thread started and joined first, so that the baseline includes it.
  std::thread([] {}).join();
  result_.threads_before = testing::thread_count();
  result_.fds_before = testing::open_fd_count();
  start_ = Clock::now();
  next_progress_ = start_ + cfg_.progress_every;
  {
    echo::Options options;
    options.seed = cfg_.seed;
    auto started = echo::EchoServer::start(options);
    if (!started) {
      violation(kSetup, "the echo server did not start: " + started.error().message());
      return result_;
    }
    server_ = std::move(*started);
  }
  pool_ = make_pool_(server_->endpoint().to_string(), cfg_.pool_size);
  {
    Gauges g = pool_->gauges();
    fd_base_ = testing::open_fd_count() - g.open - server_->stats().active;
  }
  std::vector<std::jthread> callers;
  callers.reserve(callers_.size());
  for (int i = 0; i < cfg_.threads; ++i) {
    callers.emplace_back([this, i] {
      try {
        caller(i);
      } catch (const std::exception& e) {
        violation(kException, std::string("a caller thread threw: ") + e.what());
      } catch (...) {
        violation(kException, "a caller thread threw something that is not a std::exception");
      }
    });
  }
  std::jthread sampler([this](std::stop_token stop) { sample(stop); });
  std::jthread canceller([this](std::stop_token stop) { cancel(stop); });

  bool rested = rest_all("the start");
  for (int cycle = 0; rested && !done(); ++cycle) {
    const auto& phases = cycle == 0 ? cfg_.first : cfg_.cycle;
    if (phases.empty()) break;
    std::size_t ran = 0;
    for (const Phase& phase : phases) {
      if (done() || !(rested = run_phase(phase, cycle))) break;
      ++ran;
    }
    if (ran == phases.size()) ++cycles_done_;
  }
  if (!rested) pool_->close();  // wakes callers stuck in the pool, if it can
  gate_.stop();
  callers.clear();  // joins them
  sampler.request_stop();
  canceller.request_stop();
  sampler.join();
  canceller.join();
  result_.elapsed = Clock::now() - start_;
  finish();
  return std::move(result_);
}

void Run::finish() {
  for (std::size_t t = 0; t < callers_.size(); ++t) {
    const CallerTally& c = callers_[t];
    result_.bad_replies += c.bad_replies;
    for (const auto& [key, n] : c.failures) {
      std::string label = key.first ? error_label(std::error_code(key.second, *key.first))
                                    : std::string("exception");
      result_.failures[label] += n;
    }
    for (std::size_t p = 0; p < result_.phases.size(); ++p) {
      PhaseTally& tally = result_.phases[p];
      tally.requests += c.phases[p].requests;
      tally.verified += c.phases[p].verified;
      tally.failed += c.phases[p].failed;
      tally.retries += c.phases[p].retries;
    }
  }
  for (const PhaseTally& tally : result_.phases) {
    result_.requests += tally.requests;
    result_.verified += tally.verified;
    result_.failed += tally.failed;
    result_.retries += tally.retries;
  }
  result_.cancels = cancels_.load();
  result_.samples = samples_.load();
  result_.worst_open = worst_open_.load();
  result_.pool_retries = pool_->retries();
  if (result_.pool_retries && *result_.pool_retries != result_.retries) {
    violation(kRetries, "the pool counted " + thousands(*result_.pool_retries) +
                            " retries, its callers saw " + thousands(result_.retries));
  }
  if (result_.verified < cfg_.requests) {
    violation(kShort, thousands(result_.verified) + " verified echoes of " +
                          thousands(cfg_.requests) + " when the run ended after " +
                          seconds(result_.elapsed));
  }
  pool_.reset();
  server_->stop();
  server_.reset();
  // Joined threads and closed descriptors are gone at once; the wait is for a thread the
  // kernel is still tearing down.
  (void)testing::eventually([&] { return testing::open_fd_count() == result_.fds_before; }, 2s);
  (void)testing::eventually([&] { return testing::thread_count() == result_.threads_before; }, 2s);
  result_.fds_after = testing::open_fd_count();
  result_.threads_after = testing::thread_count();
  if (result_.fds_after != result_.fds_before) {
    violation(kFdLeak, std::to_string(result_.fds_before) + " descriptors before the run, " +
                           std::to_string(result_.fds_after) + " after it");
  }
  if (result_.threads_after != result_.threads_before) {
    violation(kThreadLeak, std::to_string(result_.threads_before) + " threads before the run, " +
                               std::to_string(result_.threads_after) + " after it");
  }
}

}  // namespace

Result run_stress(const Config& config, const PoolFactory& make_pool) {
  config.validate();
  Run run(config, make_pool);
  return run.go();
}

}  // namespace tcppool::stress
