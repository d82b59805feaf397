// common/workshop/attempt.cpp: copying a stage's pool into workshop/, and its TASK.md.
#include "common/workshop/attempt.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <system_error>

#include "common/workshop/runner.hpp"

namespace tcppool::workshop {
namespace {

namespace fs = std::filesystem;

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The files of a stage that make its pool: not its tests, benchmarks, stress binary, build
// file, README or manifest.
bool is_pool_file(const std::string& name) {
  if (name.ends_with("_test.cpp") || name.ends_with("_bench.cpp") ||
      name.ends_with("_stress.cpp")) {
    return false;
  }
  return name.ends_with(".hpp") || name.ends_with(".cpp") || name.ends_with(".h");
}

// Rewrites the first line's "// stage2-mutex-queue/pool.hpp: ..." to name the copy, and says
// on the next line where it came from.
std::string retitle(const std::string& text, const std::string& from_path,
                    const std::string& to_path) {
  std::string head = "// " + from_path + ":";
  if (!text.starts_with(head)) return text;
  std::size_t eol = text.find('\n');
  std::string first = "// " + to_path + ":" + text.substr(head.size(), eol - head.size());
  return first + "\n// (An attempt, started as a copy of " + from_path + ".)" +
         (eol == std::string::npos ? "" : text.substr(eol));
}

// Makes the page's relative links work from the attempt's TASK.md.
std::string relink(const std::string& markdown, const fs::path& page_dir, const fs::path& attempt,
                   const fs::path& repo) {
  std::string out;
  std::size_t at = 0;
  while (true) {
    std::size_t open = markdown.find("](", at);
    if (open == std::string::npos) break;
    std::size_t close = markdown.find(')', open);
    if (close == std::string::npos) break;
    std::string target = markdown.substr(open + 2, close - open - 2);
    out += markdown.substr(at, open + 2 - at);
    if (target.find("://") == std::string::npos && !target.starts_with("#")) {
      fs::path resolved = (repo / page_dir / target).lexically_normal();
      target = resolved.lexically_relative(fs::absolute(attempt)).string();
    }
    out += target + ")";
    at = close + 1;
  }
  return out + markdown.substr(at);
}

std::string today() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace

std::string rename_stage(std::string_view text, int from, int to) {
  std::string needle = "stage" + std::to_string(from);
  std::string with = "stage" + std::to_string(to);
  std::string out;
  std::size_t at = 0;
  while (true) {
    std::size_t hit = text.find(needle, at);
    if (hit == std::string_view::npos) break;
    std::size_t end = hit + needle.size();
    bool starts = hit == 0 || !word_char(text[hit - 1]);
    bool ends = end == text.size() || (!word_char(text[end]) && text[end] != '-');
    out += text.substr(at, hit - at);
    out += starts && ends ? with : needle;
    at = end;
  }
  out += text.substr(at);
  return out;
}

std::vector<std::string> copy_pool(const fs::path& source, const fs::path& attempt, int from,
                                   int to, const std::string& source_dir) {
  std::vector<std::string> copied;
  for (const auto& entry : fs::directory_iterator(source)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !is_pool_file(name)) continue;
    std::string text = read_text(entry.path());
    // A copy of the reference stays byte for byte the reference, so that an exercise's answer
    // (a patch of the stage's files) applies to it.
    if (from != to) {
      text = retitle(rename_stage(text, from, to), source_dir + "/" + name,
                     "workshop/stage" + std::to_string(to) + "/" + name);
    }
    write_if_changed(attempt / name, text);
    copied.push_back(name);
  }
  std::sort(copied.begin(), copied.end());
  return copied;
}

std::vector<std::string> attempt_files(const fs::path& attempt) {
  std::vector<std::string> out;
  if (!fs::is_directory(attempt)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(attempt)) {
    if (entry.is_regular_file()) out.push_back(entry.path().lexically_relative(attempt).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string task_md(const fs::path& repo, const Stage& stage, From from,
                    const std::string& attempt_dir, const std::vector<std::string>& files) {
  const Manifest& m = *stage.manifest;
  std::string n = std::to_string(stage.number);
  fs::path attempt = (repo / attempt_dir).lexically_normal();
  std::string out = "# " + stage.title + ": your attempt\n\n";
  std::string prev_dir;
  if (from == From::kPrevious) {
    auto prev = find_stage(repo, stage.number - 1);
    prev_dir = prev ? prev->dir : "stage" + std::to_string(stage.number - 1);
    out += "This directory is yours: git ignores it, and only `make workshop-reset STAGE=" + n +
           "` deletes it (keeping a copy). It started on " + today() + " as a copy of stage " +
           std::to_string(stage.number - 1) + "'s pool (`" + prev_dir + "/`: " + join(files, ", ") +
           "), renamed to `tcppool::stage" + n + "`. Stage " + n +
           "'s reference tests grade it.\n\n";
  } else {
    out += "This directory is yours: git ignores it, and only `make workshop-reset STAGE=" + n +
           "` deletes it (keeping a copy). It started on " + today() + " as a copy of the " +
           "reference stage " + n + " (`" + stage.dir + "/`: " + join(files, ", ") +
           "), for its exercises: the checklist passes as it is.\n\n";
  }
  // The page's Task and Goals, as the page words them; the manifest's while there is no page.
  TaskAndGoals tg;
  if (!stage.page.empty()) {
    tg = page_task_and_goals(read_text(repo / stage.page));
    tg.task = relink(tg.task, fs::path(stage.page).parent_path(), attempt, repo);
    for (auto& g : tg.goals) g = relink(g, fs::path(stage.page).parent_path(), attempt, repo);
  }
  if (tg.task.empty()) tg.task = m.task;
  if (tg.goals.empty()) {
    for (const auto& g : m.goals) {
      if (!g.kept) tg.goals.push_back(g.title);
    }
  }
  out += "**Task.** " + tg.task + "\n\n**Goals.**\n\n";
  for (const auto& g : tg.goals) out += "- " + g + "\n";
  out += "\n## Commands\n\n```sh\n";
  out +=
      "make workshop-test STAGE=" + n + "    # grade it: the checklist below, under ASan + UBSan\n";
  out += "make workshop-watch STAGE=" + n + "   # the same, again each time a file here changes\n";
  if (!m.scenarios.empty()) {
    out += "make workshop-bench STAGE=" + n + "   # " + m.scenarios.front().name +
           ": this pool beside stage " + std::to_string(stage.number - 1) +
           " and the reference, one run\n";
  }
  out += "```\n\n## The checklist\n\nEach goal, and what grades it:\n\n";
  for (const auto& g : m.goals) {
    out += "- " + std::string(g.kept ? "(kept) " : "") + g.title + ": ";
    if (g.graded()) {
      std::vector<std::string> quoted;
      for (const auto& t : g.tests) quoted.push_back("`" + t + "`");
      out += join(quoted, ", ");
    } else if (!g.bench.empty()) {
      out += "not a test: " + g.bench;
    } else {
      out += "not graded: read " + g.read;
    }
    out += "\n";
  }
  for (const auto& e : m.excluded) {
    out += "- Not held against you: `" + e.pattern + "`: " + e.reason + "\n";
  }
  std::string page_link =
      stage.page.empty()
          ? std::string("the stage's code, `") + stage.dir + "/`"
          : "[the stage's page](" + (repo / stage.page).lexically_relative(attempt).string() + ")";
  out += "\nStuck? " + page_link + " explains the technique; `make diff N=" + n +
         "` shows what the reference adds, the whole answer at once.\n";
  if (!m.exercises.empty()) {
    out +=
        "\n## Exercises\n\nOnce the checklist passes (or on a copy of the reference: `make "
        "workshop STAGE=" +
        n + " FROM=reference`), easy first:\n\n";
    for (const auto& e : m.exercises) {
      out += std::to_string(e.number) + ". " + e.title + " (" + e.time + "): ";
      if (!e.tests.empty()) {
        out += "`make workshop-test STAGE=" + n + " EXERCISE=" + std::to_string(e.number) + "`";
      } else {
        out += e.bench.empty() ? e.check : e.bench;
      }
      out += "\n";
    }
    std::string answers = "docs/answers/stage" + n + ".md";
    if (std::filesystem::exists(repo / answers)) {
      out += "\nThe hints are on the page; the answers, with the reasoning, in [" + answers + "](" +
             (repo / answers).lexically_relative(attempt).string() + "). Try first.\n";
    }
  }
  return out;
}

std::expected<std::string, std::string> start_attempt(const fs::path& repo,
                                                      const fs::path& attempts, const Stage& stage,
                                                      From from) {
  std::string n = std::to_string(stage.number);
  if (from == From::kPrevious && stage.number == 1) {
    return std::unexpected(
        "Stage 1 has no predecessor: it is where every stage starts from, so there is no "
        "technique to build onto an earlier one. Read stage1-naive/ and docs/stage1-naive.md; "
        "for its exercises, start from a copy of it: make workshop STAGE=1 FROM=reference");
  }
  if (!stage.manifest) {
    return std::unexpected("stage " + n + " has no workshop manifest yet (" + stage.dir +
                           "/workshop.conf; docs/writing-docs.md says what it holds)");
  }
  fs::path attempt = attempts / ("stage" + n);
  std::string shown = fs::absolute(attempt).lexically_relative(fs::absolute(repo)).string();
  if (!attempt_files(attempt).empty()) {
    return shown +
           " already holds an attempt: left as it is. Grade it with `make workshop-test "
           "STAGE=" +
           n + "`; start again with `make workshop-reset STAGE=" + n +
           "` (it says what it deletes, and keeps a copy).";
  }
  int from_number = from == From::kPrevious ? stage.number - 1 : stage.number;
  auto source = find_stage(repo, from_number);
  if (!source) return std::unexpected(source.error());
  fs::create_directories(attempt);
  auto files = copy_pool(repo / source->dir, attempt, from_number, stage.number, source->dir);
  write_if_changed(attempt / "TASK.md", task_md(repo, stage, from, shown, files));
  std::string out = "Started " + shown + "/ from " + source->dir + "/: " + join(files, ", ") +
                    (from_number == stage.number ? "" : ", now in namespace tcppool::stage" + n) +
                    ".\n";
  out += "Read " + shown + "/TASK.md, then grade with: make workshop-test STAGE=" + n;
  return out;
}

std::expected<std::string, std::string> reset_attempt(const fs::path& repo,
                                                      const fs::path& attempts, const Stage& stage,
                                                      From from) {
  std::string n = std::to_string(stage.number);
  fs::path attempt = attempts / ("stage" + n);
  std::string out;
  auto files = attempt_files(attempt);
  if (!files.empty()) {
    char stamp[32];
    std::time_t t = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&t));
    fs::path keep = attempts / ".reset" / ("stage" + n + "-" + stamp);
    std::string shown = fs::absolute(attempt).lexically_relative(fs::absolute(repo)).string();
    std::string kept = fs::absolute(keep).lexically_relative(fs::absolute(repo)).string();
    out +=
        "Deleting " + shown + "/: " + join(files, ", ") + "\n(a copy is kept in " + kept + "/)\n";
    fs::create_directories(keep.parent_path());
    std::error_code ec;
    fs::rename(attempt, keep, ec);
    if (ec) {
      fs::copy(attempt, keep, fs::copy_options::recursive);
      fs::remove_all(attempt);
    }
  }
  auto started = start_attempt(repo, attempts, stage, from);
  if (!started) return std::unexpected(out + started.error());
  return out + *started;
}

}  // namespace tcppool::workshop
