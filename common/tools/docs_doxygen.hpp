// common/tools/docs_doxygen.hpp: the Doxygen side of the docs: filter, navigation, site check.
//
// The pages are written for GitHub: no `{#label}` in titles (GitHub shows it), links to
// files by relative path, anchors as GitHub makes them. Doxygen needs labels, page references
// and its own anchors, so `make docs` runs every page through filter_page() on its way into
// Doxygen (FILTER_PATTERNS in docs/Doxyfile):
//
//   - the title gets the page's label, `{#stage2_mutex_queue}` (page_label());
//   - every other heading gets `{#label-slug}`, where slug is GitHub's anchor for it, so an
//     anchor is stable and reads the same in both renderings, prefixed by the page (Doxygen's
//     labels are global);
//   - a link to a page becomes a link to its file in the site, `label.html` (or
//     `label.html#label-slug` with an anchor; not `@ref`, whose text Doxygen 1.9.4 reads
//     without Markdown and cannot wrap across lines), a link to a directory goes to its
//     README, a link to a source file becomes a placeholder,
//     `https://tcppool.invalid/src/path#L12`, that check_site() turns into the file's listing
//     and line, and a link to any other file becomes `https://tcppool.invalid/file/path`,
//     which check_site() copies into the site;
//   - images are named by file name (IMAGE_PATH has their directories);
//   - number markers are removed (Doxygen eats the space after an inline comment).
//
// The line count never changes, so Doxygen's warnings name the page's own lines.
#pragma once

#include <string>
#include <vector>

#include "common/tools/docs_repo.hpp"

namespace tcppool::docs {

/// Returns `text`, the Markdown of repository file `path`, as Doxygen must read it. Problems
/// it cannot fix (a heading without a portable anchor) are appended to `errors`.
std::string filter_page(const std::string& root, const std::string& path, const std::string& text,
                        std::vector<std::string>& errors);

/// Returns Doxygen's layout file, `default_layout` (from `doxygen -l`) with the navigation's
/// pages in the reading order of `index` (docs/index.md): one group per `##` section, the
/// pages in the order the section first links them.
std::string layout(const std::string& root, const std::string& index,
                   const std::string& default_layout, std::vector<std::string>& errors);

/// Resolves the placeholders filter_page() left in the HTML under `html_dir`, then checks the
/// site: every local link and anchor resolves; no page shows leftover Markdown; the
/// navigation follows the reading order of `index`; every page and source listing can be
/// reached from the front page. Returns the problems found.
std::vector<std::string> check_site(const std::string& root, const std::string& html_dir,
                                    const std::string& index);

}  // namespace tcppool::docs
