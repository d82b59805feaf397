// Tests for stage6-metrics/exposition.hpp: the family table and its OpenTelemetry names, every
// value of every family read back from a page of two pools, escaping, histograms, the order of
// the page, promtool's verdict, and the test parser's own rejections (common/testing/
// prometheus.hpp). Stats are built by hand with a distinct value in every field, so a value
// written under the wrong name cannot pass; no pool is needed.
#include "exposition.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/testing/child_process.hpp"
#include "common/testing/prometheus.hpp"

namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
namespace stage = tcppool::stage6;
namespace prom = tcppool::testing::prometheus;
using prom::Labels;
using stage::CloseReason;
using stage::HistogramSnapshot;
using stage::Stats;

constexpr std::size_t kReasons = static_cast<std::size_t>(CloseReason::kCount);

// The `le` text of every bound these tests use, as Prometheus's Go client writes it
// (strconv.FormatFloat(v, 'g', -1, 64)): the expected side, written out by hand.
const std::map<nanoseconds, std::string>& le_texts() {
  static const std::map<nanoseconds, std::string> m = {
      {1us, "1e-06"},
      {2500ns, "2.5e-06"},
      {5us, "5e-06"},
      {10us, "1e-05"},
      {25us, "2.5e-05"},
      {50us, "5e-05"},
      {100us, "0.0001"},
      {250us, "0.00025"},
      {500us, "0.0005"},
      {1ms, "0.001"},
      {2500us, "0.0025"},
      {5ms, "0.005"},
      {10ms, "0.01"},
      {25ms, "0.025"},
      {50ms, "0.05"},
      {100ms, "0.1"},
      {250ms, "0.25"},
      {500ms, "0.5"},
      {1s, "1"},
      {2500ms, "2.5"},
      {5s, "5"},
      {10s, "10"},
      {250ns, "2.5e-07"},
      {1000s, "1000"},
      {1'000'000s, "1e+06"},
      {123456789ns, "0.123456789"},
  };
  return m;
}

HistogramSnapshot histogram(std::vector<nanoseconds> bounds, std::vector<std::uint64_t> counts,
                            nanoseconds sum) {
  return HistogramSnapshot{.bounds = std::move(bounds), .counts = std::move(counts), .sum = sum};
}

// A Stats whose every gauge and counter is `base + k` for its own k, and whose histograms have
// counts of their own: no two fields of one pool, or of two pools with different bases, agree.
Stats distinctive_stats(std::string name, std::uint64_t base) {
  Stats s;
  s.pool = std::move(name);
  std::uint64_t k = base;
  s.open = k++;
  s.idle = k++;
  s.in_use = k++;
  s.dialing = k++;
  s.checking = k++;
  s.waiting = k++;
  s.max_open = k++;
  s.max_idle = k++;
  s.min_idle = k++;
  s.acquires = k++;
  s.acquires_waited = k++;
  s.acquire_timeouts = k++;
  s.acquire_cancellations = k++;
  s.acquire_failures = k++;
  s.dials = k++;
  s.dial_failures = k++;
  s.retries = k++;
  s.health_check_failures = k++;
  s.heartbeat_misses = k++;
  for (auto& c : s.closes) c = k++;
  s.leaks_suspected = k++;
  s.events_dropped = k++;
  s.wait_time = histogram({1us, 2500us, 1s}, {base + 1, 0, base + 3, base + 4}, 1500ms);
  s.use_time = histogram({100us, 50ms, 10s}, {0, base + 6, base + 7, 0}, 123456789ns);
  s.create_time = histogram({250us, 2500ms}, {base + 9, base + 10, base + 11}, 250ns);
  return s;
}

// One sample the page must have: its exact text (an integer) or its value (a float).
struct Expected {
  std::optional<std::string> text;
  double value = 0;
};
using Series = std::map<std::pair<std::string, Labels>, Expected>;

