// common/workshop/workshop_test.cpp: the pieces of workshop mode, each on inputs it must get
// right: the manifest, reading test files and the compiler's errors, naming stages, grading
// and the checklist, the benchmark's summary. The whole loop, on every stage, is
// `make workshop-prove` (CI runs it): an untouched attempt fails the technique's goals and only
// those, the reference passes, and each exercise fails on the reference and passes on its answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/workshop/attempt.hpp"
#include "common/workshop/build.hpp"
#include "common/workshop/grade.hpp"
#include "common/workshop/manifest.hpp"
#include "common/workshop/runner.hpp"
#include "common/workshop/sources.hpp"
#include "common/workshop/stages.hpp"

namespace tcppool::workshop {
namespace {

constexpr const char* kManifest = R"(# a comment
task: Cap the connections.

goal: Build the channel
tests: Stage3BoundedChannel.*
goal: Cap them
tests: Stage3Bounded.Cap* Stage3Pool.Counts
tests: Stage3Options.*
goal: Measure it
bench: make workshop-bench STAGE=3
kept: What stage 2 did
tests: Stage3Basic.*

exclude: Stage3StalePool.* -- its own flaw
scenario: burst threads:64 peak_open p99_us

exercise: 1 Count the waits
time: 30 min
tests: Stage3Exercise1.*
answer: exercises/stage3/exercise1.patch
breaks: Stage3Pool.Counts
exercise: 2 Barging
time: 90 min
bench: contention, 64 / 8 above 0.9
)";

TEST(WorkshopManifest, ParsesEveryKey) {
  auto m = parse_manifest(kManifest, "x.conf");
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ(m->task, "Cap the connections.");
  ASSERT_EQ(m->goals.size(), 4u);
  EXPECT_EQ(m->goals[1].title, "Cap them");
  EXPECT_EQ(m->goals[1].tests, (std::vector<std::string>{"Stage3Bounded.Cap*", "Stage3Pool.Counts",
                                                         "Stage3Options.*"}));
  EXPECT_FALSE(m->goals[1].kept);
  EXPECT_FALSE(m->goals[2].graded());
  EXPECT_EQ(m->goals[2].bench, "make workshop-bench STAGE=3");
  EXPECT_TRUE(m->goals[3].kept);
  ASSERT_EQ(m->excluded.size(), 1u);
  EXPECT_EQ(m->excluded[0].pattern, "Stage3StalePool.*");
  EXPECT_EQ(m->excluded[0].reason, "its own flaw");
  ASSERT_EQ(m->scenarios.size(), 1u);
  EXPECT_EQ(m->scenarios[0].parts, std::vector<std::string>{"threads:64"});
  EXPECT_EQ(m->scenarios[0].counters, (std::vector<std::string>{"peak_open", "p99_us"}));
  ASSERT_EQ(m->exercises.size(), 2u);
  EXPECT_EQ(m->exercises[0].time, "30 min");
  EXPECT_EQ(m->exercises[0].breaks, std::vector<std::string>{"Stage3Pool.Counts"});
  EXPECT_EQ(m->exercise(2)->bench, "contention, 64 / 8 above 0.9");
  EXPECT_EQ(m->exercise(3), nullptr);
}

TEST(WorkshopManifest, ErrorsNameTheLineAndTheProblem) {
  auto error = [](const std::string& text) {
    auto m = parse_manifest(text, "x.conf");
    return m ? std::string("accepted") : m.error();
  };
  EXPECT_EQ(error("task: t\ngoal: g\ntests: A.*\nfrob: x\n"), "x.conf:4: unknown key `frob`");
  EXPECT_EQ(error("task: t\ntests: A.*\n"),
            "x.conf:2: `tests:` belongs under a `goal:`, `kept:` or `exercise:`");
  EXPECT_EQ(error("task: t\ngoal: g\n"),
            "x.conf:2: goal \"g\" needs exactly one of tests:, bench:, read:");
  EXPECT_EQ(error("task: t\ngoal: g\ntests: A.*\nbench: b\n"),
            "x.conf:2: goal \"g\" needs exactly one of tests:, bench:, read:");
  EXPECT_EQ(error("task: t\ngoal: g\ntests: A.*\nexercise: 2 late\n"),
            "x.conf:4: exercise 2 out of order: expected 1");
  EXPECT_EQ(error("task: t\ngoal: g\ntests: A.*\nexercise: 1 e\ntests: E.*\nanswer: a.patch\n"),
            "x.conf:4: exercise has no `time:`");
  EXPECT_EQ(error("task: t\ngoal: g\ntests: A.*\nexercise: 1 e\ntime: 5 min\ntests: E.*\n"),
            "x.conf:4: an exercise graded by tests needs an `answer:` patch");
  EXPECT_EQ(error("goal: g\ntests: A.*\n"), "x.conf:1: no `task:` line");
  EXPECT_EQ(error("task: t\ngoal: g\ntests: A.*\nexclude: A.X\n"),
            "x.conf:4: `exclude:` needs `PATTERN -- reason`");
}

TEST(WorkshopManifest, GlobsMatchAsGoogleTestFiltersDo) {
  EXPECT_TRUE(glob_match("Stage3Bounded.*", "Stage3Bounded.CapHolds"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("Stage?Pool.*Idle*", "Stage3Pool.ReusesTheLongestIdleFirst"));
  EXPECT_FALSE(glob_match("Stage3Bounded.*", "Stage3BoundedChannel.X"));
  EXPECT_FALSE(glob_match("Stage3Pool.Counts", "Stage3Pool.CountsOpenIdleAndWaiting"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYY"));
}

constexpr const char* kTestFile = R"(// A test file.
#include "pool.hpp"

namespace stage = tcppool::stage3;

namespace tcppool::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Stage3Basic, BasicConformance, stage::Pool);
}  // namespace tcppool::testing

class Stage3Pool : public Fixture {};

TEST_F(Stage3Pool, First) {
  int x = 1;
}

TEST(Stage3Options,
     ASecondWithItsNameOnTheNextLine) {
  if (true) {
  }
}
)";

TEST(WorkshopSources, ScansTestsInstantiationsAndTheAlias) {
  TestFile f = scan_test_file(kTestFile);
  ASSERT_EQ(f.tests.size(), 2u);
  EXPECT_EQ(f.tests[0].full_name(), "Stage3Pool.First");
  EXPECT_EQ(f.tests[0].first_line, 12);
  EXPECT_EQ(f.tests[0].last_line, 14);
  EXPECT_EQ(f.tests[1].full_name(), "Stage3Options.ASecondWithItsNameOnTheNextLine");
  EXPECT_EQ(f.tests[1].first_line, 16);
  EXPECT_EQ(f.tests[1].last_line, 20);
  ASSERT_EQ(f.instantiations.size(), 1u);
  EXPECT_EQ(f.instantiations[0].prefix, "Stage3Basic");
  EXPECT_EQ(f.instantiations[0].suite_class, "BasicConformance");
  EXPECT_EQ(f.instantiations[0].line, 7);
  EXPECT_EQ(f.alias, "namespace stage = tcppool::stage3;");
}

TEST(WorkshopSources, ReadsARegisteredSuite) {
  const char* header = R"(TYPED_TEST_SUITE_P(BasicConformance);
REGISTER_TYPED_TEST_SUITE_P(OtherConformance, X);
REGISTER_TYPED_TEST_SUITE_P(BasicConformance, AcquiredConnectionEchoes,
                            LeaseMoves, Discard);
)";
  EXPECT_EQ(registered_tests(header, "BasicConformance"),
            (std::vector<std::string>{"AcquiredConnectionEchoes", "LeaseMoves", "Discard"}));
  EXPECT_TRUE(registered_tests(header, "Missing").empty());
  EXPECT_TRUE(declares_suite(header, "BasicConformance"));
  EXPECT_FALSE(declares_suite(header, "OtherConformance"));
}

