// common/tools/docs_check.cpp: checks the docs as readers see them, in both renderings.
//
// `make docs` runs it around Doxygen:
//
//   docs_check check-pages ROOT PAGE...   the GitHub side: renders each page with cmark-gfm
//       (into build/docs/gfm) and fails on a link to a file, page or anchor that the
//       repository does not have, leftover Markdown in the rendered text or a heading, a
//       heading with no portable anchor, a number that no longer matches the reference run, a
//       measured-looking number with no marker, a line link that no longer points at its
//       function, a diagram whose SVG is older than its source, and a stage page over its
//       word budget. Prints each page's prose word count, and the numbers a page marks
//       `<!-- untied: why -->`: measured, but not in the reference run.
//   docs_check filter FILE                the Doxygen input filter (docs_doxygen.hpp)
//   docs_check layout ROOT INDEX DEFAULT  Doxygen's layout, navigation in reading order
//   docs_check check-site ROOT HTML INDEX the Doxygen side: resolves the filter's placeholders,
//       then fails on a dead link or anchor, leftover Markdown, a navigation out of reading
//       order, or a page or source listing that cannot be reached.
//
// and to keep the pages current:
//
//   docs_check refresh [--only numbers|lines] ROOT PAGE...   rewrites every number from the
//       reference run (make numbers) and every line link to its function or excerpt (make
//       snippets), printing each change as "page:line: old -> new"
//   docs_check diagrams ROOT              renders docs/diagrams/*.dot into docs/images/*.svg,
//       stamped with a hash of their source (make diagrams)
//
// Options for check-pages and refresh: --runs DIR (default ROOT/docs/reference-run),
// --gfm-out DIR (default ROOT/build/docs/gfm), --max-stage-words N (default 4000).
// Problems are printed as "page:line: what", one a line; the exit status is 1 if any.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/tools/docs_doxygen.hpp"
#include "common/tools/docs_html.hpp"
#include "common/tools/docs_markdown.hpp"
#include "common/tools/docs_numbers.hpp"
#include "common/tools/docs_repo.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tcppool::docs;

constexpr const char* kUsage =
    "usage: docs_check check-pages [--runs DIR] [--gfm-out DIR] [--max-stage-words N] ROOT "
    "PAGE...\n"
    "       docs_check refresh [--runs DIR] [--only numbers|lines] ROOT PAGE...\n"
    "       docs_check filter FILE\n"
    "       docs_check layout ROOT INDEX DEFAULT_LAYOUT\n"
    "       docs_check check-site ROOT HTML_DIR INDEX\n"
    "       docs_check diagrams ROOT\n";

struct Options {
  std::string runs_dir;
  std::string gfm_out;
  std::size_t max_stage_words = 4000;
  std::string only;  // refresh: "numbers", "lines" or "" (both)
  std::string root;
  std::vector<std::string> pages;
};

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string diagram_stamp(const std::string& dot_path, std::string_view dot_source) {
  return "<!-- source: " + dot_path + " fnv1a-64 " + hex(fnv1a64(dot_source)) + " -->";
}

// A page path relative to the root, from what the command line gave.
std::string relative_to_root(const std::string& root, const std::string& page) {
  std::error_code ec;
  fs::path rel = fs::relative(fs::absolute(page, ec), fs::absolute(root, ec), ec);
  return ec ? page : rel.lexically_normal().string();
}

std::size_t count_lines(std::string_view text) {
  std::size_t n = std::count(text.begin(), text.end(), '\n');
  return !text.empty() && text.back() != '\n' ? n + 1 : n;
}

class Checker {
 public:
  explicit Checker(const Options& o) : o_(o), repo_(o.root) {
    std::string dir = o.runs_dir.empty() ? o.root + "/docs/reference-run" : o.runs_dir;
    try {
      if (fs::exists(dir + "/report.json")) runs_.emplace(dir);
    } catch (const std::exception& e) {
      runs_error_ = e.what();
    }
  }

  void problem(const std::string& page, std::size_t line, const std::string& what) {
    std::fprintf(stderr, "%s:%zu: %s\n", page.c_str(), line, what.c_str());
    ++problems_;
  }
  int problems() const { return problems_; }
  /// The measured-looking numbers a page marks as not from the reference run.
  const std::vector<std::string>& untied() const { return untied_; }

