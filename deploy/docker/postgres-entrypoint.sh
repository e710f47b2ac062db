#!/bin/sh
# Entrypoint of the Postgres 15 + pgvector image (runs as the postgres user).
# First start (empty $PGDATA): initdb, a password for POSTGRES_USER (the same
# variable names as the official postgres image: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB), remote logins by scram-sha-256, and
# CREATE EXTENSION vector in POSTGRES_DB. Then Postgres in the foreground;
# SIGINT (the image's STOPSIGNAL) is its fast shutdown.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=chat}" "${POSTGRES_DB:=chat}" "${PGPORT:=5432}"
BIN=/usr/lib/postgresql/15/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD is required for a new database" >&2; exit 2
  fi
  pw=$(mktemp); printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
  "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '${POSTGRES_LISTEN:-*}'
port = $PGPORT
unix_socket_directories = '/var/run/postgresql'
max_connections = 200
CONF
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  [ "$POSTGRES_DB" = postgres ] || "$BIN/createdb" -U "$POSTGRES_USER" "$POSTGRES_DB"
  "$BIN/psql" -qX -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c 'CREATE EXTENSION IF NOT EXISTS vector' >/dev/null
  "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres-entrypoint: initialised $PGDATA (database $POSTGRES_DB, user $POSTGRES_USER, pgvector)"
fi
exec "$BIN/postgres" -D "$PGDATA" "$@"
