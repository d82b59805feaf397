// Tests for common/echo/cli.hpp: the echo_server command line (every flag, the defaults, and an
// error that names the flag for every kind of bad input), --help, and the stats line.
#include "common/echo/cli.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::expected<CliConfig, std::string> parse(std::initializer_list<std::string_view> args) {
  std::vector<std::string_view> v(args);
  return parse_cli(v);
}

// Returns the error for `args`, or a marker that makes the caller's HasSubstr fail.
std::string error_of(std::initializer_list<std::string_view> args) {
  auto config = parse(args);
  if (config) return "<parsed without error>";
  return config.error();
}

TEST(EchoCli, DefaultsAreLoopbackPort7007AndNoFaults) {
  auto config = parse({});
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->server.address, "127.0.0.1");
  EXPECT_EQ(config->server.port, 7007);
  EXPECT_EQ(config->server.buffer_bytes, 64u * 1024u);
  EXPECT_EQ(config->server.seed, 1u);
  const Faults& f = config->server.faults;
  EXPECT_EQ(f.latency, 0us);
  EXPECT_EQ(f.idle_close, 0ms);
  EXPECT_EQ(f.max_age, 0ms);
  EXPECT_EQ(f.reset_probability, 0.0);
  EXPECT_EQ(f.max_connections, 0u);
  EXPECT_TRUE(f.accepting);
  EXPECT_EQ(f.accept_delay, 0us);
  EXPECT_EQ(f.stall, 0ms);
  EXPECT_EQ(f.stall_every, 0ms);
  EXPECT_EQ(f.restart_every, 0ms);
  EXPECT_EQ(f.restart_downtime, 0ms);
  EXPECT_EQ(config->server.backlog, 1024);
  EXPECT_EQ(config->server.max_memory, 0u) << "derived at start";
  EXPECT_EQ(config->stall, Clock::duration::zero());
  EXPECT_FALSE(config->help);
  EXPECT_FALSE(config->quiet);
}

TEST(EchoCli, ParsesEveryFlag) {
  auto config = parse({"--address",
                       "::1",
                       "--port",
                       "0",
                       "--buffer",
                       "4096",
                       "--backlog",
                       "8",
                       "--max-memory",
                       "1048576",
                       "--accept-delay",
                       "2ms",
                       "--max-conns",
                       "9",
                       "--latency",
                       "250us",
                       "--idle-close",
                       "2s",
                       "--max-age",
                       "1500ms",
                       "--reset-prob",
                       "0.25",
                       "--seed",
                       "18446744073709551615",
                       "--stall",
                       "300ms",
                       "--stall-every",
                       "5s",
                       "--restart-every",
                       "10s",
                       "--restart-downtime",
                       "200ms",
                       "--no-accept",
                       "--quiet"});
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->server.address, "::1");
  EXPECT_EQ(config->server.port, 0);
  EXPECT_EQ(config->server.buffer_bytes, 4096u);
  EXPECT_EQ(config->server.backlog, 8);
  EXPECT_EQ(config->server.max_memory, 1048576u);
  EXPECT_EQ(config->server.seed, 18446744073709551615u);
  const Faults& f = config->server.faults;
  EXPECT_EQ(f.max_connections, 9u);
  EXPECT_EQ(f.latency, 250us);
  EXPECT_EQ(f.idle_close, 2000ms);
  EXPECT_EQ(f.max_age, 1500ms);
  EXPECT_EQ(f.reset_probability, 0.25);
  EXPECT_FALSE(f.accepting);
  EXPECT_EQ(f.accept_delay, 2ms);
  EXPECT_EQ(config->stall, 300ms);
  EXPECT_EQ(f.stall, 300ms) << "with --stall-every, --stall is also each periodic stall";
  EXPECT_EQ(f.stall_every, 5s);
  EXPECT_EQ(f.restart_every, 10s);
  EXPECT_EQ(f.restart_downtime, 200ms);
  EXPECT_TRUE(config->quiet);
  EXPECT_FALSE(config->help);
}

TEST(EchoCli, AcceptsTheEdgesOfEachRange) {
  auto config = parse({"--port", "65535", "--reset-prob", "1", "--buffer", "1"});
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->server.port, 65535);
  EXPECT_EQ(config->server.faults.reset_probability, 1.0);
  EXPECT_EQ(config->server.buffer_bytes, 1u);
  config = parse({"--reset-prob", "0", "--stall", "0ms"});
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->server.faults.reset_probability, 0.0);
  EXPECT_EQ(config->stall, Clock::duration::zero());
}

