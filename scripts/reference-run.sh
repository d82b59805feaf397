#!/usr/bin/env bash
# Makes a `make bench` run the reference run the docs quote (make reference-run), and refreshes
# every page from it.
#
# Usage: scripts/reference-run.sh RUN_DIR [SPREAD_DIR...]
#
#   RUN_DIR     a directory `make bench` wrote (build/bench): its report.json, report.md and
#               report.svg become docs/reference-run/
#   SPREAD_DIR  other full runs of the same code on the same machine, for the spread the
#               reference run's page shows: their report.json files become
#               docs/reference-run/spread/run1.json, run3.json, ... in the order given (the
#               reference is run 2; set REFERENCE_NUMBER to number it otherwise)
#
# Then every number marker on every page is rewritten from the new run, each change printed as
# "page:line: old -> new", and the budgets whose verdict changed are listed. The prose around
# those lines is the reading list before committing: numbers are refreshed, sentences are not.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ ! -f "$1/report.json" ]; then
  echo "usage: scripts/reference-run.sh RUN_DIR [SPREAD_DIR...]  (RUN_DIR holds report.json)" >&2
  echo "  e.g. make bench && make reference-run RUN=build/bench" >&2
  exit 2
fi
run=$1
shift
for f in report.json report.md report.svg; do
  if [ ! -f "$run/$f" ]; then
    echo "reference-run: $run/$f is missing (a full make bench writes it)" >&2
    exit 1
  fi
done
for d in "$@"; do
  [ -f "$d/report.json" ] || { echo "reference-run: $d/report.json is missing" >&2; exit 1; }
done
if ! grep -q '"mode": "full"' "$run/report.json"; then
  echo "reference-run: $run/report.json is not a full run (make bench, not bench-quick)" >&2
  exit 1
fi

dest=docs/reference-run
old_budgets=$(mktemp)
trap 'rm -f "$old_budgets"' EXIT
if [ -f "$dest/report.json" ]; then
  sed -n '/"claim"/{N;N;s/\n */ /g;p}' "$dest/report.json" > "$old_budgets" || true
fi
cp "$run/report.json" "$run/report.md" "$run/report.svg" "$dest/"
if [ $# -gt 0 ]; then
  rm -f "$dest"/spread/*.json
  mkdir -p "$dest/spread"
  ref=${REFERENCE_NUMBER:-2}
  n=1
  for d in "$@"; do
    [ "$n" -eq "$ref" ] && n=$((n + 1))
    cp "$d/report.json" "$dest/spread/run$n.json"
    n=$((n + 1))
  done
fi
field() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" "$dest/report.json" | head -1; }
echo "reference-run: $dest now holds $(field commit), $(field date)"

pages=$(git ls-files --cached --others --exclude-standard '*.md' |
  grep -v -e '^build/' -e '/testdata/' | sort -u)
echo "reference-run: numbers that changed (read the prose around each):"
# shellcheck disable=SC2086
build/release/common/tools/docs_check refresh --only numbers . $pages

if [ -s "$old_budgets" ]; then
  new_budgets=$(sed -n '/"claim"/{N;N;s/\n */ /g;p}' "$dest/report.json")
  verdicts() { sed 's/"measured": "[^"]*", //'; }
  changed=$(diff <(verdicts < "$old_budgets") <(printf '%s\n' "$new_budgets" | verdicts) |
    grep '^>' || true)
  if [ -n "$changed" ]; then
    echo "reference-run: budgets whose verdict changed (the pages explain each verdict):"
    printf '%s\n' "$changed" | sed 's/^> */  /'
  fi
fi
echo "reference-run: now update docs/reference-run.md (machine, date, why this run), then make docs"
