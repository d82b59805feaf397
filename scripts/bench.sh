#!/usr/bin/env bash
# Runs every stage's benchmark binary and merges their results into the cross-stage report:
# build/bench/report.md (printed at the end), report.json, report.png and report.svg.
#
# Usage: scripts/bench.sh --mode full|quick [--endpoint host:port]
# Called by `make bench` and `make bench-quick` after a Release build.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
endpoint=
while [ $# -gt 0 ]; do
  case $1 in
    --mode) mode=$2; shift 2 ;;
    --endpoint) endpoint=$2; shift 2 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

bin=build/release
out=build/bench
mkdir -p "$out"
rm -f "$out"/stage*.json "$out"/report.*

mapfile -t benches < <(ls -d "$bin"/stage*-*/stage*_bench 2>/dev/null | sort -V)
if [ ${#benches[@]} -eq 0 ]; then
  echo "bench.sh: no benchmark binaries under $bin (run make first)" >&2
  exit 1
fi

args=()
[ "$mode" = quick ] && args+=(--quick)
[ -n "$endpoint" ] && args+=("--endpoint=$endpoint")

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi

i=0
for b in "${benches[@]}"; do
  i=$((i + 1))
  name=$(basename "$b" _bench)
  echo "== [$i/${#benches[@]}] $name ($mode)" >&2
  "$b" "${args[@]}" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    --benchmark_display_aggregates_only=true
done

"$bin"/common/bench_report --out "$out" --commit "$commit" "$out"/stage*.json
gnuplot "$out/chart.gp"

cat "$out/report.md"
echo
echo "Written: $out/report.md $out/report.json $out/report.png $out/report.svg"
