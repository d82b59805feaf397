// common/workshop/stages.hpp: the stages of the repository as workshop mode sees them.
//
// A stage is a directory stageN-name/ with its page docs/stageN-name.md (once written) and its
// manifest stageN-name/workshop.conf. Its reference tests are read off its *_test.cpp files:
// each INSTANTIATE_TYPED_TEST_SUITE_P() line becomes a unit of its own (one conformance suite,
// compiled alone), and each file, with those lines blanked, another. An exercise's tests are one
// more unit, exercises/stageN/exerciseK_test.cpp.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/workshop/manifest.hpp"
#include "common/workshop/sources.hpp"

namespace tcppool::workshop {

/// A stage of the repository.
struct Stage {
  int number = 0;       ///< 3 for stage3-bounded-channel.
  std::string dir{};    ///< "stage3-bounded-channel".
  std::string title{};  ///< "Stage 3: bounded channel": the page's heading, else from the dir.
  std::string page{};   ///< "docs/stage3-bounded-channel.md", or "" while it is not written.
  std::optional<Manifest> manifest{};  ///< Its workshop.conf, when it has one.
};

/// Finds stage `number` under `repo` and reads its manifest. Fails, saying why, when there is
/// no such stage or its manifest does not parse.
std::expected<Stage, std::string> find_stage(const std::filesystem::path& repo, int number);

/// Returns the numbers of the stages under `repo`, in order.
std::vector<int> stage_numbers(const std::filesystem::path& repo);

/// A test binary of workshop mode: one conformance suite, or one test file.
struct Unit {
  std::string name{};      ///< "bounded", "pool_test", "exercise2": names its target and source.
  std::string label{};     ///< "the bounded suite", "pool_test.cpp", for messages.
  std::string origin{};    ///< Repository path of the file its errors point into.
  std::string source{};    ///< The source to compile.
  bool trimmable = false;  ///< A test file: failing TEST()s may be blanked out.
  std::vector<std::string> tests{};  ///< Its tests, Suite.Test.
  std::vector<TestBlock> blocks{};   ///< Its TEST()s, when trimmable.
};

/// Returns the units of stage's reference tests: one per conformance suite its test files
/// instantiate, then one per test file with those lines blanked.
std::expected<std::vector<Unit>, std::string> reference_units(const std::filesystem::path& repo,
                                                              const Stage& stage);

/// Returns the unit of the tests of exercise `number` of `stage`.
std::expected<Unit, std::string> exercise_unit(const std::filesystem::path& repo,
                                               const Stage& stage, int number);

/// The repository path of exercise `number`'s tests.
std::string exercise_test_path(const Stage& stage, int number);

/// The Task sentence and Goals bullets of a stage page (Markdown, as written), or empty.
struct TaskAndGoals {
  std::string task{};                ///< The text of the Task paragraph, or "".
  std::vector<std::string> goals{};  ///< Each bullet of the Goals list, in order.
};

/// Reads the **Task.** paragraph and the **Goals.** list from a stage page.
TaskAndGoals page_task_and_goals(std::string_view page);

/// Returns the items of a page's "## Exercises" section, each as its Markdown text.
std::vector<std::string> page_exercises(std::string_view page);

/// Checks every stage's manifest against the stage (a stage with a page must have one; one
/// still without a page, still being written, need not): each reference test graded by exactly one
/// goal or excluded, each pattern matching something, each exercise's test file, answer and
/// page item present and agreeing. Returns the problems, "path:line: what", one each.
std::vector<std::string> lint(const std::filesystem::path& repo);

}  // namespace tcppool::workshop
