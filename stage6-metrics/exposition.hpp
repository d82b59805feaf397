// stage6-metrics/exposition.hpp: the pool's Stats as a page of Prometheus text (exposition
// format 0.0.4), the page a /metrics endpoint serves and a Prometheus server scrapes.
//
// Technique: one table of metric families (metric_families()), data and not code: each row
// names a family, its type, its HELP text, the OpenTelemetry name it carries into Prometheus
// style, and where its values are in Stats. The writer walks the table once and, for each
// family, writes its `# HELP` and `# TYPE` lines and then its samples for every pool, each with
// a `pool` label: Prometheus requires a family's samples to be contiguous, so several pools
// share one page family by family, never pool by pool. Names follow OpenTelemetry's
// database-client connection-pool conventions (db.client.connection.*) with a `tcppool_`
// prefix, units in the name (`_seconds`) and `_total` on counters, as Prometheus's own naming
// rules and `promtool check metrics` ask. One departure: db.client.connection.count is
// `tcppool_connections`, because promtool rejects a gauge whose name ends in `_count` (that
// suffix is a histogram's); its `state` label has OTel's idle and used, and our dialing and
// checking, so that the four add up to the open connections.
//
//   const Stats pools[] = {orders.stats(), sessions.stats()};
//   std::string page;
//   append_prometheus_text(page, pools);  // serve with Content-Type: text/plain; version=0.0.4
//
// New in stage 6.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "metrics.hpp"

namespace tcppool::stage6 {

/// A metric family's type, as its `# TYPE` line writes it.
enum class MetricType : std::uint8_t {
  kCounter,    ///< Only goes up (from zero, when the pool is made); ends in `_total`.
  kGauge,      ///< A value now: it goes up and down.
  kHistogram,  ///< Observations in cumulative buckets, with their sum and count.
};

/// Returns the type's name as a `# TYPE` line writes it: "counter", "gauge", "histogram".
std::string_view to_string(MetricType type) noexcept;

/// One metric family of the exposition, for the docs and the tests to walk.
struct MetricInfo {
  std::string_view name;       ///< The Prometheus name: `tcppool_` prefix, unit and suffix.
  MetricType type{};           ///< Its `# TYPE`.
  std::string_view help;       ///< Its `# HELP` text (unescaped): what it answers.
  std::string_view label;      ///< The label each pool's samples have besides `pool` ("state",
                               ///< "reason"), or empty; histograms' `le` is not counted.
  std::string_view otel_name;  ///< The OpenTelemetry semantic-convention name it carries
                               ///< (db.client.connection.*), or empty when it is ours.
};

/// Returns every family the exposition writes, in the order it writes them.
std::span<const MetricInfo> metric_families() noexcept;

/// Appends the exposition of `pools` to `out`: for each family of metric_families(), its
/// `# HELP` and `# TYPE` lines once, then its samples for every pool in the order given, each
/// labelled `pool="<Stats::pool>"`. Gauges and counters are written as integers; histograms as
/// `_bucket` samples with cumulative counts (one per bound, then `le="+Inf"`, which equals
/// `_count`), then `_sum` and `_count`, all durations in seconds. `le` values are the shortest
/// decimal that reads back as the bound's exact seconds, in the style Prometheus's Go client
/// writes (`1e-06`, `0.0025`, `10`). An empty span appends nothing (an empty page is valid).
/// Reports no errors: a label value that is not valid UTF-8 has each bad byte replaced by
/// U+FFFD, and a histogram whose counts are missing buckets reads them as zero.
///
/// REQUIRES: the pools' names differ (two pools of one name would write the same series
/// twice, and Prometheus rejects the page).
void append_prometheus_text(std::string& out, std::span<const Stats> pools);

/// Returns the exposition of `pools`, as append_prometheus_text() writes it.
std::string prometheus_text(std::span<const Stats> pools);

/// Returns `value` escaped for a label value between double quotes: backslash, double quote
/// and line feed become `\\`, `\"` and `\n`; bytes that are not valid UTF-8 become U+FFFD.
std::string escape_label_value(std::string_view value);

/// Returns `text` escaped for a `# HELP` line: backslash and line feed become `\\` and `\n`;
/// bytes that are not valid UTF-8 become U+FFFD.
std::string escape_help(std::string_view text);

}  // namespace tcppool::stage6
