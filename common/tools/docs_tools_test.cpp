// common/tools/docs_tools_test.cpp: the pieces of docs_check, each on inputs it must get right.
//
// The end-to-end tests (planted dead links, raw `**`, stale numbers, the Doxygen site) are in
// CMakeLists.txt; these pin down the rules they rest on: GitHub's anchors, where code is,
// which numbers a marker gives and how, what counts as leftover Markdown, and what the Doxygen
// filter writes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/tools/docs_doxygen.hpp"
#include "common/tools/docs_html.hpp"
#include "common/tools/docs_markdown.hpp"
#include "common/tools/docs_numbers.hpp"
#include "common/tools/docs_repo.hpp"

namespace tcppool::docs {
namespace {

std::string slug(std::string_view heading) {
  std::string error;
  return github_slug(heading_plain_text(heading), error).value_or("ERROR: " + error);
}

TEST(DocsMarkdown, SlugsAreGitHubs) {
  EXPECT_EQ(slug("Why not std::counting_semaphore"), "why-not-stdcounting_semaphore");
  EXPECT_EQ(slug("LIFO, and what FIFO would change"), "lifo-and-what-fifo-would-change");
  EXPECT_EQ(slug("Stage 3 at 0.948× of the ceiling"), "stage-3-at-0948-of-the-ceiling");
  EXPECT_EQ(slug("`acquire()` and **release**"), "acquire-and-release");
  EXPECT_EQ(slug("A [link](x.md) in it"), "a-link-in-it");
  EXPECT_EQ(slug("\"Library was built as DEBUG\""), "library-was-built-as-debug");
  EXPECT_EQ(slug("One round trip: 7 or 95 microseconds"), "one-round-trip-7-or-95-microseconds");
}

TEST(DocsMarkdown, ASlugWithALetterDoxygenCannotTakeIsAnError) {
  std::string error;
  EXPECT_FALSE(github_slug("7 µs or 95 µs", error));
  EXPECT_NE(error.find("µ"), std::string::npos);
}

TEST(DocsMarkdown, RepeatedSlugsGetGitHubsSuffixes) {
  SlugSet set;
  EXPECT_EQ(set.unique("exercises"), "exercises");
  EXPECT_EQ(set.unique("exercises"), "exercises-1");
  EXPECT_EQ(set.unique("exercises"), "exercises-2");
}

TEST(DocsMarkdown, CodeSpansFencesAndCommentsAreCode) {
  Page page(
      "A `code **span**` and ``a ` tick``.\n"
      "A span that `wraps\nto the next line` ends.\n"
      "\n"
      "```cpp\n"
      "int **argv;\n"
      "```\n"
      "<!-- a comment --> then text\n");
  const std::string& t = page.text();
  EXPECT_TRUE(page.in_code(t.find("**span")));
  EXPECT_TRUE(page.in_code(t.find("a ` tick")));
  EXPECT_TRUE(page.in_code(t.find("to the next")));
  EXPECT_FALSE(page.in_code(t.find("ends.")));
  EXPECT_TRUE(page.in_code(t.find("**argv")));
  EXPECT_TRUE(page.in_code(t.find("a comment")));
  EXPECT_FALSE(page.in_code(t.find("then text")));
}

TEST(DocsMarkdown, AnUnmatchedBacktickIsLiteral) {
  Page page("A `` double `` span and a lone ` tick.\n");
  EXPECT_TRUE(page.in_code(page.text().find("double")));
  EXPECT_FALSE(page.in_code(page.text().find("tick")));
}

TEST(DocsMarkdown, LinksOutsideCodeOnly) {
  Page page(
      "See [the page](stage2.md#lifo), ![a chart](images/c.svg) and [`f()`](a.cpp#L3).\n"
      "Not `[code](x.md)`, and not in a fence:\n"
      "```\n[x](y.md)\n```\n");
  auto ls = links(page);
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[0].dest, "stage2.md#lifo");
  EXPECT_EQ(ls[0].text, "the page");
  EXPECT_TRUE(ls[1].image);
  EXPECT_EQ(ls[1].dest, "images/c.svg");
  EXPECT_EQ(ls[2].text, "`f()`");
  EXPECT_EQ(ls[2].dest, "a.cpp#L3");
}

TEST(DocsMarkdown, HeadingsSkipFences) {
  Page page("# Title\n\n```sh\n# a shell comment\n```\n## Section ##\n");
  auto hs = headings(page);
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[0].text, "Title");
  EXPECT_EQ(hs[1].level, 2);
  EXPECT_EQ(hs[1].text, "Section");
}

