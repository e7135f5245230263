# newswatch: `make run` ingests the seed article; `make test` runs the test suite.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SEED   := seeds/000_30228fdb78730024.txt
export NEWSWATCH_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: setup run test check bench clean migration

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: setup
	$(BIN)/newswatch db upgrade
	$(BIN)/newswatch ingest $(SEED) --published 2021-12-17
	$(BIN)/newswatch events
	$(BIN)/newswatch alerts

test: setup
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: setup
	$(BIN)/python -m mypy
	$(BIN)/cog --check docs/cli.md

bench: setup
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) newswatch.db .pytest_cache

# Regenerate the single initial migration from db/models.py (pre-release: one migration).
migration: setup
	$(BIN)/python scripts/make_migration.py