void expect_histogram(Series& out, const std::string& name, const std::string& pool,
                      const HistogramSnapshot& h) {
  std::uint64_t cumulative = 0, total = 0;
  for (auto c : h.counts) total += c;
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    out[{name + "_bucket", {{"pool", pool}, {"le", le_texts().at(h.bounds[i])}}}] = {
        std::to_string(cumulative)};
  }
  out[{name + "_bucket", {{"pool", pool}, {"le", "+Inf"}}}] = {std::to_string(total)};
  out[{name + "_count", {{"pool", pool}}}] = {std::to_string(total)};
  out[{name + "_sum", {{"pool", pool}}}] = {std::nullopt, static_cast<double>(h.sum.count()) / 1e9};
}

// Every series the page must have for `s`, written out from the names the docs promise, not
// from the table the writer walks.
Series expected_series(const Stats& s) {
  Series out;
  const std::string& p = s.pool;
  auto one = [&](const std::string& name, std::uint64_t v, Labels extra = {}) {
    extra.emplace("pool", p);
    out[{name, std::move(extra)}] = {std::to_string(v)};
  };
  one("tcppool_connections", s.idle, {{"state", "idle"}});
  one("tcppool_connections", s.in_use, {{"state", "used"}});
  one("tcppool_connections", s.dialing, {{"state", "dialing"}});
  one("tcppool_connections", s.checking, {{"state", "checking"}});
  one("tcppool_connection_max", s.max_open);
  one("tcppool_connection_idle_max", s.max_idle);
  one("tcppool_connection_idle_min", s.min_idle);
  one("tcppool_connection_pending_requests", s.waiting);
  one("tcppool_connection_timeouts_total", s.acquire_timeouts);
  expect_histogram(out, "tcppool_connection_wait_time_seconds", p, s.wait_time);
  expect_histogram(out, "tcppool_connection_use_time_seconds", p, s.use_time);
  expect_histogram(out, "tcppool_connection_create_time_seconds", p, s.create_time);
  one("tcppool_acquires_total", s.acquires);
  one("tcppool_acquires_waited_total", s.acquires_waited);
  one("tcppool_acquire_cancellations_total", s.acquire_cancellations);
  one("tcppool_acquire_failures_total", s.acquire_failures);
  one("tcppool_dials_total", s.dials);
  one("tcppool_dial_failures_total", s.dial_failures);
  one("tcppool_retries_total", s.retries);
  one("tcppool_health_check_failures_total", s.health_check_failures);
  one("tcppool_heartbeat_misses_total", s.heartbeat_misses);
  const std::pair<CloseReason, const char*> reasons[] = {
      {CloseReason::kIdleTimeout, "idle_timeout"}, {CloseReason::kLifetime, "lifetime"},
      {CloseReason::kFailedCheck, "failed_check"}, {CloseReason::kHeartbeat, "heartbeat"},
      {CloseReason::kDiscarded, "discarded"},      {CloseReason::kAboveMaxIdle, "above_max_idle"},
      {CloseReason::kPoolClosed, "pool_closed"},   {CloseReason::kForced, "forced"},
  };
  static_assert(std::size(reasons) == kReasons);
  for (const auto& [r, text] : reasons) {
    one("tcppool_connection_closes_total", s.closed(r), {{"reason", text}});
  }
  one("tcppool_leaks_suspected_total", s.leaks_suspected);
  one("tcppool_events_dropped_total", s.events_dropped);
  return out;
}

std::string describe(const std::pair<std::string, Labels>& series) {
  std::string out = series.first + "{";
  for (const auto& [k, v] : series.second) out += k + "=\"" + v + "\",";
  return out + "}";
}

prom::Page parse_or_fail(const std::string& page) {
  auto parsed = prom::parse(page);
  EXPECT_TRUE(parsed.has_value()) << parsed.error() << "\n" << page;
  return parsed ? std::move(*parsed) : prom::Page{};
}

// ---- the table ----

