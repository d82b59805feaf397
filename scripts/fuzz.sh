#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build (make fuzz), one after the other, each for a
# bounded time, and fails if any of them found an input that breaks it. See fuzz/README.md.
#
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
#   BUILD_DIR  the fuzz build (build/fuzz); its fuzz/NAME_fuzz binaries are the targets
#   SECONDS    how long to fuzz each target
#   TARGET     the targets to run (endpoint, echo_cli, ...); default every one built
#
# Each target starts from the committed seeds (fuzz/corpus/NAME) and regressions
# (fuzz/regressions/NAME) and keeps what it finds in BUILD_DIR/fuzz-corpus/NAME, so a second
# run goes on from where the first stopped. Its log is BUILD_DIR/fuzz-logs/NAME.log; an input
# that breaks it is saved in BUILD_DIR/fuzz-artifacts/NAME/, and this script says how to
# replay it and keep it as a regression test.
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$build"/fuzz/*_fuzz; do
    [ -x "$bin" ] && targets+=("$(basename "$bin" _fuzz)")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets in $build/fuzz (build them with make fuzz)" >&2
  exit 2
fi

# Stack traces with file and line: the sanitizers look for llvm-symbolizer.
for s in /usr/lib/llvm-19/bin/llvm-symbolizer "$(command -v llvm-symbolizer || true)"; do
  if [ -x "$s" ]; then
    export ASAN_SYMBOLIZER_PATH=$s
    break
  fi
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# As root, each target runs in a network namespace of its own that has only loopback: the
# echo server target opens and closes thousands of connections a minute, and their TIME_WAIT
# sockets then stay out of the machine's table, which other tests and the benchmarks share.
isolate=()
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null &&
  unshare --net true 2>/dev/null; then
  isolate=(unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh)
  echo "fuzz: each target in a network namespace of its own (loopback only)"
else
  echo "fuzz: in this network namespace (not root: no namespace of its own)"
fi

failed=()
summary=()
for name in "${targets[@]}"; do
  bin=$build/fuzz/${name}_fuzz
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target '$name' (no $bin)" >&2
    exit 2
  fi
  corpus=$build/fuzz-corpus/$name
  artifacts=$build/fuzz-artifacts/$name
  log=$build/fuzz-logs/$name.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  seeds=()
  for d in "$src/fuzz/corpus/$name" "$src/fuzz/regressions/$name"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  flags=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1
         -artifact_prefix="$artifacts/")
  [ -f "$src/fuzz/$name.dict" ] && flags+=(-dict="$src/fuzz/$name.dict")
  echo "fuzz: $name for ${seconds}s (log: $log)"
  start=$(date +%s)
  rc=0
  "${isolate[@]}" "$bin" "${flags[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  summary+=("$(printf '%-14s %6ss %12s %10s %8s  %s' "$name" "$took" "${runs:-?}" \
    "${speed:-?}" "${cov:-?}" "$([ $rc -eq 0 ] && echo ok || echo FAILED)")")
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    echo "fuzz: $name FAILED (exit $rc). The report:" >&2
    report='property violated|runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)'
    first=$(grep -n -m1 -E "$report" "$log" | cut -d: -f1 || true)
    sed -n "${first:-1},+30p" "$log" >&2
    for a in "$artifacts"/*; do
      [ -f "$a" ] || continue
      echo "fuzz: the input: $a. Replay it: $bin $a" >&2
      echo "fuzz: once fixed, keep it: cp $a fuzz/regressions/$name/NAME-OF-THE-BUG" >&2
    done
  fi
done

printf '\n%-14s %7s %12s %10s %8s  %s\n' target time executions "execs/s" edges result
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} of ${#targets[@]} targets passed"
