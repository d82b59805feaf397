// common/stress/format.hpp: the names of the violations a stress run can find, and the number
// formats of its output; shared by the run (stress.cpp) and its summary (summary.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/net/deadline.hpp"

namespace tcppool::stress::kind {

// Each names one kind of violation: a key of Result::violations.
inline constexpr const char* kLostReply = "lost reply";
inline constexpr const char* kStaleReply = "stale reply";
inline constexpr const char* kCrossedReply = "crossed reply";
inline constexpr const char* kCorruptReply = "corrupt reply";
inline constexpr const char* kUntyped = "untyped failure";
inline constexpr const char* kUnexpected = "unexpected failure";
inline constexpr const char* kException = "exception";
inline constexpr const char* kOverCap = "open > max_open";
inline constexpr const char* kServerOverCap = "server peak > max_open";
inline constexpr const char* kCounts = "counts disagree at rest";
inline constexpr const char* kBusyAtRest = "in use or waiting at rest";
inline constexpr const char* kFdsAtRest = "descriptors disagree at rest";
inline constexpr const char* kFdLeak = "descriptors leaked";
inline constexpr const char* kThreadLeak = "threads left behind";
inline constexpr const char* kRetries = "retries disagree";
inline constexpr const char* kShort = "short of the requests";
inline constexpr const char* kStuck = "callers stuck";
inline constexpr const char* kSetup = "setup failed";

}  // namespace tcppool::stress::kind

namespace tcppool::stress::format {

/// Returns `n` with thousands separators: "1,000,000".
inline std::string thousands(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

/// Returns "93.1 s".
inline std::string seconds(net::Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

/// Returns "250 ms".
inline std::string millis(net::Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

}  // namespace tcppool::stress::format
