#!/usr/bin/env bash
# Fails unless every test registered with ctest in BUILD_DIR has a TIMEOUT, so that a
# deadlocked pool fails the run instead of hanging it. Usage: scripts/check-test-timeouts.sh DIR
set -euo pipefail
dir=${1:?usage: check-test-timeouts.sh BUILD_DIR}
total=$(cd "$dir" && ctest -N | sed -n 's/^Total Tests: //p')
timed=$(cd "$dir" && ctest --show-only=json-v1 | grep -c '"name" : "TIMEOUT"' || true)
if [ "$total" != "$timed" ]; then
  echo "check-test-timeouts: only $timed of $total tests in $dir have a TIMEOUT" >&2
  exit 1
fi
