// stage6-metrics/exposition.cpp: the table of metric families, and the writer that walks it.
//
// The table (kFamilies) is the only place a metric is named: a row per family, with where its
// values are in Stats. A static_assert checks the rows against Prometheus's naming rules at
// compile time, so a row that breaks one does not build.
#include "exposition.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace tcppool::stage6 {
namespace {

// Where a family's values are in Stats.
struct GaugeField {  // one gauge
  std::size_t Stats::*member;
};
struct CounterField {  // one counter
  std::uint64_t Stats::*member;
};
struct HistogramField {  // one histogram
  HistogramSnapshot Stats::*member;
};
struct ByState {};   // a gauge per connection state (kStates), labelled `state`
struct ByReason {};  // Stats::closes: a counter per CloseReason, labelled `reason`
using Source = std::variant<GaugeField, CounterField, HistogramField, ByState, ByReason>;

struct Family {
  MetricInfo info;
  Source source;
};

// [exposition_table]
// The connection states of tcppool_connections: OTel's idle and used, and two of ours.
struct State {
  std::string_view name;
  std::size_t Stats::*member;
};
constexpr State kStates[] = {
    {"idle", &Stats::idle},
    {"used", &Stats::in_use},
    {"dialing", &Stats::dialing},
    {"checking", &Stats::checking},
};

// Every family, in the order the page has them. OTel's db.client.connection.count is named
// tcppool_connections: promtool's lint reserves the `_count` suffix for histograms and
// summaries.
constexpr Family kFamilies[] = {
    {{"tcppool_connections", MetricType::kGauge,
      "Connections open now, by state: idle (ready to hand out), used (held by a lease), "
      "dialing, checking (held by the maintenance thread for a check or a heartbeat).",
      "state", "db.client.connection.count"},
     ByState{}},
    {{"tcppool_connection_max", MetricType::kGauge,
      "The most connections the pool opens at once, idle, used and dialing together "
      "(Options::max_open).",
      "", "db.client.connection.max"},
     GaugeField{&Stats::max_open}},
    {{"tcppool_connection_idle_max", MetricType::kGauge,
      "The most idle connections the pool keeps; one released beyond them is closed "
      "(Options::max_idle).",
      "", "db.client.connection.idle.max"},
     GaugeField{&Stats::max_idle}},
    {{"tcppool_connection_idle_min", MetricType::kGauge,
      "The idle connections the maintenance thread dials back up to (Options::min_idle).", "",
      "db.client.connection.idle.min"},
     GaugeField{&Stats::min_idle}},
    {{"tcppool_connection_pending_requests", MetricType::kGauge,
      "Threads blocked in acquire() now, waiting for a connection.", "",
      "db.client.connection.pending_requests"},
     GaugeField{&Stats::waiting}},
    {{"tcppool_connection_timeouts_total", MetricType::kCounter,
      "Acquires that gave up because their deadline passed before a connection was free.", "",
      "db.client.connection.timeouts"},
     CounterField{&Stats::acquire_timeouts}},
    {{"tcppool_connection_wait_time_seconds", MetricType::kHistogram,
      "How long acquire() took to hand out a lease, from the call to the lease (zero when a "
      "connection was free).",
      "", "db.client.connection.wait_time"},
     HistogramField{&Stats::wait_time}},
    {{"tcppool_connection_use_time_seconds", MetricType::kHistogram,
      "How long leases held their connection, from acquire to release.", "",
      "db.client.connection.use_time"},
     HistogramField{&Stats::use_time}},
    {{"tcppool_connection_create_time_seconds", MetricType::kHistogram,
      "How long opening a connection took, its dial retries and backoffs included.", "",
      "db.client.connection.create_time"},
     HistogramField{&Stats::create_time}},
    {{"tcppool_acquires_total", MetricType::kCounter, "Leases acquire() handed out.", "", ""},
     CounterField{&Stats::acquires}},
    {{"tcppool_acquires_waited_total", MetricType::kCounter,
      "Acquires, handed out or failed, that found no connection free and had to wait or dial.", "",
      ""},
     CounterField{&Stats::acquires_waited}},
    {{"tcppool_acquire_cancellations_total", MetricType::kCounter,
      "Acquires that failed because they were cancelled.", "", ""},
     CounterField{&Stats::acquire_cancellations}},
    {{"tcppool_acquire_failures_total", MetricType::kCounter,
      "Acquires that failed for another reason than a timeout or a cancellation: a failed "
      "dial, the open breaker, or a closed, draining or exhausted pool.",
      "", ""},
     CounterField{&Stats::acquire_failures}},
    {{"tcppool_dials_total", MetricType::kCounter, "Connect attempts, retries included.", "", ""},
     CounterField{&Stats::dials}},
    {{"tcppool_dial_failures_total", MetricType::kCounter, "Connect attempts that failed.", "", ""},
     CounterField{&Stats::dial_failures}},
    {{"tcppool_retries_total", MetricType::kCounter,
      "Idempotent requests run() ran again on a fresh connection after a failure.", "", ""},
     CounterField{&Stats::retries}},
    {{"tcppool_health_check_failures_total", MetricType::kCounter,
      "Idle connections a health check (the peek or the lifetime check) turned away.", "", ""},
     CounterField{&Stats::health_check_failures}},
    {{"tcppool_heartbeat_misses_total", MetricType::kCounter, "Heartbeats that timed out.", "", ""},
     CounterField{&Stats::heartbeat_misses}},
    {{"tcppool_connection_closes_total", MetricType::kCounter,
      "Connections the pool closed, by reason: idle_timeout, lifetime, failed_check, "
      "heartbeat, discarded, above_max_idle, pool_closed, forced.",
      "reason", ""},
     ByReason{}},
    {{"tcppool_leaks_suspected_total", MetricType::kCounter,
      "Leases held longer than Options::leak_threshold, each reported once.", "", ""},
     CounterField{&Stats::leaks_suspected}},
    {{"tcppool_events_dropped_total", MetricType::kCounter,
      "Events lost because the event hook's queue was full.", "", ""},
     CounterField{&Stats::events_dropped}},
};
// [exposition_table]

constexpr bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Checks every row: the prefix, the suffixes promtool's lint wants for each type (counters end
// in `_total`; histograms carry their unit, seconds; no other family ends in a histogram's or
// counter's suffix), a source of the row's type, the label the source implies, a HELP text,
// and no name twice.
consteval bool families_are_consistent() {
  for (std::size_t i = 0; i < std::size(kFamilies); ++i) {
    const MetricInfo& f = kFamilies[i].info;
    const Source& src = kFamilies[i].source;
    if (!f.name.starts_with("tcppool_") || f.help.empty()) return false;
    const bool reserved = ends_with(f.name, "_total") || ends_with(f.name, "_count") ||
                          ends_with(f.name, "_sum") || ends_with(f.name, "_bucket");
    switch (f.type) {
      case MetricType::kCounter:
        if (!ends_with(f.name, "_total")) return false;
        if (!std::holds_alternative<CounterField>(src) && !std::holds_alternative<ByReason>(src)) {
          return false;
        }
        break;
      case MetricType::kGauge:
        if (reserved) return false;
        if (!std::holds_alternative<GaugeField>(src) && !std::holds_alternative<ByState>(src)) {
          return false;
        }
        break;
      case MetricType::kHistogram:
        if (reserved || !ends_with(f.name, "_seconds")) return false;
        if (!std::holds_alternative<HistogramField>(src)) return false;
        break;
    }
    const std::string_view label = std::holds_alternative<ByState>(src)    ? "state"
                                   : std::holds_alternative<ByReason>(src) ? "reason"
                                                                           : "";
    if (f.label != label) return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (kFamilies[j].info.name == f.name) return false;
    }
  }
  return true;
}
static_assert(families_are_consistent(), "a row of kFamilies breaks a naming rule");

