#!/usr/bin/env bash
# A throwaway streaming replica of the local PostgreSQL (127.0.0.1:5432), for the tests.
#
#   scripts/replica.sh start DIR [PORT]   base backup into DIR/data (pg_basebackup -R), start
#                                         it on PORT (default: the first free from 5433) and
#                                         print its URL on stdout once it accepts connections
#   scripts/replica.sh stop DIR           stop it (fast) and remove DIR
#
# PostgreSQL's tools refuse to run as root: as root they run as the postgres user (runuser),
# like scripts/services.sh starts the cluster. The primary must accept replication
# connections from 127.0.0.1: when pg_hba.conf has no such line and we may write it, one
# line (trust, user postgres, 127.0.0.1/32: what the "host all" line already grants) is
# added and the configuration reloaded — no restart. wal_level or max_wal_senders too low
# would need a restart: that is reported, never done.
set -euo pipefail

PRIMARY_HOST=127.0.0.1
PRIMARY_PORT="${WADDLEBOT_TEST_PRIMARY_PORT:-5432}"

bindir() {
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/pg_basebackup" ]; then
    pg_config --bindir
    return
  fi
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$dir" ] && [ -x "$dir/pg_basebackup" ] || { echo "replica: pg_basebackup not found" >&2; return 1; }
  echo "$dir"
}

as_pg() {  # run a PostgreSQL tool as its owner when we are root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

primary_sql() { psql -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -d postgres -Atqc "$1"; }

replication_allowed() {
  psql "host=$PRIMARY_HOST port=$PRIMARY_PORT user=postgres dbname=postgres replication=true" \
    -Atqc "IDENTIFY_SYSTEM" >/dev/null 2>&1
}

allow_replication() {
  local level senders hba
  level="$(primary_sql 'SHOW wal_level')"
  senders="$(primary_sql 'SHOW max_wal_senders')"
  if [ "$level" = minimal ] || [ "$senders" = 0 ]; then
    echo "replica: the primary has wal_level=$level, max_wal_senders=$senders;" \
      "streaming needs wal_level=replica and max_wal_senders>0 (a restart)" >&2
    return 1
  fi
  replication_allowed && return 0
  hba="$(primary_sql 'SHOW hba_file')"
  if [ ! -w "$hba" ]; then
    echo "replica: $hba allows no replication connection from $PRIMARY_HOST and is not" \
      "writable here; add: host replication postgres $PRIMARY_HOST/32 trust" >&2
    return 1
  fi
  echo "replica: allowing replication connections from $PRIMARY_HOST in $hba (reload)" >&2
  printf '\n%s\n%s\n' "# added by WaddleBot's scripts/replica.sh: test replicas stream from here" \
    "host replication postgres $PRIMARY_HOST/32 trust" >>"$hba"
  primary_sql 'SELECT pg_reload_conf()' >/dev/null
  local i
  for i in 1 2 3 4 5; do replication_allowed && return 0; sleep 0.5; done
  echo "replica: replication connections still refused after the reload" >&2
  return 1
}

free_port() {
  local port
  for port in $(seq 5433 5532); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "replica: no free port in 5433-5532" >&2
  return 1
}

write_config() {  # write_config DIR PORT
  local dir="$1" port="$2" setting
  # Debian keeps the configuration outside the data directory: give the copy its own.
  # A hot standby needs these at least as high as on the primary.
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "hot_standby = on"
    echo "hba_file = '$dir/data/pg_hba.conf'"
    echo "ident_file = '$dir/data/pg_ident.conf'"
    echo "fsync = off"
    echo "shared_buffers = 32MB"
    for setting in max_connections max_worker_processes max_wal_senders \
      max_prepared_transactions max_locks_per_transaction; do
      echo "$setting = $(primary_sql "SHOW $setting")"
    done
  } | as_pg tee "$dir/data/postgresql.conf" >/dev/null
}

start() {
  local dir="$1" port="${2:-}" bin
  bin="$(bindir)"
  [ -n "$port" ] || port="$(free_port)"
  allow_replication
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  chmod 700 "$dir"
  as_pg "$bin/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres \
    -D "$dir/data" -R -X stream --checkpoint=fast --no-sync
  printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" \
    | as_pg tee "$dir/data/pg_hba.conf" >/dev/null
  as_pg touch "$dir/data/pg_ident.conf"
  for _ in 1 2 3; do  # another run may take the free port first: try the next one
    write_config "$dir" "$port"
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/replica.log" -w -t 60 start >/dev/null; then
      echo "postgresql://postgres@127.0.0.1:$port/postgres"
      return 0
    fi
    port="$(free_port)"
  done
  echo "replica: did not start; see $dir/replica.log" >&2
  return 1
}

stop() {
  local dir="$1" bin
  [ -d "$dir" ] || return 0
  bin="$(bindir)"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