TEST(DocsMarkdown, ProseWordsLeaveOutCodeTablesCommentsAndImages) {
  Page page(
      "# Two words\n"
      "Three [linked](a/b/c.md) words.<!-- not these five words here -->\n"
      "| a | table | row |\n"
      "![an image](x.svg)\n"
      "```\nnot code either\n```\n");
  EXPECT_EQ(prose_words(page), 5u);
}

ReferenceRuns sample_runs() {
  auto ref = nlohmann::json::parse(R"({
    "meta": {"commit": "8c47db4", "date": "2026-12-01T06:40:04+00:00"},
    "budgets": [{"claim": "stage3 64 threads on 8 connections ≥ 0.9 × 8 threads on 8",
                 "measured": "0.599×", "met": false},
                {"claim": "stage2 uncontended acquire + release ≤ 50 ns",
                 "measured": "68.9 ns", "met": false}],
    "rows": [
      {"scenario": "steady", "stage": "stage1", "measured_with": "stage1", "threads": 4,
       "payload_bytes": 64, "rps": 26026.99, "a_over_b": 0.48657, "p50_us": 1434.2},
      {"scenario": "steady", "stage": "stage1", "measured_with": "stage1", "threads": 16,
       "payload_bytes": 64, "rps": 27348.53, "a_over_b": 0.28145},
      {"scenario": "steady", "stage": "stage2", "measured_with": "stage2", "threads": 4,
       "payload_bytes": 64, "rps": 51892.79, "a_over_b": 0.99864},
      {"scenario": "steady", "stage": "dedicated", "measured_with": "stage1", "threads": 4,
       "payload_bytes": 64, "rps": 52050.88},
      {"scenario": "steady", "stage": "dedicated", "measured_with": "stage2", "threads": 4,
       "payload_bytes": 64, "rps": 53188.38},
      {"scenario": "steady", "stage": "dedicated", "measured_with": "stage3", "threads": 4,
       "payload_bytes": 64, "rps": 53502.41},
      {"scenario": "acquire_release", "stage": "stage2", "measured_with": "stage2",
       "threads": 1, "payload_bytes": 0, "ns_per_op": 68.8689, "peak_open": null},
      {"scenario": "burst", "stage": "stage2", "measured_with": "stage2", "threads": 64,
       "payload_bytes": 64, "peak_open": 51, "tw_before": 131072}]})");
  auto run1 = nlohmann::json::parse(R"({"rows": [
      {"scenario": "steady", "stage": "stage2", "measured_with": "stage2", "threads": 4,
       "payload_bytes": 64, "rps": 50000, "a_over_b": 0.917}]})");
  return ReferenceRuns({"reference", "run1"}, {ref, run1});
}

std::string eval(std::string_view body) {
  static const ReferenceRuns runs = sample_runs();
  std::string error;
  return evaluate_marker(runs, body, error).value_or("ERROR: " + error);
}

TEST(DocsNumbers, FieldsChooseTheReportsFormats) {
  EXPECT_EQ(eval("steady/stage1/4/64.rps"), "26.0k");
  EXPECT_EQ(eval("steady/stage1/4/64.a_over_b"), "0.49×");
  EXPECT_EQ(eval("steady/stage1/4/64.p50_us"), "1.4 ms");
  EXPECT_EQ(eval("acquire_release/stage2.ns_per_op"), "68.9 ns");
  EXPECT_EQ(eval("burst/stage2.peak_open"), "51");
  EXPECT_EQ(eval("burst/stage2.tw_before | int,"), "131,072");
  // In a table cell the bar is escaped, or GitHub would split the cell at it.
  EXPECT_EQ(eval("burst/stage2.tw_before \\| int,"), "131,072");
}

TEST(DocsNumbers, TheCeilingIsTheMedianUnlessOneBinaryIsNamed) {
  EXPECT_EQ(eval("steady/dedicated/4/64.rps"), "53.2k");
  EXPECT_EQ(eval("steady/dedicated@stage1/4/64.rps"), "52.1k");
}

TEST(DocsNumbers, RatiosExpressionsRunsAndBudgets) {
  EXPECT_EQ(eval("steady/stage2/4/64.vs_stage1"), "2.05×");
  EXPECT_EQ(eval("steady/stage2/4/64.rps / steady/stage1/4/64.rps | x"), "1.99×");
  EXPECT_EQ(eval("(1 - steady/stage1/4/64.a_over_b) * 100 | f0"), "51");
  EXPECT_EQ(eval("runs(steady/stage2/4/64.a_over_b)"), "0.92–1.00×");
  EXPECT_EQ(eval("min(runs(steady/stage2/4/64.a_over_b)) | x3"), "0.917×");
  EXPECT_EQ(eval("max(runs(steady/stage2/4/64.a_over_b), steady/stage1/4/64.a_over_b) | x3"),
            "0.999×");
  EXPECT_EQ(eval("run1:steady/stage2/4/64.rps"), "50.0k");
  EXPECT_NE(eval("run1:budget(\"64 threads\").value").find("no budget claim"), std::string::npos);
  EXPECT_EQ(eval("budget(\"64 threads\").value"), "0.599×");
  EXPECT_EQ(eval("budget(\"uncontended\").value"), "68.9 ns");
  EXPECT_EQ(eval("budget(\"uncontended\").met"), "**missed**");
  EXPECT_EQ(eval("meta.commit"), "8c47db4");
  EXPECT_EQ(eval("meta.date | date"), "2026-12-01");
}