TEST(Stage6Exposition, FamiliesCarryTheirOpenTelemetryNames) {
  struct Row {
    const char* name;
    stage::MetricType type;
    const char* label;
    const char* otel;
  };
  using enum stage::MetricType;
  const Row want[] = {
      {"tcppool_connections", kGauge, "state", "db.client.connection.count"},
      {"tcppool_connection_max", kGauge, "", "db.client.connection.max"},
      {"tcppool_connection_idle_max", kGauge, "", "db.client.connection.idle.max"},
      {"tcppool_connection_idle_min", kGauge, "", "db.client.connection.idle.min"},
      {"tcppool_connection_pending_requests", kGauge, "", "db.client.connection.pending_requests"},
      {"tcppool_connection_timeouts_total", kCounter, "", "db.client.connection.timeouts"},
      {"tcppool_connection_wait_time_seconds", kHistogram, "", "db.client.connection.wait_time"},
      {"tcppool_connection_use_time_seconds", kHistogram, "", "db.client.connection.use_time"},
      {"tcppool_connection_create_time_seconds", kHistogram, "",
       "db.client.connection.create_time"},
      {"tcppool_acquires_total", kCounter, "", ""},
      {"tcppool_acquires_waited_total", kCounter, "", ""},
      {"tcppool_acquire_cancellations_total", kCounter, "", ""},
      {"tcppool_acquire_failures_total", kCounter, "", ""},
      {"tcppool_dials_total", kCounter, "", ""},
      {"tcppool_dial_failures_total", kCounter, "", ""},
      {"tcppool_retries_total", kCounter, "", ""},
      {"tcppool_health_check_failures_total", kCounter, "", ""},
      {"tcppool_heartbeat_misses_total", kCounter, "", ""},
      {"tcppool_connection_closes_total", kCounter, "reason", ""},
      {"tcppool_leaks_suspected_total", kCounter, "", ""},
      {"tcppool_events_dropped_total", kCounter, "", ""},
  };
  const auto got = stage::metric_families();
  ASSERT_EQ(got.size(), std::size(want));
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].type, want[i].type);
    EXPECT_EQ(got[i].label, want[i].label);
    EXPECT_EQ(got[i].otel_name, want[i].otel);
    EXPECT_FALSE(got[i].help.empty());
  }
  EXPECT_EQ(stage::to_string(kCounter), "counter");
  EXPECT_EQ(stage::to_string(kGauge), "gauge");
  EXPECT_EQ(stage::to_string(kHistogram), "histogram");
}

// ---- values ----

TEST(Stage6Exposition, EveryValueOfEveryFamilyReadsBackForTwoPools) {
  Stats a = distinctive_stats("orders", 100);
  Stats b = distinctive_stats("sessions", 200);
  b.events_dropped = std::numeric_limits<std::uint64_t>::max();  // every digit, not a double's
  const Stats pools[] = {a, b};
  const std::string page = stage::prometheus_text(pools);
  const prom::Page parsed = parse_or_fail(page);

  Series want = expected_series(a);
  want.merge(expected_series(b));
  std::map<std::pair<std::string, Labels>, const prom::Sample*> got;
  for (const prom::Family& f : parsed.families) {
    for (const prom::Sample& s : f.samples) got[{s.name, s.labels}] = &s;
  }
  for (const auto& [series, e] : want) {
    auto it = got.find(series);
    if (it == got.end()) {
      ADD_FAILURE() << "missing from the page: " << describe(series);
      continue;
    }
    if (e.text) {
      EXPECT_EQ(it->second->text, *e.text) << describe(series);
    } else {
      EXPECT_EQ(it->second->value, e.value) << describe(series) << " = " << it->second->text;
    }
  }
  for (const auto& [series, s] : got) {
    EXPECT_TRUE(want.contains(series))
        << "not expected on the page: " << describe(series) << " (line " << s->line << ")";
  }
  EXPECT_EQ(got.size(), want.size());
  EXPECT_NE(page.find("tcppool_events_dropped_total{pool=\"sessions\"} 18446744073709551615\n"),
            std::string::npos);
}

