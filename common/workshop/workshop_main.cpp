// common/workshop/workshop_main.cpp: the workshop command, behind the Makefile's workshop
// targets (docs/workshop.md).
//
//   workshop start N [--from previous|reference]   make workshop STAGE=N [FROM=reference]
//   workshop reset N [--from previous|reference]   make workshop-reset STAGE=N
//   workshop test N [--exercise K]                 make workshop-test STAGE=N [EXERCISE=K]
//   workshop bench N [--scenario S] [--quick]      make workshop-bench STAGE=N
//   workshop lint                                  make test runs it: manifests match stages
//   workshop prove [--stage N]... [--no-exercises] make workshop-prove, in CI: grading
//                                                  fails what is wrong and passes what is right
//
// Options for all: --repo DIR (default: the source tree it was built from), --attempts DIR
// (default REPO/workshop), --build DIR (default REPO/build/workshop), --jobs N, --timeout SECONDS.
// `test` exits 0 only when every graded goal is met; `prove` only when every check holds.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/workshop/attempt.hpp"
#include "common/workshop/build.hpp"
#include "common/workshop/runner.hpp"
#include "common/workshop/stages.hpp"

#ifndef TCPPOOL_SOURCE_DIR
#define TCPPOOL_SOURCE_DIR "."
#endif