TEST(EchoCli, HelpIsRecognisedInBothSpellings) {
  for (std::string_view flag : {"--help", "-h"}) {
    auto config = parse({"--port", "1", flag});
    ASSERT_TRUE(config) << config.error();
    EXPECT_TRUE(config->help) << flag;
  }
}

TEST(EchoCli, ParseDurationTakesUsMsAndS) {
  EXPECT_EQ(parse_duration("250us"), Clock::duration(250us));
  EXPECT_EQ(parse_duration("50ms"), Clock::duration(50ms));
  EXPECT_EQ(parse_duration("2s"), Clock::duration(2s));
  EXPECT_EQ(parse_duration("0s"), Clock::duration::zero());
}

TEST(EchoCli, ParseDurationSaysWhatIsWrong) {
  auto no_unit = parse_duration("50");
  ASSERT_FALSE(no_unit);
  EXPECT_THAT(no_unit.error(), HasSubstr("missing unit"));
  auto bad_unit = parse_duration("5m");
  ASSERT_FALSE(bad_unit);
  EXPECT_THAT(bad_unit.error(), HasSubstr("unknown unit 'm'"));
  for (std::string_view text : {"", "ms", "-5ms", "x5s", " 5s"}) {
    auto d = parse_duration(text);
    ASSERT_FALSE(d) << "'" << text << "' parsed";
    EXPECT_THAT(d.error(), HasSubstr("expected a duration")) << "'" << text << "'";
  }
  EXPECT_FALSE(parse_duration("1.5s"));
  EXPECT_FALSE(parse_duration("5 ms"));
  EXPECT_FALSE(parse_duration("99999999999999999999s"));
}

TEST(EchoCli, BadNumbersNameTheFlagAndTheValue) {
  EXPECT_THAT(error_of({"--port", "70000"}), HasSubstr("--port: expected a number in 0..65535"));
  EXPECT_THAT(error_of({"--port", "70000"}), HasSubstr("70000"));
  EXPECT_THAT(error_of({"--port", "-1"}), HasSubstr("--port:"));
  EXPECT_THAT(error_of({"--port", "80x"}), HasSubstr("--port:"));
  EXPECT_THAT(error_of({"--port", ""}), HasSubstr("--port:"));
  // The message states the range that is really accepted: 0 is not in it.
  EXPECT_THAT(error_of({"--buffer", "0"}),
              HasSubstr("--buffer: expected a number in 1..1073741824, got '0'"));
  EXPECT_THAT(error_of({"--buffer", "1073741825"}),
              HasSubstr("--buffer: expected a number in 1.."));
  EXPECT_THAT(error_of({"--backlog", "0"}), HasSubstr("--backlog: expected a number in 1..65535"));
  EXPECT_THAT(error_of({"--backlog", "65536"}), HasSubstr("--backlog:"));
  EXPECT_THAT(error_of({"--max-memory", "0"}), HasSubstr("--max-memory:"));
  EXPECT_THAT(error_of({"--max-memory", "100", "--buffer", "4096"}),
              HasSubstr("--max-memory: 100 bytes is less than one connection's buffer (--buffer"));
  EXPECT_THAT(error_of({"--buffer", "lots"}), HasSubstr("--buffer:"));
  EXPECT_THAT(error_of({"--max-conns", "many"}), HasSubstr("--max-conns:"));
  EXPECT_THAT(error_of({"--seed", "-3"}), HasSubstr("--seed:"));
}

// The same rule as an endpoint's port (net::HostPort): "00080" is no port, rather than 80.
TEST(EchoCli, PortsWithLeadingZerosAreRefusedAndSaySo) {
  for (std::string_view port : {"00080", "080", "00", "065535"}) {
    EXPECT_THAT(error_of({"--port", port}),
                HasSubstr("--port: expected a number in 0..65535 without leading zeros, got '" +
                          std::string(port) + "'"));
  }
  auto zero = parse({"--port", "0"});
  ASSERT_TRUE(zero) << zero.error();
  EXPECT_EQ(zero->server.port, 0);
  auto eighty = parse({"--port", "80"});
  ASSERT_TRUE(eighty) << eighty.error();
  EXPECT_EQ(eighty->server.port, 80);
}

// --address takes the host grammar of common/net/endpoint.hpp, and says what is wrong at once.
TEST(EchoCli, AddressTakesTheEndpointHostGrammar) {
  for (std::string_view address : {"127.0.0.1", "0.0.0.0", "::1", "[::1]", "[::]", "localhost"}) {
    auto config = parse({"--address", address});
    ASSERT_TRUE(config) << address << ": " << config.error();
    EXPECT_EQ(config->server.address, address);
  }
  for (std::string_view address :
       {"not an address", "0x7f000001", "127.1", "[127.0.0.1]", "127.0.0.1:80", "[::1]:80", ""}) {
    std::string error = error_of({"--address", address});
    EXPECT_THAT(error, HasSubstr("--address: '" + std::string(address) + "': bad host")) << error;
  }
}

