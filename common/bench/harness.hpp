// common/bench/harness.hpp: the benchmark harness every stage registers its pool with.
//
// A stage's benchmark binary is three lines (stageN-*/pool_bench.cpp):
//
//     int main(int argc, char** argv) {
//       return tcppool::bench::run_stage<tcppool::stage2::Pool>(argc, argv, "stage2");
//     }
//
// and gets every scenario (scenarios.cpp), each beside the same measurement on dedicated
// connections, written as Google Benchmark JSON that scripts/bench.sh merges into the
// cross-stage report. The scenarios reach the pool only through the shape every stage shares
// (Options{endpoint, max_idle?, max_open?}, acquire(), Lease::fd(), Lease::discard()), through
// the type-erased PoolUnderTest below, so they are written once for all stages.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "common/echo/echo_client.hpp"
#include "common/net/deadline.hpp"

namespace tcppool::bench {

/// Backstop on every benchmark request, so a broken pool or server ends a run instead of
/// hanging it. Far above any healthy latency; the stall scenario stays well below it.
inline constexpr std::chrono::seconds kRequestTimeout{5};

/// A stage's pool behind a virtual interface, for the scenarios.
class PoolUnderTest {
 public:
  virtual ~PoolUnderTest() = default;

  /// How long a request may take, for a stage that has deadlines.
  struct Limits {
    net::Clock::duration acquire = kRequestTimeout;  ///< Waiting for a connection.
    net::Clock::duration request = kRequestTimeout;  ///< The whole request, acquire included.
  };

  /// One request through the pool: acquire, verified echo, release (discard on failure).
  /// A stage with deadlines (stage 5 on) bounds it by `limits`, as its users would; the others
  /// cannot, and keep the harness's backstop, kRequestTimeout, on the echo's I/O. Sets
  /// `waited` to how long acquire() took when it handed out a connection, measured the same way
  /// for every stage, from outside the pool. Thread-safe, as the pool is.
  virtual std::expected<void, std::error_code> request(
      std::span<const std::byte> request, std::span<std::byte> reply, const Limits& limits,
      std::optional<net::Clock::duration>& waited) = 0;

  /// Google Benchmark's loop around acquire() and release, with no I/O: the pool's own cost.
  virtual void acquire_release(benchmark::State& state) = 0;
};

/// What the harness knows about a stage.
struct StageInfo {
  std::string name;     ///< "stage2": names benchmarks and report columns.
  bool sized = false;   ///< Options has max_idle: the pool keeps connections.
  bool capped = false;  ///< Options has max_open: the pool caps open connections.
  /// A variant that differs from its stage only when threads outnumber connections (stage 5's
  /// and 6's strict FIFO beside their default, bounded barging): only the contention scenario
  /// is registered for it.
  bool contention_only = false;
  /// Makes the stage's pool for `endpoint`, keeping at most `pool_size` connections.
  std::function<std::unique_ptr<PoolUnderTest>(const std::string& endpoint, std::size_t pool_size)>
      make_pool;
};

/// Registers every scenario for `stage`, runs them (Google Benchmark flags apply, plus
/// --quick and --endpoint=host:port), and returns the process exit code.
int run_benchmarks(int argc, char** argv, const StageInfo& stage);

/// The same for several stages in one binary, so that one run measures them side by side:
/// with repetitions, Google Benchmark interleaves the stages' runs in a random order. Workshop
/// mode uses it to put an attempt beside the stage before it and the reference stage
/// (`make workshop-bench`). REQUIRES: distinct names.
int run_benchmarks(int argc, char** argv, const std::vector<StageInfo>& stages);

/// Adapts a stage's Pool to PoolUnderTest.
template <typename Pool>
class PoolAdapter final : public PoolUnderTest {
 public:
  /// Makes the pool from `options`.
  explicit PoolAdapter(typename Pool::Options options) : pool_(std::move(options)) {}