TEST(WorkshopSources, BlankingKeepsLineNumbers) {
  EXPECT_EQ(blank_lines("a\nb\nc\nd\n", 2, 3), "a\n\n\nd\n");
  EXPECT_EQ(blank_lines("a\nb", 2, 2), "a\n");
}

// What GCC 12 prints for errors in a test body, from a template instantiated in one, in a
// fixture, in a header, and at link time.
constexpr const char* kGccOutput =
    "/b/gen/pool_test.cpp: In member function 'virtual void "
    "{anonymous}::Stage3Pool_First_Test::TestBody()':\n"
    "/b/gen/pool_test.cpp:13:7: error: 'struct Options' has no member named 'max_open'\n"
    "   13 |   o.max_open = 2;\n"
    "In file included from /usr/include/gtest/gtest.h:64,\n"
    "/usr/include/gtest/gtest.h: In instantiation of 'void f(T) [with T = int]':\n"
    "/b/gen/pool_test.cpp:18:3:   required from here\n"
    "/usr/include/gtest/gtest.h:1354:11: error: no match for 'operator=='\n"
    "/b/gen/pool_test.cpp:18:3: note: candidate: something\n";

TEST(WorkshopSources, LocatesErrorsInTheFileOrWhereTheyAreRequiredFrom) {
  auto loc = locate_errors(kGccOutput, "/b/gen/pool_test.cpp");
  ASSERT_EQ(loc.errors.size(), 2u);
  EXPECT_EQ(loc.errors[0].line, 13);
  EXPECT_EQ(loc.errors[1].line, 18);
  EXPECT_NE(loc.errors[1].error.find("no match for 'operator=='"), std::string::npos);
  EXPECT_FALSE(loc.elsewhere);
  EXPECT_EQ(loc.first_error,
            "/b/gen/pool_test.cpp:13:7: error: 'struct Options' has no member named 'max_open'");
}

