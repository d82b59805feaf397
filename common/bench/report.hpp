// common/bench/report.hpp: merging every stage's Google Benchmark JSON into one report.
//
// scripts/bench.sh runs each stage's benchmark binary, then bench_report (report_main.cpp),
// which reads their JSON files with these functions and writes build/bench/report.md,
// report.json and the chart's data and gnuplot script. Kept apart from main() so it is tested.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tcppool::bench::report {

/// One row of the report: the median of a scenario's repetitions for one stage (or for the
/// dedicated connections measured in one stage's binary).
struct Row {
  std::string scenario;  ///< "steady", "acquire_release", ...
  std::string stage;     ///< "stage1".."stage6" (or a variant, "stage6-fifo"), or a ceiling:
                         ///< "dedicated" or "eventloop".
  std::string
      measured_with;  ///< The binary it ran in: "stage2" (differs from stage only for dedicated).
  int threads = 0;    ///< Client threads; for "eventloop", the connections its one thread drives.
  int payload_bytes = 0;     ///< Bytes per request.
  int pool_size = 0;         ///< Connections the pool may keep (0: keeps none).
  double rps = 0;            ///< Requests per second (median).
  double p50_us = 0;         ///< Median latency (median over repetitions).
  double p99_us = 0;         ///< 99th percentile latency (median over repetitions).
  double max_us = 0;         ///< Slowest request (max over repetitions).
  double failed_p50_us = 0;  ///< Median latency of the failed requests (median).
  double failed_max_us = 0;  ///< Slowest failed request (max over repetitions).
  double errors = 0;         ///< Failed requests (sum over repetitions).
  double requests = 0;       ///< All requests measured (sum over repetitions).
  double dials_per_1k = 0;   ///< Dials per 1000 requests (median).
  double peak_open = -1;     ///< Most connections open at once (max; -1: unknown).
  double tw_before = 0;      ///< TIME_WAIT sockets before the first repetition.
  double tw_after = 0;       ///< TIME_WAIT sockets the run left (median).
  double ns_per_op = 0;      ///< acquire_release only: nanoseconds per acquire + release.
  double wait_p50_us = 0;    ///< How long a request waited for a connection: median (median
                             ///< over repetitions); zero where no pool is used.
  double wait_p99_us = 0;    ///< Likewise, 99th percentile.
  double wait_p999_us = 0;   ///< Likewise, 99.9th percentile.
  double wait_max_us = 0;    ///< Likewise, the longest (max over repetitions).
  /// Paired scenarios' A side: the median over the pairs of slices of A's throughput divided
  /// by B's; an "eventloop" row (side C): its throughput divided by B's, in the same way. 0 when
  /// not paired.
  double a_over_b = 0;
  /// Paired scenarios' A side: the median over the rounds of A's throughput divided by the
  /// event-loop ceiling's (side C); 0 when it was not measured.
  double a_over_c = 0;
  /// The starvation bound of a pool with bounded barging, from the binary's JSON context
  /// (`starvation_bound_ms`); -1 when the binary did not say.
  double starvation_bound_ms = -1;
  int repetitions = 0;  ///< Repetitions merged into this row, failed ones included.
  /// The run's parameters other than threads and payload ("idle:1000"), or "".
  std::string variant{};
  int connections = 0;  ///< echo_server rows: idle connections beside the client, or fds polled.
  int failed = 0;       ///< Repetitions that could not run at all (see `error`).
  std::string error{};  ///< Why the first failed repetition failed; "" when none did.

  /// Returns true when no repetition ran: the row has an error and no numbers.
  bool all_failed() const noexcept { return failed > 0 && failed == repetitions; }
};

/// What every input file's header says about the run; from the first file, plus the stages.
struct Meta {
  std::map<std::string, std::string> fields;  ///< date, host, cpus, compiler, flags, mode, ...
  std::vector<std::string> stages;            ///< Stages present, in order (see order_stages()).
  /// Binaries that wrote no results at all ("stage2: exited with status 134"), from
  /// bench_report's --failed arguments.
  std::vector<std::string> missing{};
};

/// Sorts stage names into the report's column order: by name, each variant ("stage6-fifo")
/// right after its stage ("stage6").
void order_stages(std::vector<std::string>& stages);

/// Reads Google Benchmark JSON files (one per stage binary) into rows and metadata. Throws
/// std::runtime_error naming the file for input it cannot read.
void load(const std::vector<std::string>& paths, std::vector<Row>& rows, Meta& meta);

/// One budget from DESIGN.md, checked against the rows.
struct Budget {
  std::string claim;       ///< "stage2 steady ≥ 3 × stage1 (4 threads, 64 B)".
  std::string measured{};  ///< "9.41×", or "not measured".
  bool met = false;        ///< Whether the measurement meets the claim.
  bool known = false;      ///< False when the rows needed were not measured.
};

/// Checks every budget that the stages present can be held to.
std::vector<Budget> check_budgets(const std::vector<Row>& rows);

/// Renders the Markdown report.
std::string render_markdown(const std::vector<Row>& rows, const Meta& meta,
                            const std::vector<Budget>& budgets);

/// Renders report.json: {"meta": {...}, "rows": [...], "budgets": [...]}.
std::string render_json(const std::vector<Row>& rows, const Meta& meta,
                        const std::vector<Budget>& budgets);

/// Renders the chart's data: steady requests/s with 64 B payloads, a line per thread count and
/// a column per stage (and dedicated).
std::string chart_data(const std::vector<Row>& rows, const Meta& meta);

/// Renders the gnuplot script that draws chart_data() from `data_file` into `png` and `svg`.
std::string chart_script(const Meta& meta, const std::string& data_file, const std::string& png,
                         const std::string& svg);

/// The fault scenarios of the fault matrix, in its column order.
inline constexpr const char* kFaultScenarios[] = {"idle_close", "restart", "rst", "stall",
                                                  "accept_queue"};

/// Renders the fault chart's data: the percentage of failed requests, a line per fault
/// scenario and a column per stage; empty when no fault scenario was measured.
std::string faults_chart_data(const std::vector<Row>& rows, const Meta& meta);

/// The stages the wait chart shows when any of them waited: the channel's FIFO hand-off, and
/// stage 6 with strict FIFO and with bounded barging. The others are in the report's table.
inline constexpr const char* kWaitChartStages[] = {"stage3", "stage6-fifo", "stage6"};

/// Renders the wait chart's data: the contention scenario's acquire-wait quantiles at 64
/// threads (p50, p99, p99.9, max), a line per quantile and a column per stage that waited, of
/// kWaitChartStages when any of those did, else of all; empty when none did.
std::string wait_chart_data(const std::vector<Row>& rows, const Meta& meta);

/// Renders the gnuplot script that draws wait_chart_data() into `png` and `svg`.
std::string wait_chart_script(const std::string& data_file, const std::string& png,
                              const std::string& svg);

/// Renders the gnuplot script that draws faults_chart_data() into `png` and `svg`.
std::string faults_chart_script(const Meta& meta, const std::string& data_file,
                                const std::string& png, const std::string& svg);

}  // namespace tcppool::bench::report
