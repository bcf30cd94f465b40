# Thin wrapper over CMake and CTest; see README.md.
BUILD ?= build
JOBS ?= 2
ADE_HOME ?= ade-home
DEMO_DATE ?= 2026-01-01

.PHONY: all deps configure build demo test asan valgrind bench fuzz clean

all: build

deps:
	@sh tools/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(if $(CI),-DADE_WERROR=ON)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# The demo's input is generated (deterministic, seeded) rather than committed:
# a day of employees with a few of every fault ade-gen can inject.
DEMO_DATA = pipelines/data/employees/$(DEMO_DATE).csv

$(DEMO_DATA): | build
	@mkdir -p $(dir $@)
	$(BUILD)/bin/ade-gen employees --rows 5000 --seed 42 --date $(DEMO_DATE) \
	  --missing performance_score=0.02,city=0.08 --duplicates 0.01 --outliers 0.005 \
	  --poison 0.002 -o $@

demo: build $(DEMO_DATA)
	$(BUILD)/bin/ade --home $(ADE_HOME) run pipelines/employees.yaml --date $(DEMO_DATE)
	$(BUILD)/bin/ade --home $(ADE_HOME) report employees
	@echo
	@echo "Look at the results:"
	@echo "  open $(ADE_HOME)/reports/employees.html in a browser, or"
	@echo "  $(BUILD)/bin/ade --home $(ADE_HOME) serve   (then http://127.0.0.1:8080/)"
	@echo "  $(BUILD)/bin/ade --home $(ADE_HOME) kpis employees"
	@echo "  cat $(ADE_HOME)/metrics/ade.prom"
	@echo "  $(BUILD)/bin/ade --home $(ADE_HOME) runs"
	@echo "  $(BUILD)/bin/ade --home $(ADE_HOME) show employees/$(DEMO_DATE)"
	@echo "  ls $(ADE_HOME)/runs/employees/$(DEMO_DATE)/run-*/"

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DADE_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS)

# The end-to-end tests with every ade invocation under valgrind.
valgrind: build
	ADE_VALGRIND=1 ctest --test-dir $(BUILD) --output-on-failure -L e2e -j $(JOBS)

bench: build
	sh bench/run.sh

clean:
	rm -rf $(BUILD) build-asan

# libFuzzer targets for the CSV and NDJSON readers (clang), FUZZ_SECONDS each.
fuzz:
	@sh tools/install-deps.sh --with-fuzz
	sh tests/fuzz/run.sh build-fuzz
