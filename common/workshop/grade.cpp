// common/workshop/grade.cpp: test results into goals, goals into a checklist.
#include "common/workshop/grade.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace tcppool::workshop {
namespace {

// Joins a multi-line message into one line, whitespace collapsed, at most `width` characters.
std::string one_line(std::string_view text, std::size_t width = 240) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > width) {
    std::size_t cut = width;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return glob_match(p, name); });
}

bool is_failure(Outcome o) { return o != Outcome::kPassed && o != Outcome::kSkipped; }

}  // namespace

std::string_view describe(Outcome o) {
  switch (o) {
    case Outcome::kPassed:
      return "passed";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kSkipped:
      return "skipped";
    case Outcome::kNotCompiled:
      return "does not compile";
    case Outcome::kCrashed:
      return "crashed";
    case Outcome::kTimedOut:
      return "timed out";
  }
  return "?";
}

std::string graded_name(std::string_view suite, std::string_view test) {
  return std::string(suite.substr(0, suite.find('/'))) + "." + std::string(test);
}

bool parse_gtest_json(std::string_view json, TestResult& result) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("testsuites")) return false;
  for (const auto& suite : doc["testsuites"]) {
    for (const auto& test : suite.value("testsuite", nlohmann::json::array())) {
      result.name = graded_name(suite.value("name", ""), test.value("name", ""));
      if (test.value("result", "") == "SKIPPED") {
        result.outcome = Outcome::kSkipped;
      } else if (test.contains("failures") && !test["failures"].empty()) {
        result.outcome = Outcome::kFailed;
        std::string first = test["failures"][0].value("failure", "");
        // "path:line\nmessage": keep the file's name and line, not the whole path.
        auto slash = first.rfind('/', first.find('\n'));
        if (slash != std::string::npos && slash < first.find('\n')) first.erase(0, slash + 1);
        result.message = one_line(first);
      } else {
        result.outcome = Outcome::kPassed;
      }
      return true;
    }
  }
  return false;
}

std::string crash_summary(std::string_view output) {
  std::string last;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    std::string_view l = output.substr(start, end - start);
    for (std::string_view sign : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                  "runtime error:", "terminate called", "ThreadSanitizer"}) {
      if (auto at = l.find(sign); at != std::string_view::npos) return one_line(l.substr(at));
    }
    if (!l.empty() && !l.starts_with("[")) last = l;
    start = end + 1;
  }
  return one_line(last);
}

bool Checklist::all_met() const {
  return std::all_of(goals.begin(), goals.end(), [](const GoalGrade& g) { return g.met(); });
}

Checklist grade(const std::vector<Goal>& goals, const std::vector<Exclusion>& excluded,
                const std::vector<TestResult>& results) {
  Checklist out;
  for (const auto& g : goals) out.goals.push_back({.goal = &g});
  for (const auto& e : excluded) out.excluded.push_back({&e, 0});
  for (const auto& r : results) {
    auto ex = std::find_if(out.excluded.begin(), out.excluded.end(),
                           [&](const auto& e) { return glob_match(e.first->pattern, r.name); });
    if (ex != out.excluded.end()) {
      ++ex->second;
      continue;
    }
    auto g = std::find_if(out.goals.begin(), out.goals.end(),
                          [&](const GoalGrade& gg) { return matches_any(gg.goal->tests, r.name); });
    if (g == out.goals.end()) {
      out.ungraded.push_back(r.name);
      continue;
    }
    g->tests.push_back(&r);
    if (r.outcome == Outcome::kPassed) ++g->passed;
    if (r.outcome == Outcome::kSkipped) ++g->skipped;
    if (is_failure(r.outcome)) ++g->failed;
  }
  return out;
}

std::string render(const Checklist& checklist, const std::string& heading) {
  std::string out = heading + "\n\n";
  int graded = 0, met = 0;
  for (const auto& g : checklist.goals) {
    const Goal& goal = *g.goal;
    if (!goal.graded()) {
      out += "  --   " + goal.title + "\n";
      out +=
          "       " + (goal.bench.empty() ? "read: " + goal.read : "bench: " + goal.bench) + "\n";
      continue;
    }
    ++graded;
    if (g.met()) ++met;
    std::string count = std::to_string(g.passed) + "/" + std::to_string(g.tests.size());
    bool only_skipped = g.failed == 0 && g.passed == 0 && g.skipped > 0;
    out += std::string(g.met()        ? "  PASS "
                       : only_skipped ? "  SKIP "
                                      : "  FAIL ") +
           goal.title + "  (" + count + ")\n";
    if (only_skipped) {
      out += "       not graded here: " + g.tests.front()->name + " skipped";
      if (!g.tests.front()->message.empty()) out += ": " + g.tests.front()->message;
      out += "\n";
      continue;
    }
    if (g.tests.empty()) {
      out += "       no test ran: " + one_line(goal.tests.front()) + " matched nothing\n";
      continue;
    }
    if (g.met()) {
      if (g.skipped > 0) {
        out += "       " + std::to_string(g.skipped) + " skipped here";
        for (const auto* t : g.tests) {
          if (t->outcome == Outcome::kSkipped && !t->message.empty()) {
            out += " (" + t->name + ": " + t->message + ")";
            break;
          }
        }
        out += "\n";
      }
      continue;
    }
    // The first failure, and a second when it failed for another reason (another file that
    // does not compile, say), then how many more.
    std::vector<const TestResult*> shown;
    for (const auto* t : g.tests) {
      if (!is_failure(t->outcome) || shown.size() == 2) continue;
      if (!shown.empty() && shown.front()->message == t->message) continue;
      shown.push_back(t);
    }
    for (const auto* t : shown) {
      out += "       " + t->name + " " + std::string(describe(t->outcome));
      if (!t->message.empty()) out += ": " + t->message;
      out += "\n";
    }
    if (g.failed > static_cast<int>(shown.size())) {
      out += "       and " + std::to_string(g.failed - static_cast<int>(shown.size())) +
             " more of its tests\n";
    }
  }
  for (const auto& [e, n] : checklist.excluded) {
    out += "\n  Not held against the attempt: " + e->pattern + " (" + std::to_string(n) +
           (n == 1 ? " test" : " tests") + "): " + e->reason + "\n";
  }
  if (!checklist.ungraded.empty()) {
    out += "\n  No goal grades these tests (the stage's workshop.conf needs them):";
    for (const auto& t : checklist.ungraded) out += " " + t;
    out += "\n";
  }
  out += "\n";
  if (met == graded) {
    out += "All " + std::to_string(graded) + " graded goals met.\n";
  } else {
    out += std::to_string(met) + " of " + std::to_string(graded) + " graded goals met.\n";
  }
  return out;
}

}  // namespace tcppool::workshop
