#!/usr/bin/env bash
# A private Postgres cluster for the local stack and the tests.
#
#   pg.sh start DIR PORT [--fast]   create (first time) and start a cluster in DIR,
#                                   listening on 127.0.0.1:PORT and a socket in DIR;
#                                   prints the DATABASE_URL
#   pg.sh stop DIR                  stop it (fast shutdown)
#   pg.sh status DIR
#
# No system service is touched. Postgres refuses to run as root, so when we
# are root the cluster runs as the unprivileged `postgres` user.
# --fast turns off fsync (tests only: a crash may lose the cluster).
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop|status DIR [PORT] [--fast]" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  port=${3:?port}
  fast=${4:-}
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir"
    # Every parent must be traversable by the postgres user.
    p="$dir"; while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$data" -U chat --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
maintenance_work_mem = 512MB
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
CONF
    if [ "$fast" = "--fast" ]; then
      printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$data/postgresql.conf"
    fi
  fi
  if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgresql://chat@127.0.0.1:$port/chat"; exit 0
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$data" -o "-p $port" -l "$dir/postgres.log" -w -t 30 start >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; exit 1; }
  as_pg "$PG_BIN/psql" -h "$dir" -p "$port" -U chat -d postgres -qAtc \
    "SELECT 1 FROM pg_database WHERE datname='chat'" | grep -q 1 \
    || as_pg "$PG_BIN/createdb" -h "$dir" -p "$port" -U chat chat
  echo "postgresql://chat@127.0.0.1:$port/chat"
  ;;
stop)
  if [ -s "$data/PG_VERSION" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
status)
  as_pg "$PG_BIN/pg_ctl" -D "$data" status
  ;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
