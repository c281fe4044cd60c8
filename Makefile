# The two commands that matter: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test unit e2e lint typecheck check bench messages install install-dev clean screens

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml tests/js/package-lock.json | $(BIN)/python
	$(PIP) install --quiet -e ".[dev]"
	@# The VC ecosystem's JavaScript libraries that verify our credentials in the tests (locked).
	@if command -v npm >/dev/null; then npm ci --prefix tests/js --no-audit --no-fund --silent; \
	else echo "node/npm not found: tests/unit/records/test_credentials_verified_by_node.py will fail"; fi
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Serve the portal with demo data on ./var/portal.db at http://127.0.0.1:8000
run: install
	$(BIN)/portal serve --demo

## Unit and browser tests (SQLite; .ci/run repeats the database tests on PostgreSQL).
## Unit tests run on up to 4 cores (each test has its own SQLite file); browser tests share one
## server, whose log the last of them checks, so they run in one process.
XDIST := --numprocesses=auto --maxprocesses=4
test: install-dev
	$(BIN)/pytest $(XDIST) tests/unit
	$(BIN)/pytest tests/e2e

unit: install-dev
	$(BIN)/pytest $(XDIST) tests/unit

e2e: install-dev
	$(BIN)/pytest tests/e2e

## Screenshots of the main pages in both languages into docs/screens (not part of `make test`)
screens: install-dev
	PORTAL_SCREENS=1 $(BIN)/pytest tests/e2e/gallery -q

lint: install-dev
	$(BIN)/ruff check portal tests migrations bench
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck test

## Benchmarks with their targets: one table, also written to bench/results.json
## (docs/development.md, "Benchmarks"). Seeds 100,000 registrations once (cached in bench/.cache);
## BENCH_REGISTRATIONS=2000 for a quick run. wrk comes from apt-get when run as root.
bench: install-dev
	$(BIN)/python -m bench

## Extract messages into the catalog template and merge them into each language's catalog
messages: install-dev
	$(BIN)/pybabel extract -F babel.cfg -k _ -k lazy_gettext -o portal/locale/messages.pot --no-location --sort-output --project "Livestream Registration Portal" .
	$(BIN)/pybabel update -i portal/locale/messages.pot -d portal/locale -D messages --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
