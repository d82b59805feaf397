// common/echo/cli.cpp: parsing the echo_server command line.
#include "common/echo/cli.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <utility>

#include "common/net/endpoint.hpp"

namespace tcppool::echo {
namespace {

template <typename T>
std::expected<T, std::string> parse_number(std::string_view text, T max) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value > max) {
    return std::unexpected("expected a number in 0.." + std::to_string(max) + ", got '" +
                           std::string(text) + "'");
  }
  return value;
}

std::expected<double, std::string> parse_probability(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !(value >= 0.0 && value <= 1.0)) {
    return std::unexpected("expected a probability in [0, 1], got '" + std::string(text) + "'");
  }
  return value;
}

}  // namespace

std::expected<Clock::duration, std::string> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0)
    return std::unexpected("expected a duration such as 250us, 50ms or 2s, got '" +
                           std::string(text) + "'");
  auto count = parse_number<std::int64_t>(text.substr(0, digits), 1'000'000'000);
  if (!count) return std::unexpected(count.error());
  std::string_view unit = text.substr(digits);
  using namespace std::chrono;
  if (unit == "us") return duration_cast<Clock::duration>(microseconds(*count));
  if (unit == "ms") return duration_cast<Clock::duration>(milliseconds(*count));
  if (unit == "s") return duration_cast<Clock::duration>(seconds(*count));
  if (unit.empty()) {
    return std::unexpected("missing unit in '" + std::string(text) + "': use us, ms or s");
  }
  return std::unexpected("unknown unit '" + std::string(unit) + "' in '" + std::string(text) +
                         "': use us, ms or s");
}

namespace {

// Sets one field of `config` from a flag's value, or returns why the value is wrong.
using Setter = std::expected<void, std::string> (*)(std::string_view value, CliConfig& config);

// Whole milliseconds: the server's idle and age timers have millisecond resolution, so a
// shorter value would silently turn the fault off.
std::expected<std::chrono::milliseconds, std::string> parse_millis(std::string_view text) {
  auto d = parse_duration(text);
  if (!d) return std::unexpected(d.error());
  if (*d % std::chrono::milliseconds(1) != Clock::duration::zero()) {
    return std::unexpected("must be a whole number of milliseconds, got '" + std::string(text) +
                           "'");
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

template <typename T, typename Field>
std::expected<void, std::string> assign(std::expected<T, std::string> parsed, Field& field) {
  if (!parsed) return std::unexpected(parsed.error());
  field = *parsed;
  return {};
}

// The flags that take a value, and what each sets.
constexpr std::pair<std::string_view, Setter> kValueFlags[] = {
    {"--address",
     [](std::string_view v, CliConfig& c) -> std::expected<void, std::string> {
       // The host grammar of net::HostPort, checked here so a typo fails before anything runs.
       if (auto host = net::HostPort::parse_host(v, 0); !host) {
         return std::unexpected("'" + std::string(v) + "': " + host.error().message());
       }
       c.server.address = std::string(v);
       return {};
     }},
    {"--port",
     [](std::string_view v, CliConfig& c) -> std::expected<void, std::string> {
       // As in net::HostPort: decimal without leading zeros, so "00080" is refused, not 80.
       auto port = parse_number<std::uint16_t>(v, 65535);
       if (!port || (v.size() > 1 && v.front() == '0')) {
         return std::unexpected("expected a number in 0..65535 without leading zeros, got '" +
                                std::string(v) + "'");
       }
       c.server.port = *port;
       return {};
     }},
    {"--buffer",
     [](std::string_view v, CliConfig& c) -> std::expected<void, std::string> {
       auto n = parse_number<std::size_t>(v, std::size_t{1} << 30);
       if (n && *n == 0) return std::unexpected("must be at least 1");
       return assign(n, c.server.buffer_bytes);
     }},
    {"--max-conns",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_number<std::size_t>(v, 1'000'000), c.server.faults.max_connections);
     }},
    {"--reset-prob",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_probability(v), c.server.faults.reset_probability);
     }},
    {"--seed",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_number<std::uint64_t>(v, std::numeric_limits<std::uint64_t>::max()),
                     c.server.seed);
     }},
    {"--latency",
     [](std::string_view v, CliConfig& c) -> std::expected<void, std::string> {
       auto d = parse_duration(v);
       if (!d) return std::unexpected(d.error());
       c.server.faults.latency = std::chrono::duration_cast<std::chrono::microseconds>(*d);
       return {};
     }},
    {"--idle-close",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_millis(v), c.server.faults.idle_close);
     }},
    {"--max-age", [](std::string_view v,
                     CliConfig& c) { return assign(parse_millis(v), c.server.faults.max_age); }},
    {"--stall",
     [](std::string_view v, CliConfig& c) { return assign(parse_duration(v), c.stall); }},
    {"--stall-every",
     [](std::string_view v, CliConfig& c) { return assign(parse_duration(v), c.stall_every); }},
    {"--restart-every",
     [](std::string_view v, CliConfig& c) { return assign(parse_duration(v), c.restart_every); }},
    {"--restart-downtime",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_duration(v), c.restart_downtime);
     }},
};

}  // namespace