TEST(WorkshopSources, AnErrorNoLineOfTheFileExplainsIsElsewhere) {
  auto header = locate_errors(
      "In file included from /b/gen/pool_test.cpp:2:\n"
      "/repo/workshop/stage3/pool.hpp:40:3: error: expected ';' before '}' token\n",
      "/b/gen/pool_test.cpp");
  EXPECT_TRUE(header.elsewhere);
  EXPECT_TRUE(header.errors.empty());
  auto link = locate_errors(
      "/usr/bin/ld: CMakeFiles/x.dir/pool_test.cpp.o: in function `f()':\n"
      "/b/gen/pool_test.cpp:13: undefined reference to `tcppool::stage3::Pool::try_acquire()'\n"
      "collect2: error: ld returned 1 exit status\n",
      "/b/gen/pool_test.cpp");
  ASSERT_EQ(link.errors.size(), 1u)
      << "an undefined reference at a line of the file is that line's";
  EXPECT_EQ(link.errors[0].line, 13);
  EXPECT_FALSE(link.elsewhere) << "collect2's summary is not an error of its own";
  auto bare = locate_errors(
      "/usr/bin/ld: x.o: undefined reference to `tcppool::stage3::Pool::waiting() const'\n",
      "/b/gen/pool_test.cpp");
  EXPECT_TRUE(bare.elsewhere);
}

TEST(WorkshopSources, FirstErrorIsOneShortLine) {
  EXPECT_EQ(first_error(kGccOutput, "/b/"),
            "gen/pool_test.cpp:13:7: error: 'struct Options' has no member named 'max_open'");
  EXPECT_EQ(first_error("x.cpp:1:1: error: " + std::string(400, 'a'), "", 40).size(), 43u);
  EXPECT_EQ(first_error("all good\n"), "");
  EXPECT_TRUE(has_error(kGccOutput));
  EXPECT_TRUE(has_error("collect2: error: ld returned 1 exit status\n"));
  EXPECT_FALSE(has_error("x.cpp:3:5: warning: unused variable 'y'\n"));
}

TEST(WorkshopAttempt, RenamesTheStageButNotDirectoriesOrLongerNames) {
  EXPECT_EQ(rename_stage("namespace tcppool::stage2 {\n  using Options = stage2::Options;", 2, 3),
            "namespace tcppool::stage3 {\n  using Options = stage3::Options;");
  EXPECT_EQ(rename_stage("// stage2-mutex-queue/pool.hpp, stage2_pool, mystage2, stage21", 2, 3),
            "// stage2-mutex-queue/pool.hpp, stage2_pool, mystage2, stage21");
  EXPECT_EQ(rename_stage("}  // namespace tcppool::stage2\n", 2, 3),
            "}  // namespace tcppool::stage3\n");
}

TEST(WorkshopStages, ReadsTaskGoalsAndExercisesFromAPage) {
  const char* page = R"(# Stage 9: test

**Task.** Build a thing,
well.

**Goals.**

- One goal.
- Two goals, over
  two lines.

| file | what |

## Exercises

Intro.

1. **First** (10 min). Do it.
   More of it.

2. **Second** (20 min).

## Pitfalls
)";
  auto tg = page_task_and_goals(page);
  EXPECT_EQ(tg.task, "Build a thing, well.");
  EXPECT_EQ(tg.goals, (std::vector<std::string>{"One goal.", "Two goals, over two lines."}));
  auto items = page_exercises(page);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], "**First** (10 min). Do it. More of it.");
  EXPECT_EQ(items[1], "**Second** (20 min).");
}

