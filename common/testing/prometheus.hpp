// common/testing/prometheus.hpp: a parser of the Prometheus text exposition format (0.0.4), for
// tests that read a page back and check every value on it.
//
// Strict where a writer goes wrong: a family's lines must be contiguous, HELP and TYPE at most
// once each and TYPE before the samples, names and label names well formed, label values
// quoted with only the three escapes the format has (\\, \", \n) and valid UTF-8, no series
// twice, a histogram's samples `_bucket` (with a numeric `le`), `_sum` or `_count`, and a line
// feed after the last line. Each error names the line, what is wrong and quotes the line. Not a
// full implementation: timestamps are read but mean nothing here, and OpenMetrics (exemplars,
// `# EOF`) is not accepted.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace tcppool::testing::prometheus {

/// A sample's labels: name to value, unescaped.
using Labels = std::map<std::string, std::string, std::less<>>;

/// One sample line: `name{label="value",...} value [timestamp]`.
struct Sample {
  std::string name;  ///< The sample's name: the family's, or with `_bucket`, `_sum`, `_count`.
  Labels labels;     ///< Its labels, unescaped.
  double value = 0;  ///< Its value (NaN, +Inf and -Inf included).
  std::string text;  ///< The value as written: exact where a double is not (integers > 2^53).
  std::optional<std::int64_t> timestamp_ms;  ///< The timestamp, when the line has one.
  std::size_t line = 0;                      ///< Its line on the page, from 1.

  /// Returns the value of label `label`, or nullopt when the sample has none.
  std::optional<std::string_view> label(std::string_view label) const {
    auto it = labels.find(label);
    if (it == labels.end()) return std::nullopt;
    return it->second;
  }
};

/// One metric family: its HELP and TYPE lines and its samples, in page order.
struct Family {
  std::string name;                 ///< The family's name, as its HELP, TYPE and samples give it.
  std::string type = "untyped";     ///< From its TYPE line, or "untyped" when it has none.
  std::optional<std::string> help;  ///< From its HELP line, unescaped; nullopt when it has none.
  std::vector<Sample> samples;      ///< Its samples, in page order.

  /// Returns the samples named `name` that have every label of `match` (and maybe others), in
  /// page order.
  std::vector<const Sample*> select(std::string_view name, const Labels& match = {}) const {
    std::vector<const Sample*> out;
    for (const Sample& s : samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& [k, v] : match) all = all && s.label(k) == std::string_view(v);
      if (all) out.push_back(&s);
    }
    return out;
  }
};

/// A parsed page.
struct Page {
  std::vector<Family> families;  ///< In page order.

  /// Returns the family named `name`, or nullptr.
  const Family* family(std::string_view name) const {
    for (const Family& f : families) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  /// Returns the sample named `name` with exactly `labels`, in any family, or nullptr.
  const Sample* sample(std::string_view name, const Labels& labels) const {
    for (const Family& f : families) {
      for (const Sample& s : f.samples) {
        if (s.name == name && s.labels == labels) return &s;
      }
    }
    return nullptr;
  }
};

/// Parses pages of Prometheus text (format 0.0.4): see parse().
class Parser {
 public:
  /// Parses `text`. On the first malformed line, returns an error that names the line, says
  /// what is wrong and then quotes the line, as in "line 3: label 'b' twice: " followed by
  /// line 3. An empty text is a valid, empty page.
  static std::expected<Page, std::string> parse(std::string_view text) {
    return Parser().run(text);
  }

 private:
  static bool is_name_start(char c, bool colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  }
  static bool is_name_char(char c, bool colon) {
    return is_name_start(c, colon) || (c >= '0' && c <= '9');
  }