constexpr auto kInfos = [] {
  std::array<MetricInfo, std::size(kFamilies)> infos{};
  for (std::size_t i = 0; i < infos.size(); ++i) infos[i] = kFamilies[i].info;
  return infos;
}();

// Returns the length of the valid UTF-8 sequence `s` starts with, or 0 if it starts with none
// (a stray continuation byte, a truncated sequence, an overlong form, a surrogate, or a code
// point above U+10FFFF). REQUIRES: !s.empty().
std::size_t utf8_sequence_length(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  char32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Appends `s` with backslash and line feed escaped, and the double quote too if `quote`;
// replaces each byte that is not part of valid UTF-8 with U+FFFD.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  while (!s.empty()) {
    const std::size_t n = utf8_sequence_length(s);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      s.remove_prefix(1);
      continue;
    }
    if (n == 1 && s[0] == '\\') {
      out += "\\\\";
    } else if (n == 1 && s[0] == '\n') {
      out += "\\n";
    } else if (n == 1 && s[0] == '"' && quote) {
      out += "\\\"";
    } else {
      out.append(s.substr(0, n));
    }
    s.remove_prefix(n);
  }
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Appends `v` as strconv.FormatFloat(v, 'g', -1, 64) does (Prometheus's Go client writes `le`
// values so): the shortest digits that read back as exactly `v`, in exponent form when the
// exponent is below -4 or at least 6 ("1e-06", "2.5e+07"), otherwise in plain form ("0.0025",
// "10").
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  const auto sci = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const char* e = std::find(buf, sci.ptr, 'e');
  const char* digits = e + 1 < sci.ptr && e[1] == '+' ? e + 2 : e + 1;
  int exponent = 0;
  std::from_chars(digits, sci.ptr, exponent);
  if (exponent < -4 || exponent >= 6) {
    out.append(buf, sci.ptr);
    return;
  }
  const auto fixed = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out.append(buf, fixed.ptr);
}

