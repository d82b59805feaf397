// common/workshop/attempt.hpp: starting an attempt at a stage, and starting it again.
//
// An attempt at stage N is a copy of stage N-1's pool (its headers and sources, not its tests,
// benchmarks or build file) in workshop/stageN/, with the namespace and the stage's qualified
// names changed from stageN-1 to stageN so that it builds as stage N, and a TASK.md. Stage N's
// tests then grade it: nothing else in the repository changes, and git ignores workshop/.
#pragma once

#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/workshop/stages.hpp"

namespace tcppool::workshop {

/// What an attempt starts from.
enum class From {
  kPrevious,   ///< Stage N-1: the technique is left to build (the workshop's normal case).
  kReference,  ///< Stage N itself: for its exercises, or to see the grading pass.
};

/// Returns `text` with every `stage<from>` that names the stage (`tcppool::stage2`,
/// `stage2::Options`) changed to `stage<to>`; a directory name such as `stage2-mutex-queue`
/// and a longer identifier such as `stage2_pool` are left alone.
std::string rename_stage(std::string_view text, int from, int to);

/// Copies the pool files of `source` (a stage directory) into `attempt`, renamed from stage
/// `from` to stage `to`, and returns the files copied. REQUIRES: `attempt` exists.
std::vector<std::string> copy_pool(const std::filesystem::path& source,
                                   const std::filesystem::path& attempt, int from, int to,
                                   const std::string& source_dir);

/// Returns the TASK.md of an attempt: the stage page's Task and Goals (the manifest's when the
/// page is not written yet), the commands, what grades each goal, and the exercises.
std::string task_md(const std::filesystem::path& repo, const Stage& stage, From from,
                    const std::string& attempt_dir, const std::vector<std::string>& files);

/// Starts an attempt at `stage` in `attempts`/stageN. Never overwrites one: when the attempt
/// exists, says so and changes nothing. Returns what to print, or why it cannot start (stage
/// 1 from the previous stage: there is none).
std::expected<std::string, std::string> start_attempt(const std::filesystem::path& repo,
                                                      const std::filesystem::path& attempts,
                                                      const Stage& stage, From from);

/// Says what it deletes, keeps a copy in `attempts`/.reset/, deletes the attempt, and starts
/// it again.
std::expected<std::string, std::string> reset_attempt(const std::filesystem::path& repo,
                                                      const std::filesystem::path& attempts,
                                                      const Stage& stage, From from);

/// Returns the files of an attempt, relative to it, sorted.
std::vector<std::string> attempt_files(const std::filesystem::path& attempt);

}  // namespace tcppool::workshop
