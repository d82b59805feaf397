// common/workshop/grade.hpp: from test results to the checklist an attendee reads.
//
// Every reference test of the stage ends in one outcome (it passed, failed, was skipped, did
// not compile, crashed or hung); the manifest's goals group them, and a goal passes when none
// of its tests failed and at least one ran. The checklist prints one line per goal, the first
// failure's message under a goal that failed, and says which tests were not held against the
// attempt and why.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/workshop/manifest.hpp"

namespace tcppool::workshop {

/// How one test ended.
enum class Outcome {
  kPassed,
  kFailed,       ///< An assertion failed.
  kSkipped,      ///< GTEST_SKIP(): the machine cannot run it (root, a tool); not a failure.
  kNotCompiled,  ///< Its file (or suite) did not compile or link against the attempt.
  kCrashed,      ///< The process died: a sanitizer report, a signal, an exception.
  kTimedOut,     ///< It did not finish in time: a deadlock, a waiter nobody wakes.
};

/// Returns a word for `o`: "passed", "does not compile", ...
std::string_view describe(Outcome o);

/// One test's outcome.
struct TestResult {
  std::string name{};                  ///< "Suite.Test", a typed suite by its instantiation prefix.
  Outcome outcome = Outcome::kPassed;  ///< How it ended.
  std::string message{};  ///< The first failure (or the compile error, or the skip reason).
};

/// Returns the GoogleTest name a checklist grades by: "Stage3Bounded/BoundedConformance/0" as
/// a suite becomes "Stage3Bounded", a plain suite stays as it is.
std::string graded_name(std::string_view suite, std::string_view test);

/// Reads the result of one test from the file --gtest_output=json wrote; `name` is set from
/// the file. Fails (returns false) when the file holds no test.
bool parse_gtest_json(std::string_view json, TestResult& result);

/// Returns the first line of a sanitizer's or the runtime's report in a crashed test's output
/// ("ERROR: AddressSanitizer: heap-use-after-free ...", "runtime error: ...", "terminate
/// called ..."), or the last line of output when there is none.
std::string crash_summary(std::string_view output);

/// One goal, graded.
struct GoalGrade {
  const Goal* goal = nullptr;              ///< The goal, in the manifest.
  std::vector<const TestResult*> tests{};  ///< The results of the tests it grades.
  int passed = 0;                          ///< Its tests that passed.
  int failed = 0;                          ///< Failed, not compiled, crashed or timed out.
  int skipped = 0;                         ///< Skipped: the machine cannot run them.

  /// Returns true when the goal is met: nothing failed and something passed (or, for a goal
  /// no test grades, always).
  bool met() const { return !goal->graded() || (failed == 0 && passed > 0); }
};

/// The whole checklist.
struct Checklist {
  std::vector<GoalGrade> goals{};       ///< One per goal, in the manifest's order.
  std::vector<std::string> ungraded{};  ///< Tests no goal or exclusion names (a stale manifest).
  std::vector<std::pair<const Exclusion*, int>> excluded{};  ///< Exclusions, with tests matched.

  /// Returns true when every graded goal is met.
  bool all_met() const;
};

/// Groups `results` by the goals they grade (the first goal that names a test), leaving out
/// the excluded ones.
Checklist grade(const std::vector<Goal>& goals, const std::vector<Exclusion>& excluded,
                const std::vector<TestResult>& results);

/// Renders the checklist: a heading line, one line per goal with "PASS", "FAIL" or "--" (not
/// graded by tests), the first failure under a failed goal, the exclusions, and a summary line.
std::string render(const Checklist& checklist, const std::string& heading);

}  // namespace tcppool::workshop
