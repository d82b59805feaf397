#!/usr/bin/env bash
# The laptop check before a workshop (make workshop-check): everything the day needs, one line
# each, pass or FAIL with the fix. It changes nothing; it needs no build. docs/workshop.md.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=0
pass() { printf '  pass  %s\n' "$1"; }
fail() {
  printf '  FAIL  %s\n        fix: %s\n' "$1" "$2"
  failed=$((failed + 1))
}
check() {  # check WHAT FIX COMMAND...: pass when the command succeeds
  local what=$1 fix=$2
  shift 2
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what" "$fix"; fi
}
optional() {  # the same for what only one command needs: a miss is not a failure
  local what=$1 fix=$2
  shift 2
  if "$@" >/dev/null 2>&1; then
    pass "$what"
  else
    printf '  miss  %s\n        fix: %s\n' "$what" "$fix"
  fi
}
apt="sudo apt-get install"

echo "Workshop check: $(uname -srm), $(nproc) CPUs"

if [ "$(uname -s)" = Linux ]; then
  pass "Linux (the code uses ppoll, accept4, eventfd, /proc)"
else
  fail "Linux: this is $(uname -s)" "use a Linux machine or VM (Debian 12 or Ubuntu 22.04+)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The compiler: C++23 with std::expected needs g++ 12 (libstdc++ 12).
cat >"$tmp/expected.cpp" <<'CPP'
#include <expected>
int main() { std::expected<int, int> e{1}; return *e - 1; }
CPP
if ! command -v g++ >/dev/null; then
  fail "g++: not installed" "$apt g++ (version 12 or newer)"
elif g++ -std=c++23 "$tmp/expected.cpp" -o "$tmp/expected" 2>/dev/null && "$tmp/expected"; then
  pass "g++ $(g++ -dumpfullversion): C++23 std::expected compiles"
else
  fail "g++ $(g++ -dumpfullversion): no C++23 std::expected" "$apt g++-12 (or newer), then CXX=g++-12"
fi

# CMake 3.25 or newer.
if command -v cmake >/dev/null; then
  v=$(cmake --version | head -n1 | awk '{print $3}')
  if printf '3.25\n%s\n' "$v" | sort -V -C; then
    pass "CMake $v"
  else
    fail "CMake $v is older than 3.25" "$apt cmake from Debian 12, or pip install cmake"
  fi
else
  fail "CMake: not installed" "$apt cmake"
fi
check "make" "$apt make" command -v make

lib=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
has() { for f in "$@"; do [ -e "$f" ] && return 0; done; return 1; }
both() { has /usr/include/gtest/gtest.h && has /usr/include/gmock/gmock.h; }
check "GoogleTest and GoogleMock" "$apt libgtest-dev libgmock-dev" both
check "Google Benchmark" "$apt libbenchmark-dev" has /usr/include/benchmark/benchmark.h
check "nlohmann-json (the workshop command, the bench report)" "$apt nlohmann-json3-dev" \
  has /usr/include/nlohmann/json.hpp
optional "inotifywait (optional: only make workshop-watch needs it)" "$apt inotify-tools" \
  command -v inotifywait
optional "patch (optional: only make workshop-prove needs it)" "$apt patch" command -v patch

# Loopback: a listener, a connection to it, a byte across. Every test does this.
cat >"$tmp/loopback.cpp" <<'CPP'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
int main(int argc, char** argv) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int on = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // as echo_server does
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(argc > 1 ? std::atoi(argv[1]) : 0);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4) != 0) return 1;
  if (argc > 1) return 0;  // a port given: is it free to listen on?
  socklen_t n = sizeof a;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &n);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 2;
  int s = accept(l, nullptr, nullptr);
  char b = 'x';
  if (s < 0 || send(c, &b, 1, 0) != 1 || recv(s, &b, 1, 0) != 1) return 3;
  return 0;
}
CPP
if g++ -O1 "$tmp/loopback.cpp" -o "$tmp/loopback" 2>/dev/null; then
  check "loopback: listen on 127.0.0.1, connect, send a byte" \
    "ip link set lo up (as root); a firewall must let 127.0.0.1 through" "$tmp/loopback"
  check "port 7007 free on 127.0.0.1 (echo_server's default; docs/workshop.md)" \
    "stop what holds it (ss -ltnp 'sport = :7007'), or give echo_server --port" \
    "$tmp/loopback" 7007
fi

range=$(awk '{print $1 "-" $2}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 0-0)
width=$(echo "$range" | awk -F- '{print $2 - $1 + 1}')
if [ "$width" -ge 10000 ]; then
  pass "ephemeral ports: $width ($range)"
else
  fail "ephemeral ports: only $width ($range); stage 1 runs out" \
    "sudo sysctl -w net.ipv4.ip_local_port_range=\"32768 60999\""
fi

files=$(ulimit -n)
if [ "$files" = unlimited ] || [ "$files" -ge 1024 ]; then
  pass "open files: ulimit -n is $files (the tests need about 300; a shared echo_server 4096+)"
else
  fail "open files: ulimit -n is $files, the tests need about 300" "ulimit -n 4096 in this shell"
fi

free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
if [ "${free_kb:-0}" -ge 2000000 ]; then
  pass "disk: $((free_kb / 1024 / 1024)) GB free here (the builds take about 1.5 GB)"
else
  fail "disk: $((free_kb / 1024)) MB free here; the builds take about 1.5 GB" "free some space"
fi

echo
if [ "$failed" -eq 0 ]; then
  echo "Ready. To be quick on the day, build once now: make workshop STAGE=2 && make workshop-test STAGE=2"
  echo "(it fails: the attempt is untouched; the build is what you wanted)."
else
  echo "$failed to fix. scripts/ensure-deps.sh build installs the packages on Debian or Ubuntu."
  exit 1
fi
