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

// Returns what the user typed, for a message: in single quotes, each byte that is not
// printable ASCII written as \xNN, so that a control character in an argument can neither
// split the message nor act on the terminal.
std::string shown(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out.append("\\x").append(1, kHex[byte >> 4]).append(1, kHex[byte & 0xf]);
    }
  }
  return out + "'";
}

template <typename T>
std::expected<T, std::string> parse_number(std::string_view text, T max) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value > max) {
    return std::unexpected("expected a number in 0.." + std::to_string(max) + ", got " +
                           shown(text));
  }
  return value;
}

// A count in min..max; the message states the range that is really accepted.
std::expected<std::size_t, std::string> parse_count(std::string_view text, std::size_t min,
                                                    std::size_t max) {
  auto n = parse_number<std::size_t>(text, max);
  if (!n || *n < min) {
    return std::unexpected("expected a number in " + std::to_string(min) + ".." +
                           std::to_string(max) + ", got " + shown(text));
  }
  return *n;
}

std::expected<double, std::string> parse_probability(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !(value >= 0.0 && value <= 1.0)) {
    return std::unexpected("expected a probability in [0, 1], got " + shown(text));
  }
  return value;
}

}  // namespace

std::expected<Clock::duration, std::string> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0)
    return std::unexpected("expected a duration such as 250us, 50ms or 2s, got " + shown(text));
  auto count = parse_number<std::int64_t>(text.substr(0, digits), 1'000'000'000);
  if (!count) return std::unexpected(count.error());
  std::string_view unit = text.substr(digits);
  using namespace std::chrono;
  if (unit == "us") return duration_cast<Clock::duration>(microseconds(*count));
  if (unit == "ms") return duration_cast<Clock::duration>(milliseconds(*count));
  if (unit == "s") return duration_cast<Clock::duration>(seconds(*count));
  if (unit.empty()) {
    return std::unexpected("missing unit in " + shown(text) + ": use us, ms or s");
  }
  return std::unexpected("unknown unit " + shown(unit) + " in " + shown(text) +
                         ": use us, ms or s");
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
    return std::unexpected("must be a whole number of milliseconds, got " + shown(text));
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
         return std::unexpected(shown(v) + ": " + host.error().message());
       }
       c.server.address = std::string(v);
       return {};
     }},
    {"--port",
     [](std::string_view v, CliConfig& c) -> std::expected<void, std::string> {
       // As in net::HostPort: decimal without leading zeros, so "00080" is refused, not 80.
       auto port = parse_number<std::uint16_t>(v, 65535);
       if (!port || (v.size() > 1 && v.front() == '0')) {
         return std::unexpected("expected a number in 0..65535 without leading zeros, got " +
                                shown(v));
       }
       c.server.port = *port;
       return {};
     }},
    {"--buffer",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_count(v, 1, Limits::kMaxBufferBytes), c.server.buffer_bytes);
     }},
    {"--backlog",
     [](std::string_view v, CliConfig& c) -> std::expected<void, std::string> {
       auto n = parse_count(v, 1, 65535);
       if (!n) return std::unexpected(n.error());
       c.server.backlog = static_cast<int>(*n);
       return {};
     }},
    {"--max-memory",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_count(v, 1, std::numeric_limits<std::size_t>::max()),
                     c.server.max_memory);
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
    {"--accept-delay",
     [](std::string_view v, CliConfig& c) -> std::expected<void, std::string> {
       auto d = parse_duration(v);
       if (!d) return std::unexpected(d.error());
       c.server.faults.accept_delay = std::chrono::duration_cast<std::chrono::microseconds>(*d);
       return {};
     }},
    {"--stall",
     [](std::string_view v, CliConfig& c) { return assign(parse_duration(v), c.stall); }},
    {"--stall-every",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_millis(v), c.server.faults.stall_every);
     }},
    {"--restart-every",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_millis(v), c.server.faults.restart_every);
     }},
    {"--restart-downtime",
     [](std::string_view v, CliConfig& c) {
       return assign(parse_millis(v), c.server.faults.restart_downtime);
     }},
};

// The server's checks name Options fields; on the command line the same message names flags.
// Longer names first, so that "faults.stall_every" is not read as "faults.stall".
constexpr std::pair<std::string_view, std::string_view> kFieldFlags[] = {
    {"faults.restart_downtime", "--restart-downtime"},
    {"faults.restart_every", "--restart-every"},
    {"faults.reset_probability", "--reset-prob"},
    {"faults.max_connections", "--max-conns"},
    {"faults.accept_delay", "--accept-delay"},
    {"faults.stall_every", "--stall-every"},
    {"faults.idle_close", "--idle-close"},
    {"faults.max_age", "--max-age"},
    {"faults.latency", "--latency"},
    {"faults.stall", "--stall"},
    {"buffer_bytes", "--buffer"},
    {"max_memory", "--max-memory"},
    {"backlog", "--backlog"},
};