TEST(EchoCli, BadProbabilitiesNameTheFlag) {
  for (std::string_view p : {"1.5", "-0.1", "nan", "half", "0.5x"}) {
    std::string error = error_of({"--reset-prob", p});
    EXPECT_THAT(error, HasSubstr("--reset-prob: expected a probability in [0, 1]")) << p;
    EXPECT_THAT(error, HasSubstr(std::string(p))) << p;
  }
}

TEST(EchoCli, BadDurationsNameTheFlagAndTheReason) {
  EXPECT_THAT(error_of({"--latency", "50"}), HasSubstr("--latency: missing unit in '50'"));
  EXPECT_THAT(error_of({"--idle-close", "5m"}), HasSubstr("--idle-close: unknown unit 'm'"));
  for (std::string_view flag :
       {"--latency", "--idle-close", "--max-age", "--stall", "--stall-every", "--restart-every",
        "--restart-downtime", "--accept-delay"}) {
    EXPECT_THAT(error_of({flag, "soon"}), HasSubstr(std::string(flag) + ": expected a duration"));
  }
}

// The idle and age timers count whole milliseconds: a shorter value would silently be zero.
TEST(EchoCli, SubMillisecondIdleAndAgeLimitsAreRejected) {
  EXPECT_THAT(error_of({"--idle-close", "500us"}),
              HasSubstr("--idle-close: must be a whole number of milliseconds, got '500us'"));
  EXPECT_THAT(error_of({"--max-age", "1500us"}),
              HasSubstr("--max-age: must be a whole number of milliseconds"));
  auto ok = parse({"--idle-close", "1000us", "--max-age", "0ms"});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->server.faults.idle_close, std::chrono::milliseconds(1));
  EXPECT_EQ(ok->server.faults.max_age, std::chrono::milliseconds(0));
}

TEST(EchoCli, UnknownFlagsAndArgumentsAreRejected) {
  EXPECT_THAT(error_of({"--frobnicate", "1"}), HasSubstr("unknown flag '--frobnicate'"));
  EXPECT_THAT(error_of({"--frobnicate", "5ms"}), HasSubstr("unknown flag '--frobnicate'"));
  EXPECT_THAT(error_of({"--frobnicate"}), HasSubstr("unknown flag '--frobnicate'"));
  EXPECT_THAT(error_of({"stray"}), HasSubstr("unexpected argument 'stray'"));
  EXPECT_THAT(error_of({"-p", "7"}), HasSubstr("'-p'"));
}

// Found by fuzzing (fuzz/regressions/echo_cli/): a control byte in an argument went into the
// message as it was, so a newline split it and an escape sequence could act on the terminal.
TEST(EchoCli, ErrorsShowControlBytesEscaped) {
  EXPECT_EQ(error_of({"--port", "1\n2"}),
            "--port: expected a number in 0..65535 without leading zeros, got '1\\x0a2'");
  EXPECT_EQ(error_of({"--stall-every\x1f"
                      "50ms"}),
            "unknown flag '--stall-every\\x1f50ms' (see --help)");
  EXPECT_EQ(error_of({"\x1b[2J"}), "unexpected argument '\\x1b[2J'");
  EXPECT_THAT(error_of({"--address", "a\tb"}), HasSubstr("--address: 'a\\x09b': "));
  EXPECT_THAT(error_of({"--latency", "5\xffms"}), HasSubstr("unknown unit '\\xffms'"));
}

TEST(EchoCli, AMissingValueNamesTheFlag) {
  for (std::string_view flag : {"--address", "--port", "--buffer", "--max-conns", "--reset-prob",
                                "--seed", "--latency", "--idle-close", "--max-age", "--stall"}) {
    EXPECT_THAT(error_of({"--quiet", flag}), HasSubstr(std::string(flag) + ": missing value"));
  }
}

TEST(EchoCli, FlagsThatNeedAnotherSaySo) {
  EXPECT_THAT(error_of({"--stall-every", "1s"}), HasSubstr("--stall-every: needs --stall"));
  EXPECT_TRUE(parse({"--stall-every", "1s", "--stall", "100ms"}));
  EXPECT_THAT(error_of({"--restart-downtime", "1s"}),
              HasSubstr("--restart-downtime: needs --restart-every"));
  EXPECT_TRUE(parse({"--restart-downtime", "1s", "--restart-every", "5s"}));
  EXPECT_THAT(error_of({"--restart-downtime", "2s", "--restart-every", "1s"}),
              HasSubstr("--restart-downtime: 2s is not shorter than --restart-every (1s)"));
}

