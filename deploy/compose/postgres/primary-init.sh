#!/bin/sh
# First start of the primary (docker-entrypoint-initdb.d): the role the replica streams WAL as,
# the pg_hba line that lets it connect for replication, and Kong's own database.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
CREATE DATABASE kong OWNER waddlebot;
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
