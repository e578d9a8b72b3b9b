# Front door. `make demo` and `make check` do their own set-up (scripts/deps.sh).
BUILD    ?= build
JOBS     ?= 2
CMAKE_FLAGS ?=
WERROR   ?= OFF
SANITIZE ?= OFF

.PHONY: all deps build demo check clean

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

clean:
	rm -rf $(BUILD) build-asan
