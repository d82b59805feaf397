// common/workshop/sources.hpp: what the workshop reads off a stage's test files, and what it
// reads off the compiler.
//
// Grading builds each of a stage's conformance suites, and each of its own test files, as a
// binary of its own, so that an attempt that cannot compile one fails only the goals that one
// grades. Within a test file it goes further: when the compiler's errors all fall inside TEST()
// bodies, those tests are blanked out and the file is compiled again, so that the tests that
// do compile still run (stage 4's pool_test.cpp holds tests of stage 3's behaviour beside
// tests of options stage 3 does not have). The files are clang-formatted, which is what makes a
// line-based reading of them reliable: a test opens with `TEST(` in the first column and ends
// at the next `}` in the first column.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tcppool::workshop {

/// One TEST(), TEST_F() or TEST_P() in a file.
struct TestBlock {
  std::string suite{};  ///< Its test suite ("Stage3Pool").
  std::string name{};   ///< Its name ("CountsOpenIdleAndWaiting").
  int first_line = 0;   ///< Its first line, 1-based.
  int last_line = 0;    ///< Its closing brace's line.

  /// Returns "Suite.Name".
  std::string full_name() const { return suite + "." + name; }
};

/// One INSTANTIATE_TYPED_TEST_SUITE_P() line: a conformance suite a stage claims.
struct Instantiation {
  std::string prefix{};       ///< "Stage3Bounded": the name its tests are graded by.
  std::string suite_class{};  ///< "BoundedConformance".
  std::string text{};         ///< The whole line, as the stage wrote it.
  int line = 0;               ///< 1-based.
};

/// What a test file holds.
struct TestFile {
  std::vector<TestBlock> tests{};               ///< Its TEST()s, TEST_F()s and TEST_P()s.
  std::vector<Instantiation> instantiations{};  ///< The conformance suites it instantiates.
  std::string alias{};  ///< The `namespace stage = tcppool::stageN;` line, or "".
};

/// Reads the tests, suite instantiations and namespace alias of a clang-formatted test file.
TestFile scan_test_file(std::string_view text);

/// Returns the tests REGISTER_TYPED_TEST_SUITE_P() registers for `suite_class` in a
/// conformance header, in order; empty when it registers none.
std::vector<std::string> registered_tests(std::string_view header, std::string_view suite_class);

/// Returns true when `header` declares the typed suite `suite_class` (TYPED_TEST_SUITE_P).
bool declares_suite(std::string_view header, std::string_view suite_class);

/// Returns `text` with lines `first`..`last` (1-based, inclusive) blanked: same line count, so
/// that the compiler's line numbers still match the original.
std::string blank_lines(std::string_view text, int first, int last);

/// One error, and the line of the file it belongs to.
struct LocatedError {
  int line = 0;         ///< The line of the file it is at, or required from.
  std::string error{};  ///< The error as the compiler wrote it.
};

/// Where a failed compile's errors are, in one source file.
struct ErrorLocations {
  std::vector<LocatedError> errors{};  ///< The errors a line of the file accounts for.
  bool elsewhere = false;     ///< An error no line of the file accounts for (a header's, a link's).
  std::string first_error{};  ///< The first error of all, as the compiler wrote it.
};

/// Reads GCC's (or Clang's) output for errors and the line of `file` each comes from: the
/// error's own location when it is in `file`, else the last "required from here" in `file`
/// that precedes it (a template instantiated from that line).
ErrorLocations locate_errors(std::string_view compiler_output, std::string_view file);

/// Returns the first error in a compiler's or linker's output ("" when there is none),
/// shortened to one line of at most `width` characters, with the build directory's prefix
/// `strip` removed from paths.
std::string first_error(std::string_view output, std::string_view strip = "",
                        std::size_t width = 300);

/// Returns true when a compiler's or linker's output reports an error.
bool has_error(std::string_view output);

}  // namespace tcppool::workshop
