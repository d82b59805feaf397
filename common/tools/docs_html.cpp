// common/tools/docs_html.cpp: the HTML reading behind docs_check (see the header).
#include "common/tools/docs_html.hpp"

#include <cctype>
#include <cstdint>
#include <cstdlib>

namespace tcppool::docs {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

struct Tag {
  std::string name;  // lower case, without '/'
  bool closing = false;
  bool self_closing = false;
  std::vector<std::pair<std::string, std::string>> attrs;  // values decoded

  const std::string* attr(std::string_view key) const {
    for (const auto& [k, v] : attrs)
      if (k == key) return &v;
    return nullptr;
  }
  bool has_class(std::string_view cls) const {
    const std::string* c = attr("class");
    if (!c) return false;
    std::size_t p = 0;
    while (p < c->size()) {
      std::size_t e = c->find(' ', p);
      if (e == std::string::npos) e = c->size();
      if (std::string_view(*c).substr(p, e - p) == cls) return true;
      p = e + 1;
    }
    return false;
  }
};

// Parses the tag starting at html[i] == '<'; returns the offset past '>'.
std::size_t parse_tag(std::string_view html, std::size_t i, Tag& tag) {
  std::size_t n = html.size();
  std::size_t j = i + 1;
  if (j < n && html[j] == '/') {
    tag.closing = true;
    ++j;
  }
  std::size_t b = j;
  while (j < n && (std::isalnum(static_cast<unsigned char>(html[j])) || html[j] == '-')) ++j;
  tag.name = lower(html.substr(b, j - b));
  while (j < n && html[j] != '>') {
    if (std::isspace(static_cast<unsigned char>(html[j]))) {
      ++j;
      continue;
    }
    if (html[j] == '/') {
      tag.self_closing = true;
      ++j;
      continue;
    }
    std::size_t kb = j;
    while (j < n && !std::isspace(static_cast<unsigned char>(html[j])) && html[j] != '=' &&
           html[j] != '>' && html[j] != '/')
      ++j;
    std::string key = lower(html.substr(kb, j - kb));
    std::string value;
    while (j < n && std::isspace(static_cast<unsigned char>(html[j]))) ++j;
    if (j < n && html[j] == '=') {
      ++j;
      while (j < n && std::isspace(static_cast<unsigned char>(html[j]))) ++j;
      if (j < n && (html[j] == '"' || html[j] == '\'')) {
        char q = html[j++];
        std::size_t vb = j;
        while (j < n && html[j] != q) ++j;
        value = decode_entities(html.substr(vb, j - vb));
        if (j < n) ++j;
      } else {
        std::size_t vb = j;
        while (j < n && !std::isspace(static_cast<unsigned char>(html[j])) && html[j] != '>') ++j;
        value = decode_entities(html.substr(vb, j - vb));
      }
    }
    if (!key.empty()) tag.attrs.emplace_back(std::move(key), std::move(value));
  }
  return j < n ? j + 1 : n;
}

bool is_code_element(const std::string& name) {
  return name == "pre" || name == "code" || name == "tt" || name == "kbd" || name == "samp";
}

bool is_block(const std::string& name) {
  for (const char* b :
       {"p",  "li", "ul", "ol",         "td", "th", "tr", "table", "div", "pre", "br",
        "dt", "dd", "dl", "blockquote", "h1", "h2", "h3", "h4",    "h5",  "h6",  "hr"})
    if (name == b) return true;
  return false;
}

bool is_heading(const std::string& name) {
  return name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6';
}

}  // namespace

std::string decode_entities(std::string_view s) {
  static const std::pair<std::string_view, std::uint32_t> kNamed[] = {
      {"amp", '&'},       {"lt", '<'},       {"gt", '>'},        {"quot", '"'},
      {"apos", '\''},     {"nbsp", 0xA0},    {"ndash", 0x2013},  {"mdash", 0x2014},
      {"lsquo", 0x2018},  {"rsquo", 0x2019}, {"ldquo", 0x201C},  {"rdquo", 0x201D},
      {"hellip", 0x2026}, {"times", 0xD7},   {"divide", 0xF7},   {"copy", 0xA9},
      {"laquo", 0xAB},    {"raquo", 0xBB},   {"middot", 0xB7},   {"deg", 0xB0},
      {"plusmn", 0xB1},   {"larr", 0x2190},  {"rarr", 0x2192},   {"le", 0x2264},
      {"ge", 0x2265},     {"ne", 0x2260},    {"micro", 0xB5},    {"mu", 0x3BC},
      {"zwj", 0x200D},    {"zwnj", 0x200C},  {"thinsp", 0x2009}, {"ensp", 0x2002},
      {"emsp", 0x2003}};
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    std::size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    std::string_view name = s.substr(i + 1, semi - i - 1);
    bool done = false;
    if (!name.empty() && name[0] == '#') {
      bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
      std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && end && *end == '\0') {
        append_utf8(out, static_cast<std::uint32_t>(cp));
        done = true;
      }
    } else {
      for (const auto& [n, cp] : kNamed) {
        if (n == name) {
          append_utf8(out, cp);
          done = true;
          break;
        }
      }
    }
    if (done) {
      i = semi;
    } else {
      out += s[i];
    }
  }
  return out;
}

