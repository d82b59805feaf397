// common/workshop/sources.cpp: reading test files and compiler output, line by line.
#include "common/workshop/sources.hpp"

#include <cctype>
#include <charconv>
#include <optional>

namespace tcppool::workshop {
namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "a, b, c" (the inside of a macro call) at its commas.
std::vector<std::string> arguments(std::string_view inside) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = inside.find(',', start);
    out.emplace_back(trim(inside.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// The text between `open` (an index of '(') and its closing ')', across lines.
std::optional<std::string> parenthesised(const std::vector<std::string_view>& lines,
                                         std::size_t line, std::size_t open) {
  std::string out;
  int depth = 0;
  for (std::size_t i = line; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    for (std::size_t c = (i == line ? open : 0); c < l.size(); ++c) {
      if (l[c] == '(') {
        if (depth++ == 0) continue;
      } else if (l[c] == ')') {
        if (--depth == 0) return out;
      }
      out += l[c];
    }
    out += ' ';
  }
  return std::nullopt;
}

bool starts_with_any(std::string_view l, std::initializer_list<std::string_view> prefixes) {
  for (auto p : prefixes) {
    if (l.starts_with(p)) return true;
  }
  return false;
}

// A diagnostic's location: "path:line:col: " or "path:line: ", and what follows it.
struct Located {
  std::string_view path{};
  int line = 0;
  std::string_view rest{};
};

std::optional<Located> located(std::string_view l) {
  // The path ends at the first ":<digits>:" (paths here have no such run).
  for (std::size_t colon = l.find(':'); colon != std::string_view::npos;
       colon = l.find(':', colon + 1)) {
    std::size_t d = colon + 1;
    while (d < l.size() && std::isdigit(static_cast<unsigned char>(l[d]))) ++d;
    if (d == colon + 1 || d >= l.size() || l[d] != ':') continue;
    Located out{.path = l.substr(0, colon)};
    std::from_chars(l.data() + colon + 1, l.data() + d, out.line);
    std::size_t rest = d + 1;
    std::size_t col_end = rest;
    while (col_end < l.size() && std::isdigit(static_cast<unsigned char>(l[col_end]))) ++col_end;
    if (col_end > rest && col_end < l.size() && l[col_end] == ':') rest = col_end + 1;
    out.rest = trim(l.substr(rest));
    return out;
  }
  return std::nullopt;
}

bool is_error_text(std::string_view rest) {
  return rest.starts_with("error:") || rest.starts_with("fatal error:") ||
         rest.find("undefined reference") != std::string_view::npos;
}

bool same_file(std::string_view a, std::string_view b) {
  if (a == b) return true;
  return a.size() > b.size() ? a.ends_with(b) && a[a.size() - b.size() - 1] == '/'
                             : b.ends_with(a) && b[b.size() - a.size() - 1] == '/';
}

}  // namespace

TestFile scan_test_file(std::string_view text) {
  TestFile out;
  auto lines = lines_of(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (starts_with_any(l, {"TEST(", "TEST_F(", "TEST_P("})) {
      auto inside = parenthesised(lines, i, l.find('('));
      if (!inside) continue;
      auto args = arguments(*inside);
      if (args.size() != 2) continue;
      TestBlock t{.suite = args[0], .name = args[1], .first_line = static_cast<int>(i) + 1};
      for (std::size_t j = i; j < lines.size(); ++j) {
        if (lines[j] == "}" || (j == i && l.ends_with("}") && l.find('{') != l.npos)) {
          t.last_line = static_cast<int>(j) + 1;
          break;
        }
      }
      if (t.last_line == 0) continue;
      out.tests.push_back(std::move(t));
    } else if (auto at = l.find("INSTANTIATE_TYPED_TEST_SUITE_P("); at != std::string_view::npos) {
      auto inside =
          parenthesised(lines, i, at + std::string_view("INSTANTIATE_TYPED_TEST_SUITE_P").size());
      if (!inside) continue;
      auto args = arguments(*inside);
      if (args.size() != 3) continue;
      out.instantiations.push_back({.prefix = args[0],
                                    .suite_class = args[1],
                                    .text = std::string(trim(l)),
                                    .line = static_cast<int>(i) + 1});
    } else if (l.starts_with("namespace stage = ") && l.ends_with(";")) {
      out.alias = l;
    }
  }
  return out;
}

std::vector<std::string> registered_tests(std::string_view header, std::string_view suite_class) {
  auto lines = lines_of(header);
  std::string macro = "REGISTER_TYPED_TEST_SUITE_P(";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto at = lines[i].find(macro);
    if (at == std::string_view::npos) continue;
    auto inside = parenthesised(lines, i, at + macro.size() - 1);
    if (!inside) continue;
    auto args = arguments(*inside);
    if (args.empty() || args.front() != suite_class) continue;
    return {args.begin() + 1, args.end()};
  }
  return {};
}

bool declares_suite(std::string_view header, std::string_view suite_class) {
  std::string decl = "TYPED_TEST_SUITE_P(" + std::string(suite_class) + ");";
  for (auto l : lines_of(header)) {
    if (trim(l) == decl) return true;
  }
  return false;
}

std::string blank_lines(std::string_view text, int first, int last) {
  std::string out;
  int number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    bool newline = end != std::string_view::npos;
    if (!newline) end = text.size();
    ++number;
    if (number < first || number > last) out += text.substr(start, end - start);
    if (newline) out += '\n';
    start = end + 1;
  }
  return out;
}