TEST(Stage6Exposition, HelpTypeAndLabelsFollowTheTable) {
  const Stats pools[] = {distinctive_stats("orders", 100), distinctive_stats("sessions", 200)};
  const prom::Page parsed = parse_or_fail(stage::prometheus_text(pools));
  for (const stage::MetricInfo& info : stage::metric_families()) {
    SCOPED_TRACE(info.name);
    const prom::Family* f = parsed.family(info.name);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->help, std::string(info.help));
    EXPECT_EQ(f->type, stage::to_string(info.type));
    ASSERT_FALSE(f->samples.empty());
    for (const prom::Sample& s : f->samples) {
      std::set<std::string> names;
      for (const auto& [k, v] : s.labels) names.insert(k);
      std::set<std::string> want = {"pool"};
      if (!info.label.empty()) want.emplace(info.label);
      if (s.name.ends_with("_bucket")) want.emplace("le");
      EXPECT_EQ(names, want) << s.name << " at line " << s.line;
    }
  }
}

TEST(Stage6Exposition, FamiliesAreContiguousInTableOrderAndPoolsInTheOrderGiven) {
  const Stats pools[] = {distinctive_stats("b-first", 100), distinctive_stats("a-second", 200)};
  const std::string page = stage::prometheus_text(pools);
  const prom::Page parsed = parse_or_fail(page);  // rejects a family split in two
  const auto table = stage::metric_families();
  ASSERT_EQ(parsed.families.size(), table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    const prom::Family& f = parsed.families[i];
    EXPECT_EQ(f.name, table[i].name);
    // Each family: every sample of the first pool, then every sample of the second.
    std::size_t first_of_second = f.samples.size();
    for (std::size_t j = 0; j < f.samples.size(); ++j) {
      const auto pool = f.samples[j].label("pool");
      if (pool == "a-second" && first_of_second == f.samples.size()) first_of_second = j;
      if (j >= first_of_second) {
        EXPECT_EQ(pool, "a-second") << f.name;
      } else {
        EXPECT_EQ(pool, "b-first") << f.name;
      }
    }
    EXPECT_EQ(first_of_second * 2, f.samples.size()) << f.name;
  }
  // HELP and TYPE once per family, however many pools.
  std::size_t help = 0, type = 0;
  for (std::size_t at = 0; (at = page.find("# HELP ", at)) != std::string::npos; ++at) ++help;
  for (std::size_t at = 0; (at = page.find("# TYPE ", at)) != std::string::npos; ++at) ++type;
  EXPECT_EQ(help, table.size());
  EXPECT_EQ(type, table.size());
}

TEST(Stage6Exposition, AppendsToWhatIsThereAndWritesNothingForNoPools) {
  std::string out = "# before\n";
  stage::append_prometheus_text(out, {});
  EXPECT_EQ(out, "# before\n");
  const Stats one[] = {distinctive_stats("orders", 100)};
  stage::append_prometheus_text(out, one);
  EXPECT_EQ(out, "# before\n" + stage::prometheus_text(one));
  EXPECT_TRUE(stage::prometheus_text({}).empty());
}

// ---- histograms ----

