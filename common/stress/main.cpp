// common/stress/main.cpp: the command line of every stage's stress binary.
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/echo/cli.hpp"
#include "common/stress/format.hpp"
#include "common/stress/stress.hpp"

namespace tcppool::stress {
namespace {

constexpr const char* kUsage = R"(usage: %s [--quick] [--requests=N] [--time-limit=DURATION]
          [--threads=N] [--pool-size=N] [--seed=N]

Verified echoes through this stage's pool while the echo server cycles through its faults
(see docs/stress.md). Exits 0 when no invariant was violated, 1 when one was, 2 for a bad
command line.

  --quick               the short run CI makes (make stress-quick)
  --requests=N          verified echoes to reach (full: 1000000, quick: 20000)
  --time-limit=DURATION the run ends here at the latest, failed if short of N
                        (full: 240s, quick: 120s)
  --threads=N           caller threads (64)
  --pool-size=N         max_open and max_idle of the pool (8)
  --seed=N              payload sizes, deadlines, cancellations, server resets (1)
)";

// Parses a whole number in [lo, hi]; fails with the reason.
bool parse_number(std::string_view text, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= lo && out <= hi;
}

}  // namespace

int stress_main(int argc, char** argv, const StageInfo& stage) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick = quick || std::string_view(argv[i]) == "--quick";
  Config config = Config::for_mode(quick, stage.cancels);
  config.name = stage.name;
  auto bad = [&](const std::string& flag, const std::string& why) {
    std::fprintf(stderr, "%s: %s: %s\n", argv[0], flag.c_str(), why.c_str());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view flag = arg.substr(0, arg.find('='));
    std::string_view value = arg.find('=') == std::string_view::npos
                                 ? std::string_view()
                                 : arg.substr(arg.find('=') + 1);
    std::uint64_t n = 0;
    auto number = [&](std::uint64_t lo, std::uint64_t hi) {
      return parse_number(value, lo, hi, n);
    };
    auto expected = [&](std::uint64_t lo, std::uint64_t hi) {
      return "expected a whole number in " + std::to_string(lo) + ".." + std::to_string(hi) +
             ", got '" + std::string(value) + "'";
    };
    if (arg == "--help" || arg == "-h") {
      std::printf(kUsage, argv[0]);
      return 0;
    } else if (arg == "--quick") {
    } else if (flag == "--requests") {
      if (!number(1, 1'000'000'000)) return bad("--requests", expected(1, 1'000'000'000));
      config.requests = n;
    } else if (flag == "--threads") {
      if (!number(1, 1024)) return bad("--threads", expected(1, 1024));
      config.threads = static_cast<int>(n);
    } else if (flag == "--pool-size") {
      if (!number(1, 4096)) return bad("--pool-size", expected(1, 4096));
      config.pool_size = n;
    } else if (flag == "--seed") {
      if (!number(0, UINT64_MAX)) return bad("--seed", expected(0, UINT64_MAX));
      config.seed = n;
    } else if (flag == "--time-limit") {
      auto d = echo::parse_duration(value);
      if (!d) return bad("--time-limit", d.error());
      if (*d <= Clock::duration::zero() || *d > std::chrono::hours(24)) {
        return bad("--time-limit",
                   "must be positive and at most 24h, got '" + std::string(value) + "'");
      }
      config.time_limit = *d;
    } else {
      return bad(std::string(flag), "unknown flag (see --help)");
    }
  }
  config.validate();

  std::fprintf(stderr, "%s: stress (%s): %s verified echoes or %s, %d threads, pool of %zu%s\n",
               config.name.c_str(), quick ? "quick" : "full",
               format::thousands(config.requests).c_str(),
               format::seconds(config.time_limit).c_str(), config.threads, config.pool_size,
               stage.cancels ? ", callers cancel and time out after the first cycle" : "");
  Result result = run_stress(config, stage.make_pool);
  print_summary(stdout, config, result);
  std::fflush(stdout);
  return result.passed() ? 0 : 1;
}

}  // namespace tcppool::stress
