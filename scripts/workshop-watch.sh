#!/usr/bin/env bash
# Grades a workshop attempt again each time one of its files changes, in the spirit of
# rustlings' watch mode: save in the editor, read the checklist. Ctrl-C stops it.
#
# Usage: scripts/workshop-watch.sh STAGE [EXERCISE]   (make workshop-watch STAGE=N [EXERCISE=k])
# Needs inotifywait (Debian: inotify-tools; scripts/ensure-deps.sh watch installs it).
set -uo pipefail
cd "$(dirname "$0")/.."

stage=${1:-}
exercise=${2:-}
if ! [[ $stage =~ ^[0-9]+$ ]]; then
  echo "usage: make workshop-watch STAGE=N [EXERCISE=k]" >&2
  exit 2
fi
scripts/ensure-deps.sh watch || exit 1
dir=workshop/stage$stage
if [ ! -d "$dir" ]; then
  echo "no attempt at stage $stage in $dir/: make workshop STAGE=$stage starts one" >&2
  exit 2
fi
args=(test "$stage" --jobs "${JOBS:-$(nproc)}")
[ -n "$exercise" ] && args+=(--exercise "$exercise")
# Editors' swap and backup files, and TASK.md, are not the attempt.
ignore='(\.swp|\.swx|~|/\.#[^/]*|/4913|TASK\.md)$'
events=(-e close_write -e create -e delete -e move)

while true; do
  [ -t 1 ] && clear
  "${WORKSHOP:-build/asan/common/workshop/workshop}" "${args[@]}"
  echo
  echo "Watching $dir/ for changes (Ctrl-C to stop)..."
  inotifywait -qq -r "${events[@]}" --exclude "$ignore" "$dir" || exit 1
  # One save can be several events: wait for a quiet second before grading again.
  while inotifywait -qq -r -t 1 "${events[@]}" --exclude "$ignore" "$dir"; do :; done
done
