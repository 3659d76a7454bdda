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
"$BIN/pytest" "$@"
