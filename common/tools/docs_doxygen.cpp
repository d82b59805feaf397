// common/tools/docs_doxygen.cpp: the Doxygen filter, navigation and site check (see header).
#include "common/tools/docs_doxygen.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <set>

#include "common/tools/docs_html.hpp"
#include "common/tools/docs_markdown.hpp"

namespace tcppool::docs {
namespace {

namespace fs = std::filesystem;

// Placeholders for links the filter cannot resolve before Doxygen names its pages: URLs on a
// domain that never resolves (RFC 6761), which Doxygen passes through as external links.
constexpr std::string_view kSourcePlaceholder = "https://tcppool.invalid/src/";
constexpr std::string_view kFilePlaceholder = "https://tcppool.invalid/file/";
// Images live in these directories, which docs/Doxyfile gives as IMAGE_PATH.
constexpr std::string_view kImageDirs[] = {"docs/images", "docs/reference-run"};

// GitHub's anchor of a page's title, or "" when it has none.
std::string title_slug(const std::string& root, const std::string& path) {
  auto text = read_file(root + "/" + path);
  if (!text) return "";
  Page page(*text);
  auto hs = headings(page);
  if (hs.empty() || hs[0].level != 1 || hs[0].line != 0) return "";
  std::string error;
  return github_slug(heading_plain_text(hs[0].text), error).value_or("");
}

// The site's file for the page `path`: its label, or index.html for the front page.
std::string page_html(const std::string& path) {
  std::string label = page_label(path);
  return label == "mainpage" ? "index.html" : label + ".html";
}

// The site's address of the page `path`, at GitHub's anchor `frag` (none when it is the
// title's: the page itself).
std::string page_url(const std::string& root, const std::string& path, const std::string& frag) {
  if (frag.empty() || frag == title_slug(root, path)) return page_html(path);
  return page_html(path) + "#" + page_label(path) + "-" + frag;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The pages index.md links, in order, grouped by its `##` sections: {section, [paths]}.
std::vector<std::pair<std::string, std::vector<std::string>>> reading_order(
    const std::string& root, const std::string& index, std::vector<std::string>& errors) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  auto text = read_file(root + "/" + index);
  if (!text) {
    errors.push_back(index + ": cannot read");
    return out;
  }
  Page page(*text);
  auto hs = headings(page);
  std::set<std::string> seen{index};
  for (const Link& l : links(page)) {
    if (l.image || is_external(l.dest)) continue;
    std::string target = l.dest.substr(0, l.dest.find('#'));
    if (target.empty()) continue;
    auto q = join(dirname(index), target);
    if (!q) continue;
    std::string path = *q;
    if (!path.ends_with(".md")) {
      if (fs::exists(root + "/" + path + "/README.md")) {
        path += "/README.md";
      } else {
        continue;
      }
    }
    if (!seen.insert(path).second) continue;
    std::string section = "Pages";
    std::size_t line = page.line_of(l.begin) - 1;
    for (const Heading& h : hs)
      if (h.level == 2 && h.line < line) section = heading_plain_text(h.text);
    if (out.empty() || out.back().first != section) out.push_back({section, {}});
    out.back().second.push_back(path);
  }
  return out;
}

std::vector<std::string> html_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = fs::relative(it->path(), dir, ec).string();
    if (it->is_directory(ec) && (rel == "search" || rel == "repo")) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && rel.ends_with(".html")) out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The repository path a Doxygen source listing shows, from its <title>: "PROJECT: PATH Source
// File"; "" when the page is not a listing.
std::string listing_path(const std::string& html) {
  std::size_t t = html.find("<title>");
  std::size_t e = html.find(" Source File</title>", t);
  if (t == std::string::npos || e == std::string::npos) return "";
  std::size_t colon = html.rfind(": ", e);
  if (colon == std::string::npos || colon < t) return "";
  return decode_entities(std::string_view(html).substr(colon + 2, e - colon - 2));
}

// The URLs the navigation scripts list (navtreedata.js, menudata.js), in order.
std::vector<std::string> nav_urls(const std::string& js) {
  std::vector<std::string> out;
  // navtreedata.js: [ "title", "url", children ]; menudata.js: {text:"...",url:"..."}
  for (std::size_t p = 0; p < js.size();) {
    std::size_t a = js.find("[ \"", p), b = js.find("url:\"", p);
    if (a == std::string::npos && b == std::string::npos) break;
    if (b == std::string::npos || (a != std::string::npos && a < b)) {
      std::size_t t_end = js.find("\", \"", a + 3);
      if (t_end == std::string::npos) break;
      std::size_t u_end = js.find('"', t_end + 4);
      if (u_end == std::string::npos) break;
      out.push_back(js.substr(t_end + 4, u_end - t_end - 4));
      p = u_end + 1;
    } else {
      std::size_t u_end = js.find('"', b + 5);
      if (u_end == std::string::npos) break;
      out.push_back(js.substr(b + 5, u_end - b - 5));
      p = u_end + 1;
    }
  }
  return out;
}

}  // namespace

