// common/workshop/manifest.hpp: a stage's workshop manifest, stageN-*/workshop.conf.
//
// The manifest says what workshop mode grades for one stage: the stage's goals, each with the
// tests that grade it (or the benchmark, or the section to read, when no test can); the tests
// of the reference stage's own flaws, which are not held against an attempt; the benchmark
// scenario that shows the technique; and the exercises of the stage's page, each with its
// time, its grader and its answer. Everything else (which suites the stage instantiates, which
// test files it has) is read from the stage's test files, so that the manifest cannot drift
// from them. The format, one `key: value` a line:
//
//     # a comment
//     task: One sentence: what the attendee builds (TASK.md uses it when the page is missing).
//     goal: A goal of this stage's technique; an untouched attempt fails it.
//     tests: Stage3Bounded.CapHolds* Stage3Pool.CountsOpenIdleAndWaiting
//     goal: A goal no test can grade
//     bench: make workshop-bench STAGE=3, and compare peak_open
//     kept: What earlier stages did; an untouched attempt passes it.
//     tests: Stage3Basic.* Stage3Reuse.*
//     exclude: Stage3StalePool.* -- why it is not held against the attempt
//     scenario: burst threads:64 peak_open p99_us
//     exercise: 1 Count the waits
//     time: 30 min
//     tests: Stage3Exercise1.*
//     answer: exercises/stage3/exercise1.patch
//     breaks: Stage3Pool.SomethingTheAnswerChangesOnPurpose
//     exercise: 2 A question
//     time: 15 min
//     check: make workshop-test STAGE=3, and predict first whether the channel's tests notice
//
// An exercise is graded by its tests (in exercises/stageN/exerciseK_test.cpp, run by
// `make workshop-test STAGE=N EXERCISE=K`; its answer is a patch of the stage's files that
// makes them pass), by a benchmark (`bench:` names the command and the number to reach), or,
// for a question rather than a change, by a command whose output answers it (`check:`).
//
// Test names are GoogleTest's Suite.Test, with a typed suite named by its instantiation prefix
// alone (Stage3Bounded.CapHoldsUnderLoadAtEverySample), and may use * and ?. docs/writing-docs.md
// says what a new stage writes.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace tcppool::workshop {

/// One line of the checklist: a goal of the stage and what grades it.
struct Goal {
  std::string title{};               ///< As the checklist shows it.
  bool kept = false;                 ///< True for what earlier stages did (`kept:`).
  std::vector<std::string> tests{};  ///< Test name patterns; empty when bench or read grades it.
  std::string bench{};               ///< Graded by a benchmark instead: what to run, what to see.
  std::string read{};                ///< Not graded: what to read.
  int line = 0;                      ///< Where the manifest defines it.

  /// Returns true when tests grade the goal.
  bool graded() const { return !tests.empty(); }
};

/// Reference tests not held against an attempt: the reference stage's tests of its own flaws.
struct Exclusion {
  std::string pattern{};  ///< Test name pattern.
  std::string reason{};   ///< Why, in a few words, for the checklist.
  int line = 0;           ///< Where the manifest defines it.
};

/// A benchmark scenario `make workshop-bench` runs, and the counters it compares:
/// `scenario: steady threads:4 payload:64 rps dials_per_1k` runs steady at 4 threads and 64
/// bytes only (the parts of the benchmark's name after the stage), and compares two counters.
struct Scenario {
  std::string name{};                   ///< The harness's scenario name: "burst", "steady", ...
  std::vector<std::string> parts{};     ///< Name parts that select one configuration, or none.
  std::vector<std::string> counters{};  ///< "peak_open", "rps", "errors", ...
  int line = 0;                         ///< Where the manifest defines it.
};

/// An exercise of the stage's page, in the page's order.
struct Exercise {
  int number = 0;                    ///< 1, 2, ...: its number on the page.
  std::string title{};               ///< Its title on the page.
  std::string time{};                ///< The estimate the page gives: "20 min".
  std::vector<std::string> tests{};  ///< Patterns of the tests that grade it (exercises/stageN/).
  std::string bench{};               ///< Or the benchmark command and the number to reach.
  std::string check{};               ///< Or, for a question, the command that shows the answer.
  std::string answer{};              ///< The answer as a patch of the stage's files, repo-relative.
  std::vector<std::string> breaks{};  ///< Reference tests the answer changes on purpose.
  int line = 0;                       ///< Where the manifest defines it.
};

/// A parsed manifest.
struct Manifest {
  std::string path{};                 ///< The file it was read from, for messages.
  std::string task{};                 ///< The task in one sentence.
  std::vector<Goal> goals{};          ///< In the page's order, kept goals last by convention.
  std::vector<Exclusion> excluded{};  ///< Tests not held against an attempt.
  std::vector<Scenario> scenarios{};  ///< What `make workshop-bench` runs.
  std::vector<Exercise> exercises{};  ///< In the page's order.

  /// Returns exercise `number`, or nullptr.
  const Exercise* exercise(int number) const;
};

/// Parses a manifest. Fails with "path:line: what is wrong" for a key it does not know, a
/// `tests:` outside a goal or an exercise, a goal with no grader or two, an exercise numbered
/// out of order or without a time, and the like.
std::expected<Manifest, std::string> parse_manifest(std::string_view text, const std::string& path);

/// Returns true when `name` matches the GoogleTest-style `pattern` (`*` any run, `?` any one
/// character).
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace tcppool::workshop
