// common/tools/docs_numbers.hpp: the numbers the docs quote, tied to the reference run.
//
// Every measured number on a page is followed by a marker that says where it comes from:
//
//     stage 1 completed 26.0k<!-- ref: steady/stage1/4/64.rps --> requests per second
//
// The marker is an HTML comment, so neither rendering shows it. docs_check evaluates its
// expression against docs/reference-run/report.json and fails when the text before it is not
// what the report gives; `make numbers` rewrites the text instead. Expressions:
//
//   steady/stage1/4/64.rps          a row: scenario/stage/threads/payload, then a field of it
//   steady/dedicated@stage1/4/64.rps   the ceiling measured beside stage 1 (without @: the
//                                   median over the binaries, as the report's table has it)
//   acquire_release/stage2.ns_per_op   threads and payload may be left out when unique
//   steady/stage2/4/64.vs_stage1    the report's "ratio to stage1" (each over its ceiling)
//   budget("stage3 64 threads").met    a budget, by part of its claim: met, value, measured
//   meta.commit                     a field of the run's header
//   run1:contention/stage3/64.a_over_b  the same in one of the other runs of the spread
//   runs(EXPR)                      EXPR in every run (reference and spread): shown lo–hi
//   min(A, B, ...), max(A, B, ...)  the least or greatest of numbers and runs(...) alike
//   + - * / and parentheses, numbers
//
// and an optional format after `|`: rate (26.0k), us (72 µs, 1.4 ms), ns (68.9 ns), x (0.49×),
// x3 (0.599×), int (131072), int, (131,072), f0..f3, verdict (met / **missed**), text, date,
// time. Without one, the field decides (rps: rate; p50_us: us; a_over_b: x; ...).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tcppool::docs {

/// The committed reference run and the other runs of its spread.
class ReferenceRuns {
 public:
  /// Loads `dir`/report.json (the reference) and every `dir`/spread/*.json (the others, named
  /// after their files: run1.json is "run1"). Throws std::runtime_error naming the file.
  explicit ReferenceRuns(const std::string& dir);

  /// Builds from documents already loaded; runs[0] is the reference. For tests.
  ReferenceRuns(std::vector<std::string> names, std::vector<nlohmann::json> docs);

  /// Returns how many runs there are, the reference included.
  std::size_t size() const { return docs_.size(); }
  /// Returns run `i`'s report.json.
  const nlohmann::json& doc(std::size_t i) const { return docs_[i]; }
  /// Returns run `i`'s name: "reference", or its file's name.
  const std::string& name(std::size_t i) const { return names_[i]; }
  /// Returns the index of the run called `name`, or nullopt.
  std::optional<std::size_t> find(std::string_view name) const;

 private:
  std::vector<std::string> names_;
  std::vector<nlohmann::json> docs_;
};

/// Evaluates a marker's body (what follows "ref:") and formats the result as the page must
/// show it. Returns nullopt and sets `error` when the expression is malformed or names
/// something the report does not have.
std::optional<std::string> evaluate_marker(const ReferenceRuns& runs, std::string_view body,
                                           std::string& error);

/// Finds the value a page shows just before a marker: returns the offset in `before` where
/// it starts (before.size() when there is none). `expected` is what the marker evaluates to;
/// it decides what kind of value to look for (a number with its unit, a verdict, a word).
std::size_t value_start(std::string_view before, std::string_view expected);

/// The report's formats (common/bench/report.cpp), so that a page quotes a number exactly
/// as the report prints it.
std::string format_rate(double v);
std::string format_micros(double us);
std::string format_nanos(double ns);
std::string format_ratio(double r);
std::string format_precise_ratio(double r);

}  // namespace tcppool::docs
