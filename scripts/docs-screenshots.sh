#!/usr/bin/env bash
# Screenshots of the Doxygen site in headless Chromium (make docs-shots), to look at what a
# reader sees: the front page with the navigation, each stage page, and each stage page at its
# first diagram. Run after `make docs`.
#
# Usage: scripts/docs-screenshots.sh HTML_DIR OUT_DIR
# Needs chromium (scripts/ensure-deps.sh shots). Runs Chromium with a fresh profile in a
# temporary directory, no network services, and no sandbox when run as root (Chromium refuses
# to start as root otherwise).
set -euo pipefail
html=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --disable-gpu --disable-background-networking --disable-component-update
       --disable-sync --no-first-run --hide-scrollbars --allow-file-access-from-files
       "--user-data-dir=$profile" --virtual-time-budget=3000)
[ "$(id -u)" -eq 0 ] && flags+=(--no-sandbox)

shot() {  # shot NAME PAGE[#ANCHOR] WIDTHxHEIGHT
  local name=$1 page=$2 size=$3
  if ! chromium "${flags[@]}" "--window-size=${size/x/,}" "--screenshot=$out/$name.png" \
      "file://$html/$page" >/dev/null 2>&1; then
    echo "docs-shots: chromium failed on $page" >&2
    return 1
  fi
  echo "docs-shots: $out/$name.png ($page)"
}

shot index index.html 1280x1400
for page in stage1_naive stage2_mutex_queue stage3_bounded_channel benchmarking bench_method \
            reference_run design writing_docs; do
  [ -f "$html/$page.html" ] && shot "$page" "$page.html" 1280x1400
done
# The stage pages at their diagrams, and the chart.
s2=stage2_mutex_queue
s3=stage3_bounded_channel
shot stage2-diagram "$s2.html#$s2-lifo-and-what-fifo-would-change" 1280x1400
shot stage3-diagrams "$s3.html#$s3-a-go-buffered-channel-in-c" 1280x2400
shot stage3-tokens "$s3.html#$s3-tokens-connections-and-permits-to-dial" 1280x1400
shot bench-chart "benchmarking.html#benchmarking-the-chart" 1280x1400
shot bench-pairing "bench_method.html#bench_method-pairing-a-and-b-in-alternating-slices" 1280x1400
