#!/usr/bin/env bash
# Shows what stage N adds to stage N-1: a unified diff of the two stage directories with tests,
# benchmarks, stress binaries, build files and workshop manifests left out and the namespace
# line normalised, so that only the technique remains. Usage: scripts/stage-diff.sh N
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-}
if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 2 ]; then
  echo "usage: make diff N=k   (k >= 2: shows stage k-1 -> stage k)" >&2
  exit 2
fi
prev=$(ls -d stage$((n - 1))-*/ 2>/dev/null | head -n1)
cur=$(ls -d stage"$n"-*/ 2>/dev/null | head -n1)
if [ -z "$prev" ] || [ -z "$cur" ]; then
  echo "make diff: no stage $n (or no stage $((n - 1))) in this repository" >&2
  exit 2
fi
prev=${prev%/}
cur=${cur%/}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "$prev" "$cur"; do
  mkdir -p "$tmp/$d"
  find "$d" -type f ! -name '*_test.cpp' ! -name '*_bench.cpp' ! -name '*_stress.cpp' \
    ! -name 'CMakeLists.txt' ! -name 'workshop.conf' \
    -exec cp --parents {} "$tmp/" \;
  find "$tmp/$d" -type f -exec sed -i -E \
    -e 's/^namespace tcppool::stage[0-9]+ \{/namespace tcppool::stageN {/' \
    -e 's#^\}  // namespace tcppool::stage[0-9]+#}  // namespace tcppool::stageN#' {} +
done
cd "$tmp"
# diff exits 1 when the stages differ, which they always do; only 2 is trouble. The copies'
# timestamps say nothing, so they are cut from the file headers.
status=0
diff -ruN "$prev" "$cur" >"$tmp/out" || status=$?
[ "$status" -le 1 ] || exit "$status"
sed -E 's/^(---|\+\+\+) ([^\t]+)\t.*$/\1 \2/' "$tmp/out"
