// common/workshop/manifest.cpp: parsing stageN-*/workshop.conf.
#include "common/workshop/manifest.hpp"

#include <cctype>
#include <charconv>

namespace tcppool::workshop {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

// The parser's state: which block the next `tests:` or `time:` belongs to.
class Parser {
 public:
  explicit Parser(const std::string& path) { m_.path = path; }

  std::expected<Manifest, std::string> run(std::string_view text) {
    int number = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      ++number;
      if (!line(number, text.substr(start, end - start))) return std::unexpected(error_);
      start = end + 1;
    }
    if (!finish_block()) return std::unexpected(error_);
    if (m_.task.empty()) fail(1, "no `task:` line");
    if (m_.goals.empty()) fail(1, "no `goal:` line");
    if (!error_.empty()) return std::unexpected(error_);
    return m_;
  }

 private:
  enum class Block { kNone, kGoal, kExercise };

  // Records the first problem; returns false, for `return fail(...)`.
  bool fail(int line, const std::string& what) {
    error_ = m_.path + ":" + std::to_string(line) + ": " + what;
    return false;
  }

  bool line(int number, std::string_view raw) {
    std::string_view text = trim(raw);
    if (text.empty() || text.front() == '#') return true;
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return fail(number, "expected `key: value`");
    std::string key(trim(text.substr(0, colon)));
    std::string_view value = trim(text.substr(colon + 1));
    if (value.empty()) return fail(number, "`" + key + ":` has no value");
    if (key == "task") {
      if (!m_.task.empty()) return fail(number, "a second `task:`");
      m_.task = value;
    } else if (key == "goal" || key == "kept") {
      if (!finish_block()) return false;
      block_ = Block::kGoal;
      m_.goals.push_back({.title = std::string(value), .kept = key == "kept", .line = number});
    } else if (key == "exercise") {
      return exercise(number, value);
    } else if (key == "tests") {
      auto patterns = words(value);
      if (block_ == Block::kGoal) {
        auto& g = m_.goals.back();
        g.tests.insert(g.tests.end(), patterns.begin(), patterns.end());
      } else if (block_ == Block::kExercise) {
        auto& e = m_.exercises.back();
        e.tests.insert(e.tests.end(), patterns.begin(), patterns.end());
      } else {
        return fail(number, "`tests:` belongs under a `goal:`, `kept:` or `exercise:`");
      }
    } else if (key == "bench") {
      if (block_ == Block::kGoal) {
        m_.goals.back().bench = value;
      } else if (block_ == Block::kExercise) {
        m_.exercises.back().bench = value;
      } else {
        return fail(number, "`bench:` belongs under a `goal:` or an `exercise:`");
      }
    } else if (key == "check") {
      if (block_ != Block::kExercise) return fail(number, "`check:` belongs under an `exercise:`");
      m_.exercises.back().check = value;
    } else if (key == "read") {
      if (block_ != Block::kGoal) return fail(number, "`read:` belongs under a `goal:`");
      m_.goals.back().read = value;
    } else if (key == "time" || key == "answer" || key == "breaks") {
      if (block_ != Block::kExercise) {
        return fail(number, "`" + key + ":` belongs under an `exercise:`");
      }
      auto& e = m_.exercises.back();
      if (key == "time") e.time = value;
      if (key == "answer") e.answer = value;
      if (key == "breaks") {
        auto patterns = words(value);
        e.breaks.insert(e.breaks.end(), patterns.begin(), patterns.end());
      }
    } else if (key == "exclude") {
      auto dash = value.find(" -- ");
      if (dash == std::string_view::npos) {
        return fail(number, "`exclude:` needs `PATTERN -- reason`");
      }
      m_.excluded.push_back({.pattern = std::string(trim(value.substr(0, dash))),
                             .reason = std::string(trim(value.substr(dash + 4))),
                             .line = number});
    } else if (key == "scenario") {
      auto w = words(value);
      Scenario sc{.name = w.front(), .line = number};
      for (std::size_t i = 1; i < w.size(); ++i) {
        (w[i].find(':') != std::string::npos ? sc.parts : sc.counters).push_back(w[i]);
      }
      if (sc.counters.empty()) return fail(number, "`scenario:` needs a name and counters");
      m_.scenarios.push_back(std::move(sc));
    } else {
      return fail(number, "unknown key `" + key + "`");
    }
    return true;
  }

  bool exercise(int number, std::string_view value) {
    if (!finish_block()) return false;
    auto space = value.find(' ');
    std::string_view digits = value.substr(0, space);
    int k = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
    if (ec != std::errc() || end != digits.data() + digits.size() || space == value.npos) {
      return fail(number, "`exercise:` needs a number and a title");
    }
    if (k != static_cast<int>(m_.exercises.size()) + 1) {
      return fail(number, "exercise " + std::to_string(k) + " out of order: expected " +
                              std::to_string(m_.exercises.size() + 1));
    }
    block_ = Block::kExercise;
    m_.exercises.push_back(
        {.number = k, .title = std::string(trim(value.substr(space))), .line = number});
    return true;
  }

  // Checks the block just ended: a goal has exactly one kind of grader, an exercise a time and
  // a grader, and an answer when tests grade it.
  bool finish_block() {
    if (block_ == Block::kGoal) {
      const Goal& g = m_.goals.back();
      int graders = (g.graded() ? 1 : 0) + (g.bench.empty() ? 0 : 1) + (g.read.empty() ? 0 : 1);
      if (graders != 1) {
        return fail(g.line, "goal \"" + g.title + "\" needs exactly one of tests:, bench:, read:");
      }
      if (g.kept && !g.graded()) return fail(g.line, "a `kept:` goal is graded by tests:");
    } else if (block_ == Block::kExercise) {
      const Exercise& e = m_.exercises.back();
      if (e.time.empty()) return fail(e.line, "exercise has no `time:`");
      int graders =
          (e.tests.empty() ? 0 : 1) + (e.bench.empty() ? 0 : 1) + (e.check.empty() ? 0 : 1);
      if (graders != 1) return fail(e.line, "exercise needs exactly one of tests:, bench:, check:");
      if (!e.tests.empty() && e.answer.empty()) {
        return fail(e.line, "an exercise graded by tests needs an `answer:` patch");
      }
    }
    block_ = Block::kNone;
    return true;
  }

  Manifest m_;
  Block block_ = Block::kNone;
  std::string error_;
};

}  // namespace

const Exercise* Manifest::exercise(int number) const {
  for (const auto& e : exercises) {
    if (e.number == number) return &e;
  }
  return nullptr;
}

std::expected<Manifest, std::string> parse_manifest(std::string_view text,
                                                    const std::string& path) {
  return Parser(path).run(text);
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative wildcard match with one backtrack point: linear in practice.
  std::size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace tcppool::workshop
