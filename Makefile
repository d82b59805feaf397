# The front door. One CMake project underneath; build/ is the only output directory.
#
#   make               Release build of everything (build/release)
#   make test          build and run every suite under ASan + UBSan (build/asan)
#   make tsan          the same suites under ThreadSanitizer (build/tsan)
#   make bench         run every stage's benchmarks and write build/bench/report.{md,json,png,svg}
#   make bench-quick   the same scenarios, briefly (CI runs it so the harness cannot rot)
#   make docs          Doxygen into build/docs/html; fails on any warning or stale excerpt
#   make snippets      refresh the code excerpts in docs/ from the marked source regions
#   make diff N=k      what stage k adds to stage k-1 (tests excluded)
#   make format        clang-format every source file (make format-check: fail if one would change)
#   make clean         remove build/
#
# Missing tools are installed with apt-get where possible (scripts/ensure-deps.sh).

MAKEFLAGS += --no-print-directory

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ENDPOINT ?=

configure = cmake -S . -B build/$(1) -DCMAKE_BUILD_TYPE=$(2) $(3) $(CMAKE_FLAGS) >/dev/null
build = cmake --build build/$(1) -j $(JOBS) $(2)

.PHONY: all release test tsan bench bench-quick docs snippets diff format format-check clean help

all: release

release:
	@scripts/ensure-deps.sh build
	@$(call configure,release,Release,)
	@$(call build,release,)

test:
	@scripts/ensure-deps.sh build
	@$(call configure,asan,Debug,-DTCPPOOL_SANITIZE=address)
	@$(call build,asan,)
	@scripts/check-test-timeouts.sh build/asan
	cd build/asan && ctest --output-on-failure -j $(JOBS)

tsan:
	@scripts/ensure-deps.sh build
	@$(call configure,tsan,Debug,-DTCPPOOL_SANITIZE=thread)
	@$(call build,tsan,)
	@scripts/check-test-timeouts.sh build/tsan
	cd build/tsan && ctest --output-on-failure -j $(JOBS)

bench: release
	@scripts/ensure-deps.sh bench
	@scripts/bench.sh --mode full $(if $(ENDPOINT),--endpoint $(ENDPOINT))

bench-quick: release
	@scripts/ensure-deps.sh bench
	@scripts/bench.sh --mode quick $(if $(ENDPOINT),--endpoint $(ENDPOINT))

docs: release
	@scripts/ensure-deps.sh docs
	build/release/common/docs_snippets --check . docs/*.md
	@mkdir -p build/docs
	doxygen docs/Doxyfile
	@echo "docs: build/docs/html/index.html"

snippets: release
	build/release/common/docs_snippets --write . docs/*.md

diff:
	@scripts/stage-diff.sh $(N)

format:
	@scripts/ensure-deps.sh format
	git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	@scripts/ensure-deps.sh format
	git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

clean:
	rm -rf build

help:
	@sed -n '3,15p' Makefile | sed 's/^# //'
