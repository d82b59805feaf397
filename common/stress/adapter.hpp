// common/stress/adapter.hpp: a stage's Pool as the stress driver sees it (PoolUnderStress),
// and run_stage(), the whole of a stage's stress binary.
//
// Written once for stages 4 to 6 against the shape they share: Options{endpoint, max_idle,
// max_open}, run(fn, Idempotent::kYes), close(), and for the gauges whatever the stage has:
// stats() (stage 6), state() (stage 5), or open_count(), idle_count() and waiting() (stage 4).
// A stage with a Context (stage 5 on) gets a deadline and, for an impatient caller, a
// cancellation on every request, and does its I/O through Lease::send() and receive(), which
// a cancellation wakes; stage 4 bounds its I/O by a deadline on the descriptor.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "common/net/deadline.hpp"
#include "common/net/io.hpp"
#include "common/stress/stress.hpp"

namespace tcppool::stress {

/// Reads the gauges `pool` exposes: stats() if it has one, else state(), else open_count(),
/// idle_count() and waiting().
template <typename Pool>
Gauges read_gauges(const Pool& pool) {
  if constexpr (requires { pool.stats(); }) {
    auto s = pool.stats();
    return {.open = s.open,
            .idle = s.idle,
            .in_use = s.in_use,
            .dialing = s.dialing,
            .checking = s.checking,
            .waiting = s.waiting};
  } else if constexpr (requires { pool.state(); }) {
    auto s = pool.state();
    return {.open = s.open, .idle = s.idle, .in_use = s.in_use, .waiting = s.waiting};
  } else {
    return {.open = pool.open_count(), .idle = pool.idle_count(), .waiting = pool.waiting()};
  }
}

/// Returns the retries `pool` counted (stats().retries), or nullopt for a pool that keeps no
/// count.
template <typename Pool>
std::optional<std::uint64_t> read_retries(const Pool& pool) {
  if constexpr (requires { pool.stats().retries; }) {
    return pool.stats().retries;
  } else {
    return std::nullopt;
  }
}

// [adapter]
/// Adapts a stage's Pool to PoolUnderStress.
template <typename Pool>
class StressAdapter final : public PoolUnderStress {
 public:
  /// Makes the pool from `options`.
  explicit StressAdapter(typename Pool::Options options) : pool_(std::move(options)) {}

  Outcome request(std::span<const std::byte> request, std::span<std::byte> reply,
                  const Call& call) override {
    using Lease = typename Pool::Lease;
    int attempts = 0;
    if constexpr (requires { typename Pool::Context; }) {
      // Stage 5 on: the whole request within one context, cancellable when asked.
      auto ctx = Pool::Context::background().with_timeout(call.timeout);
      if (call.cancel) {
        auto [cancellable, cancel] = ctx.with_cancel();
        ctx = cancellable;
        call.cancel->arm([cancel] { cancel(); });
      }
      auto exchange = [&](Lease& lease) -> std::expected<void, std::error_code> {
        ++attempts;
        if (auto sent = lease.send(request, ctx); !sent) return sent;
        return lease.receive(reply, ctx);
      };
      auto result = pool_.run(ctx, exchange, Pool::Idempotent::kYes);
      if (call.cancel) call.cancel->disarm();
      return {result, attempts};
    } else {
      // Stage 4: acquire cannot be bounded; the exchange is.
      auto deadline = net::Deadline::after(call.timeout);
      auto exchange = [&](Lease& lease) -> std::expected<void, std::error_code> {
        ++attempts;
        if (auto sent = net::send_all(lease.fd(), request, deadline); !sent) return sent;
        return net::recv_exact(lease.fd(), reply, deadline);
      };
      auto result = pool_.run(exchange, Pool::Idempotent::kYes);
      return {result, attempts};
    }
  }

  Gauges gauges() const override { return read_gauges(pool_); }

  std::optional<std::uint64_t> retries() const override { return read_retries(pool_); }

  void close() override { pool_.close(); }

 private:
  Pool pool_;
};
// [adapter]

/// Runs the stress driver on `Pool`, under the stage name `name` (see stress_main()).
template <typename Pool>
int run_stage(int argc, char** argv, const char* name) {
  StageInfo info;
  info.name = name;
  info.cancels = requires { typename Pool::Context; };
  info.make_pool = [](const std::string& endpoint, std::size_t pool_size) {
    typename Pool::Options options;
    options.endpoint = endpoint;
    options.max_open = pool_size;
    options.max_idle = pool_size;
    return std::make_unique<StressAdapter<Pool>>(std::move(options));
  };
  return stress_main(argc, argv, info);
}

}  // namespace tcppool::stress
