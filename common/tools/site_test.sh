#!/bin/sh
# The Doxygen side of the docs checker, end to end: builds a small site from testdata/site
# with the same filter, layout and checks as `make docs`, and requires `docs_check check-site`
# to fail on the planted problems of bad.md (raw `**`, an emphasis shown as asterisks, a code
# span turned into curly quotes, a dead link) and to find nothing wrong with good.md, whose
# links go to another page's anchor, to a source listing at a line and to a copied script.
#
# Usage: site_test.sh DOCS_CHECK TESTDATA_SITE WORK_DIR
# Exits 77 (skipped) when doxygen is not installed: `make docs` installs it.
set -eu
docs_check=$1
site=$2
work=$3
if ! command -v doxygen >/dev/null 2>&1; then
  echo "doxygen is not installed (scripts/ensure-deps.sh docs installs it): skipped"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
cp -R "$site" "$work/root"
cd "$work/root"
cat > Doxyfile <<DOXYFILE
PROJECT_NAME           = "Site test"
OUTPUT_DIRECTORY       = out
INPUT                  = .
FILE_PATTERNS          = *.md *.cpp
RECURSIVE              = YES
EXCLUDE                = out
USE_MDFILE_AS_MAINPAGE = index.md
FILTER_PATTERNS        = "*.md=$docs_check filter"
LAYOUT_FILE            = layout.xml
SOURCE_BROWSER         = YES
GENERATE_TREEVIEW      = YES
GENERATE_LATEX         = NO
QUIET                  = YES
DOXYFILE
doxygen -l layout.default.xml >/dev/null
"$docs_check" layout . index.md layout.default.xml > layout.xml
doxygen Doxyfile >doxygen.log 2>&1 || { cat doxygen.log; exit 1; }
status=0
"$docs_check" check-site . out/html index.md >check.log 2>&1 || status=$?
cat check.log
fail=0
expect() {
  if ! grep -Eq -- "$1" check.log; then
    echo "site_test: check-site did not report: $1"
    fail=1
  fi
}
[ "$status" -ne 0 ] || { echo "site_test: check-site passed a site with planted problems"; fail=1; }
expect '^bad\.html: shows Markdown as text \(\*\*\)'
expect '^bad\.html: shows Markdown as text \(an asterisk meant as emphasis'
expect '^bad\.html: shows Markdown as text \(‘'
expect '^bad\.html: href="nowhere\.txt" goes nowhere'
grep -q "unable to resolve reference to 'nowhere.md'" doxygen.log ||
  { echo "site_test: doxygen did not warn about the dead link to a page"; fail=1; }
if grep -E '^(good|index)\.html' check.log; then
  echo "site_test: check-site reported problems on the good pages"
  fail=1
fi
[ -f out/html/repo/src/run.sh ] || { echo "site_test: the linked script was not copied"; fail=1; }
grep -q 'href="sample_8cpp_source.html#l00004"' out/html/good.html ||
  { echo "site_test: the line link did not become the listing's line"; fail=1; }
[ "$fail" -eq 0 ] && echo "site_test: every planted problem found, none on the good pages"
exit "$fail"
