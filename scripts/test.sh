#!/usr/bin/env bash
# The whole check: lint, types, then the test suite against real PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"

source scripts/services.sh

echo "== ruff"
"$BIN/ruff" check src tests benchmarks examples
"$BIN/ruff" format --check src tests benchmarks examples
echo "== mypy"
"$BIN/mypy"
echo "== pytest (database: ${WADDLEBOT_TEST_DATABASE_URL:-sqlite only}, redis: ${WADDLEBOT_TEST_REDIS_URL:-memory only})"
# In parallel (pytest-xdist): the tests wait on sockets, processes and browsers far more than
# they compute, so more workers than cores pays. Tests in one xdist_group share a worker.
"$BIN/pytest" -n "${WADDLEBOT_TEST_WORKERS:-4}" --dist loadgroup --durations=25 "$@"