  // GitHub's anchors of a page, as cmark-gfm renders its headings.
  const std::vector<std::string>& rendered_slugs(const std::string& path) {
    auto it = slugs_.find(path);
    if (it != slugs_.end()) return it->second;
    std::vector<std::string> out;
    if (auto html = render(path, false)) {
      SlugSet set;
      HtmlPage page(*html, false);
      for (const auto& h : page.headings()) {
        std::string error;
        if (auto s = github_slug(h.text, error)) out.push_back(set.unique(*s));
      }
    }
    return slugs_.emplace(path, std::move(out)).first->second;
  }

  // Renders a page the way GitHub does (cmark-gfm with GitHub's extensions).
  std::optional<std::string> render(const std::string& path, bool keep) {
    int status = 0;
    std::string html = run_command(
        "cmark-gfm --unsafe --sourcepos -e table -e autolink -e strikethrough -e tagfilter " +
            shell_quote(o_.root + "/" + path) + " 2>&1",
        status);
    if (status != 0) {
      problem(path, 0,
              status == 127 ? "cmark-gfm is not installed (scripts/ensure-deps.sh docs)"
                            : "cmark-gfm failed: " + html);
      return std::nullopt;
    }
    if (keep && !o_.gfm_out.empty()) {
      std::string out = o_.gfm_out + "/" + path.substr(0, path.size() - 3) + ".html";
      std::error_code ec;
      fs::create_directories(fs::path(out).parent_path(), ec);
      // Links and images resolve against the page's own directory in the repository, as on
      // GitHub; the style is just enough to read it.
      std::string base =
          fs::absolute(o_.root + "/" + dirname(path), ec).lexically_normal().string();
      write_file(out, "<!doctype html><meta charset=\"utf-8\"><title>" + path +
                          "</title>\n<base href=\"file://" + base +
                          "/\">\n<style>body{max-width:900px;margin:2em auto;font:16px/1.5 "
                          "sans-serif}img{max-width:100%}table{border-collapse:collapse}"
                          "td,th{border:1px solid #ccc;padding:2px 6px}pre{background:#f6f8fa;"
                          "padding:8px;overflow:auto}</style>\n" +
                          html);
    }
    return html;
  }

  void check_reference(const std::string& path, const Reference& r) {
    const std::string& u = r.url;
    if (u.empty()) return;
    if (u.starts_with("file:"))
      return problem(path, r.line, "a file: URL works on no one else's machine: " + u);
    if (is_external(u)) return;
    if (u.starts_with("/"))
      return problem(path, r.line, u + ": an absolute path; link relative to the page");
    std::string target = u.substr(0, u.find('#'));
    std::string frag = u.find('#') == std::string::npos ? "" : u.substr(u.find('#') + 1);
    std::optional<std::string> q =
        target.empty() ? std::optional(path) : join(dirname(path), target);
    if (!q) return problem(path, r.line, u + " leaves the repository");
    if (!repo_.is_file(*q) && !repo_.is_dir(*q)) {
      std::error_code ec;
      bool here = fs::exists(o_.root + "/" + *q, ec);
      return problem(
          path, r.line,
          u + " goes nowhere: the repository has no " + *q +
              (here ? " (it exists in this checkout only: build output or ignored)" : ""));
    }
    if (frag.empty()) return;
    if (q->ends_with(".md")) {
      const auto& s = rendered_slugs(*q);
      if (std::find(s.begin(), s.end(), frag) == s.end())
        problem(path, r.line, u + ": " + *q + " has no heading with the anchor #" + frag);
    } else if (repo_.is_file(*q)) {
      unsigned a = 0, b = 0;
      char tail = 0;
      int n = std::sscanf(frag.c_str(), "L%u-L%u%c", &a, &b, &tail);
      if (n < 1 || n > 2 || a == 0 || (n == 2 && b < a)) {
        problem(path, r.line, u + ": a file's anchor is #L<line> or #L<a>-L<b>");
        return;
      }
      auto text = read_file(o_.root + "/" + *q);
      std::size_t lines = text ? count_lines(*text) : 0;
      if (std::max(a, b) > lines)
        problem(path, r.line, u + ": " + *q + " has only " + std::to_string(lines) + " lines");
    } else {
      problem(path, r.line, u + ": a directory has no anchors");
    }
  }

