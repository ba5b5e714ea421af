# Nexus: `make run` serves the platform on embedded PostgreSQL + Redis; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test bench chaos install install-dev check-python lint clean-data help

help:
	@echo "make run    - install into .venv, start embedded PostgreSQL + Redis, migrate, seed, serve on PORT (8000)"
	@echo "make test   - install test tools, lint (ruff, mypy, import rules), and run the whole suite (own embedded services)"
	@echo "make lint   - ruff on the tree, mypy (django-stubs) on apps/, import rules (lint-imports); fails on any finding"
	@echo "make bench  - run the benchmarks in bench/, results in bench/results/"
	@echo "make chaos  - kill workers and web mid-job, restart Redis and PostgreSQL, break the provider; check nothing is lost"

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "Nexus needs Python 3.11 or newer; found %d.%d. Set PYTHON=/path/to/python3.11." % v[:2])'

$(VENV)/.installed: requirements.txt | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt sdk/python/pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check ./sdk/python
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	@$(PY) -m apps.core.runtime run

test: lint
	$(PY) -m pytest

bench: install-dev
	$(PY) -m bench

chaos: install-dev
	$(PY) -m bench.chaos

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy apps
	$(VENV)/bin/lint-imports

clean-data:
	@echo "This deletes var/ (the embedded database and Redis data)."; rm -rf var