std::string flag_names(std::string message) {
  for (auto [field, flag] : kFieldFlags) {
    for (auto at = message.find(field); at != std::string::npos; at = message.find(field, at)) {
      message.replace(at, field.size(), flag);
      at += flag.size();
    }
  }
  return message;
}

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
      return std::unexpected("unexpected argument " + shown(flag));
    }
    auto known = std::ranges::find(kValueFlags, flag, &std::pair<std::string_view, Setter>::first);
    if (known == std::end(kValueFlags)) {
      return std::unexpected("unknown flag " + shown(flag) + " (see --help)");
    }
    if (i + 1 >= args.size()) return std::unexpected(std::string(flag) + ": missing value");
    if (auto set = known->second(args[++i], config); !set) {
      return std::unexpected(std::string(flag) + ": " + set.error());
    }
  }
  // --stall is a stall at start; with --stall-every it is also the length of each periodic
  // stall, which the server checks (whole milliseconds, shorter than the period).
  Faults& f = config.server.faults;
  if (f.stall_every.count() > 0) {
    if (config.stall.count() == 0) return std::unexpected("--stall-every: needs --stall");
    if (config.stall % std::chrono::milliseconds(1) != Clock::duration::zero()) {
      return std::unexpected("--stall: must be a whole number of milliseconds with --stall-every");
    }
    f.stall = std::chrono::duration_cast<std::chrono::milliseconds>(config.stall);
  } else if (config.stall > Limits::kMaxStall) {
    return std::unexpected("--stall: must be at most 1h");
  }
  try {
    config.server.validate();
  } catch (const std::invalid_argument& e) {
    return std::unexpected(flag_names(e.what()));
  }
  return config;
}

std::string usage() {
  return R"(Usage: echo_server [options]

An RFC 862 echo server (every byte sent comes back) with fault injection, for exercising
connection pools. Single-threaded, non-blocking, poll().

Options:
  --address ADDR          address to bind: 127.0.0.1, [::1] or ::1, fe80::1%eth0, a name
                          (default 127.0.0.1)
  --port N                port to bind; 0 picks a free one (default 7007)
  --backlog N             listen() backlog, 1..65535 (default 1024)
  --buffer BYTES          per-connection buffer, 1..1073741824; reading pauses while it is
                          full (default 65536)
  --max-memory BYTES      memory all buffers may take together (default: 1 GiB, or half of
                          ulimit -v when lower); with the descriptor limit it caps connections
  --max-conns N           close new connections while N are open (default: the server's cap)
  --latency DUR           delay every echo by DUR (at most 10s)
  --idle-close DUR        close connections that moved no bytes for DUR
  --max-age DUR           close connections DUR after accepting them
  --reset-prob P          for each read, reset (RST) the connection instead with probability P
  --seed N                seed for --reset-prob (default 1)
  --accept-delay DUR      accept at most one connection per DUR (a slow accept(): the
                          backlog fills and SYNs beyond it are dropped)
  --stall DUR             freeze (no accept, read or write) for DUR at start ...
  --stall-every DUR       ... and again every DUR (at least 10ms, longer than --stall)
  --restart-every DUR     close everything and listen again on the same port every DUR
                          (at least 100ms)
  --restart-downtime DUR  refuse connections for DUR during each restart (default 0)
  --no-accept             start without accepting (SIGUSR2 toggles accepting)
  --quiet                 print nothing but errors
  -h, --help              show this text

DUR is a whole number with a unit: 250us, 50ms, 2s. Periods and limits (--idle-close,
--max-age, --stall-every, --restart-every) are whole milliseconds, at most 24h; a stall or
a downtime is at most 1h.

Signals: SIGUSR1 prints the counters to stderr, SIGUSR2 toggles accepting,
SIGINT and SIGTERM close every connection and exit 0.

Example:
  echo_server --port 7007 --idle-close 5s &
  printf hello | nc -q1 127.0.0.1 7007
)";
}

std::string format_stats(const Stats& stats) {
  std::string line;
  auto add = [&line](const char* name, std::uint64_t value) {
    line += (line.empty() ? "" : " ") + std::string(name) + "=" + std::to_string(value);
  };
  add("accepted", stats.accepted);
  add("active", stats.active);
  add("peak", stats.peak);
  add("limit", stats.limit);
  add("bytes_in", stats.bytes_in);
  add("bytes_out", stats.bytes_out);
  add("buffered", stats.buffered);
  add("stalls", stats.stalls);
  add("restarts", stats.restarts);
  add("turns", stats.turns);
  add("loop_errors", stats.loop_errors);
  line += " closes:";
  for (std::size_t i = 0; i < kCloseCauses; ++i) {
    line += std::string(" ") + to_string(static_cast<CloseCause>(i)) + "=" +
            std::to_string(stats.closes[i]);
  }
  return line;
}

}  // namespace tcppool::echo