TEST(Stage6Exposition, HistogramBucketsAreCumulativeInfIsTheCountAndTimesAreSeconds) {
  Stats s = distinctive_stats("orders", 100);
  s.wait_time = histogram(stage::default_buckets(), {}, 1500ms);
  s.wait_time.counts.assign(s.wait_time.bounds.size() + 1, 0);
  for (std::size_t i = 0; i < s.wait_time.counts.size(); ++i) s.wait_time.counts[i] = i % 3;
  const Stats pools[] = {s};
  const std::string page = stage::prometheus_text(pools);
  const prom::Page parsed = parse_or_fail(page);

  const prom::Family* f = parsed.family("tcppool_connection_wait_time_seconds");
  ASSERT_NE(f, nullptr);
  const auto buckets = f->select("tcppool_connection_wait_time_seconds_bucket");
  ASSERT_EQ(buckets.size(), stage::default_buckets().size() + 1);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i + 1 < buckets.size(); ++i) {
    cumulative += s.wait_time.counts[i];
    const nanoseconds bound = stage::default_buckets()[i];
    EXPECT_EQ(buckets[i]->label("le"), le_texts().at(bound));
    EXPECT_EQ(buckets[i]->text, std::to_string(cumulative));
    if (i > 0) {
      EXPECT_GE(buckets[i]->value, buckets[i - 1]->value);
    }
  }
  EXPECT_EQ(buckets.back()->label("le"), "+Inf");
  EXPECT_EQ(buckets.back()->text, std::to_string(s.wait_time.count()));
  const auto count = f->select("tcppool_connection_wait_time_seconds_count");
  const auto sum = f->select("tcppool_connection_wait_time_seconds_sum");
  ASSERT_EQ(count.size(), 1u);
  ASSERT_EQ(sum.size(), 1u);
  EXPECT_EQ(count[0]->text, buckets.back()->text);
  EXPECT_EQ(sum[0]->text, "1.5");

  // The other two: sums below a microsecond and with nine digits, in seconds.
  EXPECT_NE(page.find("tcppool_connection_create_time_seconds_sum{pool=\"orders\"} 2.5e-07\n"),
            std::string::npos);
  EXPECT_NE(page.find("tcppool_connection_use_time_seconds_sum{pool=\"orders\"} 0.123456789\n"),
            std::string::npos);
}

TEST(Stage6Exposition, HistogramEdgeCasesStillPassTheirInvariants) {
  Stats s = distinctive_stats("orders", 100);
  s.wait_time = histogram({}, {7}, 0ns);                     // no bounds: +Inf only
  s.use_time = histogram({1s, 1000s, 1'000'000s}, {2}, 3s);  // counts short: the rest read as 0
  s.create_time = histogram({1ms}, {}, 0ns);                 // empty
  const Stats pools[] = {s};
  const prom::Page parsed = parse_or_fail(stage::prometheus_text(pools));

  const prom::Sample* inf = parsed.sample("tcppool_connection_wait_time_seconds_bucket",
                                          {{"pool", "orders"}, {"le", "+Inf"}});
  ASSERT_NE(inf, nullptr);
  EXPECT_EQ(inf->text, "7");
  EXPECT_EQ(parsed.family("tcppool_connection_wait_time_seconds")->samples.size(), 3u);

  const Labels pool = {{"pool", "orders"}};
  auto bucket = [&](const char* name, const char* le) -> std::string {
    Labels l = pool;
    l.emplace("le", le);
    const prom::Sample* s = parsed.sample(name, l);
    return s ? s->text : "(missing)";
  };
  EXPECT_EQ(bucket("tcppool_connection_use_time_seconds_bucket", "1"), "2");
  EXPECT_EQ(bucket("tcppool_connection_use_time_seconds_bucket", "1000"), "2");
  EXPECT_EQ(bucket("tcppool_connection_use_time_seconds_bucket", "1e+06"), "2");
  EXPECT_EQ(bucket("tcppool_connection_use_time_seconds_bucket", "+Inf"), "2");
  EXPECT_EQ(bucket("tcppool_connection_create_time_seconds_bucket", "0.001"), "0");
  EXPECT_EQ(bucket("tcppool_connection_create_time_seconds_bucket", "+Inf"), "0");
  const prom::Sample* sum = parsed.sample("tcppool_connection_create_time_seconds_sum", pool);
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->text, "0");
}

// ---- escaping ----

