// common/tools/docs_html.hpp: reading rendered pages, as a reader's browser would show them.
//
// Both renderings of the docs are HTML: cmark-gfm's (the GitHub-style one) and Doxygen's. The
// checks read them here: the links and images a page has, the anchors it defines, and the
// text a reader sees, outside code, where leftover Markdown (`**`, a stray backtick, `{#`)
// means the renderer did not understand the source.
//
// A small tokenizer, not a parser: it knows tags, attributes, comments, entities, and which
// elements hold code. Both renderers write regular HTML, and that is all it needs.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tcppool::docs {

/// A reference from one page to a file or an anchor: a link, an image, an embedded object.
struct Reference {
  std::string url;       ///< The attribute's value, entities decoded.
  std::string attr;      ///< "href", "src" or "data".
  std::size_t line = 0;  ///< The source line (cmark-gfm's data-sourcepos), or 0 if unknown.
};

/// A stretch of text a reader sees, outside code, with the element it is in.
struct VisibleText {
  std::string text;         ///< Entities decoded.
  bool in_heading = false;  ///< Inside h1..h6 or Doxygen's title div.
  std::size_t line = 0;     ///< The source line, or 0 if unknown.
};

/// One rendered page.
class HtmlPage {
 public:
  /// Reads `html`; `content_only` restricts visible text to Doxygen's contents and title
  /// divisions (the navigation and the footer are not the page's).
  HtmlPage(std::string_view html, bool content_only);

  /// Every link, image and embedded object, in order.
  const std::vector<Reference>& references() const { return refs_; }
  /// The text outside code that a reader sees, one entry per block.
  const std::vector<VisibleText>& visible_text() const { return text_; }
  /// Every id="..." and name="..." on the page.
  const std::vector<std::string>& anchors() const { return anchors_; }
  /// The text of each h1..h6, in order, with the source line when known.
  const std::vector<VisibleText>& headings() const { return headings_; }
  /// The text of the page's title element.
  const std::string& title() const { return title_; }

 private:
  std::vector<Reference> refs_;
  std::vector<VisibleText> text_;
  std::vector<std::string> anchors_;
  std::vector<VisibleText> headings_;
  std::string title_;
};

/// Decodes the HTML character references in `s` (named ones the renderers write, and
/// numeric ones) to UTF-8.
std::string decode_entities(std::string_view s);

/// Returns what looks like leftover Markdown in text a reader sees, or "" when there is none:
/// "**", a backtick, "{#", a quote Doxygen made of `x', a tag shown as text, or an asterisk
/// that was meant as emphasis.
std::string leftover_markup(std::string_view visible);

}  // namespace tcppool::docs