TEST(WorkshopGrade, ReadsGoogleTestsJson) {
  TestResult r;
  ASSERT_TRUE(parse_gtest_json(R"({"testsuites": [{"name": "Stage3Bounded/BoundedConformance/0",
      "testsuite": [{"name": "CapHolds", "result": "COMPLETED", "failures": [
      {"failure": "/repo/common/testing/conformance/bounded.hpp:80\nExpected: x\n  Which is: 9"}]}]}]})",
                               r));
  EXPECT_EQ(r.name, "Stage3Bounded.CapHolds");
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(r.message, "bounded.hpp:80 Expected: x Which is: 9");
  ASSERT_TRUE(parse_gtest_json(R"({"testsuites": [{"name": "Stage4Health/HealthConformance/0",
      "testsuite": [{"name": "APeerVanishes", "result": "SKIPPED"}]}]})",
                               r));
  EXPECT_EQ(r.outcome, Outcome::kSkipped);
  ASSERT_TRUE(parse_gtest_json(
      R"({"testsuites": [{"name": "Stage3Pool", "testsuite": [{"name": "Ok", "result": "COMPLETED"}]}]})",
      r));
  EXPECT_EQ(r.name, "Stage3Pool.Ok");
  EXPECT_EQ(r.outcome, Outcome::kPassed);
  EXPECT_FALSE(parse_gtest_json("", r));
  EXPECT_FALSE(parse_gtest_json(R"({"testsuites": []})", r));
}

TEST(WorkshopGrade, ACrashIsNamedByItsSanitizerReport) {
  EXPECT_EQ(crash_summary("[ RUN      ] X.Y\n==1==ERROR: AddressSanitizer: heap-use-after-free on "
                          "address 0x1\n    #0 0x2 in f\n"),
            "ERROR: AddressSanitizer: heap-use-after-free on address 0x1");
  EXPECT_EQ(crash_summary("pool.cpp:9:3: runtime error: signed integer overflow\n"),
            "runtime error: signed integer overflow");
  EXPECT_EQ(crash_summary("[ RUN      ] X.Y\nsomething went wrong\n"), "something went wrong");
}

