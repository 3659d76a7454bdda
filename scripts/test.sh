#!/usr/bin/env bash
# The whole check: lint, types, then the test suite against real PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"

source scripts/services.sh

# A real streaming replica of the local PostgreSQL for the replica tests and the read paths of
# the distributed-stack tests (tests/conftest.py): removed when this script ends.
if [ -n "${WADDLEBOT_TEST_DATABASE_URL:-}" ] && [ -z "${WADDLEBOT_TEST_REPLICA_URL:-}" ]; then
  REPLICA_DIR="$(mktemp -d /tmp/waddlebot-replica.XXXXXX)"
  trap 'scripts/replica.sh stop "$REPLICA_DIR"' EXIT
  if replica_url="$(scripts/replica.sh start "$REPLICA_DIR")"; then
    export WADDLEBOT_TEST_REPLICA_URL="$replica_url"
  elif [ "${CI:-}" = "true" ]; then
    echo "FATAL: the PostgreSQL read replica did not start" >&2
    tail -n 20 "$REPLICA_DIR/replica.log" >&2 2>/dev/null || true
    exit 1
  else
    echo "warning: no PostgreSQL read replica; the replica tests will be skipped" >&2
  fi
fi

echo "== ruff"
"$BIN/ruff" check src tests benchmarks examples
"$BIN/ruff" format --check src tests benchmarks examples
echo "== mypy"
"$BIN/mypy"
echo "== import layers (import-linter: kernel <- sdk <- modules, collectors -/-> router)"
"$BIN/lint-imports"
echo "== pytest (database: ${WADDLEBOT_TEST_DATABASE_URL:-sqlite only}, replica: ${WADDLEBOT_TEST_REPLICA_URL:-none}, redis: ${WADDLEBOT_TEST_REDIS_URL:-memory only})"
# In parallel (pytest-xdist): the tests wait on sockets, processes and browsers far more than
# they compute, so more workers than cores pays. Tests in one xdist_group share a worker.
# Failures are reported with Python's own traceback format: pytest's default re-parses source
# with ast, and CPython 3.11 can then raise "AST constructor recursion depth mismatch"
# (python/cpython#106905, pytest-dev/pytest#10763), which crashed a worker and hid the failure
# it was reporting.
"$BIN/pytest" -n "${WADDLEBOT_TEST_WORKERS:-4}" --dist loadgroup --durations=25 --tb=native "$@"
