# Two commands for a newcomer: `make run` and `make test`. Both create or update .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NOTEBOOK_STAMP := $(VENV)/.notebook-installed

.PHONY: venv run test notebook screenshots bench lint format clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Start the service with the example pipeline on http://127.0.0.1:8000 (HITL_PORT changes it).
run: $(STAMP)
	$(BIN)/hitl serve

## Run the whole test suite (real Postgres and Redis: embedded unless HITL_TEST_* URLs are set).
test: $(STAMP)
	$(BIN)/pytest

## Open notebooks/ in Jupyter Lab, on the .venv's kernel (installs the `notebook` extra once).
## JUPYTER_ARGS adds options, e.g. JUPYTER_ARGS=--no-browser on a machine without a desktop.
notebook: $(NOTEBOOK_STAMP)
	$(BIN)/jupyter lab notebooks/01_author_a_graph.ipynb $(JUPYTER_ARGS)

$(NOTEBOOK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,notebook]'
	@touch $(NOTEBOOK_STAMP)

## Screenshots of every page at 1280 and 390 px wide into docs/screenshots/ (Debian's Chromium).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots/take.py

## Benchmarks: throughput against raw LangGraph and inbox latency; prints ratios.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .hitl .pytest_cache .ruff_cache
