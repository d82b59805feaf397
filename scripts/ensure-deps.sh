#!/usr/bin/env bash
# Checks that the tools a make target needs are installed, and installs what is missing with
# apt-get (as root, or through passwordless sudo). Otherwise prints the exact command to run and
# fails. Quick and silent when everything is present.
#
# Usage: scripts/ensure-deps.sh GROUP...   (groups: build docs bench format shots fuzz workshop
#                                           watch)
#
#   build   the compiler, CMake and the libraries; cmark-gfm for the docs checker's tests;
#           curl for the tests of stage 6's /metrics endpoint; iproute2 and nftables for the
#           tests that cut a real network path (root only); promtool, from Debian's prometheus
#           package, for the test that checks stage 6's exposition (the package also has the
#           server; no test starts it)
#   docs    Doxygen and graphviz for the site and the diagrams, cmark-gfm for the GitHub-style
#           rendering the checks read
#   bench   gnuplot for the chart; iproute2 as root, for the benches' network namespaces
#   format  clang-format
#   shots   Chromium and a font, to look at the site headless (make docs-shots)
#   workshop  patch, to apply the exercises' answers (make workshop-prove)
#   watch   inotify-tools, to grade an attempt on every change (make workshop-watch)
set -euo pipefail

lib=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
missing=()

need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_file() {  # need_file PACKAGE PATH...: satisfied when any PATH exists
  local pkg=$1; shift
  for f in "$@"; do [ -e "$f" ] && return 0; done
  missing+=("$pkg")
}

for group in "$@"; do
  case $group in
    build)
      need_cmd cmake cmake
      need_cmd g++ g++
      need_file libgtest-dev /usr/include/gtest/gtest.h
      need_file libgmock-dev /usr/include/gmock/gmock.h
      need_file libbenchmark-dev /usr/include/benchmark/benchmark.h
      need_file nlohmann-json3-dev /usr/include/nlohmann/json.hpp
      need_cmd cmark-gfm cmark-gfm
      need_cmd curl curl
      need_cmd ip iproute2
      need_cmd nft nftables
      need_cmd promtool prometheus
      ;;
    docs)
      need_cmd doxygen doxygen
      need_cmd dot graphviz
      need_cmd cmark-gfm cmark-gfm
      ;;
    shots)
      need_cmd chromium chromium
      need_file fonts-dejavu-core /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
      ;;
    bench)
      need_cmd gnuplot gnuplot-nox
      # As root, each bench binary runs in a network namespace of its own, set up with ip.
      if [ "$(id -u)" -eq 0 ]; then need_cmd ip iproute2; fi
      ;;
    format)
      need_cmd clang-format clang-format
      ;;
    fuzz)
      # make fuzz: clang 19 and its libFuzzer runtime; llvm-symbolizer for the stack traces.
      # Not clang 14, Debian 12's default: libstdc++ 12 defines std::expected only when
      # __cpp_concepts >= 202002L, and clang 14 sets 201907L. Clang 19, also a Debian 12
      # package, sets 202002L.
      need_cmd clang++-19 clang-19
      need_file libclang-rt-19-dev /usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.fuzzer-*.a
      need_cmd llvm-symbolizer llvm
      ;;
    workshop)
      need_cmd patch patch
      ;;
    watch)
      need_cmd inotifywait inotify-tools
      ;;
    *)
      echo "ensure-deps: unknown group '$group'" >&2
      exit 2
      ;;
  esac
done

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing: ${missing[*]} (Debian package names). Install them with your package manager." >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    echo "Missing: ${missing[*]}. Run:" >&2
    echo "  sudo apt-get update && sudo $cmd" >&2
    exit 1
  fi
  echo "Installing: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# std::expected needs GCC 12's libstdc++.
if [[ " $* " == *" build "* ]]; then
  major=$(g++ -dumpversion | cut -d. -f1)
  if [ "$major" -lt 12 ]; then
    echo "g++ $major is too old: C++23 std::expected needs g++ 12 or newer." >&2
    exit 1
  fi
fi