  std::expected<void, std::error_code> request(
      std::span<const std::byte> request, std::span<std::byte> reply, const Limits& limits,
      std::optional<net::Clock::duration>& waited) override {
    const auto start = net::Clock::now();
    if constexpr (requires { typename Pool::Context; }) {
      // Stage 5 on: a context for the whole request, and a shorter one for waiting for a
      // connection. The I/O has the request's whole deadline: a deadline that ends in the
      // middle of an exchange costs the connection (its state is then unknown).
      // Through run(), as stage 4's requests go: an echo is idempotent, so one that met a
      // connection the server had closed is retried once, on a fresh connection, within the
      // acquire's context (run() discards a connection whose request failed).
      auto ctx = Pool::Context::background().with_timeout(limits.request);
      return pool_.run(
          ctx.with_timeout(limits.acquire),
          [&](typename Pool::Lease& lease) {
            if (!waited) waited = net::Clock::now() - start;  // the first lease
            return echo::round_trip(lease.fd(), request, reply, ctx.deadline());
          },
          Pool::Idempotent::kYes);
    }
    auto echo = [&](typename Pool::Lease& lease) {
      if (!waited) waited = net::Clock::now() - start;  // the first lease: run() may retry
      return echo::round_trip(lease.fd(), request, reply, net::Deadline::after(kRequestTimeout));
    };
    // A stage with run() (stage 4 on) gets its requests through it, as its users would: an
    // echo is idempotent, so a stale connection's request is retried once.
    if constexpr (requires { pool_.run(echo, Pool::Idempotent::kYes); }) {
      return pool_.run(echo, Pool::Idempotent::kYes);
    } else {
      auto lease = pool_.acquire();
      if (!lease) return std::unexpected(lease.error());
      auto r = echo(*lease);
      if (!r) lease->discard();
      return r;
    }
  }

  void acquire_release(benchmark::State& state) override {
    for (auto _ : state) {
      auto lease = pool_.acquire();
      if (!lease) {
        state.SkipWithError(lease.error().message().c_str());
        break;
      }
      benchmark::DoNotOptimize(lease->fd());
    }
  }

 private:
  Pool pool_;
};

/// Fills the Options fields a stage has: endpoint always; max_idle and max_open where they
/// exist (a requires-expression per field), so one harness drives every stage.
template <typename Options>
Options sized_options(const std::string& endpoint, std::size_t pool_size) {
  Options o;
  o.endpoint = endpoint;
  if constexpr (requires { o.max_idle; }) o.max_idle = pool_size;
  if constexpr (requires { o.max_open; }) o.max_open = pool_size;
  return o;
}

/// Returns what the harness knows about `Pool`, under the stage name `name`.
template <typename Pool>
StageInfo stage_info(const char* name) {
  using Options = typename Pool::Options;
  StageInfo info;
  info.name = name;
  info.sized = requires(Options o) { o.max_idle; };
  info.capped = requires(Options o) { o.max_open; };
  info.make_pool = [](const std::string& endpoint, std::size_t pool_size) {
    return std::make_unique<PoolAdapter<Pool>>(sized_options<Options>(endpoint, pool_size));
  };
  return info;
}

/// stage_info() for a variant of `Pool` whose options `tweak` changes (a callable taking
/// Options&), after the harness has set the endpoint and the size.
template <typename Pool, typename Tweak>
StageInfo stage_variant(const char* name, Tweak tweak) {
  using Options = typename Pool::Options;
  StageInfo info = stage_info<Pool>(name);
  info.make_pool = [tweak](const std::string& endpoint, std::size_t pool_size) {
    auto options = sized_options<Options>(endpoint, pool_size);
    tweak(options);
    return std::make_unique<PoolAdapter<Pool>>(std::move(options));
  };
  return info;
}

/// Runs every scenario for `Pool`, under the stage name `name`.
template <typename Pool>
int run_stage(int argc, char** argv, const char* name) {
  return run_benchmarks(argc, argv, stage_info<Pool>(name));
}

}  // namespace tcppool::bench
