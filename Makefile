# ctripctl — the two commands: `make demo` (the whole job on a local anvil + SQLite)
# and `make test` (the full suite against anvil, SQLite and PostgreSQL).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export CTRIP_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export CTRIP_REQUIRE_POSTGRES ?= 1
PYTEST_ARGS ?=

.PHONY: install tools test test-fast lint format demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

install: $(STAMP)

tools:
	bash scripts/setup-tools.sh

## Full suite (needs PostgreSQL at $CTRIP_TEST_POSTGRES_URL; fails if unreachable)
test: install tools
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

## Pure-logic unit tests only (seconds; no node or database)
test-fast: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .

## The main job end to end: anvil + SQLite, create, pay, scan, confirm, deliver the webhook
demo: install tools
	$(PY) scripts/demo.py

## Every benchmark, one after the other (each prints medians and ratios vs its baseline)
bench: install tools
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) tools demo .pytest_cache .ruff_cache
