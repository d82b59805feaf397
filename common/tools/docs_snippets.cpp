// common/tools/docs_snippets.cpp: keeps the code excerpts in docs/ identical to compiled code.
//
// A docs page marks an excerpt like this (the fence follows the marker line):
//
//     <!-- snippet: stage2-mutex-queue/pool.cpp acquire -->
//     ```cpp
//     ...
//     ```
//
// and the source marks the region with two `// [acquire]` lines (Doxygen's \snippet
// convention). `--check` fails, naming the page and line, when an excerpt differs from its
// region or the region is missing; `--write` rewrites the excerpts from the sources. So the
// pages read well on GitHub and in Doxygen alike, and never drift from the code.
//
// Usage: docs_snippets (--check | --write) REPO_ROOT PAGE.md...
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::optional<std::vector<std::string>> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Returns the lines strictly between the two `// [name]` markers, with their common
// indentation removed; or an error message.
std::optional<std::vector<std::string>> region(const std::string& root, const std::string& file,
                                               const std::string& name, std::string& error) {
  auto lines = read_lines(root + "/" + file);
  if (!lines) {
    error = "cannot read " + file;
    return std::nullopt;
  }
  const std::string marker = "// [" + name + "]";
  std::vector<std::size_t> at;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    if (trim((*lines)[i]) == marker) at.push_back(i);
  }
  if (at.size() != 2) {
    error = file + " has " + std::to_string(at.size()) + " '" + marker + "' lines, expected 2";
    return std::nullopt;
  }
  std::vector<std::string> body(lines->begin() + static_cast<long>(at[0]) + 1,
                                lines->begin() + static_cast<long>(at[1]));
  std::size_t indent = std::string::npos;
  for (const auto& l : body) {
    if (trim(l).empty()) continue;
    indent = std::min(indent, l.find_first_not_of(' '));
  }
  for (auto& l : body)
    l = trim(l).empty() ? "" : l.substr(indent == std::string::npos ? 0 : indent);
  return body;
}

// Processes one page; returns the number of problems. Rewrites the page when `write` is set.
int process(const std::string& root, const std::string& page, bool write) {
  auto lines = read_lines(page);
  if (!lines) {
    std::fprintf(stderr, "%s: cannot read\n", page.c_str());
    return 1;
  }
  constexpr std::string_view kOpen = "<!-- snippet: ";
  int problems = 0;
  bool changed = false;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    const std::string& line = (*lines)[i];
    out.push_back(line);
    std::string_view t = trim(line);
    if (!t.starts_with(kOpen) || !t.ends_with("-->")) continue;
    std::istringstream spec(std::string(t.substr(kOpen.size(), t.size() - kOpen.size() - 3)));
    std::string file, name;
    spec >> file >> name;
    auto where = page + ":" + std::to_string(i + 1) + ": ";
    if (i + 1 >= lines->size() || !trim((*lines)[i + 1]).starts_with("```")) {
      std::fprintf(stderr, "%sno ``` fence after the snippet marker\n", where.c_str());
      ++problems;
      continue;
    }
    std::size_t close = i + 2;
    while (close < lines->size() && trim((*lines)[close]) != "```") ++close;
    if (close >= lines->size()) {
      std::fprintf(stderr, "%sunclosed ``` fence\n", where.c_str());
      ++problems;
      continue;
    }
    std::string error;
    auto body = region(root, file, name, error);
    if (!body) {
      std::fprintf(stderr, "%s%s\n", where.c_str(), error.c_str());
      ++problems;
      continue;
    }
    std::vector<std::string> current(lines->begin() + static_cast<long>(i) + 2,
                                     lines->begin() + static_cast<long>(close));
    if (current != *body) {
      if (write) {
        changed = true;
      } else {
        std::fprintf(stderr, "%sexcerpt of %s [%s] differs from the source (run: make snippets)\n",
                     where.c_str(), file.c_str(), name.c_str());
        ++problems;
      }
    }
    out.push_back((*lines)[i + 1]);
    out.insert(out.end(), body->begin(), body->end());
    out.push_back((*lines)[close]);
    i = close;
  }
  if (write && changed) {
    std::ofstream f(page, std::ios::trunc);
    for (const auto& l : out) f << l << '\n';
    std::printf("updated %s\n", page.c_str());
  }
  return problems;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 2 || (args[0] != "--check" && args[0] != "--write")) {
    std::fprintf(stderr, "usage: docs_snippets (--check | --write) REPO_ROOT PAGE.md...\n");
    return 2;
  }
  bool write = args[0] == "--write";
  int problems = 0;
  for (std::size_t i = 2; i < args.size(); ++i) problems += process(args[1], args[i], write);
  return problems == 0 ? 0 : 1;
}
