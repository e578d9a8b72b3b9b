# Front door. `make demo` and `make check` do their own set-up (scripts/deps.sh).
SHELL    := /bin/bash
BUILD    ?= build
JOBS     ?= 2
CMAKE_FLAGS ?=
WERROR   ?= OFF
SANITIZE ?= OFF
PREFIX   ?= /usr/local
# make fuzz: seconds per fuzz target, and where the clang build goes
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all deps build demo check bench install clean fuzz

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt: CMakeLists.txt
	cmake -S . -B $(BUILD) -DDUET_WERROR=$(WERROR) -DDUET_SANITIZE=$(SANITIZE) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/duet demo

check: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

# The NER step's times in both modes at seq 16, 40 and 128, beside the PyTorch peer's
# when Debian's python3-torch is installed (scripts/bench.sh says how otherwise).
bench: build
	bash scripts/bench.sh $(BUILD)

# Headers, libraries, duet, duet.pc and the CMake package, for cases built out of tree
# (examples/my-case).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Each libFuzzer target for FUZZ_SECONDS, from its seed corpus (tests/fuzz/corpus/T; new
# inputs go to $(FUZZ_BUILD)/corpus/T, the tree's seeds stay as they are). A crash stops
# here with its input in $(FUZZ_BUILD)/crashes/: fix it, then add the input to
# tests/fuzz/regress/T, where every build's tests replay it.
fuzz:
	@command -v clang >/dev/null || { echo "make fuzz: needs clang (apt-get install clang)"; exit 1; }
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DDUET_FUZZ=ON $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes; \
	  dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t \
	    2>&1 | grep -E '^(stat::|#[0-9]+[[:space:]]+DONE|==[0-9]+==|SUMMARY|fuzz:|artifact_prefix)' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || exit 1; \
	done

clean:
	rm -rf $(BUILD) build-asan $(FUZZ_BUILD)
