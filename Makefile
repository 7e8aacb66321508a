# clusterlab developer commands. `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SANDBOX := tests/cluster/sandbox.py
SGE := tests/cluster/sge.py
export CLUSTERLAB_SANDBOX_DIR ?= /tmp/clusterlab-sandbox
# Where pytest and vitest say what they skipped, for `make skip-check`.
REPORTS := build/test-reports

.PHONY: help install install-dev sandbox sandbox-down demo test lint typecheck docs pytest clean \
	skip-check labext lab-dev lab lint-ts test-ts ui-test screenshots bench soak chaos install-check sge sge-down
# jlpm (yarn 3) comes with jupyter-builder in the venv.
JLPM := PATH="$(abspath $(VENV))/bin:$$PATH" YARN_ENABLE_TELEMETRY=0 jlpm

help:
	@echo "make demo     set up, start the local SLURM sandbox and run the quickstart notebook"
	@echo "make test     set up and run every check: lint, types, docs, unit + real-cluster tests"
	@echo "make lab      start JupyterLab with the Clusters sidebar built from this checkout"
	@echo "make lint | typecheck | docs | pytest | sandbox | sandbox-down | sge | sge-down | clean"
	@echo "make lab-dev  build the lab extension and link it into the venv (editable install)"
	@echo "make lint-ts | test-ts | ui-test   TypeScript lint, unit tests, browser tests"
	@echo "make skip-check   list the tests pytest and vitest skipped (after them); fail on one with no reason"
	@echo "make screenshots   browser tests that also refresh docs/images/ for docs/lab.md"
	@echo "make bench   side-by-side benchmarks on the sandbox (tens of minutes); rewrites docs/performance.md"
	@echo "make soak    1,000 jobs watched for 10 minutes: the kernel's memory and threads (docs/reliability.md)"
	@echo "make chaos   maps and jobs on SLURM, Grid Engine, direct while daemons restart (shared: announce it)"

# The Python package installs editable without building the lab extension (no Node
# needed); `make lab-dev` builds it and links it into the venv. `pip install .` (a wheel)
# builds it through hatch-jupyter-builder.
install install-dev: export SKIP_JUPYTER_BUILDER = 1

install:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap.sh test

install-dev:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap.sh dev,bench

# The real SLURM + munge + sshd sandbox (needs root: installs Debian packages, adds a user).
sandbox: install
	$(PY) $(SANDBOX) up

sandbox-down:
	$(PY) $(SANDBOX) down

# The real Grid Engine cell the sge backend is tested on (needs root; beside the sandbox).
sge: install
	$(PY) $(SGE) up

sge-down:
	$(PY) $(SGE) down

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
	$(PY) $(SGE) up >/dev/null
	rm -f $(REPORTS)/pytest-skips.json
	CLUSTERLAB_SKIP_REPORT=$(REPORTS)/pytest-skips.json CLUSTERLAB_REQUIRE_SANDBOX=1 \
		$(PY) -m pytest -p no:cacheprovider --durations=30

# -- JupyterLab extension (labextension/, package.json, ui-tests/) ------------------------
labext lab-dev: install-dev
	VENV=$(VENV) scripts/labext.sh

lab: install-dev
	VENV=$(VENV) scripts/lab.sh

lint-ts: install-dev
	VENV=$(VENV) scripts/labext.sh deps
	$(JLPM) eslint
	$(JLPM) prettier:check
	$(JLPM) typecheck

test-ts: install-dev
	VENV=$(VENV) scripts/labext.sh deps
	rm -f $(REPORTS)/vitest.json
	$(JLPM) test --reporter=default --reporter=json --outputFile.json=$(REPORTS)/vitest.json

# Every skipped test of pytest and vitest, with its reason; fails on a skip without one.
skip-check:
	$(PY) scripts/check_skips.py $(REPORTS)/pytest-skips.json $(REPORTS)/vitest.json

# Builds the extension, starts the sandbox and drives a real JupyterLab in Debian's chromium.
ui-test: install-dev
	VENV=$(VENV) scripts/ui-test.sh

# The same suite, writing the screenshots used by docs/lab.md into docs/images/.
screenshots: install-dev
	UPDATE_SCREENSHOTS=1 VENV=$(VENV) scripts/ui-test.sh

test: lint typecheck docs pytest lint-ts test-ts skip-check ui-test install-check

# `pip install clusterlab` into a new venv: widgets, a job, the CLI and the lab extension.
install-check: install-dev
	PYTHON=$(PY) scripts/install-check.sh

# Side-by-side benchmarks (clusterlab vs submitit, dask-jobqueue, raw sbatch, loky, scp) on
# the sandbox; writes bench/results/latest.json and the tables/plots of docs/performance.md.
# Not part of `make test` (it takes many minutes); the smoke test runs it with --quick.
bench: export SKIP_JUPYTER_BUILDER = 1
bench: install-dev sandbox
	$(PY) -c 'import submitit, dask_jobqueue, distributed, loky, numpy, matplotlib' 2>/dev/null \
		|| $(VENV)/bin/pip install -q -e '.[dev,bench]'
	$(PY) bench/suite.py

# 1,000 jobs watched for 10 minutes on the sandbox; not part of `make test`.
soak: install-dev sandbox
	$(PY) bench/soak.py

# Restarts the sandbox's sshd and slurmctld: not part of `make test`. CHAOS_ARGS=--docs
# writes the table into docs/reliability.md; --seed N replays a fault schedule.
chaos: install-dev sandbox sge
	$(PY) bench/chaos.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) docs/_build .mypy_cache .ruff_cache .pytest_cache
	rm -rf node_modules ui-tests/node_modules labextension/lib python/clusterlab/labextension \
		tsconfig.tsbuildinfo ui-tests/test-results ui-tests/playwright-report
