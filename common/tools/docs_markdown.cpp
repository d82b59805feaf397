// common/tools/docs_markdown.cpp: the Markdown scanning behind docs_check (see the header).
#include "common/tools/docs_markdown.hpp"

#include <algorithm>
#include <cctype>

namespace tcppool::docs {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The fence a line opens or closes: "```" or "~~~" (three or more), after up to 3 spaces.
std::string_view fence_of(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') ++i;
  if (i >= line.size() || (line[i] != '`' && line[i] != '~')) return {};
  std::size_t j = i;
  while (j < line.size() && line[j] == line[i]) ++j;
  if (j - i < 3) return {};
  return line.substr(i, j - i);
}

bool is_heading_line(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') ++i;
  std::size_t j = i;
  while (j < line.size() && line[j] == '#') ++j;
  return j > i && j - i <= 6 && (j == line.size() || line[j] == ' ' || line[j] == '\t');
}

bool is_table_line(std::string_view line) { return trim(line).starts_with("|"); }

}  // namespace

Page::Page(std::string text) : text_(std::move(text)) {
  for (std::size_t i = 0; i <= text_.size();) {
    starts_.push_back(i);
    std::size_t nl = text_.find('\n', i);
    if (nl == std::string::npos) break;
    i = nl + 1;
    if (i == text_.size()) break;
  }
  fenced_.assign(starts_.size(), false);
  std::string open;  // the fence of the block we are in, or empty
  for (std::size_t i = 0; i < starts_.size(); ++i) {
    std::string_view f = fence_of(line(i));
    if (open.empty()) {
      if (!f.empty()) {
        open = std::string(f);
        fenced_[i] = true;
      }
    } else {
      fenced_[i] = true;
      // A closing fence: the same character, at least as long, and nothing after it.
      if (!f.empty() && f[0] == open[0] && f.size() >= open.size() &&
          trim(line(i)).size() == f.size())
        open.clear();
    }
  }
  find_code_spans();
}

std::string_view Page::line(std::size_t i) const {
  std::size_t b = starts_[i];
  std::size_t e = i + 1 < starts_.size() ? starts_[i + 1] - 1 : text_.size();
  if (e > b && text_[e - 1] == '\n') --e;  // the last line's newline
  return std::string_view(text_).substr(b, e - b);
}

std::size_t Page::line_of(std::size_t offset) const {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  return static_cast<std::size_t>(it - starts_.begin());
}

bool Page::in_code(std::size_t offset) const {
  std::size_t l = line_of(offset) - 1;
  if (l < fenced_.size() && fenced_[l]) return true;
  auto it = std::upper_bound(spans_.begin(), spans_.end(), offset,
                             [](std::size_t o, const Span& s) { return o < s.begin; });
  if (it == spans_.begin()) return false;
  --it;
  return offset >= it->begin && offset < it->end;
}

void Page::find_code_spans() {
  // Where the block containing line `l` ends: a code span never crosses it.
  auto block_end = [&](std::size_t l) {
    if (is_heading_line(line(l)) || is_table_line(line(l))) return starts_[l] + line(l).size();
    std::size_t k = l + 1;
    while (k < starts_.size() && !trim(line(k)).empty() && !fenced_[k] &&
           !is_heading_line(line(k)) && !is_table_line(line(k)))
      ++k;
    return k < starts_.size() ? starts_[k] : text_.size();
  };
  const std::size_t n = text_.size();
  for (std::size_t i = 0; i < n;) {
    std::size_t l = line_of(i) - 1;
    if (fenced_[l]) {
      i = l + 1 < starts_.size() ? starts_[l + 1] : n;
      continue;
    }
    char c = text_[i];
    if (c == '\\' && i + 1 < n) {
      i += 2;
      continue;
    }
    if (text_.compare(i, 4, "<!--") == 0) {
      std::size_t j = text_.find("-->", i + 4);
      std::size_t end = j == std::string::npos ? n : j + 3;
      spans_.push_back({i, end, true});
      i = end;
      continue;
    }
    if (c == '`') {
      std::size_t m = 0;
      while (i + m < n && text_[i + m] == '`') ++m;
      std::size_t limit = block_end(l);
      std::size_t j = i + m;
      std::size_t close = std::string::npos;
      while (j < limit) {
        if (text_[j] != '`') {
          ++j;
          continue;
        }
        std::size_t k = 0;
        while (j + k < limit && text_[j + k] == '`') ++k;
        if (k == m) {
          close = j;
          break;
        }
        j += k;
      }
      if (close == std::string::npos) {
        i += m;  // a literal run of backticks
      } else {
        spans_.push_back({i, close + m, false});
        i = close + m;
      }
      continue;
    }
    ++i;
  }
}

