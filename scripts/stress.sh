#!/usr/bin/env bash
# Runs every stage's stress binary (common/stress: verified echoes through the stage's pool
# while the echo server cycles through its faults; see docs/stress.md), keeps each one's output,
# and fails if any run found a violation, crashed or overran its time.
#
# Usage: scripts/stress.sh --bin DIR [--mode full|quick] [--stage N] [--out DIR]
# Called by `make stress` (--bin build/release) and `make stress-quick` (build/asan, then
# build/tsan). Only a stage that claims to survive server faults has a stress binary: stage 4 on
# (it instantiates the health suite). Stages 1-3 do not, by design, and have none.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
bin=build/release
out=build/stress
stage=
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "stress.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case $mode in
  full) args=(); limit=300 ;;    # the binary's own limit is 240 s
  quick) args=(--quick); limit=300 ;;  # 120 s of its own; sanitizers slow it down
  *) echo "stress.sh: --mode must be full or quick, got '$mode'" >&2; exit 2 ;;
esac

mapfile -t runs < <(ls -d "$bin"/stage*-*/stage*_stress 2>/dev/null | sort -V)
if [ ${#runs[@]} -eq 0 ]; then
  echo "stress.sh: no stress binaries under $bin (make stress builds them)" >&2
  exit 1
fi
if [ -n "$stage" ]; then
  chosen=()
  for b in "${runs[@]}"; do [ "$(basename "$b")" = "stage${stage}_stress" ] && chosen+=("$b"); done
  if [ ${#chosen[@]} -eq 0 ]; then
    case $stage in
      1|2|3) echo "stress.sh: stage $stage has no stress run: stages 1-3 do not claim to survive" \
                  "server faults (they pass no health suite), so a run of faults would only" \
                  "confirm it. Stages with one: 4 5 6 (see docs/stress.md)." >&2 ;;
      *) echo "stress.sh: no stage $stage; stages with a stress run:" \
              "$(for b in "${runs[@]}"; do basename "$b" _stress; done | tr '\n' ' ')" >&2 ;;
    esac
    exit 2
  fi
  runs=("${chosen[@]}")
fi

# The sanitizers' settings of the test suites: stop at the first report, with stacks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

mkdir -p "$out"
build=$(basename "$bin")
results=()
failed=0
for b in "${runs[@]}"; do
  name=$(basename "$b" _stress)
  log="$out/$name-$build-$mode.txt"
  start=$(date +%s)
  set +e
  timeout --kill-after=10 "$limit" "$b" "${args[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  took=$(( $(date +%s) - start ))
  case $rc in
    0) verdict=PASS ;;
    124|137) verdict="FAIL (killed after ${limit} s)"; failed=1 ;;
    *) verdict="FAIL (exit $rc)"; failed=1 ;;
  esac
  results+=("$name $build $mode: $verdict in ${took} s ($log)")
done
echo
printf 'stress: %s\n' "${results[@]}"
exit $failed
