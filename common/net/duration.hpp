// common/net/duration.hpp: durations as people write them, for error messages.
#pragma once

#include <chrono>
#include <string>

namespace tcppool::net {

/// Returns `d` in the largest unit that shows it exactly: "250us", "50ms", "2s", "24h"; zero is
/// "0s". Works from the coarsest unit down in `d`'s own type, so it never converts `d` into a
/// finer unit than its own (which could overflow: milliseconds::max() in nanoseconds), and
/// shows even extreme values.
template <typename Rep, typename Period>
std::string format_duration(std::chrono::duration<Rep, Period> d) {
  using namespace std::chrono;
  using D = duration<Rep, Period>;
  if (d == D::zero()) return "0s";
  auto exact = [d](auto unit) { return duration_cast<D>(duration_cast<decltype(unit)>(d)) == d; };
  if (exact(hours(1))) return std::to_string(duration_cast<hours>(d).count()) + "h";
  if (exact(minutes(1)) && d >= duration_cast<D>(minutes(1))) {
    return std::to_string(duration_cast<minutes>(d).count()) + "m";
  }
  if (exact(seconds(1))) return std::to_string(duration_cast<seconds>(d).count()) + "s";
  if (exact(milliseconds(1))) return std::to_string(duration_cast<milliseconds>(d).count()) + "ms";
  if (exact(microseconds(1))) return std::to_string(duration_cast<microseconds>(d).count()) + "us";
  return std::to_string(duration_cast<nanoseconds>(d).count()) + "ns";
}

}  // namespace tcppool::net
