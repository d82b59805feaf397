// common/workshop/build.hpp: building an attempt against the reference tests, running them,
// and benchmarking the attempt beside the stages around it.
//
// Grading writes a CMake fragment for the attempt into the grading build (build/workshop,
// ASan + UBSan): a library of the attempt's sources, and one test binary per unit (see
// stages.hpp), each compiled and linked through scripts/workshop-log.sh so that its
// diagnostics land in a log of its own (build/workshop/logs/stageN/). The top-level
// CMakeLists.txt adds the fragment when TCPPOOL_WORKSHOP_GEN names it; nothing else in the
// build changes. Every test then runs in a process of its own, with a timeout.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/workshop/grade.hpp"
#include "common/workshop/stages.hpp"

namespace tcppool::workshop {

/// Where things are, and how hard to work.
struct Layout {
  std::filesystem::path repo{};         ///< The repository's root.
  std::filesystem::path attempts{};     ///< The attempts: repo/workshop.
  std::filesystem::path build{};        ///< The grading build: repo/build/workshop.
  std::filesystem::path bench_build{};  ///< The benchmark build: repo/build/workshop-bench.
  int jobs = 2;                         ///< Compiles and tests at once.
  std::chrono::seconds timeout{60};     ///< Per test, as ctest's TIMEOUT.
  bool quiet = false;                   ///< No progress lines (prove uses it).
  bool debug_info = true;  ///< -g in the grading build; prove turns it off (a third faster).
};

/// One grading of an attempt.
struct Grading {
  std::vector<Goal> goals{};          ///< What was graded: the stage's goals, or an exercise.
  std::vector<Exclusion> excluded{};  ///< Not held against it.
  std::vector<TestResult> results{};  ///< Every test's outcome.
  Checklist checklist{};              ///< Refers into the three above.
  std::string text{};                 ///< The checklist, rendered.
  bool pool_built = true;             ///< False when the attempt's own sources do not compile.
};

/// For grade_attempt(): every exercise graded by tests at once, one goal each.
inline constexpr int kEveryExercise = -1;

/// Grades the attempt in `attempt` against `stage`'s reference tests, or, when `exercise` is
/// not 0, against that exercise's tests only (kEveryExercise: every exercise's, in one build).
/// Fails only when grading cannot run at all (no attempt, CMake missing); a failing attempt is a
/// Grading whose checklist says so.
std::expected<std::unique_ptr<Grading>, std::string> grade_attempt(
    const Layout& layout, const Stage& stage, const std::filesystem::path& attempt,
    int exercise = 0);

/// Builds a Release benchmark binary holding stage N-1's pool, the attempt and the reference
/// stage N, runs the manifest's scenarios (or `scenario`) in one run, and returns a table of
/// each counter for the three and the ratios.
std::expected<std::string, std::string> bench_attempt(const Layout& layout, const Stage& stage,
                                                      const std::filesystem::path& attempt,
                                                      const std::string& scenario, bool quick);

/// Returns what `make workshop-bench` runs: the manifest's scenarios, or only `scenario` when
/// one is asked for: as the manifest configures it when it names it (`SCENARIO=contention`),
/// else any scenario of the harness, all its configurations, with the common counters (rps,
/// p99_us, errors, dials_per_1k, peak_open).
std::vector<Scenario> bench_scenarios(const std::vector<Scenario>& manifest,
                                      const std::string& scenario);

/// Summarises Google Benchmark JSON from such a run: for each scenario and counter, the median
/// over the repetitions for each stage in `stages`, and the ratios of `attempt` to the others.
std::string bench_summary(const std::string& json, const std::vector<std::string>& stages,
                          const std::vector<Scenario>& scenarios, const std::string& attempt);

}  // namespace tcppool::workshop
