# Two commands for a new user: `make run` (the app on the embedded default) and `make test`.
#   make run [HOST=127.0.0.1] [PORT=8501]   create .venv if needed, install Ductwork, start the web app
#   make test                               install test dependencies (and Debian's chromium), ruff, pytest
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8501
# The torch build that the built-in library's transformer step and its tests use. `make run`
# installs it too: the text-classification template's train step needs it (the `torch` extra).
TORCH  ?= torch==2.13.0

.PHONY: run test install install-test browser lint bench clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "Ductwork needs Python 3.11 or 3.12; run: make PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml Makefile | $(VENV)/bin/python
	$(PIP) install -q -e '.[torch]' '$(TORCH)'
	touch $@

$(VENV)/.installed-test: pyproject.toml Makefile | $(VENV)/bin/python
	$(PIP) install -q -e '.[test,torch]' '$(TORCH)'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(VENV)/bin/ductwork ui --host $(HOST) --port $(PORT)

# Debian's chromium drives the real-browser tests (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.installed-test browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/engine_overhead.py
	$(PY) bench/reuse.py
	$(PY) bench/command_chain.py
	$(PY) bench/graph_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