std::string filter_page(const std::string& root, const std::string& path, const std::string& text,
                        std::vector<std::string>& errors) {
  Page page(text);
  const std::string label = page_label(path);
  struct Edit {
    std::size_t at, len;
    std::string with;
  };
  std::vector<Edit> edits;

  SlugSet slugs;
  auto hs = headings(page);
  for (std::size_t i = 0; i < hs.size(); ++i) {
    const Heading& h = hs[i];
    std::string error;
    auto slug = github_slug(heading_plain_text(h.text), error);
    if (!slug) {
      errors.push_back(path + ":" + std::to_string(h.line + 1) + ": " + error);
      continue;
    }
    std::string unique = slugs.unique(*slug);
    bool title = i == 0 && h.level == 1 && h.line == 0;
    std::string id = title ? label : label + "-" + unique;
    std::size_t begin = page.line_start(h.line);
    std::size_t end = begin + page.line(h.line).size();
    // Doxygen 1.9.4 shows a code span in a heading as "<tt>x</tt>": the site's heading loses
    // the code font instead.
    for (std::size_t k = begin; k < end; ++k)
      if (text[k] == '`') edits.push_back({k, 1, ""});
    edits.push_back({end, 0, " {#" + id + "}"});
  }

  for (const Link& l : links(page)) {
    if (is_external(l.dest)) continue;
    std::size_t hash = l.dest.find('#');
    std::string target = l.dest.substr(0, hash);
    std::string frag = hash == std::string::npos ? "" : l.dest.substr(hash + 1);
    std::string dest;
    if (target.empty()) {
      if (frag.empty() || l.image) continue;
      dest = page_url(root, path, frag);
    } else {
      auto q = join(dirname(path), target);
      if (!q) continue;
      const std::string full = root + "/" + *q;
      std::error_code ec;
      if (l.image) {
        for (std::string_view dir : kImageDirs)
          if (dirname(*q) == dir) dest = q->substr(dir.size() + 1);
        if (dest.empty()) continue;
      } else if (q->ends_with(".md") && fs::is_regular_file(full, ec)) {
        dest = page_url(root, *q, frag);
      } else if (fs::is_directory(full, ec) && fs::is_regular_file(full + "/README.md", ec)) {
        dest = page_html(*q + "/README.md");
      } else if (is_doxygen_source(*q) && fs::is_regular_file(full, ec)) {
        dest = std::string(kSourcePlaceholder) + *q + (frag.empty() ? "" : "#" + frag);
      } else if (fs::is_regular_file(full, ec)) {
        dest = std::string(kFilePlaceholder) + *q;
      } else {
        continue;  // a dead link: the checks name it
      }
    }
    edits.push_back({l.dest_begin, l.dest_end - l.dest_begin, dest});
  }

  // Number markers are for the checks, not the reader. Doxygen would keep an untied one as an
  // HTML comment and eat the space (and a "%") after it.
  for (const Comment& c : comments(page)) {
    if (c.body.starts_with("ref:") || c.body.starts_with("untied:")) {
      edits.push_back({c.begin, c.end - c.begin, ""});
    }
  }

  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.at < b.at; });
  std::string out;
  std::size_t pos = 0;
  for (const Edit& e : edits) {
    if (e.at < pos) continue;  // overlapping (a link inside a removed comment): keep the first
    out.append(text, pos, e.at - pos);
    out += e.with;
    pos = e.at + e.len;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

std::string layout(const std::string& root, const std::string& index,
                   const std::string& default_layout, std::vector<std::string>& errors) {
  auto order = reading_order(root, index, errors);
  std::string site_title;
  if (auto text = read_file(root + "/" + index)) {
    Page page(*text);
    auto hs = headings(page);
    if (!hs.empty()) site_title = heading_plain_text(hs[0].text);
  }
  std::size_t at = default_layout.find("<tab type=\"pages\"");
  if (at == std::string::npos) {
    errors.push_back("the default layout has no <tab type=\"pages\">");
    return default_layout;
  }
  std::size_t line_begin = default_layout.rfind('\n', at) + 1;
  std::size_t line_end = default_layout.find('\n', at);
  std::string indent = default_layout.substr(line_begin, at - line_begin);
  std::string tabs;
  for (const auto& [section, pages] : order) {
    tabs +=
        indent + "<tab type=\"usergroup\" visible=\"yes\" title=\"" + xml_escape(section) + "\">\n";
    for (const auto& p : pages) {
      auto text = read_file(root + "/" + p);
      std::string title = p;
      if (text) {
        Page page(*text);
        auto hs = headings(page);
        if (!hs.empty()) title = heading_plain_text(hs[0].text);
        // A page titled like the site (the README) is named by its file instead.
        if (title == site_title) title = p.substr(p.rfind('/') + 1);
      } else {
        errors.push_back(index + ": links " + p + ", which cannot be read");
      }
      tabs += indent + "  <tab type=\"user\" visible=\"yes\" url=\"@ref " + page_label(p) +
              "\" title=\"" + xml_escape(title) + "\"/>\n";
    }
    tabs += indent + "</tab>\n";
  }
  tabs += indent + "<tab type=\"pages\" visible=\"no\" title=\"\" intro=\"\"/>";
  return default_layout.substr(0, line_begin) + tabs + default_layout.substr(line_end);
}

std::vector<std::string> check_site(const std::string& root, const std::string& html_dir,
                                    const std::string& index) {
  std::vector<std::string> problems;
  const auto files = html_files(html_dir);
  std::map<std::string, std::string> listing;  // repository path -> listing page
  for (const auto& f : files) {
    if (!f.ends_with("_source.html")) continue;
    auto html = read_file(html_dir + "/" + f);
    if (!html) continue;
    std::string p = listing_path(*html);
    if (!p.empty()) listing[p] = f;
  }

  // Resolve the placeholders the filter left.
  for (const auto& f : files) {
    auto html = read_file(html_dir + "/" + f);
    if (!html) continue;
    std::string& h = *html;
    bool changed = false;
    for (std::string_view bare : {kSourcePlaceholder, kFilePlaceholder}) {
      // Only in an attribute: a listing of this tool's own source shows the strings as text.
      const std::string ph = "href=\"" + std::string(bare);
      for (std::size_t p = h.find(ph); p != std::string::npos; p = h.find(ph, p)) {
        p += 6;  // past href="
        std::size_t e = h.find_first_of("\"'", p);
        if (e == std::string::npos) break;
        std::string value = h.substr(p + bare.size(), e - p - bare.size());
        std::string path = value.substr(0, value.find('#'));
        std::string frag =
            value.find('#') == std::string::npos ? "" : value.substr(value.find('#') + 1);
        std::string url;
        if (bare == kSourcePlaceholder) {
          auto it = listing.find(path);
          if (it == listing.end()) {
            problems.push_back(f + ": links " + path + ", which has no source listing in the site");
            p = e;
            continue;
          }
          url = it->second;
          if (!frag.empty()) {
            if (frag.size() > 1 && frag[0] == 'L') {
              int line = std::atoi(frag.c_str() + 1);
              char buf[16];
              std::snprintf(buf, sizeof buf, "#l%05d", line);
              url += buf;
            } else {
              problems.push_back(f + ": links " + value + ": a source file's anchor is #L<line>");
            }
          }
        } else {
          std::error_code ec;
          fs::create_directories(fs::path(html_dir + "/repo/" + path).parent_path(), ec);
          fs::copy_file(root + "/" + path, html_dir + "/repo/" + path,
                        fs::copy_options::overwrite_existing, ec);
          if (ec)
            problems.push_back(f + ": cannot copy " + path + " into the site: " + ec.message());
          url = "repo/" + path;
        }
        h.replace(p, e - p, url);
        changed = true;
        p += url.size();
      }
    }
    if (changed && !write_file(html_dir + "/" + f, h)) problems.push_back(f + ": cannot rewrite");
  }

  // A pipe escaped for a GitHub table shows its backslash in Doxygen, code spans included.
  std::set<std::string> page_files;
  {
    RepoFiles repo(root);
    for (const auto& p : repo.files())
      if (is_site_page(p))
        page_files.insert(p == "docs/index.md" ? "index.html" : page_label(p) + ".html");
  }
  for (const auto& f : page_files) {
    auto html = read_file(html_dir + "/" + f);
    if (html && html->find("\\|") != std::string::npos)
      problems.push_back(f +
                         ": shows \\| (a pipe escaped for a GitHub table): keep pipes out of "
                         "table cells");
  }

  // Links, anchors and leftover Markdown, page by page.
  std::map<std::string, std::set<std::string>> anchors;
  auto anchors_of = [&](const std::string& f) -> const std::set<std::string>& {
    auto it = anchors.find(f);
    if (it != anchors.end()) return it->second;
    std::set<std::string> ids;
    if (auto html = read_file(html_dir + "/" + f)) {
      HtmlPage page(*html, false);
      ids.insert(page.anchors().begin(), page.anchors().end());
    }
    return anchors.emplace(f, std::move(ids)).first->second;
  };
  std::map<std::string, std::vector<std::string>> edges;
  for (const auto& f : files) {
    auto html = read_file(html_dir + "/" + f);
    if (!html) continue;
    HtmlPage page(*html, true);
    std::string dir = dirname(f);
    for (const Reference& r : page.references()) {
      const std::string& u = r.url;
      if (u.empty() || is_external(u)) continue;
      std::string target = u.substr(0, u.find('#'));
      std::string frag = u.find('#') == std::string::npos ? "" : u.substr(u.find('#') + 1);
      std::string resolved = f;
      if (!target.empty()) {
        auto q = join(dir, target);
        std::error_code ec;
        if (!q || !fs::is_regular_file(html_dir + "/" + *q, ec)) {
          problems.push_back(f + ": " + r.attr + "=\"" + u + "\" goes nowhere");
          continue;
        }
        resolved = *q;
      }
      if (resolved.ends_with(".html")) {
        edges[f].push_back(resolved);
        if (!frag.empty() && !anchors_of(resolved).contains(frag))
          problems.push_back(f + ": " + r.attr + "=\"" + u + "\": " + resolved +
                             " has no anchor '" + frag + "'");
      }
    }
    for (const VisibleText& t : page.visible_text()) {
      std::string what = leftover_markup(t.text);
      if (!what.empty()) {
        std::string shown = t.text.size() > 90 ? t.text.substr(0, 90) + "…" : t.text;
        for (char& c : shown)
          if (c == '\n') c = ' ';
        problems.push_back(f + ": shows Markdown as text (" + what + "): \"" + shown + "\"");
      }
    }
    for (const VisibleText& hd : page.headings()) {
      for (std::string_view bad : {"{#", "**", "`", "<tt>", "<code>"}) {
        if (hd.text.find(bad) != std::string::npos) {
          problems.push_back(f + ": the heading \"" + hd.text + "\" shows " + std::string(bad));
          break;
        }
      }
    }
  }

  // The navigation follows the reading order.
  std::vector<std::string> nav;
  for (const char* js : {"navtreedata.js", "menudata.js"}) {
    auto text = read_file(html_dir + "/" + js);
    if (!text) {
      problems.push_back(std::string(js) + ": missing");
      continue;
    }
    for (auto& u : nav_urls(*text)) nav.push_back(u.substr(0, u.find('#')));
    if (std::string(js) == "navtreedata.js") {
      std::vector<std::string> errors;
      std::size_t last = 0;
      std::string last_page;
      for (const auto& [section, pages] : reading_order(root, index, errors)) {
        for (const auto& p : pages) {
          std::string want = page_label(p) + ".html";
          auto it = std::find(nav.begin() + static_cast<long>(last), nav.end(), want);
          if (it == nav.end()) {
            bool anywhere = std::find(nav.begin(), nav.end(), want) != nav.end();
            problems.push_back("navtreedata.js: " + p +
                               (anywhere ? " comes before " + last_page + " in the navigation"
                                         : " is not in the navigation") +
                               " (the reading order of " + index + ")");
            continue;
          }
          last = static_cast<std::size_t>(it - nav.begin());
          last_page = p;
        }
      }
      problems.insert(problems.end(), errors.begin(), errors.end());
    }
  }

  // Every page and every source listing can be reached from the front page and the menus.
  std::set<std::string> reached;
  std::deque<std::string> queue{"index.html"};
  for (const auto& u : nav)
    if (!u.empty() && !is_external(u)) queue.push_back(u);
  while (!queue.empty()) {
    std::string f = queue.front();
    queue.pop_front();
    if (!reached.insert(f).second) continue;
    for (const auto& g : edges[f]) queue.push_back(g);
  }
  RepoFiles repo(root);
  for (const auto& p : repo.files()) {
    if (is_site_page(p)) {
      std::string want = page_label(p) + ".html";
      if (p == "docs/index.md") want = "index.html";
      std::error_code ec;
      if (!fs::exists(html_dir + "/" + want, ec)) {
        problems.push_back(p + ": no page " + want + " in the site");
      } else if (!reached.contains(want)) {
        problems.push_back(p + ": its page " + want + " cannot be reached from the front page");
      }
    } else if (is_doxygen_source(p)) {
      auto it = listing.find(p);
      if (it == listing.end()) {
        problems.push_back(p + ": no source listing in the site");
      } else if (!reached.contains(it->second)) {
        problems.push_back(p + ": its listing " + it->second +
                           " cannot be reached from the front page");
      }
    }
  }
  return problems;
}

}  // namespace tcppool::docs