std::expected<CliConfig, std::string> parse_cli(std::span<const std::string_view> args) {
  CliConfig config;
  config.server.port = 7007;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    if (flag == "-h" || flag == "--help") {
      config.help = true;
      continue;
    }
    if (flag == "--quiet") {
      config.quiet = true;
      continue;
    }
    if (flag == "--no-accept") {
      config.server.faults.accepting = false;
      continue;
    }
    if (!flag.starts_with("--")) {
      return std::unexpected("unexpected argument '" + std::string(flag) + "'");
    }
    auto known = std::ranges::find(kValueFlags, flag, &std::pair<std::string_view, Setter>::first);
    if (known == std::end(kValueFlags)) {
      return std::unexpected("unknown flag '" + std::string(flag) + "' (see --help)");
    }
    if (i + 1 >= args.size()) return std::unexpected(std::string(flag) + ": missing value");
    if (auto set = known->second(args[++i], config); !set) {
      return std::unexpected(std::string(flag) + ": " + set.error());
    }
  }
  if (config.stall_every.count() > 0 && config.stall.count() == 0) {
    return std::unexpected("--stall-every: needs --stall (how long each stall lasts)");
  }
  if (config.restart_downtime.count() > 0 && config.restart_every.count() == 0) {
    return std::unexpected("--restart-downtime: needs --restart-every");
  }
  if (config.restart_every.count() > 0 && config.restart_downtime >= config.restart_every) {
    return std::unexpected(
        "--restart-downtime: must be shorter than --restart-every, or the port never comes back");
  }
  try {
    config.server.validate();
  } catch (const std::invalid_argument& e) {
    return std::unexpected(e.what());
  }
  return config;
}

std::string usage() {
  return R"(Usage: echo_server [options]

An RFC 862 echo server (every byte sent comes back) with fault injection, for exercising
connection pools. Single-threaded, non-blocking, poll().

Options:
  --address ADDR          address to bind (default 127.0.0.1)
  --port N                port to bind; 0 picks a free one (default 7007)
  --buffer BYTES          per-connection buffer; reading pauses while it is full (default 65536)
  --max-conns N           close new connections while N are open (default: no limit)
  --latency DUR           delay every echo by DUR
  --idle-close DUR        close connections that moved no bytes for DUR
  --max-age DUR           close connections DUR after accepting them
  --reset-prob P          for each read, reset (RST) the connection instead with probability P
  --seed N                seed for --reset-prob (default 1)
  --stall DUR             freeze (no accept, read or write) for DUR, once at start ...
  --stall-every DUR       ... or every DUR
  --restart-every DUR     close everything and listen again on the same port every DUR
  --restart-downtime DUR  refuse connections for DUR during each restart (default 0)
  --no-accept             start without accepting (SIGUSR2 toggles accepting)
  --quiet                 print nothing but errors
  -h, --help              show this text

DUR is a whole number with a unit: 250us, 50ms, 2s.

Signals: SIGUSR1 prints the counters to stderr, SIGUSR2 toggles accepting,
SIGINT and SIGTERM close every connection and exit 0.

Example:
  echo_server --port 7007 --idle-close 5s &
  printf hello | nc -q1 127.0.0.1 7007
)";
}

std::string format_stats(const Stats& stats) {
  std::string line =
      "accepted=" + std::to_string(stats.accepted) + " active=" + std::to_string(stats.active) +
      " peak=" + std::to_string(stats.peak) + " bytes_in=" + std::to_string(stats.bytes_in) +
      " bytes_out=" + std::to_string(stats.bytes_out) +
      " buffered=" + std::to_string(stats.buffered) + " closes:";
  for (std::size_t i = 0; i < kCloseCauses; ++i) {
    line += std::string(" ") + to_string(static_cast<CloseCause>(i)) + "=" +
            std::to_string(stats.closes[i]);
  }
  return line;
}

}  // namespace tcppool::echo
