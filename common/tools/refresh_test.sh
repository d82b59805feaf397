#!/bin/sh
# `make numbers` and `make snippets` fix what the checks find: refreshes copies of the pages
# with a stale number and stale line links, then requires the copies to hold the values the
# reference run and the source give, and to pass the checks.
#
# Usage: refresh_test.sh DOCS_CHECK ROOT TESTDATA WORK_DIR
# WORK_DIR must be inside ROOT (the copies' links are relative to it).
set -eu
docs_check=$1
root=$2
testdata=$3
work=$4
rm -rf "$work"
mkdir -p "$work"
# The line links point at ../sample.cpp; from the copies, that file is elsewhere.
sample=$(realpath --relative-to="$work" "$testdata/sample.cpp")
cp "$testdata/pages/stale_number.md" "$work/"
sed "s|\.\./sample\.cpp|$sample|" "$testdata/pages/stale_line_link.md" > "$work/stale_line_link.md"
"$docs_check" refresh --runs "$testdata/runs" "$root" "$work/stale_number.md" \
  "$work/stale_line_link.md"
fail=0
check() {
  grep -q -- "$1" "$2" || { echo "refresh_test: $2 does not have $1"; fail=1; }
}
check '26.0k<!--' "$work/stale_number.md"
check 'sample.cpp#L4)' "$work/stale_line_link.md"
check 'sample.cpp#L8)' "$work/stale_line_link.md"
"$docs_check" check-pages --runs "$testdata/runs" --gfm-out "$work/gfm" "$root" \
  "$work/stale_number.md" "$work/stale_line_link.md" || fail=1
[ "$fail" -eq 0 ] && echo "refresh_test: the refreshed pages pass"
exit "$fail"