  // Numbers: every marker matches the reference run; measured-looking numbers have markers.
  void check_numbers(
      const std::string& path, const Page& page,
      std::vector<std::pair<std::size_t, std::pair<std::size_t, std::string>>>* rewrite) {
    const std::string& text = page.text();
    for (const Comment& c : comments(page)) {
      if (!c.body.starts_with("ref:")) continue;
      std::size_t line = page.line_of(c.begin);
      if (!runs_) {
        problem(path, line,
                runs_error_.empty()
                    ? "a number marker, but no reference run (docs/reference-run/report.json)"
                    : runs_error_);
        continue;
      }
      std::string error;
      auto want = evaluate_marker(*runs_, std::string_view(c.body).substr(4), error);
      if (!want) {
        problem(path, line, "<!-- " + c.body + " -->: " + error);
        continue;
      }
      std::size_t ls = page.line_start(line - 1);
      std::string_view before = std::string_view(text).substr(ls, c.begin - ls);
      std::size_t b = value_start(before, *want);
      std::string have(before.substr(b));
      if (have == *want) continue;
      if (rewrite) {
        rewrite->push_back({ls + b, {have.size(), *want}});
        std::printf("%s:%zu: %s -> %s\n", path.c_str(), line,
                    have.empty() ? "(nothing)" : have.c_str(), want->c_str());
      } else {
        problem(path, line,
                "says " + (have.empty() ? std::string("nothing") : "\"" + have + "\"") +
                    " where the reference run gives \"" + *want + "\" (<!-- " + c.body +
                    " -->; make numbers refreshes it)");
      }
    }
    if (rewrite || path.ends_with("/report.md")) return;  // the report is its own source
    // A ratio "0.92×", a rate "26.0k" or a cost "68.9 ns" in prose is a measurement: it needs a
    // marker. (Thresholds are written with a space, as the report's claims are: "0.95 ×".)
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i])) || page.in_code(i)) continue;
      if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '/' ||
                    text[i - 1] == '.' || text[i - 1] == ','))
        continue;
      std::size_t j = i;
      while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) ||
                                 text[j] == '.' || text[j] == ','))
        ++j;
      while (j > i && (text[j - 1] == '.' || text[j - 1] == ',')) --j;
      std::string num = text.substr(i, j - i);
      std::size_t end = j;
      bool measured = false;
      if (text.compare(j, 2, "×") == 0) {
        measured = true;
        end = j + 2;
      } else if (j < text.size() && text[j] == 'k' &&
                 (j + 1 == text.size() || !std::isalnum(static_cast<unsigned char>(text[j + 1])))) {
        measured = true;
        end = j + 1;
      } else if (num.find('.') != std::string::npos && text.compare(j, 3, " ns") == 0 &&
                 (j + 3 == text.size() || !std::isalnum(static_cast<unsigned char>(text[j + 3])))) {
        measured = true;
        end = j + 3;
      }
      // A range "0.95–1.05×": the marker follows its second number.
      if (!measured && text.compare(j, 3, "–") == 0) {
        i = j;
        continue;
      }
      // Tied: a marker right after it, or a text marker later in the same cell or line that
      // quotes it with its words ("0.917× (64 threads, 64 B)<!-- ref: budget(...).measured -->").
      auto tied = [&] {
        if (text.compare(end, 9, "<!-- ref:") == 0) return true;
        // Said to be from elsewhere, with the reason: accepted, and listed at the end.
        if (text.compare(end, 12, "<!-- untied:") == 0) {
          untied_.push_back(path + ":" + std::to_string(page.line_of(i)) + ": " +
                            text.substr(i, end - i));
          return true;
        }
        std::size_t stop = text.find_first_of("|\n", end);
        std::size_t m = text.find("<!-- ref:", end);
        if (m == std::string::npos || (stop != std::string::npos && m > stop)) return false;
        std::size_t close = text.find("-->", m);
        std::string body = text.substr(m, close == std::string::npos ? 0 : close - m);
        return body.find(".measured") != std::string::npos ||
               body.find("meta.") != std::string::npos;
      };
      if (measured && !tied())
        problem(path, page.line_of(i),
                "\"" + text.substr(i, end - i) +
                    "\" looks measured but has no <!-- ref: ... --> marker (a threshold is "
                    "written with a space: \"0.95 ×\", \"50 ns\")");
      i = end;
    }
  }

  // Line links: [..](file.cpp#L12) points at the function it names, or at the region the
  // excerpt below it is cut from.
  void check_line_links(
      const std::string& path, const Page& page,
      std::vector<std::pair<std::size_t, std::pair<std::size_t, std::string>>>* rewrite) {
    for (const Link& l : links(page)) {
      std::size_t hash = l.dest.find("#L");
      if (hash == std::string::npos || l.image || is_external(l.dest)) continue;
      std::string target = l.dest.substr(0, hash);
      auto q = join(dirname(path), target);
      if (!q || !repo_.is_file(*q)) continue;  // check_reference reports it
      auto text = read_file(o_.root + "/" + *q);
      if (!text) continue;
      Page src(*text);
      std::size_t line = page.line_of(l.begin);
      unsigned have = static_cast<unsigned>(std::atoi(l.dest.c_str() + hash + 2));
      std::optional<unsigned> want;
      std::string why;
      // An excerpt of the same file within the next lines: the link points at its region.
      for (std::size_t k = line; k < page.line_count() && k < line + 3; ++k) {
        std::string_view t = page.line(k);
        std::string marker = "<!-- snippet: " + *q + " ";
        if (!t.starts_with(marker)) continue;
        std::string name(t.substr(marker.size()));
        name = name.substr(0, name.find(' '));
        std::string mark = "// [" + name + "]";
        for (std::size_t s = 0; s < src.line_count(); ++s) {
          std::string_view sl = src.line(s);
          while (!sl.empty() && sl.front() == ' ') sl.remove_prefix(1);
          if (sl == mark) {
            want = static_cast<unsigned>(s + 2);
            break;
          }
        }
        why = "the excerpt [" + name + "] below it starts at line ";
        if (!want) {
          problem(path, line, *q + " has no region [" + name + "]");
          want = have;
        }
        break;
      }
      if (!want) {
        // Otherwise the function named by the link text's last code span.
        std::string name;
        for (std::size_t p = l.text.rfind('`'); p != std::string::npos && p > 0;) {
          std::size_t b = l.text.rfind('`', p - 1);
          if (b == std::string::npos) break;
          name = l.text.substr(b + 1, p - b - 1);
          break;
        }
        if (auto paren = name.find('('); paren != std::string::npos) name.resize(paren);
        std::string qualified = name;
        if (auto colons = name.rfind("::"); colons != std::string::npos)
          name = name.substr(colons + 2);
        if (name.empty()) {
          problem(path, line, "a line link needs the function in its text as `code`: " + l.dest);
          continue;
        }
        auto contains = [&](std::size_t s, const std::string& what) {
          return src.line(s).find(what) != std::string_view::npos;
        };
        if (have >= 1 && have <= src.line_count() && contains(have - 1, name + "(")) continue;
        std::vector<unsigned> found;
        for (std::size_t s = 0; s < src.line_count(); ++s)
          if (contains(s, qualified + "(") && !src.line(s).ends_with(";"))
            found.push_back(static_cast<unsigned>(s + 1));
        if (found.size() != 1) {
          found.clear();
          for (std::size_t s = 0; s < src.line_count(); ++s)
            if (contains(s, name + "(") && !src.line(s).ends_with(";") &&
                !src.line(s).starts_with("//"))
              found.push_back(static_cast<unsigned>(s + 1));
        }
        if (found.size() != 1) {
          problem(path, line,
                  l.dest + ": line " + std::to_string(have) + " is not " + qualified + "(), and " +
                      std::to_string(found.size()) +
                      " lines could be: link to an excerpt's region instead");
          continue;
        }
        want = found[0];
        why = qualified + "() is at line ";
      }
      if (*want == have) continue;
      std::string fixed = target + "#L" + std::to_string(*want);
      if (rewrite) {
        rewrite->push_back({l.dest_begin, {l.dest_end - l.dest_begin, fixed}});
        std::printf("%s:%zu: %s -> %s\n", path.c_str(), line, l.dest.c_str(), fixed.c_str());
      } else {
        problem(path, line,
                l.dest + ": " + why + std::to_string(*want) + " (make snippets refreshes it)");
      }
    }
  }

  void check_page(const std::string& path) {
    auto text = read_file(o_.root + "/" + path);
    if (!text) return problem(path, 0, "cannot read");
    Page page(*text);

    // Anchors: every heading has one both renderings agree on.
    std::vector<std::string> source_slugs;
    SlugSet set;
    for (const Heading& h : headings(page)) {
      std::string error;
      auto s = github_slug(heading_plain_text(h.text), error);
      if (!s) {
        problem(path, h.line + 1, error);
        continue;
      }
      source_slugs.push_back(set.unique(*s));
    }
    auto html = render(path, true);
    if (!html) return;
    HtmlPage hp(*html, false);
    const auto& rendered = rendered_slugs(path);
    if (rendered != source_slugs)
      problem(path, 0,
              "the headings' anchors as rendered differ from those the Doxygen filter gives "
              "(a heading with markup it does not read?)");

    for (const Reference& r : hp.references()) check_reference(path, r);
    for (const VisibleText& t : hp.visible_text()) {
      std::string what = leftover_markup(t.text);
      if (!what.empty()) problem(path, t.line, "renders Markdown as text (" + what + ")");
    }
    for (const VisibleText& h : hp.headings()) {
      for (std::string_view bad : {"{#", "**", "`"}) {
        if (h.text.find(bad) != std::string::npos) {
          problem(path, h.line, "the heading \"" + h.text + "\" shows " + std::string(bad));
          break;
        }
      }
    }
    check_numbers(path, page, nullptr);
    check_line_links(path, page, nullptr);

    std::size_t words = prose_words(page);
    std::printf("%6zu words  %s\n", words, path.c_str());
    if (path.starts_with("docs/stage") && words > o_.max_stage_words)
      problem(path, 0,
              std::to_string(words) + " words of prose: a stage page aims at " +
                  std::to_string(o_.max_stage_words) +
                  " or fewer (move material to the guides or the answers)");
  }

  void check_diagrams() {
    for (const auto& f : repo_.files()) {
      bool dot = f.starts_with("docs/diagrams/") && f.ends_with(".dot");
      bool svg = f.starts_with("docs/images/") && f.ends_with(".svg");
      if (!dot && !svg) continue;
      std::string stem = fs::path(f).stem().string();
      std::string dot_path = "docs/diagrams/" + stem + ".dot";
      std::string svg_path = "docs/images/" + stem + ".svg";
      if (svg && !repo_.is_file(dot_path)) {
        problem(f, 0, "an image in docs/images with no source " + dot_path);
        continue;
      }
      if (!dot) continue;
      auto source = read_file(o_.root + "/" + f);
      auto image = read_file(o_.root + "/" + svg_path);
      if (!image) {
        problem(f, 0, "not rendered: no " + svg_path + " (make diagrams)");
      } else if (source && image->find(diagram_stamp(f, *source)) == std::string::npos) {
        problem(svg_path, 0, "older than its source " + f + " (make diagrams)");
      }
    }
  }

  void refresh_page(const std::string& path) {
    auto text = read_file(o_.root + "/" + path);
    if (!text) return problem(path, 0, "cannot read");
    Page page(*text);
    std::vector<std::pair<std::size_t, std::pair<std::size_t, std::string>>> edits;
    if (o_.only != "lines") check_numbers(path, page, &edits);
    if (o_.only != "numbers") check_line_links(path, page, &edits);
    if (edits.empty()) return;
    std::sort(edits.begin(), edits.end());
    std::string out;
    std::size_t pos = 0;
    for (const auto& [at, e] : edits) {
      out.append(*text, pos, at - pos);
      out += e.second;
      pos = at + e.first;
    }
    out.append(*text, pos, std::string::npos);
    if (!write_file(o_.root + "/" + path, out)) problem(path, 0, "cannot write");
  }

 private:
  const Options& o_;
  RepoFiles repo_;
  std::optional<ReferenceRuns> runs_;
  std::string runs_error_;
  std::map<std::string, std::vector<std::string>> slugs_;
  std::vector<std::string> untied_;
  int problems_ = 0;
};