ErrorLocations locate_errors(std::string_view compiler_output, std::string_view file) {
  ErrorLocations out;
  int required_from = 0;  // the last "required from" line in `file` since the last error
  for (auto l : lines_of(compiler_output)) {
    if (l.starts_with("collect2:")) continue;  // the linker's summary of errors already seen
    auto loc = located(l);
    if (!loc) {
      if (l.find("undefined reference") != std::string_view::npos) out.elsewhere = true;
      continue;
    }
    bool in_file = same_file(loc->path, file);
    if (loc->rest.starts_with("required from")) {
      if (in_file) required_from = loc->line;
      continue;
    }
    if (!is_error_text(loc->rest)) continue;
    if (out.first_error.empty()) out.first_error = std::string(l);
    if (in_file) {
      out.errors.push_back({loc->line, std::string(l)});
    } else if (required_from > 0) {
      out.errors.push_back({required_from, std::string(l)});
    } else {
      out.elsewhere = true;
    }
    required_from = 0;
  }
  return out;
}

bool has_error(std::string_view output) {
  for (auto l : lines_of(output)) {
    if (l.find(": error:") != std::string_view::npos ||
        l.find(": fatal error:") != std::string_view::npos ||
        l.find("undefined reference") != std::string_view::npos ||
        l.starts_with("collect2: error") || l.find("ld returned") != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

std::string first_error(std::string_view output, std::string_view strip, std::size_t width) {
  std::string found;
  for (auto l : lines_of(output)) {
    auto loc = located(l);
    if ((loc && is_error_text(loc->rest)) || l.find(": fatal error:") != std::string_view::npos ||
        l.find("undefined reference") != std::string_view::npos) {
      found = l;
      break;
    }
  }
  if (found.empty()) {
    for (auto l : lines_of(output)) {
      if (l.find("error") != std::string_view::npos) {
        found = l;
        break;
      }
    }
  }
  if (!strip.empty()) {
    for (auto at = found.find(strip); at != std::string::npos; at = found.find(strip, at)) {
      found.erase(at, strip.size());
    }
  }
  found = std::string(trim(found));
  if (found.size() > width) {
    // Cut at a character boundary of UTF-8 text.
    std::size_t cut = width;
    while (cut > 0 && (static_cast<unsigned char>(found[cut]) & 0xC0) == 0x80) --cut;
    found = found.substr(0, cut) + "...";
  }
  return found;
}

}  // namespace tcppool::workshop
