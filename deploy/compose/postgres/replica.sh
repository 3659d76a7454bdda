#!/bin/sh
# The streaming read replica: clone the primary once (pg_basebackup --write-recovery-conf writes
# standby.signal and primary_conninfo), then run as a hot standby that follows it.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  export PGPASSWORD="$REPLICATION_PASSWORD"
  until pg_basebackup --host=postgres --username=replicator --pgdata="$PGDATA" \
      --write-recovery-conf --wal-method=stream --create-slot --slot=replica1; do
    echo "replica: waiting for the primary"
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