TEST(DocsNumbers, MistakesNameWhatIsWrong) {
  EXPECT_NE(eval("steady/stage9/4/64.rps").find("no row steady/stage9/4/64"), std::string::npos);
  EXPECT_NE(eval("steady/stage1.rps").find("give threads and payload"), std::string::npos);
  EXPECT_NE(eval("acquire_release/stage2.peak_open").find("no number peak_open"),
            std::string::npos);
  EXPECT_NE(eval("budget(\"nothing like it\").met").find("no budget claim"), std::string::npos);
  EXPECT_NE(eval("steady/stage1/4/64.rps | fancy").find("unknown format"), std::string::npos);
}

TEST(DocsNumbers, TheValueBeforeAMarkerIsFoundWithItsUnit) {
  auto value = [](std::string_view before, std::string_view want) {
    return std::string(before.substr(value_start(before, want)));
  };
  EXPECT_EQ(value("made 26.0k", "26.1k"), "26.0k");
  EXPECT_EQ(value("took 68.9 ns", "70.0 ns"), "68.9 ns");
  EXPECT_EQ(value("at (0.49×", "0.50×"), "0.49×");
  EXPECT_EQ(value("between 0.92–1.00×", "0.90–1.00×"), "0.92–1.00×");
  EXPECT_EQ(value("| **missed**", "met"), "**missed**");
  EXPECT_EQ(value("| 0.917× (64 threads, 64 B)", "0.9× (1 thread)"), "0.917× (64 threads, 64 B)");
  EXPECT_EQ(value("commit 8c47db4", "abc1234"), "8c47db4");
  EXPECT_EQ(value("worst, 0.967× (16 threads, 4 KiB)", "0.975× (64 threads, 64 B)"),
            "0.967× (16 threads, 4 KiB)");
  EXPECT_EQ(value("| 2026-12-01<!-- ref: meta.date | date -->, 06:40", "06:37"), "06:40");
  EXPECT_EQ(value("left 131,072", "131,000"), "131,072");
  EXPECT_EQ(value("median 1.4 ms", "72 µs"), "1.4 ms");
  EXPECT_EQ(value("nothing here ", "1.00×"), "");
}

TEST(DocsNumbers, FormatsMatchTheReport) {
  EXPECT_EQ(format_rate(132456), "132k");
  EXPECT_EQ(format_rate(11345), "11.3k");
  EXPECT_EQ(format_rate(950), "950");
  EXPECT_EQ(format_micros(72.4), "72 µs");
  EXPECT_EQ(format_micros(5.25), "5.2 µs");
  EXPECT_EQ(format_micros(12345), "12 ms");
  EXPECT_EQ(format_nanos(33496), "33 µs");
  EXPECT_EQ(format_ratio(0.9167), "0.92×");
  EXPECT_EQ(format_precise_ratio(0.9167), "0.917×");
}

TEST(DocsHtml, ReferencesAnchorsHeadingsAndVisibleText) {
  HtmlPage page(
      "<h2 data-sourcepos=\"3:1-3:20\">Why <code>x</code></h2>\n"
      "<p data-sourcepos=\"5:1-5:40\">See <a href=\"a.md#b&amp;c\">a</a> and "
      "<img src=\"i.svg\" alt=\"\"> <code>**not text**</code> **raw**</p>\n"
      "<a id=\"here\"></a><object data=\"d.svg\"></object>",
      false);
  ASSERT_EQ(page.references().size(), 3u);
  EXPECT_EQ(page.references()[0].url, "a.md#b&c");
  EXPECT_EQ(page.references()[0].line, 5u);
  EXPECT_EQ(page.references()[2].attr, "data");
  ASSERT_EQ(page.headings().size(), 1u);
  EXPECT_EQ(page.headings()[0].text, "Why x");
  EXPECT_EQ(page.anchors(), std::vector<std::string>{"here"});
  std::string all;
  for (const auto& t : page.visible_text()) all += t.text;
  EXPECT_EQ(all.find("not text"), std::string::npos);
  EXPECT_NE(all.find("**raw**"), std::string::npos);
}