TEST(WorkshopGrade, GoalsGroupTheirTestsAndExclusionsAreNotHeldAgainst) {
  std::vector<Goal> goals{{.title = "cap", .tests = {"S.Cap*"}},
                          {.title = "kept", .kept = true, .tests = {"B.*"}},
                          {.title = "bench", .bench = "make workshop-bench"}};
  std::vector<Exclusion> excluded{{.pattern = "Stale.*", .reason = "its own flaw"}};
  std::vector<TestResult> results{
      {.name = "S.CapHolds", .outcome = Outcome::kPassed},
      {.name = "S.CapWaits", .outcome = Outcome::kNotCompiled, .message = "x.cpp:1: error: no"},
      {.name = "B.Echo", .outcome = Outcome::kPassed},
      {.name = "B.Root", .outcome = Outcome::kSkipped, .message = "needs root"},
      {.name = "Stale.HandsOut", .outcome = Outcome::kFailed},
      {.name = "Other.Test", .outcome = Outcome::kPassed}};
  Checklist c = grade(goals, excluded, results);
  ASSERT_EQ(c.goals.size(), 3u);
  EXPECT_FALSE(c.goals[0].met());
  EXPECT_EQ(c.goals[0].passed, 1);
  EXPECT_EQ(c.goals[0].failed, 1);
  EXPECT_TRUE(c.goals[1].met()) << "a skipped test is not a failure";
  EXPECT_TRUE(c.goals[2].met()) << "a goal no test grades is not held against the attempt";
  EXPECT_EQ(c.excluded[0].second, 1);
  EXPECT_EQ(c.ungraded, std::vector<std::string>{"Other.Test"});
  EXPECT_FALSE(c.all_met());
  std::string text = render(c, "Stage 9");
  EXPECT_NE(text.find("  FAIL cap  (1/2)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("S.CapWaits does not compile: x.cpp:1: error: no"), std::string::npos);
  EXPECT_NE(text.find("  PASS kept  (1/2)\n       1 skipped here (B.Root: needs root)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  --   bench\n       bench: make workshop-bench"), std::string::npos);
  EXPECT_NE(text.find("Not held against the attempt: Stale.* (1 test): its own flaw"),
            std::string::npos);
  EXPECT_NE(text.find("1 of 2 graded goals met."), std::string::npos);

  results[1].outcome = Outcome::kPassed;
  results.pop_back();
  c = grade(goals, excluded, results);
  EXPECT_TRUE(c.all_met());
  EXPECT_NE(render(c, "Stage 9").find("All 2 graded goals met."), std::string::npos);
}

TEST(WorkshopGrade, AGoalWhoseTestsAllSkippedIsNotMet) {
  std::vector<Goal> goals{{.title = "ports", .tests = {"E.*"}}};
  std::vector<TestResult> results{{.name = "E.X", .outcome = Outcome::kSkipped, .message = "root"}};
  Checklist c = grade(goals, {}, results);
  EXPECT_FALSE(c.all_met());
  EXPECT_NE(render(c, "h").find("  SKIP ports  (0/1)\n       not graded here: E.X skipped: root"),
            std::string::npos)
      << render(c, "h");
}

TEST(WorkshopBench, SummarisesMediansAndRatiosPerCounter) {
  const char* json = R"({"benchmarks": [
    {"name": "burst/stage2/threads:64/payload:64/repeats:3", "run_type": "iteration",
     "peak_open": 50, "p99_us": 900},
    {"name": "burst/stage2/threads:64/payload:64/repeats:3", "run_type": "iteration",
     "peak_open": 52, "p99_us": 1100},
    {"name": "burst/stage2/threads:64/payload:64/repeats:3", "run_type": "iteration",
     "peak_open": 51, "p99_us": 1000},
    {"name": "burst/stage2/threads:64/payload:64/repeats:3_median", "run_type": "aggregate",
     "peak_open": 999},
    {"name": "burst/attempt/threads:64/payload:64/repeats:3", "run_type": "iteration",
     "peak_open": 8, "p99_us": 2000},
    {"name": "burst/stage3/threads:64/payload:64/repeats:3", "run_type": "iteration",
     "peak_open": 8, "p99_us": 2500}]})";
  std::string out =
      bench_summary(json, {"stage2", "attempt", "stage3"},
                    {{.name = "burst", .counters = {"peak_open", "p99_us"}}}, "attempt");
  EXPECT_NE(out.find("burst (threads:64, payload:64)"), std::string::npos) << out;
  EXPECT_NE(out.find("peak_open               51           8           8           0.16x"
                     "           1.00x"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("p99_us                1000        2000        2500           2.00x"
                     "           0.80x"),
            std::string::npos)
      << out;
}

TEST(WorkshopBench, AScenarioAskedForKeepsTheManifestsConfiguration) {
  std::vector<Scenario> manifest = {
      {.name = "burst", .parts = {"threads:64"}, .counters = {"peak_open"}},
      {.name = "contention", .parts = {"threads:64"}, .counters = {"a_over_b", "p99_us"}}};
  EXPECT_EQ(bench_scenarios(manifest, "").size(), 2u);
  auto contention = bench_scenarios(manifest, "contention");
  ASSERT_EQ(contention.size(), 1u);
  EXPECT_EQ(contention[0].counters, (std::vector<std::string>{"a_over_b", "p99_us"}));
  EXPECT_EQ(contention[0].parts, std::vector<std::string>{"threads:64"});
  auto other = bench_scenarios(manifest, "idle_close");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].name, "idle_close");
  EXPECT_TRUE(other[0].parts.empty());
  EXPECT_NE(std::find(other[0].counters.begin(), other[0].counters.end(), "errors"),
            other[0].counters.end());
}

// A stage still without its page is still being written: it needs no manifest yet. Once its
// page exists, a missing manifest is a problem that names the file.
TEST(WorkshopStages, OnlyAStageWithAPageMustHaveAManifest) {
  namespace fs = std::filesystem;
  fs::path repo = fs::path(::testing::TempDir()) / "workshop_lint_repo";
  fs::remove_all(repo);
  fs::create_directories(repo / "stage7-metrics");
  fs::create_directories(repo / "docs");
  EXPECT_TRUE(lint(repo).empty());
  write_if_changed((repo / "docs/stage7-metrics.md").string(), "# Stage 7: metrics\n");
  auto problems = lint(repo);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("stage7-metrics/workshop.conf:1: missing"), std::string::npos)
      << problems[0];
  fs::remove_all(repo);
}

}  // namespace
}  // namespace tcppool::workshop
