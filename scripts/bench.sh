#!/usr/bin/env bash
# Runs every stage's benchmark binary and merges their results into the cross-stage report:
# build/bench/report.md (printed at the end), report.json, report.png and report.svg.
#
# Usage: scripts/bench.sh --mode full|quick [--endpoint host:port] [--bin DIR] [--out DIR]
#                         [--only NAME]...
# Called by `make bench` and `make bench-quick` after a Release build (--bin build/release,
# --out build/bench). --only runs just the named binaries (stage1, echo_server, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
endpoint=
bin=build/release
out=build/bench
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --mode) mode=$2; shift 2 ;;
    --endpoint) endpoint=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

mkdir -p "$out"
rm -f "$out"/stage*.json "$out"/echo_server.json "$out"/report* "$out"/chart*.gp

mapfile -t benches < <(ls -d "$bin"/stage*-*/stage*_bench 2>/dev/null | sort -V)
if [ ${#benches[@]} -eq 0 ]; then
  echo "bench.sh: no benchmark binaries under $bin (run make first)" >&2
  exit 1
fi
# The echo server's own benchmark runs last: its thousands of idle connections leave TIME_WAIT
# sockets that stage 1 would otherwise start with.
[ -x "$bin/common/echo_server_bench" ] && benches+=("$bin/common/echo_server_bench")
if [ ${#only[@]} -gt 0 ]; then
  chosen=()
  for b in "${benches[@]}"; do
    for name in "${only[@]}"; do [ "$(basename "$b" _bench)" = "$name" ] && chosen+=("$b"); done
  done
  benches=("${chosen[@]}")
fi

args=()
[ "$mode" = quick ] && args+=(--quick)
[ -n "$endpoint" ] && args+=("--endpoint=$endpoint")

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi

# As root, each binary runs in a network namespace of its own (a loopback only, brought up
# here): TIME_WAIT sockets left by earlier binaries, tests or other programs are in other
# namespaces, so they cannot fill the kernel's TIME_WAIT table or the ephemeral ports that
# stage 1 needs. Not with --endpoint (the server is outside), nor with TCPPOOL_BENCH_NETNS=0.
# The report says which way each binary ran (its "network" row).
netns=()
TCPPOOL_HOST_NETNS=$(readlink /proc/self/ns/net 2>/dev/null || true)
export TCPPOOL_HOST_NETNS
if [ -z "$endpoint" ] && [ "${TCPPOOL_BENCH_NETNS:-1}" != 0 ] && [ "$(id -u)" -eq 0 ] &&
  command -v unshare >/dev/null && command -v ip >/dev/null &&
  unshare --net ip link set lo up 2>/dev/null; then
  netns=(unshare --net sh -c 'ip link set lo up && exec "$0" "$@"')
  echo "bench.sh: each binary in a network namespace of its own" >&2
else
  echo "bench.sh: in the host's network namespace (TIME_WAIT sockets of other runs count)" >&2
fi

# One binary failing (a scenario that cannot run against someone else's server, say) must not
# stop the others or the report: each failure is recorded, the report shows it, and the exit
# status says so at the end.
i=0
failed=()
inputs=()
missing=()
for b in "${benches[@]}"; do
  i=$((i + 1))
  name=$(basename "$b" _bench)
  echo "== [$i/${#benches[@]}] $name ($mode)" >&2
  status=0
  "${netns[@]}" "$b" "${args[@]}" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    --benchmark_display_aggregates_only=true || status=$?
  if [ -s "$out/$name.json" ]; then
    inputs+=("$out/$name.json")
    [ "$status" -eq 0 ] || failed+=("$name")
  else
    failed+=("$name")
    missing+=(--failed "$name: exited with status $status before writing results")
  fi
done

"$bin"/common/bench_report --out "$out" --commit "$commit" "${missing[@]}" "${inputs[@]}"
written="$out/report.md $out/report.json"
if command -v gnuplot >/dev/null 2>&1; then
  gnuplot "$out/chart.gp"
  written="$written $out/report.png $out/report.svg"
  if [ -f "$out/chart-wait.gp" ]; then
    gnuplot "$out/chart-wait.gp"
    written="$written $out/report-wait.png $out/report-wait.svg"
  fi
  if [ -f "$out/chart-faults.gp" ]; then
    gnuplot "$out/chart-faults.gp"
    written="$written $out/report-faults.png $out/report-faults.svg"
  fi
else
  echo "bench.sh: gnuplot is not installed: no chart (make bench installs it)" >&2
fi

cat "$out/report.md"
echo
echo "Written: $written"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench.sh: some runs failed (${failed[*]}); the report's \"Runs that failed\" says which" >&2
  exit 1
fi
