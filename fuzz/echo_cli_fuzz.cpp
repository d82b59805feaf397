// fuzz/echo_cli_fuzz.cpp: fuzz target for the echo_server command line, echo::parse_cli()
// (common/echo/cli.hpp), on arbitrary argument vectors.
//
// The input is the arguments after the program name, each ended by a NUL byte, as
// /proc/PID/cmdline stores them ("--port\0" "70000\0"; the last NUL may be left off). An
// argument from a real command line never holds a NUL, and none here does. Beyond not crashing,
// each call is checked against what cli.hpp promises:
//   - parse_cli() never throws, whatever the arguments;
//   - an error is one line of printable text that names what is wrong: it begins with a flag
//     that was given ("--port: ..."), or says "unexpected argument" or "unknown flag" and shows
//     an argument that was given, in single quotes, a byte that is not printable ASCII as \xNN;
//   - a config it accepts is one the server takes: Options::validate() does not throw, and the
//     stall echo_main.cpp hands to stall_for() is within Limits::kMaxStall.
#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/echo/cli.hpp"
#include "fuzz/fuzz.hpp"

namespace {

using tcppool::echo::CliConfig;
using tcppool::echo::Limits;
using tcppool::fuzz::check;
using tcppool::fuzz::fail;
using tcppool::fuzz::shown;

// The arguments: the input split at NUL bytes.
std::vector<std::string_view> arguments(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> args;
  while (!text.empty()) {
    auto end = text.find('\0');
    args.push_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  return args;
}

bool printable(char c) { return c >= 0x20 && c <= 0x7e; }

bool printable_line(std::string_view message) { return std::ranges::all_of(message, printable); }

// An argument as an error message shows it: in single quotes, each byte that is not printable
// ASCII written as \xNN, so that a control character can neither hide nor act on a terminal.
std::string as_shown(std::string_view arg) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : arg) {
    auto byte = static_cast<unsigned char>(c);
    if (printable(c)) {
      out += c;
    } else {
      out.append("\\x").append(1, kHex[byte >> 4]).append(1, kHex[byte & 0xf]);
    }
  }
  return out + "'";
}

void check_error(const std::vector<std::string_view>& args, std::string_view message) {
  std::string what = "parse_cli() error " + shown(message);
  if (message.empty()) fail("parse_cli() failed with an empty message");
  if (!printable_line(message)) fail(what + " is not one line of printable text");
  for (auto arg : args) {
    // "--port: ...": a flag that was given, named first.
    if (arg.starts_with("--") && message.starts_with(std::string(arg) + ":")) return;
  }
  if (message.starts_with("unexpected argument ") || message.starts_with("unknown flag ")) {
    for (auto arg : args) {
      if (message.contains(as_shown(arg))) return;
    }
  }
  fail(what + " names no flag or argument that was given");
}

void check_accepted(const CliConfig& config) {
  try {
    config.server.validate();
  } catch (const std::invalid_argument& e) {
    fail(std::string("parse_cli() accepted options that validate() refuses: ") + e.what());
  }
  check(config.stall >= tcppool::echo::Clock::duration::zero() && config.stall <= Limits::kMaxStall,
        "parse_cli() accepted a --stall that stall_for() refuses");
  if (config.server.faults.stall_every.count() > 0) {
    check(config.server.faults.stall == config.stall, "--stall and the periodic stall differ");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto args = arguments(data, size);
  std::expected<CliConfig, std::string> config;
  try {
    config = tcppool::echo::parse_cli(args);
  } catch (const std::exception& e) {
    fail(std::string("parse_cli() threw: ") + e.what());
  } catch (...) {
    fail("parse_cli() threw something that is not a std::exception");
  }
  if (config) {
    check_accepted(*config);
  } else {
    check_error(args, config.error());
  }
  return 0;
}
