# The two commands of the README: `make run` (the server on its embedded sandbox) and `make test`.
# Each sets itself up: a local virtual environment in .venv, refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit e2e bench clean

run: $(STAMP)
	$(BIN)/ubiops-services-mcp $(ARGS)

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check server tests benchmarks evals
	$(BIN)/ruff format --check server tests benchmarks evals

typecheck: $(STAMP)
	$(BIN)/pyright

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# All benchmarks; writes benchmarks/RESULTS.md. CI runs `make bench BENCH_ARGS=--tiny` (figures not asserted).
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade "pip>=25.1"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e . --group dev
	touch $(STAMP)

clean:
	rm -rf $(VENV)
