# Two commands for a new user: `make run` (the app on the embedded default) and `make test`.
#   make run [HOST=127.0.0.1] [PORT=8501]   create .venv if needed, install Ductwork, start the web app
#   make test [TEST_WORKERS=3]              install test dependencies (and Debian's chromium), ruff, pytest
#   make canvas                             rebuild the designer canvas (app/ui/canvas_frontend) if its sources changed
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8501
# The torch build that the built-in library's transformer step and its tests use. `make run`
# installs it too: the text-classification template's train step needs it (the `torch` extra).
TORCH  ?= torch==2.13.0

.PHONY: run test install install-test browser canvas lint bench clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "Ductwork needs Python 3.11 or 3.12; run: make PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip uv

# Packages are installed by uv (https://docs.astral.sh/uv/, into the venv by pip above): it
# downloads and unpacks in parallel (`make install-test` in a new venv: ≈ 17 s against pip's
# ≈ 114 s here, both with a warm cache). --compile-bytecode writes every package's .pyc now:
# where PYTHONDONTWRITEBYTECODE is set (it is on these machines) nothing else would, and every
# Python process — each CLI call, each Ray worker — compiled Ray, Streamlit, Pydantic… again
# from source (`import ray, typer, rich, duckdb, sqlmodel`: 2.3 s of CPU without, 1.0 s with).
# uv does not read pip's configuration: a local wheel folder pip is told of (PIP_FIND_LINKS:
# this machine's CPU build of torch) is passed on.
UV := $(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))

$(VENV)/.installed: pyproject.toml Makefile | $(VENV)/bin/python
	@test -x $(VENV)/bin/uv || $(PIP) install -q uv
	$(UV) -e '.[torch]' '$(TORCH)'
	touch $@

$(VENV)/.installed-test: pyproject.toml Makefile | $(VENV)/bin/python
	@test -x $(VENV)/bin/uv || $(PIP) install -q uv
	$(UV) -e '.[test,torch]' '$(TORCH)'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# The designer canvas (TypeScript, React Flow) is built with Vite into $(CANVAS)/dist, which is
# committed with the hash of the sources it was built from (dist/SOURCE_HASH): Node is needed
# only when the sources changed since, or always when CI is set (CI builds from source, then
# runs the frontend's own checks: tsc, ESLint and its unit tests, `npm run check`).
CANVAS := app/ui/canvas_frontend

canvas:
	@want=$$(sh $(CANVAS)/scripts/hash.sh); have=$$(cat $(CANVAS)/dist/SOURCE_HASH 2>/dev/null || true); \
	if [ -n "$$CI" ] || [ "$$want" != "$$have" ] || [ ! -f $(CANVAS)/dist/canvas.js ] || [ ! -f $(CANVAS)/dist/canvas.css ]; then \
	  command -v npm >/dev/null 2>&1 || { \
	    echo "The designer canvas must be rebuilt: its sources ($(CANVAS)) differ from the build in $(CANVAS)/dist" >&2; \
	    echo "(dist/SOURCE_HASH '$$have', sources '$$want'), and building needs Node 20 and npm, which are not on PATH." >&2; \
	    echo "Install Node 20 (https://nodejs.org) and run make again, or check out $(CANVAS) as committed." >&2; \
	    exit 1; }; \
	  echo "Building the designer canvas ($(CANVAS))"; \
	  cd $(CANVAS) && npm ci --no-audit --no-fund --loglevel=error && npm run build \
	    && { [ -z "$$CI" ] || npm run --silent check; }; \
	fi

run: install canvas
	$(VENV)/bin/ductwork ui --host $(HOST) --port $(PORT)

# Debian's chromium drives the real-browser tests (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# pytest-xdist workers: more than this machine's 2 cores, since many tests mostly wait (a Ray
# or a cluster starting, a pip environment downloading, a process dying); tests/conftest.py puts
# each module in one xdist group (its fixtures start once) and hands out the slowest groups first.
TEST_WORKERS ?= 3

# The three installs are independent: made side by side (the Python packages, Debian's
# chromium, the canvas' npm build), then Ductwork's own modules are compiled once (see UV).
test:
	@$(MAKE) --no-print-directory -j3 --output-sync=target $(VENV)/.installed-test browser canvas
	@$(PY) -m compileall -q -j 0 app engine components registry >/dev/null
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/engine_overhead.py
	$(PY) bench/reuse.py
	$(PY) bench/command_chain.py
	$(PY) bench/graph_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