namespace {

namespace fs = std::filesystem;
using namespace tcppool::workshop;

constexpr const char* kUsage =
    "usage: workshop start|reset N [--from previous|reference]\n"
    "       workshop test N [--exercise K]\n"
    "       workshop bench N [--scenario NAME] [--quick]\n"
    "       workshop lint\n"
    "       workshop prove [--stage N]... [--no-exercises]\n"
    "options: --repo DIR --attempts DIR --build DIR --jobs N --timeout SECONDS\n";

struct Args {
  std::string command;
  int stage = 0;
  int exercise = 0;
  From from = From::kPrevious;
  std::string scenario;
  bool quick = false;
  bool exercises = true;
  std::vector<int> stages;
  Layout layout;
};

int usage(const std::string& why) {
  std::fprintf(stderr, "workshop: %s\n%s", why.c_str(), kUsage);
  return 2;
}

bool number(std::string_view s, int& out) {
  if (s.empty() || s.size() > 4) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

std::expected<Args, std::string> parse(int argc, char** argv) {
  Args a;
  a.layout.repo = TCPPOOL_SOURCE_DIR;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  a.layout.jobs = cpus > 0 ? static_cast<int>(cpus) : 2;
  std::string attempts, build;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--repo") {
      a.layout.repo = value();
    } else if (arg == "--attempts") {
      attempts = value();
    } else if (arg == "--build") {
      build = value();
    } else if (arg == "--jobs") {
      if (!number(value(), a.layout.jobs) || a.layout.jobs < 1)
        return std::unexpected("bad --jobs");
    } else if (arg == "--timeout") {
      int s = 0;
      if (!number(value(), s) || s < 1) return std::unexpected("bad --timeout");
      a.layout.timeout = std::chrono::seconds(s);
    } else if (arg == "--from") {
      std::string f = value();
      if (f == "previous" || f.empty()) {
        a.from = From::kPrevious;
      } else if (f == "reference") {
        a.from = From::kReference;
      } else {
        return std::unexpected("--from is `previous` or `reference`, not `" + f + "`");
      }
    } else if (arg == "--exercise") {
      std::string k = value();
      if (!k.empty() && (!number(k, a.exercise) || a.exercise < 1)) {
        return std::unexpected("EXERCISE is a number from 1, not `" + k + "`");
      }
    } else if (arg == "--scenario") {
      a.scenario = value();
    } else if (arg == "--quick") {
      a.quick = true;
    } else if (arg == "--no-exercises") {
      a.exercises = false;
    } else if (arg == "--stage") {
      int n = 0;
      if (!number(value(), n)) return std::unexpected("bad --stage");
      a.stages.push_back(n);
    } else if (arg.starts_with("--")) {
      return std::unexpected("unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty()) return std::unexpected("no command");
  a.command = positional[0];
  if (a.command == "start" || a.command == "reset" || a.command == "test" || a.command == "bench") {
    if (positional.size() < 2 || positional[1].empty()) {
      return std::unexpected(
          "which stage? make workshop STAGE=N (N from 2; stage 1 has no "
          "predecessor: FROM=reference for its exercises)");
    }
    if (!number(positional[1], a.stage) || a.stage < 1) {
      return std::unexpected("STAGE is a stage number, not `" + positional[1] + "`");
    }
  }
  a.layout.repo = fs::absolute(a.layout.repo).lexically_normal();
  a.layout.attempts = attempts.empty() ? a.layout.repo / "workshop" : fs::absolute(attempts);
  a.layout.build = build.empty() ? a.layout.repo / "build/workshop" : fs::absolute(build);
  a.layout.bench_build =
      a.layout.build.parent_path() / (a.layout.build.filename().string() + "-bench");
  return a;
}

fs::path attempt_of(const Layout& layout, int n) {
  return layout.attempts / ("stage" + std::to_string(n));
}

std::string rel(const Layout& layout, const fs::path& p) {
  return fs::absolute(p).lexically_relative(layout.repo).string();
}

int test(const Args& a, const Stage& stage) {
  auto g = grade_attempt(a.layout, stage, attempt_of(a.layout, stage.number), a.exercise);
  if (!g) {
    std::fprintf(stderr, "workshop: %s\n", g.error().c_str());
    return 2;
  }
  const Grading& grading = **g;
  std::string n = std::to_string(stage.number);
  std::string out = "\n" + grading.text + "\n";
  std::string logs = rel(a.layout, a.layout.build / "logs" / ("stage" + n));
  bool met = grading.checklist.all_met();
  if (!grading.pool_built) {
    out +=
        "Your pool does not compile, so nothing could run: fix that first (the whole log: " + logs +
        "/ws" + n + "_pool.log).\n";
  } else if (a.exercise != 0) {
    const Exercise* e = stage.manifest->exercise(a.exercise);
    if (met) {
      out += "Exercise " + std::to_string(a.exercise) +
             " passes. Check that the stage still does: make workshop-test STAGE=" + n;
      if (!e->breaks.empty()) {
        out += " (expect it to change";
        for (const auto& b : e->breaks) out += " " + b;
        out += ", on purpose)";
      }
      out += ".\n";
    } else {
      out += "Logs: " + logs + "/. The hints are on the page; the answers in docs/answers/stage" +
             n + ".md.\n";
    }
  } else if (met) {
    out += "Stage " + n + " done. See what it bought: make workshop-bench STAGE=" + n +
           "; compare with the reference: make diff N=" + n;
    if (!stage.manifest->exercises.empty()) {
      out += "; then the exercises: make workshop-test STAGE=" + n + " EXERCISE=1";
    }
    out += ".\n";
  } else {
    out += "Logs: " + logs +
           "/. Grade again after a change, or keep make workshop-watch STAGE=" + n + " running.\n";
  }
  std::fputs(out.c_str(), stdout);
  return met ? 0 : 1;
}

// Makes `attempt` a fresh copy of what `from` starts it from, writing only the files that
// differ, so that the build recompiles only what changed since the last grading.
std::expected<void, std::string> refresh(const Layout& layout, const Stage& stage,
                                         const fs::path& attempt, From from) {
  fs::path scratch = layout.attempts / ".fresh";
  fs::remove_all(scratch);
  auto started = start_attempt(layout.repo, scratch, stage, from);
  if (!started) return std::unexpected(started.error());
  fs::path made = scratch / attempt.filename();
  for (const auto& f : attempt_files(attempt)) {
    if (!fs::exists(made / f)) fs::remove(attempt / f);
  }
  fs::create_directories(attempt);
  for (const auto& f : attempt_files(made)) write_if_changed(attempt / f, read_text(made / f));
  fs::remove_all(scratch);
  return {};
}

// CI's proof that grading discriminates, for every stage (or those asked for). Per stage, in
// the order that rebuilds least: the untouched copy of stage N-1, then the reference's pool,
// then every exercise's tests on that same copy in one build, then each exercise's answer.
int prove(const Args& a) {
  Layout layout = a.layout;
  layout.attempts = layout.repo / "build/workshop-prove/attempts";
  layout.build = layout.repo / "build/workshop-prove/build";
  layout.quiet = true;
  layout.debug_info = false;  // pass or fail is all it needs
  using Clock = std::chrono::steady_clock;
  auto started = Clock::now();
  int failures = 0;
  auto seconds = [](Clock::time_point since) {
    return std::to_string(
               std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - since).count()) +
           " s";
  };
  auto report = [&](bool ok, const std::string& what, Clock::time_point since, const Grading* g) {
    std::printf("%s %s (%s)\n", ok ? "ok  " : "FAIL", what.c_str(), seconds(since).c_str());
    if (!ok) {
      ++failures;
      if (g != nullptr) std::printf("%s\n", g->text.c_str());
    }
    std::fflush(stdout);
  };
  std::vector<int> numbers = a.stages.empty() ? stage_numbers(layout.repo) : a.stages;
  for (int n : numbers) {
    auto stage = find_stage(layout.repo, n);
    if (stage && !stage->manifest && stage->page.empty()) {
      // Still being written (no page yet): its manifest comes with its page.
      std::printf("skip stage %d: no workshop.conf yet, and no page (%s is in progress)\n", n,
                  stage->dir.c_str());
      continue;
    }
    if (!stage || !stage->manifest) {
      std::printf("FAIL stage %d: %s\n", n, stage ? "no workshop.conf" : stage.error().c_str());
      ++failures;
      continue;
    }
    fs::path attempt = attempt_of(layout, n);
    std::string sn = std::to_string(n);
    if (n > 1) {
      // 1. The untouched copy of stage N-1 fails the technique's goals, and only those.
      auto t = Clock::now();
      if (auto s = refresh(layout, *stage, attempt, From::kPrevious); !s) {
        report(false, "stage " + sn + ": " + s.error(), t, nullptr);
        continue;
      }
      auto g = grade_attempt(layout, *stage, attempt);
      if (!g) {
        report(false, "stage " + sn + ": " + g.error(), t, nullptr);
        continue;
      }
      int technique = 0, technique_failed = 0, kept = 0, kept_met = 0;
      std::string wrong;
      for (const auto& gg : (*g)->checklist.goals) {
        if (!gg.goal->graded()) continue;
        if (gg.goal->kept) {
          ++kept;
          if (gg.met())
            ++kept_met;
          else
            wrong += "\n     kept goal failed: " + gg.goal->title;
        } else {
          ++technique;
          if (!gg.met())
            ++technique_failed;
          else
            wrong += "\n     technique goal met by the untouched copy: " + gg.goal->title;
        }
      }
      bool ok = wrong.empty() && (*g)->checklist.ungraded.empty() && (*g)->pool_built;
      report(ok,
             "stage " + sn + ", untouched copy of stage " + std::to_string(n - 1) + ": fails " +
                 std::to_string(technique_failed) + " of " + std::to_string(technique) +
                 " technique goals, meets " + std::to_string(kept_met) + " of " +
                 std::to_string(kept) + " kept goals" + wrong,
             t, g->get());
    }
    // 2. The reference stage's pool, copied in, meets every goal.
    auto t = Clock::now();
    if (auto s = refresh(layout, *stage, attempt, From::kReference); !s) {
      report(false, "stage " + sn + ": " + s.error(), t, nullptr);
      continue;
    }
    if (n > 1) {
      auto g = grade_attempt(layout, *stage, attempt);
      bool all = g && (*g)->checklist.all_met() && (*g)->checklist.ungraded.empty();
      report(all, "stage " + sn + ", the reference's pool copied in: meets every goal", t,
             g ? g->get() : nullptr);
    }
    if (!a.exercises) continue;
    std::vector<const Exercise*> graded;
    for (const auto& e : stage->manifest->exercises) {
      if (!e.tests.empty()) graded.push_back(&e);
    }
    if (graded.empty()) continue;
    auto what = [&](const Exercise& e) {
      return "stage " + sn + ", exercise " + std::to_string(e.number) + " (" + e.title + ")";
    };
    // 3. Each exercise's tests fail on the reference: all of them in one build.
    t = Clock::now();
    auto all = grade_attempt(layout, *stage, attempt, kEveryExercise);
    if (!all) {
      report(false, "stage " + sn + ", the exercises on the reference: " + all.error(), t, nullptr);
      continue;
    }
    const auto& goals = (*all)->checklist.goals;  // one per exercise, in the order of `graded`
    for (std::size_t i = 0; i < goals.size() && i < graded.size(); ++i) {
      report(!goals[i].met(), what(*graded[i]) + " fails on the reference", t,
             goals[i].met() ? all->get() : nullptr);
    }
    // 4. ... and pass with its answer, a patch of the reference's files.
    for (const Exercise* e : graded) {
      t = Clock::now();
      if (auto s = refresh(layout, *stage, attempt, From::kReference); !s) {
        report(false, what(*e) + ": " + s.error(), t, nullptr);
        continue;
      }
      Job patch{.argv = {"patch", "-p1", "-s", "--no-backup-if-mismatch", "-d", attempt.string(),
                         "-i", (layout.repo / e->answer).string()},
                .output = (layout.build / "logs/patch.log").string()};
      fs::create_directories(layout.build / "logs");
      if (!run_job(patch).ok()) {
        report(false, what(*e) + ": " + e->answer + " does not apply: " + read_text(patch.output),
               t, nullptr);
        continue;
      }
      auto g = grade_attempt(layout, *stage, attempt, e->number);
      bool passes = g && (*g)->checklist.all_met();
      report(passes, what(*e) + " passes with " + e->answer, t, g ? g->get() : nullptr);
    }
  }
  std::printf("\n%s: %d problem%s, in %s\n", failures == 0 ? "grading discriminates" : "FAILED",
              failures, failures == 1 ? "" : "s", seconds(started).c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args) return usage(args.error());
  const Args& a = *args;
  if (a.command == "lint") {
    auto problems = lint(a.layout.repo);
    for (const auto& p : problems) std::printf("%s\n", p.c_str());
    if (problems.empty()) std::printf("workshop manifests: every stage's tests are graded\n");
    return problems.empty() ? 0 : 1;
  }
  if (a.command == "prove") return prove(a);
  auto stage = find_stage(a.layout.repo, a.stage);
  if (!stage) {
    std::fprintf(stderr, "workshop: %s\n", stage.error().c_str());
    return 2;
  }
  if (a.command == "start" || a.command == "reset") {
    auto r = a.command == "start" ? start_attempt(a.layout.repo, a.layout.attempts, *stage, a.from)
                                  : reset_attempt(a.layout.repo, a.layout.attempts, *stage, a.from);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().c_str());
      return 2;
    }
    std::printf("%s\n", r->c_str());
    return 0;
  }
  if (a.command == "test") return test(a, *stage);
  if (a.command == "bench") {
    auto r = bench_attempt(a.layout, *stage, attempt_of(a.layout, a.stage), a.scenario, a.quick);
    if (!r) {
      std::fprintf(stderr, "workshop: %s\n", r.error().c_str());
      return 2;
    }
    std::printf(
        "%s\nMeasured in one run, the stages' repetitions interleaved. Counts (peak_open, "
        "errors, dials) hold on a busy machine; rates and latencies do not: compare them "
        "on a quiet one.\n",
        r->c_str());
    return 0;
  }
  return usage("unknown command " + a.command);
}
