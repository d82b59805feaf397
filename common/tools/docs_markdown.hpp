// common/tools/docs_markdown.hpp: just enough Markdown for the docs tools.
//
// The pages in docs/ are read in two renderings: a GitHub-style one (cmark-gfm here) and the
// Doxygen site. The checks themselves run on the rendered HTML (docs_html.hpp); this file is
// for the few things that must be read from the source: where fenced code is, the headings,
// the links outside code (which the Doxygen filter rewrites), the HTML comments that carry
// number markers, and GitHub's rule for turning a heading into an anchor.
//
// It is not a Markdown parser. It knows ATX headings, ``` and ~~~ fences, code spans (which
// may wrap lines inside a paragraph), inline links and images, and HTML comments. That is all
// the docs use, and the checks on the rendered HTML catch anything it gets wrong.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tcppool::docs {

/// A page's text with its lines, and which of them are inside fenced code.
class Page {
 public:
  /// Splits `text` into lines (without their '\n') and finds the fenced code blocks.
  explicit Page(std::string text);

  /// Returns the whole text.
  const std::string& text() const { return text_; }
  /// Returns the number of lines.
  std::size_t line_count() const { return starts_.size(); }
  /// Returns line `i` (0-based), without its '\n'.
  std::string_view line(std::size_t i) const;
  /// True when line `i` is a fence line or inside a fenced block.
  bool in_fence(std::size_t i) const { return fenced_[i]; }
  /// Returns the 1-based line number of byte `offset`.
  std::size_t line_of(std::size_t offset) const;
  /// Returns the byte offset where line `i` (0-based) starts.
  std::size_t line_start(std::size_t i) const { return starts_[i]; }
  /// True when byte `offset` is inside fenced code, a code span or an HTML comment.
  bool in_code(std::size_t offset) const;

  /// A code span or an HTML comment outside fenced code: bytes [begin, end).
  struct Span {
    std::size_t begin = 0;  ///< Offset of the first byte.
    std::size_t end = 0;    ///< Offset just past the last byte.
    bool comment = false;   ///< An HTML comment; otherwise a code span.
  };
  /// Returns the code spans and HTML comments outside fenced code, in order.
  const std::vector<Span>& spans() const { return spans_; }

 private:
  void find_code_spans();

  std::string text_;
  std::vector<std::size_t> starts_;
  std::vector<bool> fenced_;
  std::vector<Span> spans_;
};

/// An ATX heading (`## Text`), outside fenced code.
struct Heading {
  std::size_t line = 0;  ///< 0-based line.
  int level = 0;         ///< 1 for `#`.
  std::string text;      ///< The Markdown after the hashes, trimmed.
};

/// Returns the page's headings in order.
std::vector<Heading> headings(const Page& page);

/// An inline link `[text](dest)` or image `![alt](dest)` outside code.
struct Link {
  std::size_t begin = 0;       ///< Offset of '[' (or '!').
  std::size_t end = 0;         ///< Offset just past ')'.
  std::size_t dest_begin = 0;  ///< Offset of the destination.
  std::size_t dest_end = 0;    ///< Offset just past the destination.
  std::string text;            ///< The Markdown between the brackets.
  std::string dest;            ///< The destination, without any title.
  bool image = false;          ///< An image, `![alt](dest)`.
};

/// Returns the page's inline links and images in order.
std::vector<Link> links(const Page& page);

/// An HTML comment `<!-- body -->` outside fenced code and code spans.
struct Comment {
  std::size_t begin = 0;  ///< Offset of '<'.
  std::size_t end = 0;    ///< Offset just past '>'.
  std::string body;       ///< Between the dashes, trimmed.
};

/// Returns the page's HTML comments in order.
std::vector<Comment> comments(const Page& page);

/// The plain text of a heading's Markdown, as a renderer shows it: link destinations,
/// backticks, emphasis asterisks and HTML tags removed, backslash escapes resolved.
std::string heading_plain_text(std::string_view markdown);

/// Returns GitHub's anchor for a heading's plain text: lower case, punctuation and symbols
/// removed, each space a hyphen. Returns nullopt and sets `error` for a character whose fate
/// this tool does not know (a non-ASCII letter): rephrase the heading.
std::optional<std::string> github_slug(std::string_view plain, std::string& error);

/// Adds GitHub's suffix for repeated anchors on one page: "x", "x-1", "x-2", ...
class SlugSet {
 public:
  /// Returns `slug`, or `slug-N` when it was already used on this page.
  std::string unique(const std::string& slug);

 private:
  std::vector<std::string> used_;
};

/// Counts the words of prose: outside fenced code, tables, HTML comments and images. A word
/// is a run of non-space characters with at least one letter or digit.
std::size_t prose_words(const Page& page);

}  // namespace tcppool::docs
