# sipr: the two commands are `make run` and `make test` (see README.md).
# CMake + Ninja do the building; this file only names the steps.

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60
SMOKE_SECONDS ?= 20

.PHONY: all deps build test test-build test-asan test-fuzz run bench fuzz clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)

# Every test: the normal build, then unit + conformance tests again under
# AddressSanitizer + UBSan, then a short smoke run of every fuzz target.
test: test-build test-asan test-fuzz

test-build: build
	ctest --test-dir $(BUILD) --output-on-failure

test-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -G Ninja -DSIPR_SANITIZE=ON \
	  -DCMAKE_BUILD_TYPE=Debug -DSIPR_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -L 'unit|conformance'

test-fuzz: deps
	@cmake -S . -B $(BUILD_FUZZ) -G Ninja -DSIPR_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DSIPR_FUZZ_SECONDS=$(SMOKE_SECONDS) \
	  $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_FUZZ)
	ctest --test-dir $(BUILD_FUZZ) --output-on-failure -L fuzz

# Longer fuzzing: FUZZ_SECONDS per target.
fuzz: deps
	@cmake -S . -B $(BUILD_FUZZ) -G Ninja -DSIPR_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DSIPR_FUZZ_SECONDS=$(FUZZ_SECONDS) \
	  $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_FUZZ)
	ctest --test-dir $(BUILD_FUZZ) --output-on-failure -L fuzz

bench: build
	$(BUILD)/bench/parse
	$(BUILD)/bench/txn
	bench/server.sh $(BUILD)/sipr
	bench/proxy.sh $(BUILD)/sipr

run: build
	@echo "sipr serve on udp+tcp 127.0.0.1:5060, store ./var/sipr.db; digest auth is OFF, for loopback only (make run)."
	@echo "Register a phone as sip:USER@127.0.0.1:5060; stop with Ctrl-C. Real deployments: sipr serve --help."
	$(BUILD)/sipr serve --listen udp:127.0.0.1:5060 --listen tcp:127.0.0.1:5060 \
	  --domain 127.0.0.1 --store sqlite:./var/sipr.db --auth off

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
