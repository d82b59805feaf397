// fuzz/exposition_fuzz.cpp: fuzz target for stage 6's Prometheus writer,
// stage6::prometheus_text() (stage6-metrics/exposition.hpp), on Stats decoded from arbitrary
// bytes.
//
// The input gives a pool name (up to the first newline, any bytes: quotes, backslashes,
// control bytes, invalid UTF-8), then the values of every gauge, counter and histogram bucket,
// eight bytes each (any 64-bit value: the writer must print them exactly). Two pools go on one
// page: the name, and the name with "#2" after it, so their names differ however the writer
// repairs bytes. Beyond not crashing, the page must:
//   - pass the text format's grammar, as common/testing/prometheus.hpp parses it strictly
//     (every family once, HELP and TYPE before its samples, escapes valid, no series twice,
//     the last line ended);
//   - have every family of metric_families(), with both pools' samples;
//   - carry each counter's value exactly, as its decimal text (no rounding through a double);
//   - for each histogram: buckets cumulative and never decreasing, +Inf equal to _count, and
//     _count the sum of the buckets;
//   - give back a printable-ASCII pool name exactly, unescaped.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/testing/prometheus.hpp"
#include "fuzz/fuzz.hpp"
#include "stage6-metrics/exposition.hpp"

namespace {

using tcppool::fuzz::check;
using tcppool::fuzz::fail;
using tcppool::fuzz::Input;
using tcppool::fuzz::shown;
namespace stage6 = tcppool::stage6;
namespace prom = tcppool::testing::prometheus;

std::uint64_t u64(Input& in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | in.byte();
  return v;
}

bool printable(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Histogram counts whose sum cannot overflow: each bucket below 2^58 (23 buckets).
stage6::HistogramSnapshot histogram(Input& in) {
  stage6::HistogramSnapshot h;
  h.bounds = stage6::default_buckets();
  h.counts.resize(h.bounds.size() + 1);
  for (auto& c : h.counts) c = u64(in) >> 6;
  h.sum = std::chrono::nanoseconds(static_cast<std::int64_t>(u64(in) >> 2));
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  stage6::Stats one;
  one.pool = std::string(in.until('\n', 64));
  if (one.pool.empty()) one.pool = "p";
  for (std::size_t* g : {&one.open, &one.idle, &one.in_use, &one.dialing, &one.checking,
                         &one.waiting, &one.max_open, &one.max_idle, &one.min_idle}) {
    *g = static_cast<std::size_t>(u64(in));
  }
  for (std::uint64_t* c : {&one.acquire_timeouts, &one.acquires_waited, &one.acquire_cancellations,
                           &one.acquire_failures, &one.dials, &one.dial_failures, &one.retries,
                           &one.health_check_failures, &one.heartbeat_misses, &one.leaks_suspected,
                           &one.events_dropped}) {
    *c = u64(in);
  }
  for (auto& c : one.closes) c = u64(in);
  one.wait_time = histogram(in);
  one.use_time = histogram(in);
  one.create_time = histogram(in);
  one.acquires = one.wait_time.count();
  stage6::Stats two = one;
  two.pool += "#2";
  const std::array<stage6::Stats, 2> pools = {one, two};
  const std::string page = stage6::prometheus_text(pools);

  auto parsed = prom::parse(page);
  if (!parsed) fail("the page breaks the format: " + parsed.error() + "; pool " + shown(one.pool));
  for (const stage6::MetricInfo& info : stage6::metric_families()) {
    const prom::Family* f = parsed->family(info.name);
    check(f != nullptr, "family missing: " + std::string(info.name));
    check(f->type == stage6::to_string(info.type), "wrong TYPE for " + std::string(info.name));
  }
  // Counters print exactly: compare the text, not a double.
  const prom::Family* timeouts = parsed->family("tcppool_connection_timeouts_total");
  check(timeouts->samples.size() == 2, "tcppool_connection_timeouts_total: not one per pool");
  for (const prom::Sample& s : timeouts->samples) {
    check(
        s.text == std::to_string(one.acquire_timeouts),
        "a counter printed inexactly: " + s.text + " for " + std::to_string(one.acquire_timeouts));
  }
  // Histograms: cumulative, +Inf is _count, _count is the sum of the buckets.
  const prom::Family* wait = parsed->family("tcppool_connection_wait_time_seconds");
  for (const prom::Sample* count : wait->select("tcppool_connection_wait_time_seconds_count")) {
    prom::Labels pool = {{"pool", std::string(*count->label("pool"))}};
    std::uint64_t last = 0;
    std::string inf;
    for (const prom::Sample* b :
         wait->select("tcppool_connection_wait_time_seconds_bucket", pool)) {
      std::uint64_t v = std::stoull(b->text);
      check(v >= last, "buckets not cumulative");
      last = v;
      if (b->label("le") == "+Inf") inf = b->text;
    }
    check(inf == count->text, "+Inf bucket " + inf + " is not _count " + count->text);
    check(count->text == std::to_string(one.wait_time.count()), "_count is not the buckets' sum");
  }
  if (printable(one.pool)) {
    check(parsed->sample("tcppool_acquires_total", {{"pool", one.pool}}) != nullptr,
          "a printable pool name did not come back: " + shown(one.pool));
  }
  return 0;
}