// Returns `d` in seconds: the double nearest its exact value (below 2^53 ns, 104 days).
double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

void append_header(std::string& out, const MetricInfo& f) {
  out += "# HELP ";
  out += f.name;
  out += ' ';
  append_escaped(out, f.help, /*quote=*/false);
  out += "\n# TYPE ";
  out += f.name;
  out += ' ';
  out += to_string(f.type);
  out += '\n';
}

// Appends `name{pool="<pool>"` and, if `label` is not empty, `,label="<value>"` (`value` is
// written as given: the callers' values need no escaping), then the closing brace.
void append_series(std::string& out, std::string_view name, std::string_view pool,
                   std::string_view label = {}, std::string_view value = {}) {
  out += name;
  out += "{pool=\"";
  out += pool;
  out += '"';
  if (!label.empty()) {
    out += ',';
    out += label;
    out += "=\"";
    out += value;
    out += '"';
  }
  out += "} ";
}

void append_histogram(std::string& out, std::string_view name, std::string_view pool,
                      const HistogramSnapshot& h) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    if (i < h.counts.size()) cumulative += h.counts[i];
    le.clear();
    append_double(le, seconds(h.bounds[i]));
    append_series(out, bucket, pool, "le", le);
    append_uint(out, cumulative);
    out += '\n';
  }
  const std::uint64_t count = h.count();  // every bucket and +Inf: always >= cumulative
  append_series(out, bucket, pool, "le", "+Inf");
  append_uint(out, count);
  out += '\n';
  append_series(out, std::string(name) + "_sum", pool);
  append_double(out, seconds(h.sum));
  out += '\n';
  append_series(out, std::string(name) + "_count", pool);
  append_uint(out, count);
  out += '\n';
}

// Appends one pool's samples of family `f`; `pool` is its name, escaped.
void append_samples(std::string& out, const Family& f, const Stats& s, std::string_view pool) {
  const std::string_view name = f.info.name;
  auto line = [&](std::uint64_t value, std::string_view label = {}, std::string_view v = {}) {
    append_series(out, name, pool, label, v);
    append_uint(out, value);
    out += '\n';
  };
  if (const auto* g = std::get_if<GaugeField>(&f.source)) {
    line(s.*g->member);
  } else if (const auto* c = std::get_if<CounterField>(&f.source)) {
    line(s.*c->member);
  } else if (const auto* h = std::get_if<HistogramField>(&f.source)) {
    append_histogram(out, name, pool, s.*h->member);
  } else if (std::holds_alternative<ByState>(f.source)) {
    for (const State& st : kStates) line(s.*st.member, "state", st.name);
  } else {  // ByReason: every reason, zeros included, so a rate() never starts from nothing
    for (std::size_t r = 0; r < s.closes.size(); ++r) {
      line(s.closes[r], "reason", to_string(static_cast<CloseReason>(r)));
    }
  }
}

}  // namespace

std::string_view to_string(MetricType type) noexcept {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::span<const MetricInfo> metric_families() noexcept { return kInfos; }

std::string escape_label_value(std::string_view value) {
  std::string out;
  append_escaped(out, value, /*quote=*/true);
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  append_escaped(out, text, /*quote=*/false);
  return out;
}

void append_prometheus_text(std::string& out, std::span<const Stats> pools) {
  if (pools.empty()) return;
  std::vector<std::string> names;  // each pool's label value, escaped once
  names.reserve(pools.size());
  for (const Stats& s : pools) names.push_back(escape_label_value(s.pool));
  for (const Family& f : kFamilies) {
    append_header(out, f.info);
    for (std::size_t p = 0; p < pools.size(); ++p) append_samples(out, f, pools[p], names[p]);
  }
}

std::string prometheus_text(std::span<const Stats> pools) {
  std::string out;
  append_prometheus_text(out, pools);
  return out;
}

}  // namespace tcppool::stage6
