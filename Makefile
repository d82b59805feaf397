# The front door. One CMake project underneath; build/ is the only output directory.
#
#   make               Release build of everything (build/release)
#   make test          build and run every suite under ASan + UBSan (build/asan)
#   make tsan          the same suites under ThreadSanitizer (build/tsan)
#   make bench         run every stage's benchmarks and write build/bench/report.{md,json,png,svg}
#   make bench-quick   the same scenarios, briefly (CI runs it so the harness cannot rot)
#   make stress        10^6 verified echoes per stage through faults and cancellations, every
#                      invariant checked (STAGE=N: one stage; docs/stress.md)
#   make stress-quick  the same, briefly, under ASan + UBSan and under TSan (CI runs it)
#   make docs          the site (build/docs/html) and a GitHub-style rendering (build/docs/gfm),
#                      both checked (docs/writing-docs.md)
#   make snippets      refresh the code excerpts in the pages, and their line links
#   make numbers       refresh the numbers in the pages from docs/reference-run/report.json
#   make reference-run RUN=build/bench   make a new bench run the reference the pages quote
#   make diagrams      render docs/diagrams/*.dot into docs/images/*.svg
#   make docs-shots    screenshots of the site in headless Chromium (build/docs/shots)
#   make diff N=k      what stage k adds to stage k-1 (tests excluded)
#   make fuzz          every libFuzzer target for FUZZ_SECONDS (60) each (fuzz/README.md)
#   make netfaults     every stage under real network faults, measured (root; netfaults/README.md)
#   make format        clang-format every source file (make format-check: fail if one would change)
#   make clean         remove build/
#
# Workshop mode (docs/workshop.md), STAGE=N:
#   make workshop STAGE=N        start an attempt: stage N-1's pool copied into workshop/stageN/
#   make workshop-test STAGE=N   grade it against stage N's tests (EXERCISE=k: an exercise's)
#   make workshop-watch STAGE=N  grade it again on every change
#   make workshop-bench STAGE=N  the attempt beside stage N-1 and the reference, in one run
#   make workshop-reset STAGE=N  start again (says what it deletes, keeps a copy)
#   make workshop-check          is this laptop ready for the day?
#   make workshop-prove          CI: grading fails what is wrong and passes what is right
#
# Missing tools are installed with apt-get where possible (scripts/ensure-deps.sh).

MAKEFLAGS += --no-print-directory

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ENDPOINT ?=
STAGE ?=

configure = cmake -S . -B build/$(1) -DCMAKE_BUILD_TYPE=$(2) $(3) $(CMAKE_FLAGS) >/dev/null
build = cmake --build build/$(1) -j $(JOBS) $(2)

.PHONY: all release test tsan bench bench-quick stress stress-quick docs snippets numbers \
        reference-run diagrams docs-shots diff netfaults format format-check clean help workshop \
        workshop-reset workshop-test workshop-watch workshop-bench workshop-check workshop-prove

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

# Only the stress binaries are built: a run of them needs nothing else.
stress:
	@scripts/ensure-deps.sh build
	@$(call configure,release,Release,)
	@$(call build,release,--target stress_binaries)
	@scripts/stress.sh --bin build/release --mode full $(if $(STAGE),--stage $(STAGE))

stress-quick:
	@scripts/ensure-deps.sh build
	@$(call configure,asan,Debug,-DTCPPOOL_SANITIZE=address)
	@$(call build,asan,--target stress_binaries)
	@$(call configure,tsan,Debug,-DTCPPOOL_SANITIZE=thread)
	@$(call build,tsan,--target stress_binaries)
	@scripts/stress.sh --bin build/asan --mode quick $(if $(STAGE),--stage $(STAGE))
	@scripts/stress.sh --bin build/tsan --mode quick $(if $(STAGE),--stage $(STAGE))

# Every page of the repository: docs/, the READMEs (not the checker's test input).
DOCS_PAGES = $(shell git ls-files --cached --others --exclude-standard '*.md' | \
               grep -v -e '^build/' -e '/testdata/' | sort -u)
DOCS_TOOLS = build/release/common/tools

