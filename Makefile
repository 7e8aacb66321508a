# clusterlab developer commands. `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SANDBOX := tests/cluster/sandbox.py
export CLUSTERLAB_SANDBOX_DIR ?= /tmp/clusterlab-sandbox

.PHONY: help install install-dev sandbox sandbox-down demo test lint typecheck docs pytest clean

help:
	@echo "make demo     set up, start the local SLURM sandbox and run the quickstart notebook"
	@echo "make test     set up and run every check: lint, types, docs, unit + real-cluster tests"
	@echo "make lint | typecheck | docs | pytest | sandbox | sandbox-down | clean"

install:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap.sh test

install-dev:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap.sh dev

# The real SLURM + munge + sshd sandbox (needs root: installs Debian packages, adds a user).
sandbox: install
	$(PY) $(SANDBOX) up

sandbox-down:
	$(PY) $(SANDBOX) down

demo: install
	$(PY) examples/run_demo.py

lint: install-dev
	$(VENV)/bin/ruff check python tests examples bench
	$(VENV)/bin/ruff format --check python tests examples bench

typecheck: install-dev
	$(VENV)/bin/mypy

docs: install-dev
	$(PY) -m sphinx -W --keep-going -n -q -b html docs docs/_build/html

pytest: install-dev
	$(PY) $(SANDBOX) up >/dev/null
	CLUSTERLAB_REQUIRE_SANDBOX=1 $(PY) -m pytest -p no:cacheprovider

test: lint typecheck docs pytest

clean:
	rm -rf $(VENV) docs/_build .mypy_cache .ruff_cache .pytest_cache
