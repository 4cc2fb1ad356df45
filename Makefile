# One entry point per job; every target sets up what it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CACHE := $(HOME)/.cache/tidewise
export PIP_CACHE_DIR := $(CACHE)/pip

.PHONY: demo test lint bench setup debs controlplane protos clean

$(BIN)/tidewise: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/tidewise

debs:
	@scripts/ensure-debs

# The end-to-end suite's control plane, Karpenter and helm (the chart's tests), built from Go
# modules into $(CACHE)/bin on first use (many minutes when cold, seconds when cached); without
# Go the suite skips loudly, or fails in CI.
controlplane: setup
	@if command -v go >/dev/null 2>&1; then $(BIN)/tidewise testenv build; \
	else echo "!!! Go not found: the control-plane end-to-end tests will be SKIPPED (docs/testenv.md)"; fi

demo: setup
	$(BIN)/tidewise sim --report report.html --json report.json

# CI runs this: the lint first (seconds, or a minute for mypy's first run), then every test
# (in two processes, a test file each at a time: pytest-xdist; each process has its own control plane;
# the slowest files go first: tests/conftest.py)
test: lint debs controlplane
	$(BIN)/pytest -q -n 2 --dist loadfile

# style, format, the package map's contracts (docs/architecture.md), types
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy tidewise

# the kubelet API stubs of tidewise/kube/deviceplugin/apis, from their .proto files
protos: setup
	$(BIN)/python -m tidewise.kube.deviceplugin.apis.codegen

bench: setup
	$(BIN)/python bench/sim_speed.py

clean:
	rm -rf $(VENV) report.html report.json .pytest_cache
