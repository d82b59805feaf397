#!/bin/sh
# Runs a command that must fail, and fail for the expected reason: exits 0 only when the
# command exits non-zero and its output (stdout and stderr) matches the extended regular
# expression. Used by the tests of the docs checker: a planted dead link, raw `**` or stale
# number must make it fail, and name the problem.
#
# Usage: expect_failure.sh REGEX COMMAND [ARG...]
set -u
regex=$1
shift
out=$("$@" 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status" -eq 0 ]; then
  echo "expect_failure: the command succeeded; it should have failed with: $regex" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
  echo "expect_failure: the command failed (status $status) but did not say: $regex" >&2
  exit 1
fi
echo "expect_failure: failed as expected (status $status)"
