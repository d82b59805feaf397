// stage6-metrics/retry.hpp: dial retry with exponential backoff and full jitter, and a
// circuit breaker that makes the pool fail fast while its server is down.
//
// Technique: a dial that fails for a reason that may pass (refused during a restart, reset,
// timed out, a name server that did not answer) is tried again after a pause that doubles each
// time, up to a cap, drawn at random from zero to that bound ("full jitter", which spreads
// the retries of many clients so that they do not hit a recovering server in step). Attempts
// and the total time are both bounded. When acquire after acquire has exhausted its retries,
// the server is most likely down, and making every caller wait out its own retries only
// multiplies the wait: the breaker opens, and callers that need a dial fail at once
// (Errc::kServerUnavailable) for a cool-down. Then one caller's dial is let through as a probe;
// if it connects the breaker closes, if not it opens for another cool-down. go-redis makes the
// same trade (after pool-size failed dials it fails fast and one goroutine probes).
//
// Changes from stage 4: a backoff's Sleep reports why it was cut short, so that the retries
// stop when the caller's context is cancelled or runs out, not only when the pool closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <mutex>
#include <random>
#include <system_error>

#include "common/net/deadline.hpp"
#include "common/net/socket.hpp"

namespace tcppool::stage6 {

/// How dials are retried, and when the pool gives up for a while. Every field has a default.
struct RetryOptions {
  /// Attempts per dial, the first included: 1 means no retry. 1..100.
  int attempts = 4;
  /// The pause before the second attempt is drawn from [0, base_backoff]; each later one
  /// from twice the range before, up to max_backoff. 0..1 h.
  std::chrono::milliseconds base_backoff{50};
  /// Cap on the range of any one pause. At least base_backoff, at most 1 h.
  std::chrono::milliseconds max_backoff{1000};
  /// Bound on the attempts and pauses of one dial together. Positive, at most 1 h.
  std::chrono::milliseconds budget{5000};
  /// Consecutive dials (each with all its attempts) that failed, after which the breaker
  /// opens. 0: never opens.
  int open_after = 8;
  /// How long an open breaker fails dials fast before it lets one probe through. 0..1 h.
  std::chrono::milliseconds cooldown{1000};
};

/// Returns true for dial errors worth another attempt: refused (ECONNREFUSED, a restart),
/// reset (ECONNRESET), no answer (Errc::kTimeout), unreachable for now (EHOSTUNREACH,
/// ENETUNREACH), no ephemeral port free (EADDRNOTAVAIL), a name server that did not answer
/// (EAI_AGAIN).
bool is_transient(const std::error_code& ec) noexcept;

/// Exponential backoff with full jitter, and the circuit breaker, for one pool.
///
///     auto pass = retry.admit(now);                // kGo, kProbe or kFailFast
///     ... dial; on failure: auto pause = retry.backoff(attempt); sleep; dial again ...
///     retry.record(ok, now);                       // once per dial, after its last attempt
///
/// Thread-safe: every member may be called from any thread.
class DialRetry {
 public:
  /// What admit() allows.
  enum class Pass {
    kGo,       ///< The breaker is closed: dial, with retries.
    kProbe,    ///< The breaker was open and its cool-down is over: this one dial (no retries)
               ///< decides whether it closes.
    kFailFast  ///< The breaker is open, or another caller's probe is under way.
  };

  /// Uses `options`, with `seed` for the jitter (0: a random seed).
  DialRetry(const RetryOptions& options, std::uint64_t seed);

  /// Returns whether a dial may start at `now`.
  Pass admit(net::Clock::time_point now);

  /// Returns the pause before attempt `attempt` + 1 (attempt 1 is the first retry): uniform
  /// in [0, min(max_backoff, base_backoff * 2^(attempt - 1))].
  net::Clock::duration backoff(int attempt);

  /// Records the outcome of a dial (after its last attempt): a success closes the breaker; a
  /// failure counts towards opening it, and a failed probe opens it again at once.
  void record(bool succeeded, Pass pass, net::Clock::time_point now);

  /// Returns true while the breaker is open or probing.
  bool open() const;

  /// A dial attempt, given its deadline.
  using Attempt = std::function<std::expected<net::Socket, std::error_code>(net::Deadline)>;
  /// Waits until a time; returns an empty error code, or why the wait was cut short (the pool
  /// closed, the caller's context was cancelled or ran out of time).
  using Sleep = std::function<std::error_code(net::Clock::time_point)>;

  /// Dials with `attempt` as the options say: the breaker first (Errc::kServerUnavailable
  /// when it fails fast), then attempts, each with a deadline no later than `timeout` from its
  /// start or the budget, with a backoff after each transient failure. Records the outcome.
  /// Fails with the last attempt's error, or with the error `sleep` returns when a backoff is
  /// cut short: the retries stop when the caller's context ends.
  std::expected<net::Socket, std::error_code> dial(const Attempt& attempt,
                                                   std::chrono::milliseconds timeout,
                                                   const Sleep& sleep);

 private:
  const RetryOptions options_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;                  // Guarded by mu_.
  int consecutive_failures_ = 0;         // Guarded by mu_.
  net::Clock::time_point open_until_{};  // Guarded by mu_. Valid while open_.
  bool open_ = false;                    // Guarded by mu_.
  bool probing_ = false;                 // Guarded by mu_. A probe dial is under way.
};

}  // namespace tcppool::stage6