HtmlPage::HtmlPage(std::string_view html, bool content_only) {
  const std::size_t n = html.size();
  int code = 0;                    // open code elements (pre, code, tt, ...)
  int heading = 0;                 // open h1..h6
  int title_div = 0;               // open Doxygen title divs
  int content = 0;                 // open content divs (Doxygen)
  std::vector<std::uint8_t> divs;  // per open div: 1 code, 2 content, 4 title
  std::size_t line = 0;
  bool in_title_tag = false;
  std::string heading_text;
  std::size_t heading_line = 0;
  bool new_block = true;  // the next text starts a new VisibleText
  auto visible = [&] { return code == 0 && (!content_only || content > 0 || title_div > 0); };

  for (std::size_t i = 0; i < n;) {
    if (html.compare(i, 4, "<!--") == 0) {
      std::size_t e = html.find("-->", i + 4);
      i = e == std::string_view::npos ? n : e + 3;
      continue;
    }
    if (html[i] == '<' && i + 1 < n &&
        (std::isalpha(static_cast<unsigned char>(html[i + 1])) || html[i + 1] == '/' ||
         html[i + 1] == '!')) {
      Tag tag;
      std::size_t next = parse_tag(html, i, tag);
      if (!tag.closing && (tag.name == "script" || tag.name == "style")) {
        std::size_t e = html.find("</" + tag.name, next);
        i = e == std::string_view::npos ? n : html.find('>', e) + 1;
        continue;
      }
      i = next;
      if (is_block(tag.name)) new_block = true;
      if (tag.name == "title") in_title_tag = !tag.closing;
      if (!tag.closing) {
        if (const std::string* pos = tag.attr("data-sourcepos"))
          line = static_cast<std::size_t>(std::strtoul(pos->c_str(), nullptr, 10));
        for (const char* a : {"href", "src", "data"})
          if (const std::string* v = tag.attr(a)) refs_.push_back({*v, a, line});
        for (const char* a : {"id", "name"})
          if (const std::string* v = tag.attr(a); v && tag.name != "meta" && tag.name != "input")
            anchors_.push_back(*v);
      }
      if (tag.name == "div") {
        if (tag.closing) {
          if (!divs.empty()) {
            if (divs.back() & 1) --code;
            if (divs.back() & 2) --content;
            if (divs.back() & 4) {
              // The end of Doxygen's title div: its text is the page's heading.
              --title_div;
              headings_.push_back({heading_text, true, heading_line});
              heading_text.clear();
            }
            divs.pop_back();
          }
        } else if (!tag.self_closing) {
          std::uint8_t kind = 0;
          if (tag.has_class("fragment")) kind |= 1;
          if (tag.has_class("contents") || tag.has_class("textblock")) kind |= 2;
          if (tag.has_class("title")) kind |= 4;
          if (kind & 1) ++code;
          if (kind & 2) ++content;
          if (kind & 4) {
            ++title_div;
            heading_text.clear();
            heading_line = line;
          }
          divs.push_back(kind);
        }
      } else if (is_code_element(tag.name) && !tag.self_closing) {
        code += tag.closing ? -1 : 1;
        if (code < 0) code = 0;
      } else if (is_heading(tag.name)) {
        if (!tag.closing) {
          ++heading;
          heading_text.clear();
          heading_line = line;
        } else if (heading > 0) {
          --heading;
          headings_.push_back({heading_text, true, heading_line});
          heading_text.clear();
        }
      }
      continue;
    }
    std::size_t e = html.find('<', i + 1);
    if (e == std::string_view::npos) e = n;
    std::string t = decode_entities(html.substr(i, e - i));
    i = e;
    if (in_title_tag) {
      title_ += t;
      continue;
    }
    if (heading > 0 || title_div > 0) heading_text += t;
    if (visible()) {
      bool h = heading > 0 || title_div > 0;
      if (!new_block && !text_.empty()) {
        text_.back().text += t;
      } else {
        text_.push_back({t, h, line});
        new_block = false;
      }
    }
  }
}

std::string leftover_markup(std::string_view s) {
  if (s.find("**") != std::string_view::npos) return "**";
  if (s.find("‘") != std::string_view::npos)
    return "‘ (Doxygen read `x' as a quotation: a code span with a quote in it)";
  if (s.find('`') != std::string_view::npos) return "`";
  if (s.find("{#") != std::string_view::npos) return "{#";
  if (s.find("<!--") != std::string_view::npos)
    return "<!--: a comment shown as text (a bar inside a table cell's marker is written \\|)";
  for (std::size_t p = s.find('<'); p != std::string_view::npos; p = s.find('<', p + 1)) {
    std::size_t q = p + 1;
    if (q < s.size() && s[q] == '/') ++q;
    std::size_t b = q;
    while (q < s.size() && std::isalpha(static_cast<unsigned char>(s[q]))) ++q;
    std::string name = lower(s.substr(b, q - b));
    if (q < s.size() && (s[q] == '>' || s[q] == ' ') &&
        (name == "tt" || name == "code" || name == "b" || name == "i" || name == "em" ||
         name == "strong" || name == "a" || name == "br" || name == "p" || name == "span" ||
         name == "div" || name == "img" || name == "sup" || name == "sub" || name == "kbd"))
      return "a tag shown as text: " + std::string(s.substr(p, q - p + 1));
  }
  // An asterisk meant as emphasis: one that opens (space or '(' before, text after) and a
  // later one that closes (text before, space or punctuation after).
  auto space_like = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  bool opened = false;
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] != '*') continue;
    char left = k > 0 ? s[k - 1] : ' ';
    char right = k + 1 < s.size() ? s[k + 1] : ' ';
    bool opens = (space_like(left) || left == '(' || left == '"') && !space_like(right);
    bool closes =
        !space_like(left) && (space_like(right) || std::ispunct(static_cast<unsigned char>(right)));
    if (opened && closes && left != '*') return "an asterisk meant as emphasis (*…*)";
    if (opens) opened = true;
  }
  return "";
}

}  // namespace tcppool::docs
