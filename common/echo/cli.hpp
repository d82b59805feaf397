// common/echo/cli.hpp: the echo_server command line, parsed apart from main() so it is tested.
#pragma once

#include <chrono>
#include <expected>
#include <span>
#include <string>
#include <string_view>

#include "common/echo/echo_server.hpp"

namespace tcppool::echo {

/// What the echo_server command line asks for.
struct CliConfig {
  Options server;           ///< Address, port, buffer, memory, seed and faults (periodic ones too).
  Clock::duration stall{};  ///< --stall: a stall at start (and, with --stall-every, periodic ones).
  bool help = false;        ///< --help was given.
  bool quiet = false;       ///< --quiet: print nothing but errors.
};

/// Parses a duration with a unit: "250us", "50ms", "2s". Fails with a message that says what
/// is wrong ("missing unit", "not a number").
std::expected<Clock::duration, std::string> parse_duration(std::string_view text);

/// Parses the arguments after the program name. Fails with a message naming the flag and the
/// reason, e.g. "--port: expected a number in 0..65535, got '70000'": what the user typed in
/// single quotes, each byte that is not printable ASCII as \xNN. The server's own checks
/// (Options::validate()) apply too, and their messages name flags, not fields: "--stall: 100ms
/// is not shorter than --stall-every (50ms): ...".
std::expected<CliConfig, std::string> parse_cli(std::span<const std::string_view> args);

/// Returns the --help text.
std::string usage();

/// Formats stats as one line: "accepted=3 active=1 peak=2 limit=... closes: idle=1 ...".
std::string format_stats(const Stats& stats);

}  // namespace tcppool::echo