TEST(DocsHtml, DoxygenContentOnlyLeavesOutTheFrame) {
  HtmlPage page(
      "<div id=\"nav\">menu ** text</div>"
      "<div class=\"header\"><div class=\"headertitle\"><div class=\"title\">Stage 2</div></div>"
      "</div><div class=\"contents\"><div class=\"textblock\"><p>body</p>"
      "<div class=\"fragment\"><div class=\"line\">int **argv;</div></div></div></div>",
      true);
  std::string all;
  for (const auto& t : page.visible_text()) all += t.text;
  EXPECT_EQ(all, "Stage 2body");
  ASSERT_EQ(page.headings().size(), 1u);
  EXPECT_EQ(page.headings()[0].text, "Stage 2");
}

TEST(DocsHtml, LeftoverMarkup) {
  EXPECT_EQ(leftover_markup("plain text, 2 * 3 = 6, a*b"), "");
  EXPECT_EQ(leftover_markup("** first** bold"), "**");
  EXPECT_EQ(leftover_markup("a stray ` tick"), "`");
  EXPECT_NE(leftover_markup("2.5<!-- ref: burst/stage3.dials_per_1k"), "");
  EXPECT_EQ(leftover_markup("Title {#label}"), "{#");
  EXPECT_NE(leftover_markup("‘ctest -R 'a|b’").find("quotation"), std::string::npos);
  EXPECT_NE(leftover_markup("Heading <tt>code</tt>").find("tag shown as text"), std::string::npos);
  EXPECT_NE(leftover_markup("so does *(hardcore)*.").find("emphasis"), std::string::npos);
  EXPECT_EQ(decode_entities("&lt;a&gt; &amp; &#215; &#x2013; &ndash;"), "<a> & × – –");
}

TEST(DocsRepo, PageLabelsAndPaths) {
  EXPECT_EQ(page_label("docs/stage2-mutex-queue.md"), "stage2_mutex_queue");
  EXPECT_EQ(page_label("docs/index.md"), "mainpage");
  EXPECT_EQ(page_label("README.md"), "readme");
  EXPECT_EQ(page_label("stage1-naive/README.md"), "stage1_naive_readme");
  EXPECT_EQ(page_label("docs/answers/stage1.md"), "answers_stage1");
  EXPECT_EQ(join("docs", "../stage2-mutex-queue/pool.cpp").value_or("?"),
            "stage2-mutex-queue/pool.cpp");
  EXPECT_FALSE(join("docs", "../../outside"));
  EXPECT_TRUE(is_external("https://example.com"));
  EXPECT_TRUE(is_external("mailto:a@b"));
  EXPECT_FALSE(is_external("stage1.md#a:b"));
}

TEST(DocsDoxygen, TheFilterGivesLabelsAnchorsAndReferences) {
  // The filter resolves links against the files of the repository: this one's.
  std::vector<std::string> errors;
  std::string in =
      "# Stage 2: mutex + queue\n"
      "\n"
      "## What changed since stage 1\n"
      "See [stage 1](stage1-naive.md), [its pitfalls](stage1-naive.md#pitfalls), "
      "[above](#what-changed-since-stage-1), [`pool.cpp`](../stage2-mutex-queue/pool.cpp#L31), "
      "[the script](../scripts/bench.sh), [stage 3's directory](../stage3-bounded-channel/) and "
      "0.92×<!-- ref: steady/stage2/4/64.a_over_b --> here, 38 %<!-- untied: a later run --> "
      "there.\n"
      "![a diagram](images/token-lifecycle.svg)\n"
      "## Exercises\n";
  std::string out = filter_page(TCPPOOL_SOURCE_DIR, "docs/stage2-mutex-queue.md", in, errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(out,
            "# Stage 2: mutex + queue {#stage2_mutex_queue}\n"
            "\n"
            "## What changed since stage 1 {#stage2_mutex_queue-what-changed-since-stage-1}\n"
            "See [stage 1](stage1_naive.html), "
            "[its pitfalls](stage1_naive.html#stage1_naive-pitfalls), "
            "[above](stage2_mutex_queue.html#stage2_mutex_queue-what-changed-since-stage-1), "
            "[`pool.cpp`](https://tcppool.invalid/src/stage2-mutex-queue/pool.cpp#L31), "
            "[the script](https://tcppool.invalid/file/scripts/bench.sh), "
            "[stage 3's directory](stage3_bounded_channel_readme.html) and 0.92× here, 38 % "
            "there.\n"
            "![a diagram](token-lifecycle.svg)\n"
            "## Exercises {#stage2_mutex_queue-exercises}\n");
}

}  // namespace
}  // namespace tcppool::docs
