// common/tools/docs_numbers.cpp: evaluating the docs' number markers (see the header).
#include "common/tools/docs_numbers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/bench/median.hpp"

namespace tcppool::docs {
namespace {

using Json = nlohmann::json;

// doc[key] when it is an array, else an empty one; by reference (Json::value() copies).
const Json& array_at(const Json& doc, const char* key) {
  static const Json empty = Json::array();
  return doc.is_object() && doc.contains(key) && doc[key].is_array() ? doc[key] : empty;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string with_commas(double v) {
  std::string digits = fixed(std::fabs(v), 0);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Json load_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read");
  try {
    return Json::parse(in);
  } catch (const Json::exception& e) {
    throw std::runtime_error(path + ": not JSON: " + e.what());
  }
}

// A value: a number, a number per run, or text.
struct Value {
  enum Kind { kNumber, kSet, kText } kind = kNumber;
  double number = 0;
  std::vector<double> set;
  std::string text;
  std::string default_format;  // what the field it came from suggests
};

// Recursive descent over a marker's expression.
class Evaluator {
 public:
  Evaluator(const ReferenceRuns& runs, std::string_view src) : runs_(runs), src_(src) {}

  std::optional<Value> run(std::string& error) {
    auto v = expr(0);
    skip();
    if (v && pos_ < src_.size()) fail("unexpected '" + std::string(src_.substr(pos_)) + "'");
    if (!error_.empty()) {
      error = error_;
      return std::nullopt;
    }
    return v;
  }

 private:
  void fail(const std::string& what) {
    if (error_.empty()) error_ = what;
  }
  void skip() {
    while (pos_ < src_.size() && std::isspace(static_cast<unsigned char>(src_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < src_.size() && src_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  std::optional<Value> arith(char op, const Value& a, const Value& b) {
    if (a.kind != Value::kNumber || b.kind != Value::kNumber) {
      fail("arithmetic needs numbers: put runs(...) around the whole expression");
      return std::nullopt;
    }
    Value r;
    r.default_format = a.default_format.empty() ? b.default_format : a.default_format;
    switch (op) {
      case '+':
        r.number = a.number + b.number;
        break;
      case '-':
        r.number = a.number - b.number;
        break;
      case '*':
        r.number = a.number * b.number;
        break;
      default:
        if (b.number == 0) {
          fail("division by zero");
          return std::nullopt;
        }
        r.number = a.number / b.number;
    }
    return r;
  }

  std::optional<Value> expr(std::size_t run) {
    auto a = term(run);
    while (a) {
      skip();
      if (pos_ >= src_.size() || (src_[pos_] != '+' && src_[pos_] != '-')) break;
      char op = src_[pos_++];
      auto b = term(run);
      if (!b) return std::nullopt;
      a = arith(op, *a, *b);
    }
    return a;
  }

  std::optional<Value> term(std::size_t run) {
    auto a = unary(run);
    while (a) {
      skip();
      if (pos_ >= src_.size() || (src_[pos_] != '*' && src_[pos_] != '/')) break;
      char op = src_[pos_++];
      auto b = unary(run);
      if (!b) return std::nullopt;
      a = arith(op, *a, *b);
    }
    return a;
  }

  std::optional<Value> unary(std::size_t run) {
    if (eat('-')) {
      auto v = unary(run);
      if (!v) return std::nullopt;
      Value zero;
      return arith('-', zero, *v);
    }
    return primary(run);
  }

  std::optional<Value> primary(std::size_t run) {
    skip();
    if (pos_ >= src_.size()) {
      fail("expression ends too soon");
      return std::nullopt;
    }
    if (eat('(')) {
      auto v = expr(run);
      if (!eat(')')) fail("missing ')'");
      return v;
    }
    char c = src_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      std::size_t b = pos_;
      while (pos_ < src_.size() &&
             (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '.'))
        ++pos_;
      Value v;
      v.number = std::stod(std::string(src_.substr(b, pos_ - b)));
      return v;
    }
    if (!std::isalpha(static_cast<unsigned char>(c))) {
      fail("unexpected '" + std::string(1, c) + "'");
      return std::nullopt;
    }
    std::size_t b = pos_;
    while (pos_ < src_.size() &&
           (std::isalnum(static_cast<unsigned char>(src_[pos_])) ||
            std::string_view("_@/.:").find(src_[pos_]) != std::string_view::npos))
      ++pos_;
    std::string word(src_.substr(b, pos_ - b));
    skip();
    if (pos_ < src_.size() && src_[pos_] == '(') {
      // run1:budget("...") evaluates in that run.
      if (auto colon = word.find(':'); colon != std::string::npos) {
        auto r = runs_.find(word.substr(0, colon));
        if (!r) {
          fail("no run called " + word.substr(0, colon));
          return std::nullopt;
        }
        return call(word.substr(colon + 1), *r);
      }
      return call(word, run);
    }
    return key(word, run);
  }

  std::optional<Value> call(const std::string& fn, std::size_t run) {
    eat('(');
    if (fn == "budget") return budget(run);
    if (fn == "runs") {
      std::size_t start = pos_;
      Value set;
      set.kind = Value::kSet;
      for (std::size_t r = 0; r < runs_.size(); ++r) {
        pos_ = start;
        auto v = expr(r);
        if (!v) return std::nullopt;
        if (v->kind != Value::kNumber) {
          fail("runs() needs a number");
          return std::nullopt;
        }
        set.set.push_back(v->number);
        set.default_format = v->default_format;
      }
      if (!eat(')')) fail("missing ')' after runs(");
      return set;
    }
    if (fn == "min" || fn == "max") {
      // min(a, b, ...): over numbers and runs(...) sets alike.
      std::vector<double> all;
      std::string format;
      do {
        auto v = expr(run);
        if (!v) return std::nullopt;
        if (v->kind == Value::kText) {
          fail(fn + "() needs numbers");
          return std::nullopt;
        }
        if (v->kind == Value::kSet) {
          all.insert(all.end(), v->set.begin(), v->set.end());
        } else {
          all.push_back(v->number);
        }
        if (format.empty()) format = v->default_format;
      } while (eat(','));
      if (!eat(')')) fail("missing ')' after " + fn + "(");
      Value r;
      r.default_format = format;
      r.number = fn == "min" ? *std::min_element(all.begin(), all.end())
                             : *std::max_element(all.begin(), all.end());
      return r;
    }
    fail("unknown function " + fn + "()");
    return std::nullopt;
  }

  // budget("part of the claim").met | .value | .measured
  std::optional<Value> budget(std::size_t run) {
    skip();
    if (!eat('"')) {
      fail("budget() takes a quoted part of the claim");
      return std::nullopt;
    }
    std::size_t e = src_.find('"', pos_);
    if (e == std::string_view::npos) {
      fail("unclosed quote in budget()");
      return std::nullopt;
    }
    std::string part(src_.substr(pos_, e - pos_));
    pos_ = e + 1;
    if (!eat(')')) fail("missing ')' after budget(");
    std::string field = "value";
    if (eat('.')) {
      std::size_t b = pos_;
      while (pos_ < src_.size() && std::isalpha(static_cast<unsigned char>(src_[pos_]))) ++pos_;
      field = std::string(src_.substr(b, pos_ - b));
    }
    const Json* found = nullptr;
    for (const Json& bud : array_at(runs_.doc(run), "budgets")) {
      if (bud.value("claim", "").find(part) == std::string::npos) continue;
      if (found) {
        fail("budget(\"" + part + "\") matches more than one claim");
        return std::nullopt;
      }
      found = &bud;
    }
    if (!found) {
      fail("no budget claim contains \"" + part + "\" in " + runs_.name(run));
      return std::nullopt;
    }
    Value v;
    std::string measured = found->value("measured", "");
    if (field == "met") {
      if (!(*found)["met"].is_boolean()) {
        fail("budget(\"" + part + "\") was not measured");
        return std::nullopt;
      }
      v.number = (*found)["met"].get<bool>() ? 1 : 0;
      v.default_format = "verdict";
    } else if (field == "measured") {
      v.kind = Value::kText;
      v.text = measured;
      v.default_format = "text";
    } else if (field == "value") {
      try {
        v.number = std::stod(measured);
      } catch (const std::exception&) {
        fail("budget(\"" + part + "\") has no number: " + measured);
        return std::nullopt;
      }
      v.default_format = measured.find("ns") != std::string::npos ? "ns" : "x3";
    } else {
      fail("a budget has met, value and measured, not " + field);
      return std::nullopt;
    }
    return v;
  }

  std::optional<Value> key(std::string word, std::size_t run) {
    if (auto colon = word.find(':'); colon != std::string::npos) {
      auto r = runs_.find(word.substr(0, colon));
      if (!r) {
        fail("no run called " + word.substr(0, colon));
        return std::nullopt;
      }
      run = *r;
      word = word.substr(colon + 1);
    }
    const Json& doc = runs_.doc(run);
    if (word.starts_with("meta.")) {
      std::string f = word.substr(5);
      if (!doc.is_object() || !doc.contains("meta") || !doc["meta"].contains(f)) {
        fail("the report's meta has no " + f);
        return std::nullopt;
      }
      Value v;
      v.kind = Value::kText;
      const Json& m = doc["meta"][f];
      v.text = m.is_string() ? m.get<std::string>() : m.dump();
      v.default_format = "text";
      return v;
    }
    std::size_t dot = word.rfind('.');
    if (dot == std::string::npos) {
      fail(word + ": a key is scenario/stage[/threads[/payload]].field");
      return std::nullopt;
    }
    std::string field = word.substr(dot + 1);
    std::vector<std::string> parts;
    for (std::size_t p = 0; p <= dot;) {
      std::size_t e = word.find('/', p);
      if (e == std::string::npos || e > dot) e = dot;
      parts.push_back(word.substr(p, e - p));
      p = e + 1;
    }
    if (parts.size() < 2 || parts.size() > 4) {
      fail(word + ": a key is scenario/stage[/threads[/payload]].field");
      return std::nullopt;
    }
    std::string stage = parts[1], with;
    if (auto at = stage.find('@'); at != std::string::npos) {
      with = stage.substr(at + 1);
      stage = stage.substr(0, at);
    }
    int threads = -1, payload = -1;
    try {
      if (parts.size() > 2) threads = std::stoi(parts[2]);
      if (parts.size() > 3) payload = parts[3] == "4k" ? 4096 : std::stoi(parts[3]);
    } catch (const std::exception&) {
      fail(word + ": threads and payload are numbers");
      return std::nullopt;
    }
    std::vector<const Json*> rows;
    for (const Json& r : array_at(doc, "rows")) {
      if (r.value("scenario", "") != parts[0] || r.value("stage", "") != stage) continue;
      if (!with.empty() && r.value("measured_with", "") != with) continue;
      if (threads >= 0 && r.value("threads", -1) != threads) continue;
      if (payload >= 0 && r.value("payload_bytes", -1) != payload) continue;
      rows.push_back(&r);
    }
    if (rows.empty()) {
      fail("no row " + word.substr(0, dot) + " in " + runs_.name(run));
      return std::nullopt;
    }
    if (rows.size() > 1 && !(stage == "dedicated" && with.empty())) {
      fail(word.substr(0, dot) + " matches " + std::to_string(rows.size()) + " rows in " +
           runs_.name(run) + ": give threads and payload");
      return std::nullopt;
    }
    Value v;
    v.default_format = default_format(field);
    if (field == "vs_stage1") {
      const Json& r = *rows[0];
      auto base = key(std::string(parts[0]) + "/stage1/" + std::to_string(r.value("threads", 0)) +
                          "/" + std::to_string(r.value("payload_bytes", 0)) + ".a_over_b",
                      run);
      auto mine = number(r, "a_over_b", word);
      if (!base || !mine) return std::nullopt;
      v.number = *mine / base->number;
      return v;
    }
    std::vector<double> values;
    for (const Json* r : rows) {
      auto x = number(*r, field, word);
      if (!x) return std::nullopt;
      values.push_back(*x);
    }
    v.number = values.size() == 1 ? values[0] : bench::median(values);
    return v;
  }

  std::optional<double> number(const Json& row, const std::string& field, const std::string& key) {
    if (!row.contains(field) || !row[field].is_number()) {
      fail(key + ": the row has no number " + field);
      return std::nullopt;
    }
    return row[field].get<double>();
  }

  static std::string default_format(const std::string& field) {
    if (field == "rps") return "rate";
    if (field.ends_with("_us")) return "us";
    if (field == "ns_per_op") return "ns";
    if (field == "a_over_b" || field == "vs_stage1") return "x";
    if (field == "dials_per_1k") return "f0";
    return "int";
  }

  const ReferenceRuns& runs_;
  std::string_view src_;
  std::size_t pos_ = 0;
  std::string error_;
};

std::optional<std::string> format_number(double v, const std::string& fmt, std::string& error) {
  if (fmt == "rate") return format_rate(v);
  if (fmt == "us") return format_micros(v);
  if (fmt == "ns") return format_nanos(v);
  if (fmt == "x") return format_ratio(v);
  if (fmt == "x3") return format_precise_ratio(v);
  if (fmt == "int") return fixed(v, 0);
  if (fmt == "int,") return with_commas(v);
  if (fmt.size() == 2 && fmt[0] == 'f' && fmt[1] >= '0' && fmt[1] <= '3')
    return fixed(v, fmt[1] - '0');
  if (fmt == "verdict") return v != 0 ? std::string("met") : std::string("**missed**");
  error = "unknown format '" + fmt + "' for a number";
  return std::nullopt;
}

bool is_number_char(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == ',';
}

// Where the number (with the units the formats write, possibly a range "a–b") that ends
// `before` starts; before.size() when it does not end with one.
std::size_t numeric_value_start(std::string_view before) {
  const std::size_t end = before.size();
  auto number_before = [&](std::size_t e) -> std::size_t {
    std::string_view s = before.substr(0, e);
    for (std::string_view unit : {"×", " µs", " ms", " ns", " s", " %", "k"}) {
      if (s.ends_with(unit) && s.size() > unit.size() &&
          std::isdigit(static_cast<unsigned char>(s[s.size() - unit.size() - 1]))) {
        s.remove_suffix(unit.size());
        break;
      }
    }
    std::size_t b = s.size();
    while (b > 0 && is_number_char(s[b - 1])) --b;
    while (b < s.size() && !std::isdigit(static_cast<unsigned char>(s[b]))) ++b;  // ",5" -> "5"
    if (b > 0 && s[b - 1] == '-') --b;
    return b == s.size() ? e : b;
  };
  std::size_t b = number_before(end);
  if (b == end) return end;
  if (b >= 3 && before.substr(b - 3, 3) == "–") {
    std::size_t a = number_before(b - 3);
    if (a != b - 3) return a;
  }
  return b;
}

// True when `s` is a whole number as the formats write it ("26.0k", "0.92–1.00×", "68.9 ns").
bool is_numeric_value(std::string_view s) { return !s.empty() && numeric_value_start(s) == 0; }

}  // namespace

std::string format_rate(double v) {
  if (v >= 100'000) return fixed(v / 1000, 0) + "k";
  if (v >= 1000) return fixed(v / 1000, 1) + "k";
  return fixed(v, 0);
}

std::string format_micros(double us) {
  if (us >= 10'000) return fixed(us / 1000, 0) + " ms";
  if (us >= 1000) return fixed(us / 1000, 1) + " ms";
  return fixed(us, us < 10 ? 1 : 0) + " µs";
}

std::string format_nanos(double ns) {
  return ns >= 1000 ? format_micros(ns / 1000) : fixed(ns, 1) + " ns";
}

std::string format_ratio(double r) { return fixed(r, r < 10 ? 2 : 1) + "×"; }

std::string format_precise_ratio(double r) { return fixed(r, r < 10 ? 3 : 2) + "×"; }

ReferenceRuns::ReferenceRuns(const std::string& dir) {
  names_.push_back("reference");
  docs_.push_back(load_json(dir + "/report.json"));
  std::vector<std::filesystem::path> spread;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/spread", ec))
    if (e.path().extension() == ".json") spread.push_back(e.path());
  std::sort(spread.begin(), spread.end());
  for (const auto& p : spread) {
    names_.push_back(p.stem().string());
    docs_.push_back(load_json(p.string()));
  }
}

ReferenceRuns::ReferenceRuns(std::vector<std::string> names, std::vector<nlohmann::json> docs)
    : names_(std::move(names)), docs_(std::move(docs)) {}

std::optional<std::size_t> ReferenceRuns::find(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return i;
  return std::nullopt;
}

std::optional<std::string> evaluate_marker(const ReferenceRuns& runs, std::string_view body,
                                           std::string& error) {
  std::string_view expr = body, fmt;
  // The format follows the last '|' outside quotes.
  bool quoted = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '"') quoted = !quoted;
    if (body[i] == '|' && !quoted) {
      expr = body.substr(0, i);
      fmt = trim(body.substr(i + 1));
    }
  }
  // In a table cell the bar is written "\|", or the table would split the cell at it.
  expr = trim(expr);
  if (expr.ends_with('\\')) expr.remove_suffix(1);
  Evaluator ev(runs, trim(expr));
  auto v = ev.run(error);
  if (!v) return std::nullopt;
  std::string f = fmt.empty() ? v->default_format : std::string(fmt);
  if (f.empty()) {
    error = "say how to show it: add | rate, us, ns, x, x3, int, f0..f3, ...";
    return std::nullopt;
  }
  if (v->kind == Value::kText) {
    if (f == "text") return v->text;
    if (f == "date") return v->text.substr(0, 10);
    if (f == "time") return v->text.size() >= 16 ? v->text.substr(11, 5) : v->text;
    error = "format '" + f + "' is for numbers; this is text";
    return std::nullopt;
  }
  if (v->kind == Value::kNumber) return format_number(v->number, f, error);
  // A set: lo–hi, the unit written once when both ends share it.
  double lo = *std::min_element(v->set.begin(), v->set.end());
  double hi = *std::max_element(v->set.begin(), v->set.end());
  auto a = format_number(lo, f, error), b = format_number(hi, f, error);
  if (!a || !b) return std::nullopt;
  if (*a == *b) return a;
  for (std::string_view unit : {"×", " ns", " µs", " ms"}) {
    if (a->ends_with(unit) && b->ends_with(unit)) {
      a->resize(a->size() - unit.size());
      break;
    }
  }
  return *a + "–" + *b;
}

std::size_t value_start(std::string_view before, std::string_view expected) {
  std::size_t end = before.size();
  if (end == 0) return end;
  if (!is_numeric_value(expected)) {
    // Text: what it should be, if it is there. Otherwise the old text, never reaching into an
    // earlier marker: a number with its words in parentheses ("0.917× (64 threads, 64 B)", a
    // budget's measured text), else the rest of a table cell, else the word before the marker.
    if (before.ends_with(expected)) return end - expected.size();
    std::size_t floor = before.rfind("-->");
    floor = floor == std::string_view::npos ? 0 : floor + 3;
    if (expected.ends_with(")") && before.ends_with(")")) {
      std::size_t open = before.rfind('(');
      if (open != std::string_view::npos && open >= floor) {
        std::size_t b = open;
        while (b > floor && before[b - 1] == ' ') --b;
        std::size_t n = numeric_value_start(before.substr(0, b));
        if (n < b && n >= floor) return n;
        return open;
      }
    }
    if (std::size_t bar = before.rfind('|'); bar != std::string_view::npos && bar >= floor) {
      std::size_t b = bar + 1;
      while (b < end && before[b] == ' ') ++b;
      return b;
    }
    std::size_t b = end;
    while (b > floor && !std::isspace(static_cast<unsigned char>(before[b - 1])) &&
           before[b - 1] != '|' && before[b - 1] != '(')
      --b;
    return b;
  }
  return numeric_value_start(before);
}

}  // namespace tcppool::docs
