# newswatch: `make run` ingests the seed article; `make test` runs the test suite.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SEED   := seeds/000_30228fdb78730024.txt
export NEWSWATCH_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: setup setup-browser run test test-all check-wheel check bench clean migration

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Debian's headless Chromium for the browser tests (tests/test_web_browser.py, Playwright drives
# it; `playwright install` is never used). Skipped when present; needs root (CI) otherwise.
setup-browser:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "setup-browser: chromium missing; as root run: apt-get install -y chromium chromium-driver" >&2; fi

run: setup
	$(BIN)/newswatch db upgrade
	$(BIN)/newswatch ingest $(SEED) --published 2021-12-17
	$(BIN)/newswatch events
	$(BIN)/newswatch alerts

test: setup
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything CI runs: the default tests, the slow end-to-end ones, and the wheel check.
test-all: setup setup-browser
	$(MAKE) test PYTEST_ARGS="-m 'slow or not slow' $(PYTEST_ARGS)"
	$(MAKE) check-wheel

# Build the wheel, install it outside the checkout with the machine's pip, ingest the seed.
check-wheel:
	PYTHON=$(PYTHON) bash scripts/check_wheel.sh

check: setup
	$(BIN)/python -m mypy
	$(BIN)/cog --check docs/cli.md

bench: setup
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) newswatch.db .pytest_cache build newswatch.egg-info

# Regenerate the single initial migration from db/models.py (pre-release: one migration).
migration: setup
	$(BIN)/python scripts/make_migration.py