  // Returns true if `s` is valid UTF-8: no stray continuation bytes, truncated sequences,
  // overlong forms, surrogates or code points above U+10FFFF.
  static bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
      const auto b0 = static_cast<unsigned char>(s[i]);
      std::size_t n = 0;
      char32_t cp = 0, min = 0;
      if (b0 < 0x80) {
        ++i;
        continue;
      } else if ((b0 & 0xE0) == 0xC0) {
        n = 2, cp = b0 & 0x1F, min = 0x80;
      } else if ((b0 & 0xF0) == 0xE0) {
        n = 3, cp = b0 & 0x0F, min = 0x800;
      } else if ((b0 & 0xF8) == 0xF0) {
        n = 4, cp = b0 & 0x07, min = 0x10000;
      } else {
        return false;
      }
      if (s.size() - i < n) return false;
      for (std::size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (b & 0x3F);
      }
      if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      i += n;
    }
    return true;
  }

  // Parses a sample value as Go's strconv.ParseFloat does for the formats Prometheus writes:
  // decimal and exponent forms with an optional sign, and Inf, Infinity and NaN in any case.
  static std::optional<double> parse_float(std::string_view s) {
    std::string_view body = s;
    bool negative = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
      negative = body[0] == '-';
      body.remove_prefix(1);
    }
    std::string lower;
    for (char c : body) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower == "inf" || lower == "infinity") {
      return negative ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
    }
    if (lower == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (body.empty() || body[0] == '+' || body[0] == '-') return std::nullopt;
    double v = 0;
    const auto r = std::from_chars(body.data(), body.data() + body.size(), v);
    if (r.ec != std::errc() || r.ptr != body.data() + body.size() || std::isnan(v) ||
        std::isinf(v)) {
      return std::nullopt;
    }
    return negative ? -v : v;
  }

  // Reads one line of a page, left to right. Every read_* returns false on malformed input,
  // with error() saying why.
  class LineReader {
   public:
    explicit LineReader(std::string_view line) : s_(line) {}

    bool at_end() const { return i_ == s_.size(); }
    char peek() const { return at_end() ? '\0' : s_[i_]; }
    std::string_view rest() const { return s_.substr(i_); }
    const std::string& error() const { return error_; }

    // Skips spaces and tabs; returns how many.
    std::size_t skip_blanks() {
      const std::size_t from = i_;
      while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
      return i_ - from;
    }

    bool consume(char c) {
      if (peek() != c || at_end()) return false;
      ++i_;
      return true;
    }

    // Reads a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with colon false, a label name
    // ([a-zA-Z_][a-zA-Z0-9_]*).
    bool read_name(std::string& out, bool colon, std::string_view what) {
      const std::size_t from = i_;
      if (at_end() || !is_name_start(s_[i_], colon)) return fail("expected " + std::string(what));
      while (!at_end() && is_name_char(s_[i_], colon)) ++i_;
      out = std::string(s_.substr(from, i_ - from));
      return true;
    }

    // Reads a run of characters up to the next blank or the end.
    std::string_view read_token() {
      const std::size_t from = i_;
      while (!at_end() && s_[i_] != ' ' && s_[i_] != '\t') ++i_;
      return s_.substr(from, i_ - from);
    }

    // Reads the rest of the line as HELP text, unescaping \\ and \n.
    bool read_help(std::string& out) {
      out.clear();
      while (!at_end()) {
        const char c = s_[i_++];
        if (c != '\\') {
          out += c;
          continue;
        }
        if (at_end()) return fail("a HELP text ends in a lone backslash");
        const char e = s_[i_++];
        if (e == '\\') {
          out += '\\';
        } else if (e == 'n') {
          out += '\n';
        } else {
          return fail(std::string("invalid escape sequence \\") + e + " in a HELP text");
        }
      }
      if (!valid_utf8(out)) return fail("the HELP text is not valid UTF-8");
      return true;
    }

    // Reads a quoted label value, unescaping \\, \" and \n. REQUIRES: peek() == '"'.
    bool read_label_value(std::string& out, std::string_view label) {
      ++i_;
      out.clear();
      for (;;) {
        if (at_end())
          return fail("the value of label '" + std::string(label) + "' has no end quote");
        const char c = s_[i_++];
        if (c == '"') break;
        if (c != '\\') {
          out += c;
          continue;
        }
        if (at_end()) return fail("a label value ends in a lone backslash");
        const char e = s_[i_++];
        if (e == '\\') {
          out += '\\';
        } else if (e == '"') {
          out += '"';
        } else if (e == 'n') {
          out += '\n';
        } else {
          return fail(std::string("invalid escape sequence \\") + e + " in the value of label '" +
                      std::string(label) + "'");
        }
      }
      if (!valid_utf8(out)) {
        return fail("the value of label '" + std::string(label) + "' is not valid UTF-8");
      }
      return true;
    }

    bool fail(std::string why) {
      error_ = std::move(why);
      return false;
    }

   private:
    std::string_view s_;
    std::size_t i_ = 0;
    std::string error_;
  };

  std::expected<Page, std::string> run(std::string_view text) {
    std::size_t line_no = 0;
    while (!text.empty()) {
      ++line_no;
      const std::size_t nl = text.find('\n');
      if (nl == std::string_view::npos) {
        return error(line_no, text, "the last line does not end with a line feed");
      }
      const std::string_view line = text.substr(0, nl);
      text.remove_prefix(nl + 1);
      LineReader r(line);
      r.skip_blanks();
      if (r.at_end()) continue;  // a blank line
      const bool ok = r.peek() == '#' ? comment(r, line_no) : sample(r, line_no);
      if (!ok) return error(line_no, line, r.error());
    }
    return std::move(page_);
  }

  static std::unexpected<std::string> error(std::size_t line_no, std::string_view line,
                                            const std::string& why) {
    std::string quoted(line.substr(0, 160));
    if (line.size() > 160) quoted += "...";
    return std::unexpected("line " + std::to_string(line_no) + ": " + why + ": `" + quoted + "`");
  }

  Family* current() { return page_.families.empty() ? nullptr : &page_.families.back(); }

  // Starts family `name` at `line_no`, or fails if it already had lines further up.
  Family* start_family(LineReader& r, const std::string& name, std::size_t line_no) {
    if (auto it = last_line_.find(name); it != last_line_.end()) {
      r.fail("family '" + name + "' is not contiguous: its lines ended at line " +
             std::to_string(it->second));
      return nullptr;
    }
    Family f;
    f.name = name;
    page_.families.push_back(std::move(f));
    last_line_[name] = line_no;
    return &page_.families.back();
  }

  // `# HELP name text`, `# TYPE name type`, or any other comment (ignored).
  bool comment(LineReader& r, std::size_t line_no) {
    r.consume('#');
    r.skip_blanks();
    const std::string_view keyword = r.read_token();
    if (keyword != "HELP" && keyword != "TYPE") return true;
    if (r.skip_blanks() == 0) return r.fail("expected a metric name after " + std::string(keyword));
    std::string name;
    if (!r.read_name(name, /*colon=*/true, "a metric name")) return false;
    if (!r.at_end() && r.skip_blanks() == 0) return r.fail("invalid character in a metric name");
    Family* f = current();
    if (f == nullptr || f->name != name) f = start_family(r, name, line_no);
    if (f == nullptr) return false;
    last_line_[name] = line_no;
    if (keyword == "HELP") {
      if (f->help) return r.fail("second HELP line for '" + name + "'");
      std::string help;
      if (!r.read_help(help)) return false;
      f->help = std::move(help);
      return true;
    }
    if (typed_.contains(name)) return r.fail("second TYPE line for '" + name + "'");
    if (!f->samples.empty()) return r.fail("TYPE line for '" + name + "' after its samples");
    const std::string type(r.read_token());
    r.skip_blanks();
    if (!r.at_end()) return r.fail("unexpected text after the type");
    if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
        type != "untyped") {
      return r.fail("unknown type '" + type + "'");
    }
    f->type = type;
    typed_.insert(name);
    return true;
  }

  // Returns the family a sample named `name` belongs to: the current one if its name and type
  // allow, else a new one (an untyped family of that name).
  Family* family_of(LineReader& r, const std::string& name, std::size_t line_no) {
    Family* f = current();
    if (f != nullptr) {
      const std::string& base = f->name;
      if (name == base) return f;
      const bool histogram = f->type == "histogram", summary = f->type == "summary";
      if ((histogram && name == base + "_bucket") ||
          ((histogram || summary) && (name == base + "_sum" || name == base + "_count"))) {
        return f;
      }
    }
    // A histogram's or summary's sample further down from its family is not contiguous either.
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() > suffix.size() && name.ends_with(suffix)) {
        const std::string base = name.substr(0, name.size() - suffix.size());
        if (auto it = last_line_.find(base); it != last_line_.end() && typed_.contains(base)) {
          const Family* other = page_.family(base);
          if (other->type == "histogram" || other->type == "summary") {
            r.fail("family '" + base + "' is not contiguous: its lines ended at line " +
                   std::to_string(it->second));
            return nullptr;
          }
        }
      }
    }
    return start_family(r, name, line_no);
  }

  // `name{labels} value [timestamp]`.
  bool sample(LineReader& r, std::size_t line_no) {
    Sample s;
    s.line = line_no;
    if (!r.read_name(s.name, /*colon=*/true, "a metric name")) return false;
    std::size_t blanks = r.skip_blanks();
    if (r.consume('{')) {
      if (!labels(r, s.labels)) return false;
      blanks = r.skip_blanks();
    }
    if (blanks == 0) {
      return r.fail(r.at_end() ? "the sample has no value" : "invalid character after the name");
    }
    s.text = std::string(r.read_token());
    const auto value = parse_float(s.text);
    if (!value) return r.fail("invalid sample value '" + s.text + "'");
    s.value = *value;
    r.skip_blanks();
    if (!r.at_end()) {
      const std::string_view ts = r.read_token();
      std::int64_t t = 0;
      const auto res = std::from_chars(ts.data(), ts.data() + ts.size(), t);
      if (res.ec != std::errc() || res.ptr != ts.data() + ts.size()) {
        return r.fail("invalid timestamp '" + std::string(ts) + "'");
      }
      s.timestamp_ms = t;
      r.skip_blanks();
      if (!r.at_end()) return r.fail("unexpected text after the timestamp");
    }
    Family* f = family_of(r, s.name, line_no);
    if (f == nullptr) return false;
    if (f->type == "histogram") {
      if (s.name == f->name) {
        return r.fail("histogram '" + f->name + "' has a sample without _bucket, _sum or _count");
      }
      if (s.name == f->name + "_bucket") {
        const auto le = s.label("le");
        if (!le) return r.fail("a bucket of '" + f->name + "' has no le label");
        if (!parse_float(*le)) return r.fail("invalid le \"" + std::string(*le) + "\"");
      }
    }
    if (f->type == "summary" && s.name == f->name && !s.label("quantile")) {
      return r.fail("a sample of summary '" + f->name + "' has no quantile label");
    }
    auto [it, fresh] = series_.try_emplace({s.name, s.labels}, line_no);
    if (!fresh)
      return r.fail("the same series again (first at line " + std::to_string(it->second) + ")");
    last_line_[f->name] = line_no;
    f->samples.push_back(std::move(s));
    return true;
  }

  // The labels after `{`, up to and including `}`.
  static bool labels(LineReader& r, Labels& out) {
    for (;;) {
      r.skip_blanks();
      if (r.consume('}')) return true;
      std::string name, value;
      if (!r.read_name(name, /*colon=*/false, "a label name or '}'")) return false;
      r.skip_blanks();
      if (!r.consume('=')) return r.fail("expected '=' after label '" + name + "'");
      r.skip_blanks();
      if (r.peek() != '"') return r.fail("the value of label '" + name + "' is not quoted");
      if (!r.read_label_value(value, name)) return false;
      if (!out.emplace(name, std::move(value)).second) return r.fail("label '" + name + "' twice");
      r.skip_blanks();
      if (r.consume('}')) return true;
      if (!r.consume(','))
        return r.fail("expected ',' or '}' after the value of label '" + name + "'");
    }
  }

  Page page_;
  std::map<std::string, std::size_t, std::less<>> last_line_;     // family -> its last line so far
  std::set<std::string, std::less<>> typed_;                      // families with a TYPE line
  std::map<std::pair<std::string, Labels>, std::size_t> series_;  // series -> its line
};

/// Parses a page of Prometheus text (format 0.0.4), as Parser::parse() does.
inline std::expected<Page, std::string> parse(std::string_view text) { return Parser::parse(text); }

}  // namespace tcppool::testing::prometheus
