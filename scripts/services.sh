#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis the tests use are running, and export their URLs.
# Sourced by scripts/test.sh. Under CI=true a missing service is fatal; locally the tests that
# need it are skipped with a message instead.
set -u

PG_URL="${WADDLEBOT_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${WADDLEBOT_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"

pg_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }
redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() {  # wait_for CHECK SECONDS
  local i
  for i in $(seq 1 "$2"); do "$1" && return 0; sleep 1; done
  return 1
}

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    done
    wait_for pg_up 30 || true
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    wait_for redis_up 15 || true
  fi
fi

missing=()
if pg_up; then export WADDLEBOT_TEST_DATABASE_URL="$PG_URL"; else missing+=(PostgreSQL); fi
if redis_up; then export WADDLEBOT_TEST_REDIS_URL="$REDIS_URL"; else missing+=(Redis); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FATAL: ${missing[*]} not available on 127.0.0.1; CI needs both" >&2
    exit 1
  fi
  echo "warning: ${missing[*]} not running; their test variants will be skipped" >&2
fi