TEST(Stage6Exposition, LabelValuesAreEscapedAndReadBack) {
  const std::pair<std::string, std::string> names[] = {
      // {Stats::pool, what the page must read back as}
      {R"(C:\pools\a)", R"(C:\pools\a)"},
      {R"(say "hi")", R"(say "hi")"},
      {"two\nlines", "two\nlines"},
      {"caf\xC3\xA9 \xF0\x9F\x90\x99", "caf\xC3\xA9 \xF0\x9F\x90\x99"},  // valid: kept as is
      {"bad\xFF end\xC3", "bad\xEF\xBF\xBD end\xEF\xBF\xBD"},            // invalid: U+FFFD
  };
  std::vector<Stats> pools;
  for (std::size_t i = 0; i < std::size(names); ++i) {
    pools.push_back(distinctive_stats(names[i].first, 100 * (i + 1)));
  }
  const std::string page = stage::prometheus_text(pools);
  EXPECT_NE(page.find(R"(tcppool_connection_max{pool="C:\\pools\\a"} )"), std::string::npos);
  EXPECT_NE(page.find(R"(tcppool_connection_max{pool="say \"hi\""} )"), std::string::npos);
  EXPECT_NE(page.find(R"(tcppool_connection_max{pool="two\nlines"} )"), std::string::npos);
  const prom::Page parsed = parse_or_fail(page);
  for (std::size_t i = 0; i < std::size(names); ++i) {
    const prom::Sample* s = parsed.sample("tcppool_connection_max", {{"pool", names[i].second}});
    ASSERT_NE(s, nullptr) << "pool " << i;
    EXPECT_EQ(s->text, std::to_string(pools[i].max_open));
  }
}

TEST(Stage6Exposition, EscapingFunctionsHandleEveryCase) {
  const std::string fffd = "\xEF\xBF\xBD";
  const std::pair<std::string, std::string> label_cases[] = {
      {"", ""},
      {"plain-name_1.2", "plain-name_1.2"},
      {R"(\)", R"(\\)"},
      {"\"", R"(\")"},
      {"\n", R"(\n)"},
      {"\r\t", "\r\t"},                                 // only three characters are escaped
      {"\xE2\x82\xAC", "\xE2\x82\xAC"},                 // the euro sign, three bytes
      {"\xF0\x9F\x90\x99", "\xF0\x9F\x90\x99"},         // four bytes
      {"\x80", fffd},                                   // a stray continuation byte
      {"\xC0\x80", fffd + fffd},                        // an overlong NUL
      {"\xED\xA0\x80", fffd + fffd + fffd},             // a surrogate
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"a\xE2\x82", "a" + fffd + fffd},                 // truncated at the end
      {"\xE2\x82z", fffd + fffd + "z"},                 // truncated before an ASCII byte
      {"\\\xFF\"", R"(\\)" + fffd + R"(\")"},
  };
  for (const auto& [in, want] : label_cases) {
    EXPECT_EQ(stage::escape_label_value(in), want) << testing::PrintToString(in);
  }
  EXPECT_EQ(stage::escape_help("a \\ b\n\"c\""), R"(a \\ b\n"c")");  // quotes stay in HELP
  EXPECT_EQ(stage::escape_help("x\xFFy"), "x" + fffd + "y");
}

// ---- promtool ----

// Returns the path of promtool on PATH, or empty.
std::string find_promtool() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t from = 0; from <= dirs.size();) {
    std::size_t to = dirs.find(':', from);
    if (to == std::string::npos) to = dirs.size();
    const std::string candidate =
        (to > from ? dirs.substr(from, to - from) : std::string(".")) + "/promtool";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    from = to + 1;
  }
  return {};
}