std::vector<Heading> headings(const Page& page) {
  std::vector<Heading> out;
  for (std::size_t i = 0; i < page.line_count(); ++i) {
    if (page.in_fence(i)) continue;
    std::string_view l = page.line(i);
    if (!is_heading_line(l)) continue;
    std::string_view t = trim(l);
    int level = 0;
    while (static_cast<std::size_t>(level) < t.size() && t[level] == '#') ++level;
    std::string_view rest = trim(t.substr(level));
    // An optional closing sequence of #s, preceded by a space.
    std::size_t e = rest.size();
    while (e > 0 && rest[e - 1] == '#') --e;
    if (e < rest.size() && (e == 0 || rest[e - 1] == ' ')) rest = trim(rest.substr(0, e));
    out.push_back({i, level, std::string(rest)});
  }
  return out;
}

std::vector<Link> links(const Page& page) {
  std::vector<Link> out;
  const std::string& s = page.text();
  for (std::size_t p = s.find("]("); p != std::string::npos; p = s.find("](", p + 1)) {
    if (page.in_code(p)) continue;
    // Back to the matching '[' on this line or the paragraph's earlier lines.
    int depth = 0;
    std::size_t open = std::string::npos;
    for (std::size_t k = p; k-- > 0;) {
      if (s[k] == '\n' && k > 0 && s[k - 1] == '\n') break;
      if (page.in_code(k)) continue;
      if (k > 0 && s[k - 1] == '\\') continue;
      if (s[k] == ']') ++depth;
      if (s[k] == '[') {
        if (depth == 0) {
          open = k;
          break;
        }
        --depth;
      }
    }
    if (open == std::string::npos) continue;
    std::size_t d = p + 2;
    while (d < s.size() && s[d] == ' ') ++d;
    std::size_t de = d;
    if (d < s.size() && s[d] == '<') {
      de = s.find('>', d);
      if (de == std::string::npos) continue;
      ++de;
    } else {
      int parens = 0;
      while (de < s.size() && !std::isspace(static_cast<unsigned char>(s[de]))) {
        if (s[de] == '(') ++parens;
        if (s[de] == ')') {
          if (parens == 0) break;
          --parens;
        }
        ++de;
      }
    }
    std::size_t close = s.find(')', de);
    if (close == std::string::npos) continue;
    // Anything between the destination and ')' must be a title in quotes.
    std::string_view between = trim(std::string_view(s).substr(de, close - de));
    if (!between.empty() && between.front() != '"' && between.front() != '\'') continue;
    Link link;
    link.image = open > 0 && s[open - 1] == '!';
    link.begin = link.image ? open - 1 : open;
    link.end = close + 1;
    link.dest_begin = d;
    link.dest_end = de;
    link.text = s.substr(open + 1, p - open - 1);
    link.dest = s.substr(d, de - d);
    if (link.dest.size() >= 2 && link.dest.front() == '<')
      link.dest = link.dest.substr(1, link.dest.size() - 2);
    out.push_back(std::move(link));
  }
  return out;
}

std::vector<Comment> comments(const Page& page) {
  std::vector<Comment> out;
  const std::string& s = page.text();
  for (const Page::Span& span : page.spans()) {
    if (!span.comment || span.end < span.begin + 7) continue;
    Comment c;
    c.begin = span.begin;
    c.end = span.end;
    c.body =
        std::string(trim(std::string_view(s).substr(span.begin + 4, span.end - span.begin - 7)));
    out.push_back(std::move(c));
  }
  return out;
}

