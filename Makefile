# The two commands: `make run` starts WaddleBot, `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Install stamps, newer than pyproject.toml once installed. RUNTIME: WaddleBot and what running
# it needs (make run). DEV: plus the [dev] extra, the tools of make test, lint and bench.
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: run test lint lock kong-config bench bench-playground bench-twitch bench-compare clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME)

## run: install WaddleBot (no dev tools) into .venv and start every service on http://127.0.0.1:8000
run: $(RUNTIME)
	$(BIN)/waddlebot up $(ARGS)

## test: lint, type-check and run the whole suite (starts local PostgreSQL/Redis if stopped)
test: $(DEV)
	bash scripts/test.sh

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy

## lock: re-export deploy/*.lock (the image's hash-pinned dependencies) from pyproject.toml; ARGS=--upgrade refreshes pins
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--annotation-style line --custom-compile-command "make lock" --quiet
lock: $(DEV)
	$(BIN)/uv pip compile $(LOCK_FLAGS) $(ARGS) pyproject.toml -o deploy/requirements.lock
	$(BIN)/uv pip compile $(LOCK_FLAGS) $(ARGS) deploy/build-requirements.in -o deploy/build-requirements.lock

## kong-config: regenerate deploy/compose/kong/kong.yml from the application's routes (checked by make lint)
kong-config: $(RUNTIME)
	$(BIN)/waddlebot gateway kong-config --output deploy/compose/kong/kong.yml

## bench: every goal of issue #16, one benchmark after another, each printing its table (results in the README)
bench: $(DEV)
	$(BIN)/python benchmarks/goals.py $(ARGS)

## bench-playground: the playground throughput benchmark alone (ARGS="--backend distributed", ...)
bench-playground: $(DEV)
	$(BIN)/python benchmarks/playground_throughput.py $(ARGS)

## bench-twitch: signed EventSub !ping -> Helix reply on PostgreSQL + Redis, two routers (results in the README)
bench-twitch: $(DEV)
	$(BIN)/python benchmarks/twitch_eventsub.py $(ARGS)

## bench-compare: ours and the peers (../shared/peer-bench) side by side in one run, with ratios
bench-compare: $(DEV)
	$(BIN)/python benchmarks/compare.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