int render_diagrams(const std::string& root) {
  int failures = 0;
  RepoFiles repo(root);
  for (const auto& f : repo.files()) {
    if (!f.starts_with("docs/diagrams/") || !f.ends_with(".dot")) continue;
    auto source = read_file(root + "/" + f);
    int status = 0;
    std::string svg = run_command("dot -Tsvg " + shell_quote(root + "/" + f), status);
    if (!source || status != 0) {
      std::fprintf(stderr, "%s: dot failed (status %d)\n", f.c_str(), status);
      ++failures;
      continue;
    }
    // The stamp goes after the XML declaration, before the SVG.
    std::size_t at = svg.starts_with("<?xml") ? svg.find('\n') + 1 : 0;
    svg.insert(at, diagram_stamp(f, *source) + "\n");
    std::string out = root + "/docs/images/" + fs::path(f).stem().string() + ".svg";
    std::error_code ec;
    fs::create_directories(fs::path(out).parent_path(), ec);
    auto old = read_file(out);
    if (old && *old == svg) continue;
    if (!write_file(out, svg)) {
      std::fprintf(stderr, "%s: cannot write\n", out.c_str());
      ++failures;
      continue;
    }
    std::printf("rendered %s\n", out.c_str());
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = args[0];
  if (cmd == "filter" && args.size() == 2) {
    std::string root = ".";
    std::string path = relative_to_root(root, args[1]);
    auto text = read_file(args[1]);
    if (!text) {
      std::fprintf(stderr, "%s: cannot read\n", args[1].c_str());
      return 1;
    }
    std::vector<std::string> errors;
    std::string out = filter_page(root, path, *text, errors);
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;  // a filter that fails makes Doxygen drop the page; the checks report instead
  }
  if (cmd == "layout" && args.size() == 4) {
    auto def = read_file(args[3]);
    if (!def) {
      std::fprintf(stderr, "%s: cannot read\n", args[3].c_str());
      return 1;
    }
    std::vector<std::string> errors;
    std::string out = layout(args[1], relative_to_root(args[1], args[2]), *def, errors);
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::fwrite(out.data(), 1, out.size(), stdout);
    return errors.empty() ? 0 : 1;
  }
  if (cmd == "check-site" && args.size() == 4) {
    auto problems = check_site(args[1], args[2], relative_to_root(args[1], args[3]));
    for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
    if (!problems.empty()) std::fprintf(stderr, "check-site: %zu problems\n", problems.size());
    return problems.empty() ? 0 : 1;
  }
  if (cmd == "diagrams" && args.size() == 2) return render_diagrams(args[1]);
  if (cmd == "check-pages" || cmd == "refresh") {
    Options o;
    std::size_t i = 1;
    for (; i + 1 < args.size() && args[i].starts_with("--"); i += 2) {
      if (args[i] == "--runs") {
        o.runs_dir = args[i + 1];
      } else if (args[i] == "--gfm-out") {
        o.gfm_out = args[i + 1];
      } else if (args[i] == "--only" && (args[i + 1] == "numbers" || args[i + 1] == "lines")) {
        o.only = args[i + 1];
      } else if (args[i] == "--max-stage-words") {
        o.max_stage_words = static_cast<std::size_t>(std::stoul(args[i + 1]));
      } else {
        std::fprintf(stderr, "docs_check: unknown option %s\n%s", args[i].c_str(), kUsage);
        return 2;
      }
    }
    if (i >= args.size()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    o.root = args[i++];
    if (o.gfm_out.empty()) o.gfm_out = o.root + "/build/docs/gfm";
    for (; i < args.size(); ++i) o.pages.push_back(relative_to_root(o.root, args[i]));
    Checker checker(o);
    for (const auto& p : o.pages) {
      if (cmd == "refresh") {
        checker.refresh_page(p);
      } else {
        checker.check_page(p);
      }
    }
    bool docs = std::any_of(o.pages.begin(), o.pages.end(),
                            [](const std::string& p) { return p.starts_with("docs/"); });
    if (cmd == "check-pages" && docs) checker.check_diagrams();
    if (!checker.untied().empty()) {
      std::printf(
          "numbers marked untied (not from the reference run; tie them when it has them):\n");
      for (const auto& u : checker.untied()) std::printf("  %s\n", u.c_str());
    }
    if (checker.problems() > 0)
      std::fprintf(stderr, "docs_check: %d problems\n", checker.problems());
    return checker.problems() == 0 ? 0 : 1;
  }
  std::fputs(kUsage, stderr);
  return 2;
}