// Combinations that would freeze or spin the server are refused before it starts, with the
// same rules (and messages, in flag names) as Faults::validate() applies to the API.
TEST(EchoCli, StallsThatWouldFreezeOrSpinTheServerAreRejected) {
  // A 100 ms stall every 50 ms never ends: the server would freeze for good.
  EXPECT_THAT(error_of({"--stall", "100ms", "--stall-every", "50ms"}),
              HasSubstr("--stall: 100ms is not shorter than --stall-every (50ms): the server "
                        "would never run between stalls"));
  EXPECT_THAT(error_of({"--stall", "50ms", "--stall-every", "50ms"}),
              HasSubstr("--stall: 50ms is not shorter than --stall-every"));
  // A 1 us stall every 1 us spins the loop: periods have a minimum.
  EXPECT_THAT(error_of({"--stall", "1us", "--stall-every", "1us"}), HasSubstr("--stall"));
  EXPECT_THAT(error_of({"--stall", "1ms", "--stall-every", "5ms"}),
              HasSubstr("--stall-every: must be between 10ms and 24h, got 5ms"));
  EXPECT_THAT(error_of({"--stall", "1ms", "--stall-every", "90000s"}),
              HasSubstr("--stall-every: must be between 10ms and 24h, got 25h"));
  EXPECT_THAT(error_of({"--restart-every", "10ms"}),
              HasSubstr("--restart-every: must be between 100ms and 24h, got 10ms"));
  EXPECT_THAT(error_of({"--stall", "7200s"}), HasSubstr("--stall: must be at most 1h"));
  EXPECT_TRUE(parse({"--stall", "9ms", "--stall-every", "10ms"}));
}

// Every duration has a stated maximum, so none can overflow a timer.
TEST(EchoCli, DurationsAboveTheirMaximumAreRejected) {
  EXPECT_THAT(error_of({"--latency", "11s"}),
              HasSubstr("--latency: must be between 0s and 10s, got 11s"));
  EXPECT_THAT(error_of({"--idle-close", "1000000000s"}),
              HasSubstr("--idle-close: must be between 0s and 24h"));
  EXPECT_THAT(error_of({"--max-age", "90000s"}),
              HasSubstr("--max-age: must be between 0s and 24h"));
  EXPECT_THAT(error_of({"--accept-delay", "11s"}), HasSubstr("--accept-delay:"));
  EXPECT_THAT(error_of({"--restart-every", "1s", "--restart-downtime", "7200s"}),
              HasSubstr("--restart-downtime:"));
}

TEST(EchoCli, UsageDescribesEveryFlag) {
  std::string text = usage();
  EXPECT_THAT(text, HasSubstr("Usage: echo_server"));
  for (std::string_view flag :
       {"--address",    "--port",        "--backlog",       "--buffer",
        "--max-memory", "--max-conns",   "--latency",       "--idle-close",
        "--max-age",    "--reset-prob",  "--seed",          "--accept-delay",
        "--stall",      "--stall-every", "--restart-every", "--restart-downtime",
        "--no-accept",  "--quiet",       "--help",          "SIGUSR1",
        "SIGTERM"}) {
    EXPECT_THAT(text, HasSubstr(std::string(flag)));
  }
  EXPECT_THAT(text, HasSubstr("default 7007"));
}

TEST(EchoCli, FormatStatsShowsEveryCounterAndCloseCause) {
  Stats stats;
  stats.accepted = 3;
  stats.active = 1;
  stats.peak = 2;
  stats.limit = 500;
  stats.bytes_in = 100;
  stats.bytes_out = 90;
  stats.buffered = 10;
  stats.stalls = 4;
  stats.restarts = 5;
  stats.turns = 6;
  stats.loop_errors = 7;
  for (std::size_t i = 0; i < kCloseCauses; ++i) stats.closes[i] = 10 + i;
  std::string line = format_stats(stats);
  EXPECT_THAT(line, HasSubstr("accepted=3 active=1 peak=2 limit=500 bytes_in=100 bytes_out=90 "
                              "buffered=10 stalls=4 restarts=5 turns=6 loop_errors=7 closes:"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (std::size_t i = 0; i < kCloseCauses; ++i) {
    EXPECT_THAT(line, HasSubstr(std::string(" ") + to_string(static_cast<CloseCause>(i)) + "=" +
                                std::to_string(10 + i)));
  }
  EXPECT_THAT(line, HasSubstr("closes: client_eof=10 idle=11 max_age=12 reset=13 over_limit=14 "
                              "restart=15 error=16 shutdown=17 no_memory=18 no_fd=19 shed=20"));
}

}  // namespace
}  // namespace tcppool::echo
