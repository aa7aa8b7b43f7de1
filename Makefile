# The two commands of the README: `make run` (the server on its embedded sandbox) and `make test`.
# `make run` writes nothing but the server's protocol to stdout (a client may spawn it): set-up talks on stderr.
# Each sets itself up: a virtual environment in .venv with the exact versions of uv.lock, refreshed when
# pyproject.toml or uv.lock changes. `make run` installs only what the server needs; `make test` adds the dev
# tools. Python 3.11+: PYTHON=... if given, else the first of python3.13, python3.12, python3.11, python3 that is.

VENV    ?= .venv
BIN     := $(VENV)/bin
UV      := $(BIN)/uv
UV_VERSION := 0.13.9
RUN_STAMP  := $(VENV)/.installed-run
DEV_STAMP  := $(VENV)/.installed-dev
CANDIDATES := $(if $(PYTHON),$(PYTHON),python3.13 python3.12 python3.11 python3)
SUPPORTED  := import sys; v = sys.version_info; print(f"{v[0]}.{v[1]}") if v >= (3, 11) else None
# "3.X" from an interpreter that is 3.11 or newer; nothing from one that is older, missing or broken.
version_of = $(shell $(1) -c '$(SUPPORTED)' 2>/dev/null)
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never

# A venv made by a Python older than 3.11 (or one since removed), or by another version than PYTHON names, is
# made again: checked here, before make looks at the stamps inside it.
ifneq ($(PYTHON),)
ifeq ($(call version_of,$(PYTHON)),)
$(error PYTHON=$(PYTHON) does not run or is older than 3.11: name a Python 3.11 or newer)
endif
endif
ifneq ($(wildcard $(VENV)/.),)
HAVE := $(call version_of,$(BIN)/python)
WANT := $(if $(PYTHON),$(call version_of,$(PYTHON)),$(HAVE))
ifneq ($(and $(HAVE),$(filter $(WANT),$(HAVE))),$(or $(HAVE),missing))
$(info make: $(VENV) was made by $(if $(HAVE),Python $(HAVE),a Python that is missing or older than 3.11), not $(or $(WANT),3.11+): making it again)
$(shell rm -rf $(VENV))
endif
endif

.PHONY: run test test-fast lint typecheck docs unit bench lock clean

run: $(RUN_STAMP)
	@$(BIN)/ubiops-services-mcp $(ARGS)

test: $(DEV_STAMP) lint typecheck docs unit

# The quick loop: everything but the tests that spawn processes or install packages (marked slow).
test-fast: $(DEV_STAMP)
	$(BIN)/pytest -rfEs -m "not slow" $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check server tests benchmarks evals
	$(BIN)/ruff format --check server tests benchmarks evals

typecheck: $(DEV_STAMP)
	$(BIN)/pyright

# The reference pages in docs/ as a site, strictly: a broken link or a page left out of the nav fails the build.
docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

# -rs: every skipped test with its reason (HAProxy, Node.js missing); the e2e fixture prints its npm steps.
unit: $(DEV_STAMP)
	$(BIN)/pytest -rfEs $(PYTEST_ARGS)

# All benchmarks; writes benchmarks/RESULTS.md. CI runs `make bench BENCH_ARGS=--tiny` (figures not asserted).
bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

# After a change to the dependencies in pyproject.toml: resolve uv.lock again (commit it).
lock: $(UV)
	$(UV) lock

# The first supported Python of CANDIDATES makes the venv; none: say so, and how to name one.
$(BIN)/python:
	@found=""; for p in $(CANDIDATES); do \
	    v=$$($$p -c '$(SUPPORTED)' 2>/dev/null); \
	    if [ -n "$$v" ]; then found=$$p; break; fi; \
	done; \
	if [ -z "$$found" ]; then \
	    echo "make: no Python 3.11 or newer found (tried: $(CANDIDATES)). Install one (python.org, pyenv or your package manager) or name it: make $(or $(MAKECMDGOALS),run) PYTHON=/path/to/python3.11" >&2; \
	    exit 1; \
	fi; \
	echo "make: creating $(VENV) with $$found (Python $$v)" >&2; \
	$$found -m venv $(VENV)

$(UV): | $(BIN)/python
	@echo "make: installing uv $(UV_VERSION) into $(VENV) (it installs the locked versions of uv.lock)" >&2
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)" >&2

$(RUN_STAMP): pyproject.toml uv.lock | $(UV)
	@echo "make: installing what the server needs into $(VENV) (uv.lock, no dev tools; first time ~20 s)" >&2
	@$(UV) sync --frozen --inexact --no-dev >&2
	@touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml uv.lock | $(UV)
	@echo "make: installing the server and the dev tools into $(VENV) (uv.lock; first time ~1 min)" >&2
	@$(UV) sync --frozen --inexact >&2
	@touch $(RUN_STAMP) $(DEV_STAMP)

clean:
	rm -rf $(VENV)
