# Front door. `make demo` and `make check` do their own set-up (scripts/deps.sh).
BUILD    ?= build
JOBS     ?= 2
CMAKE_FLAGS ?=
WERROR   ?= OFF
SANITIZE ?= OFF
PREFIX   ?= /usr/local

.PHONY: all deps build demo check install clean

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

# Headers, libraries, duet, duet.pc and the CMake package, for cases built out of tree
# (examples/my-case).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan
