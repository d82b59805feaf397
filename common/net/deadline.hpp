// common/net/deadline.hpp: Deadline, a point in time after which a wait gives up.
//
// Every blocking call in common/net takes a Deadline rather than a timeout: a timeout restarts
// with every retry of a partial send, a deadline does not. This is Go's
// `conn.SetDeadline(time.Now().Add(d))`. Stage 5 builds its Context (a deadline plus
// cancellation) on top of it.
#pragma once

#include <time.h>

#include <chrono>

namespace tcppool::net {

/// The clock every deadline in the repository is measured on: monotonic, so a wall-clock jump
/// never fires or postpones a deadline.
using Clock = std::chrono::steady_clock;

/// A point on Clock after which a blocking call returns Errc::kTimeout; or "never".
///
///     auto d = net::Deadline::after(200ms);
///     if (auto s = net::dial(endpoint, d); !s) ...   // at most ~200 ms, however many retries
///
/// A value type, cheap to copy; thread-compatible.
class Deadline {
 public:
  /// Makes a deadline that never passes.
  constexpr Deadline() noexcept = default;

  /// Returns a deadline that never passes (the default).
  static constexpr Deadline never() noexcept { return Deadline(); }

  /// Returns a deadline `d` from now. A zero or negative `d` has already passed; a `d` too
  /// long to add to the clock's present value (Clock::duration::max(), say) saturates to
  /// never, instead of wrapping around into the past.
  static Deadline after(Clock::duration d) noexcept { return at_or_never(Clock::now(), d); }

  /// Returns a deadline at the point `t`.
  static constexpr Deadline at(Clock::time_point t) noexcept { return Deadline(t); }

  /// Returns true for a deadline that never passes.
  constexpr bool is_never() const noexcept { return when_ == Clock::time_point::max(); }

  /// Returns the point in time; Clock::time_point::max() for never.
  constexpr Clock::time_point when() const noexcept { return when_; }

  /// Returns true when the deadline has passed.
  bool expired() const noexcept { return !is_never() && Clock::now() >= when_; }

  /// Returns the time left, zero once passed, and Clock::duration::max() for never.
  Clock::duration remaining() const noexcept {
    if (is_never()) return Clock::duration::max();
    auto left = when_ - Clock::now();
    return left > Clock::duration::zero() ? left : Clock::duration::zero();
  }

  /// Fills `ts` with the time left, for ppoll(), and returns it; returns nullptr (wait without
  /// limit) for never.
  const timespec* to_timespec(timespec& ts) const noexcept {
    if (is_never()) return nullptr;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining()).count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    return &ts;
  }

  /// Returns `from + d`, saturated: never when the sum would pass the clock's range, `from`
  /// itself when `d` is not positive (so the deadline has passed by the time it is used).
  static constexpr Deadline at_or_never(Clock::time_point from, Clock::duration d) noexcept {
    if (d <= Clock::duration::zero()) return Deadline(from);
    if (d >= Clock::time_point::max() - from) return Deadline();
    return Deadline(from + d);
  }

  /// Returns the earlier of two deadlines.
  friend constexpr Deadline earliest(Deadline a, Deadline b) noexcept {
    return a.when_ <= b.when_ ? a : b;
  }

 private:
  constexpr explicit Deadline(Clock::time_point t) noexcept : when_(t) {}

  Clock::time_point when_ = Clock::time_point::max();
};

}  // namespace tcppool::net