std::string heading_plain_text(std::string_view md) {
  std::string out;
  for (std::size_t i = 0; i < md.size(); ++i) {
    char c = md[i];
    if (c == '\\' && i + 1 < md.size() && std::ispunct(static_cast<unsigned char>(md[i + 1]))) {
      out += md[++i];
    } else if (c == ']' && i + 1 < md.size() && md[i + 1] == '(') {
      std::size_t close = md.find(')', i);
      i = close == std::string_view::npos ? md.size() : close;
    } else if (c == '<') {
      std::size_t close = md.find('>', i);
      if (close == std::string_view::npos) {
        out += c;
      } else {
        i = close;
      }
    } else if (c != '`' && c != '*' && c != '[' &&
               !(c == '!' && i + 1 < md.size() && md[i + 1] == '[')) {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> github_slug(std::string_view plain, std::string& error) {
  // Non-ASCII characters GitHub drops (symbols and punctuation) that the docs use.
  static constexpr std::string_view kDropped[] = {"×", "÷", "–", "—", "‘", "’", "“", "”", "…", "≤",
                                                  "≥", "→", "←", "·", "±", "•", "≠", "≈", "°"};
  std::string out;
  for (std::size_t i = 0; i < plain.size();) {
    unsigned char c = static_cast<unsigned char>(plain[i]);
    if (c < 0x80) {
      if (std::isalnum(c)) {
        out += static_cast<char>(std::tolower(c));
      } else if (c == ' ') {
        out += '-';
      } else if (c == '-' || c == '_') {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    bool known = false;
    for (std::string_view d : kDropped) {
      if (plain.substr(i).starts_with(d)) {
        i += d.size();
        known = true;
        break;
      }
    }
    if (!known) {
      std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      error = "the heading \"" + std::string(plain) + "\" has '" +
              std::string(plain.substr(i, len)) +
              "', which GitHub may keep in its anchor and Doxygen cannot: rephrase it";
      return std::nullopt;
    }
  }
  return out;
}

std::string SlugSet::unique(const std::string& slug) {
  std::string candidate = slug;
  for (int n = 1; std::find(used_.begin(), used_.end(), candidate) != used_.end(); ++n)
    candidate = slug + "-" + std::to_string(n);
  used_.push_back(candidate);
  return candidate;
}

std::size_t prose_words(const Page& page) {
  std::string prose;
  const std::string& s = page.text();
  auto ls = links(page);
  std::size_t next_link = 0;
  for (std::size_t i = 0; i < page.line_count(); ++i) {
    if (page.in_fence(i) || is_table_line(page.line(i))) continue;
    std::size_t b = page.line_start(i), e = b + page.line(i).size();
    for (std::size_t k = b; k < e; ++k) {
      while (next_link < ls.size() && ls[next_link].end <= k) ++next_link;
      if (next_link < ls.size() && k >= ls[next_link].begin) {
        const Link& l = ls[next_link];
        if (l.image) {
          k = l.end - 1;  // an image is not prose
          continue;
        }
        if (k >= l.dest_begin - 2 && k < l.end) continue;  // "](dest)" is not prose
      }
      if (s.compare(k, 4, "<!--") == 0) {
        std::size_t c = s.find("-->", k);
        if (c == std::string::npos) break;
        // Skip to the end of the comment, which may be on a later line.
        while (i + 1 < page.line_count() && page.line_start(i + 1) <= c) ++i;
        k = c + 2;
        e = page.line_start(i) + page.line(i).size();
        continue;
      }
      prose += s[k];
    }
    prose += '\n';
  }
  std::size_t words = 0;
  bool in_word = false, counted = false;
  for (char c : prose) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      in_word = false;
      continue;
    }
    if (!in_word) {
      in_word = true;
      counted = false;
    }
    if (!counted &&
        (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80)) {
      ++words;
      counted = true;
    }
  }
  return words;
}

}  // namespace tcppool::docs
