# The two entry points: `make serve` and `make test`. Both install what is missing, configure and build.
# Internal targets (deps, build) are implementation details of those two.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
SERVE_ARGS ?=

.PHONY: serve test deps build

serve: build
	@if $(BUILD_DIR)/bin/specula --help | grep -q '^  serve '; then \
	  $(BUILD_DIR)/bin/specula serve $(SERVE_ARGS); \
	else \
	  echo "specula serve (the OpenAI-compatible server) is not built yet."; \
	  echo "Meanwhile: $(BUILD_DIR)/bin/specula run -m MODEL.gguf -p \"your prompt\" [--chat]"; \
	  echo "(for example -m ../shared/assets/stories260K/stories260K.gguf -p \"Once upon a time\")"; \
	fi

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

deps:
	@scripts/install-deps.sh
	@scripts/fetch-models.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
