# Two commands for a newcomer: `make run` and `make test`. Both create or update .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# LangGraph's JavaScript client for tests/e2e/test_js_client.py, installed from its lock file.
JS_MODULES := tests/js/node_modules
NODE_NEEDED := Node.js 20+ and npm are needed for the JavaScript client's test \
	(tests/e2e/test_js_client.py): install them from nodejs.org or NodeSource

NOTEBOOK_STAMP := $(VENV)/.notebook-installed

.PHONY: venv run test test-docker image notebook screenshots bench chaos soak lint format clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

$(JS_MODULES): tests/js/package.json tests/js/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "$(NODE_NEEDED)"; exit 1; }
	npm ci --prefix tests/js --no-audit --no-fund
	@touch $(JS_MODULES)

## Start the service with the example pipeline on http://127.0.0.1:8000 (HITL_PORT changes it).
run: $(STAMP)
	$(BIN)/hitl serve

## Run the whole test suite (real Postgres and Redis: embedded unless HITL_TEST_* URLs are set),
## but for the Docker test, which has a target of its own.
test: $(STAMP) $(JS_MODULES)
	$(BIN)/pytest -m 'not docker'

## The image and the Compose stack, tested: root, dockerd, debootstrap, Docker Compose and the
## Debian mirror needed; see docs/deploy.md. Prints the image's size and the build times.
test-docker: $(STAMP)
	$(BIN)/pytest -m docker -s tests/docker

## The service's image, $(IMAGE), from this checkout's wheels (docs/deploy.md). The build reaches
## no package index: pip gets the wheels here first. async-timeout: redis needs it on a Python
## below 3.11.3, which the image's may be while this one is newer.
IMAGE ?= hitl:latest
image: $(STAMP)
	rm -rf build/wheels
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check -w build/wheels . async-timeout
	docker build --network none -t $(IMAGE) \
		--build-arg PYTHON=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
		--build-arg VERSION=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) \
		--build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) .

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

## Chaos: load with killed workers and API, Postgres and Redis restarts, a webhook outage;
## counts that must be zero and a report (docs/chaos.md). CHAOS_ARGS passes options.
chaos: $(STAMP)
	$(BIN)/python -m benchmarks.chaos $(CHAOS_ARGS)

## Soak: a steady rate for 30 minutes, no faults, retention on; memory and latency over time.
## SOAK_ARGS passes options, e.g. SOAK_ARGS="--minutes 5".
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .hitl .pytest_cache .ruff_cache $(JS_MODULES)
