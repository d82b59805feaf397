#!/usr/bin/env bash
# Test of scripts/bench.sh: a benchmark run that cannot run at all must not stop the others or
# the report. Runs stage 1's benchmarks against a port nobody listens on (every dial is refused,
# as against a server that is down), and checks that bench.sh still writes the report, shows the
# failed scenario with its error, and exits non-zero afterwards.
# Usage: scripts/test-bench-failures.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: test-bench-failures.sh BUILD_DIR}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Port 1 (tcpmux) on loopback: nothing listens there, so every dial is refused at once.
port=1
status=0
scripts/bench.sh --mode quick --bin "$bin" --out "$out" --only stage1 \
  --endpoint "127.0.0.1:$port" >"$out/log" 2>&1 || status=$?
fail() { echo "FAIL: $*"; cat "$out/log"; exit 1; }
[ "$status" -ne 0 ] || fail "bench.sh exited 0 although runs failed"
[ -s "$out/report.md" ] || fail "no report written"
grep -q '^## Runs that failed' "$out/report.md" || fail "the report does not list the failed runs"
grep -q '| acquire_release | stage1 |.*| 1 of 1 | .*refused' "$out/report.md" ||
  fail "acquire_release is not shown as failed with its error"
grep -q 'some runs failed' "$out/log" || fail "bench.sh did not say that runs failed"
echo "PASS: bench.sh reported the failed runs and exited $status"
