# The two commands: `make run` starts WaddleBot, `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/waddlebot: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## run: install into .venv and start every service on http://127.0.0.1:8000
run: $(BIN)/waddlebot
	$(BIN)/waddlebot up $(ARGS)

## test: lint, type-check and run the whole suite (starts local PostgreSQL/Redis if stopped)
test: $(BIN)/waddlebot
	bash scripts/test.sh

lint: $(BIN)/waddlebot
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

## bench: the playground throughput benchmark (results in the README)
bench: $(BIN)/waddlebot
	$(BIN)/python benchmarks/playground_throughput.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