docs: release
	@scripts/ensure-deps.sh docs
	$(DOCS_TOOLS)/docs_snippets --check . $(DOCS_PAGES)
	$(DOCS_TOOLS)/docs_check check-pages . $(DOCS_PAGES)
	@rm -rf build/docs/html && mkdir -p build/docs
	@doxygen -l build/docs/DoxygenLayout.default.xml >/dev/null
	@$(DOCS_TOOLS)/docs_check layout . docs/index.md build/docs/DoxygenLayout.default.xml \
	  > build/docs/DoxygenLayout.xml
	doxygen docs/Doxyfile
	$(DOCS_TOOLS)/docs_check check-site . build/docs/html docs/index.md
	@echo "docs: build/docs/html/index.html (the site), build/docs/gfm/ (the GitHub-style pages)"

snippets: release
	$(DOCS_TOOLS)/docs_snippets --write . $(DOCS_PAGES)
	$(DOCS_TOOLS)/docs_check refresh --only lines . $(DOCS_PAGES)

numbers: release
	$(DOCS_TOOLS)/docs_check refresh --only numbers . $(DOCS_PAGES)

reference-run: release
	@scripts/reference-run.sh $(RUN) $(SPREAD)

diagrams: release
	@scripts/ensure-deps.sh docs
	$(DOCS_TOOLS)/docs_check diagrams .

docs-shots: docs
	@scripts/ensure-deps.sh shots
	@scripts/docs-screenshots.sh build/docs/html build/docs/shots

diff:
	@scripts/stage-diff.sh $(N)

# make fuzz: every libFuzzer target in fuzz/ for FUZZ_SECONDS each (FUZZ=name runs one),
# built with clang in build/fuzz; fails if one finds an input that breaks it. fuzz/README.md.
FUZZ_SECONDS ?= 60
FUZZ ?=
.PHONY: fuzz
fuzz:
	@scripts/ensure-deps.sh build fuzz
	@$(call configure,fuzz,Debug,-DCMAKE_CXX_COMPILER=clang++-19 -DTCPPOOL_FUZZ=ON)
	@$(call build,fuzz,--target fuzz_targets)
	@scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ)

# make netfaults: a blackholed server, a peer that vanishes mid-connection and 5-20 % packet
# loss, across a veth pair into a network namespace (root only), against every stage at once.
# Prints markdown tables and writes them to build/netfaults/report.md. netfaults/README.md.
netfaults:
	@scripts/ensure-deps.sh build
	@$(call configure,release,Release,)
	@$(call build,release,--target netfaults)
	build/release/netfaults/netfaults --out build/netfaults/report.md

format:
	@scripts/ensure-deps.sh format
	git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	@scripts/ensure-deps.sh format
	git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

# Workshop mode. The workshop command is built in make test's build (build/asan), so that
# after make test (and in CI) there is nothing to build; it configures a grading build of its
# own for the attempts (build/workshop; build/workshop-prove for workshop-prove).
STAGE ?=
EXERCISE ?=
FROM ?=
SCENARIO ?=
QUICK ?=
WORKSHOP = build/asan/common/workshop/workshop

$(WORKSHOP): FORCE
	@scripts/ensure-deps.sh build
	@test -f build/asan/CMakeCache.txt || $(call configure,asan,Debug,-DTCPPOOL_SANITIZE=address)
	@$(call build,asan,--target workshop) >/dev/null

workshop: $(WORKSHOP)
	@$(WORKSHOP) start "$(STAGE)" $(if $(FROM),--from $(FROM))

workshop-reset: $(WORKSHOP)
	@$(WORKSHOP) reset "$(STAGE)" $(if $(FROM),--from $(FROM))

workshop-test: $(WORKSHOP)
	@$(WORKSHOP) test "$(STAGE)" --jobs $(JOBS) $(if $(EXERCISE),--exercise $(EXERCISE))

workshop-watch: $(WORKSHOP)
	@WORKSHOP=$(WORKSHOP) scripts/workshop-watch.sh "$(STAGE)" "$(EXERCISE)"

workshop-bench: $(WORKSHOP)
	@scripts/ensure-deps.sh bench
	@$(WORKSHOP) bench "$(STAGE)" --jobs $(JOBS) $(if $(SCENARIO),--scenario $(SCENARIO)) \
	  $(if $(QUICK),--quick)

workshop-check:
	@scripts/workshop-check.sh

workshop-prove: $(WORKSHOP)
	@scripts/ensure-deps.sh workshop
	@$(WORKSHOP) prove --jobs $(JOBS)

FORCE:

clean:
	rm -rf build

help:
	@sed -n '3,31p' Makefile | sed 's/^# //'
