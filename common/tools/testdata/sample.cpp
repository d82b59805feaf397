// Input for the docs_snippets tests: a region marked the way the real sources mark theirs,
// indented, so the tests also check that the excerpt is dedented. Kept as written:
// clang-format off
int unmarked() { return 0; }

namespace sample {
  // [region]
  int marked() {
    return 42;
  }
  // [region]
}  // namespace sample
// clang-format on
