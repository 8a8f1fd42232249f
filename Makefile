# The two set-up commands of the README. Each makes .venv if it is missing and installs what it needs.
PY ?= python3
# CPU torch for the tiny-model tests; pinned so pip takes a CPU build instead of a multi-GB CUDA one.
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test test-all bench clean chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/videokr demo --out demo-output

test: $(STAMP)
	$(BIN)/python -m pytest

# The review app's browser tests drive Debian's chromium (Playwright never downloads a browser); installed once.
chromium:
	@command -v chromium >/dev/null 2>&1 || { SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test-all: $(STAMP) chromium
	$(BIN)/python -m pytest -m ''

clean:
	rm -rf demo-output .pytest_cache
