# The two entry points: `make serve` and `make test`. Both install what is missing, configure and build.
# Internal targets (deps, build) are implementation details of those two.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
SERVE_ARGS ?=

.PHONY: serve test deps build

serve: build
	@$(BUILD_DIR)/bin/specula serve $(SERVE_ARGS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
