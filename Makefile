# Front door. `make demo` and `make check` do their own set-up (scripts/deps.sh).
BUILD    ?= build
JOBS     ?= 2
CMAKE_FLAGS ?=
WERROR   ?= OFF
SANITIZE ?= OFF
PREFIX   ?= /usr/local

.PHONY: all deps build demo check bench install clean

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

clean:
	rm -rf $(BUILD) build-asan