// A file that is removed when it goes out of scope.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tcppool-exposition-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) {
      ADD_FAILURE() << "mkstemp: " << std::strerror(errno);
      return;
    }
    ::close(fd);
    path_ = pattern;
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() {
    if (!path_.empty()) std::filesystem::remove(path_);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct PromtoolResult {
  std::optional<int> status;
  std::string output;  // stdout, then stderr
};

// Runs `promtool check metrics` with `page` on its stdin. Fails the test, naming the fix, when
// promtool is not installed.
std::optional<PromtoolResult> promtool_check(const std::string& page) {
  const std::string promtool = find_promtool();
  if (promtool.empty()) {
    ADD_FAILURE() << "promtool is not on PATH: run scripts/ensure-deps.sh build (it installs "
                     "Debian's prometheus package, which has promtool)";
    return std::nullopt;
  }
  TempFile file(page);
  if (file.path().empty()) return std::nullopt;
  tcppool::testing::ChildProcess child(
      "/bin/sh", {"-c", R"(exec "$0" check metrics < "$1")", promtool, file.path()});
  PromtoolResult r;
  r.output = child.rest_of_stdout();
  r.output += child.rest_of_stderr();
  r.status = child.wait_exit();
  return r;
}

TEST(Stage6Exposition, PromtoolAcceptsAPageOfSeveralPoolsWithHardNames) {
  std::vector<Stats> pools = {distinctive_stats("orders", 100), distinctive_stats("sessions", 200),
                              distinctive_stats("a \\ \"b\"\nc \xFF", 300)};
  pools[1].wait_time = histogram(stage::default_buckets(), {}, 2500ms);
  pools[1].wait_time.counts.assign(stage::default_buckets().size() + 1, 5);
  const std::string page = stage::prometheus_text(pools);
  const auto r = promtool_check(page);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(tcppool::testing::exited_with(r->status, 0))
      << "promtool check metrics: " << tcppool::testing::describe(r->status) << "\n"
      << r->output << "\n---- the page ----\n"
      << page;
}

// The check above could pass by promtool reading nothing: here it must refuse a page, once for
// its syntax and once for the naming rule that makes db.client.connection.count
// tcppool_connections (a gauge may not end in _count).
TEST(Stage6Exposition, PromtoolRejectsWhatItShould) {
  const auto syntax = promtool_check("tcppool_x{pool=\"a} 1\n");
  ASSERT_TRUE(syntax.has_value());
  EXPECT_FALSE(tcppool::testing::exited_with(syntax->status, 0)) << syntax->output;

  const auto lint = promtool_check(
      "# HELP tcppool_connection_count Connections.\n"
      "# TYPE tcppool_connection_count gauge\n"
      "tcppool_connection_count{pool=\"a\",state=\"idle\"} 1\n");
  ASSERT_TRUE(lint.has_value());
  EXPECT_FALSE(tcppool::testing::exited_with(lint->status, 0)) << lint->output;
  EXPECT_NE(lint->output.find("_count"), std::string::npos) << lint->output;
}

// ---- the parser (common/testing/prometheus.hpp) ----

TEST(Stage6Exposition, ParserReadsWhatTheFormatAllows) {
  const std::string page =
      "# a comment\n"
      "\n"
      "# HELP up Whether \\\\ the target\\n is up.\n"
      "# TYPE up gauge\n"
      "up{job=\"a\\\"b\\\\c\\nd\", instance = \"x\" ,} 1 1700000000000\n"
      "up{job=\"e\"} +Inf\n"
      "  up {job=\"f\"}\t-Inf\n"
      "up{job=\"g\"} NaN\n"
      "# TYPE rtt histogram\n"
      "rtt_bucket{le=\"0.5\"} 1\n"
      "rtt_bucket{le=\"+Inf\"} 2\n"
      "rtt_sum 1.25e+00\n"
      "rtt_count 2\n"
      "other 3\n";
  const prom::Page parsed = parse_or_fail(page);
  ASSERT_EQ(parsed.families.size(), 3u);
  const prom::Family& up = parsed.families[0];
  EXPECT_EQ(up.help, "Whether \\ the target\n is up.");
  EXPECT_EQ(up.type, "gauge");
  ASSERT_EQ(up.samples.size(), 4u);
  EXPECT_EQ(up.samples[0].labels, (Labels{{"job", "a\"b\\c\nd"}, {"instance", "x"}}));
  EXPECT_EQ(up.samples[0].timestamp_ms, 1700000000000);
  EXPECT_EQ(up.samples[0].line, 5u);
  EXPECT_EQ(up.samples[1].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(up.samples[2].value, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(up.samples[3].value));
  EXPECT_EQ(parsed.families[1].name, "rtt");
  EXPECT_EQ(parsed.families[1].samples.size(), 4u);
  EXPECT_EQ(parsed.families[1].select("rtt_sum")[0]->value, 1.25);
  EXPECT_EQ(parsed.families[2].type, "untyped");
  EXPECT_FALSE(parsed.families[2].help.has_value());
  EXPECT_TRUE(prom::parse("").has_value());
}

TEST(Stage6Exposition, ParserRejectsMalformedLinesSayingWhere) {
  const std::pair<std::string, std::string> cases[] = {
      {"a 1", "line 1: the last line does not end with a line feed"},
      {"1a 1\n", "line 1: expected a metric name"},
      {"a\n", "line 1: the sample has no value"},
      {"a one\n", "line 1: invalid sample value 'one'"},
      {"a 1 x\n", "line 1: invalid timestamp 'x'"},
      {"a 1 2 3\n", "line 1: unexpected text after the timestamp"},
      {"a{b=\"\\q\"} 1\n", "line 1: invalid escape sequence \\q in the value of label 'b'"},
      {"a{b=\"x} 1\n", "line 1: the value of label 'b' has no end quote"},
      {"a{b=x} 1\n", "line 1: the value of label 'b' is not quoted"},
      {"a{1b=\"x\"} 1\n", "line 1: expected a label name or '}'"},
      {"a{b \"x\"} 1\n", "line 1: expected '=' after label 'b'"},
      {"a{b=\"x\" c=\"y\"} 1\n", "line 1: expected ',' or '}' after the value of label 'b'"},
      {"a{b=\"x\",b=\"y\"} 1\n", "line 1: label 'b' twice"},
      {"a{b=\"\xFF\"} 1\n", "line 1: the value of label 'b' is not valid UTF-8"},
      {"a 1\na 2\n", "line 2: the same series again (first at line 1)"},
      {"a 1\nb 1\na{x=\"1\"} 2\n",
       "line 3: family 'a' is not contiguous: its lines ended at line 1"},
      {"# TYPE h histogram\nh_count 1\nb 1\nh_sum 2\n",
       "line 4: family 'h' is not contiguous: its lines ended at line 2"},
      {"a 1\nb 1\n# HELP a late\n", "line 3: family 'a' is not contiguous"},
      {"# HELP a x\n# HELP a y\n", "line 2: second HELP line for 'a'"},
      {"# HELP a bad\\q\n", "line 1: invalid escape sequence \\q in a HELP text"},
      {"# TYPE a gauge\n# TYPE a gauge\n", "line 2: second TYPE line for 'a'"},
      {"a 1\n# TYPE a gauge\n", "line 2: TYPE line for 'a' after its samples"},
      {"# TYPE a gauges\n", "line 1: unknown type 'gauges'"},
      {"# TYPE h histogram\nh 1\n", "line 2: histogram 'h' has a sample without _bucket"},
      {"# TYPE h histogram\nh_bucket 1\n", "line 2: a bucket of 'h' has no le label"},
      {"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "line 2: invalid le \"x\""},
  };
  for (const auto& [page, want] : cases) {
    const auto parsed = prom::parse(page);
    ASSERT_FALSE(parsed.has_value()) << "accepted: " << testing::PrintToString(page);
    EXPECT_TRUE(parsed.error().starts_with(want))
        << "page: " << testing::PrintToString(page) << "\nerror: " << parsed.error()
        << "\nwanted it to start with: " << want;
    // The error quotes the line it is about.
    EXPECT_NE(parsed.error().find(": `"), std::string::npos) << parsed.error();
  }
}

}  // namespace
