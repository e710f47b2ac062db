#!/usr/bin/env bash
# The local stack (make run): a private Postgres under .run/, migrations,
# the four services and the gateway in the background with logs under
# .run/logs/, and .run/env for `source .run/env`. Ctrl-C stops everything.
#
#   deploy/local/run.sh           start and wait (Ctrl-C stops)
#   deploy/local/run.sh --stop    stop a stack started elsewhere
#
# Settings (environment): HTTP_PORT (8080), PG_PORT (55432, or a free one),
# RUN_DIR (.run), LLM_PROVIDER, ANTHROPIC_API_KEY, EMBEDDING_PROVIDER, ...
# (see docs/configuration.md).
#
# The waiting script exits 0 when the stack is stopped from elsewhere
# (`make stop` removes .run/stack.pid), and 1 when a program dies on its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
RUN=${RUN_DIR:-$root/.run}
BIN="$root/build/bin"
pidfile="$RUN/stack.pid"
SERVICES=(svc-session svc-retrieval svc-llm svc-indexer)

say() { printf '[run] %s\n' "$*"; }

stop_stack() {
  local pids=()
  # First, so that a waiting run.sh sees a stop from elsewhere, not a crash.
  rm -f "$pidfile"
  for f in "$RUN"/pids/*.pid; do
    [ -f "$f" ] || continue
    pids+=("$(cat "$f")")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  rm -f "$RUN"/pids/*.pid
  "$root/deploy/local/pg.sh" stop "$RUN/pg" || true
}

if [ "${1:-}" = "--stop" ]; then
  stop_stack; say "stopped"; exit 0
fi

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  port=$(sed -n 's/^export HTTP_PORT=//p' "$RUN/env" 2>/dev/null || echo 8080)
  say "a stack is already running (pid $(cat "$pidfile")): open http://127.0.0.1:$port/"
  say "stop it with Ctrl-C in its terminal, or: make stop"
  exit 1
fi
# A stale pid file (killed with -9): clean what it left.
[ -f "$pidfile" ] && stop_stack

HTTP_PORT=${HTTP_PORT:-8080}
if ss -Htln "sport = :$HTTP_PORT" | grep -q .; then
  say "port $HTTP_PORT is already in use by another program; choose another: make run HTTP_PORT=8081"
  exit 1
fi
PG_PORT=${PG_PORT:-55432}
if ss -Htln "sport = :$PG_PORT" | grep -q . && ! "$root/deploy/local/pg.sh" status "$RUN/pg" >/dev/null 2>&1; then
  PG_PORT=$("$root/scripts/free-port.sh")
fi
# RPC ports: the defaults unless taken.
pick() { if ss -Htln "sport = :$1" | grep -q .; then "$root/scripts/free-port.sh"; else echo "$1"; fi; }

mkdir -p "$RUN/logs" "$RUN/pids"
echo $$ > "$pidfile"
trap 'say "stopping..."; stop_stack; say "stopped"; exit 0' INT TERM
trap 'stop_stack' EXIT

say "starting Postgres (private cluster in .run/pg, port $PG_PORT)"
DATABASE_URL=$("$root/deploy/local/pg.sh" start "$RUN/pg" "$PG_PORT")

# One secret per local stack, kept across runs so sessions survive a restart.
[ -s "$RUN/secret" ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$RUN/secret"
chmod 600 "$RUN/secret"

cat > "$RUN/env" <<ENV
# Settings of the running local stack: source .run/env
export DATABASE_URL=$DATABASE_URL
export SESSION_URL=tcp://127.0.0.1:$(pick 7101)
export RETRIEVAL_URL=tcp://127.0.0.1:$(pick 7102)
export LLM_URL=tcp://127.0.0.1:$(pick 7103)
export INDEXER_URL=tcp://127.0.0.1:$(pick 7104)
export HTTP_PORT=$HTTP_PORT
export SESSION_SECRET=$(cat "$RUN/secret")
export ALLOWED_ORIGINS=${ALLOWED_ORIGINS:-http://127.0.0.1:$HTTP_PORT,http://localhost:$HTTP_PORT}
export KB_BASE_URL=${KB_BASE_URL:-https://quorvia.example}
export WIDGET_DIR=$root/widget
export INDEX_SOURCES=${INDEX_SOURCES:-$root/kb}
export PATH="$BIN:\$PATH"
ENV
# shellcheck disable=SC1091
source "$RUN/env"

say "migrating the database"
"$BIN/svc-session" --migrate > "$RUN/logs/migrate.log" 2>&1 || { cat "$RUN/logs/migrate.log"; exit 1; }

say "indexing the knowledge base ($INDEX_SOURCES)"
# shellcheck disable=SC2086
if ! "$BIN/svc-indexer" index $INDEX_SOURCES > "$RUN/logs/index.log" 2>&1; then
  say "indexing reported problems (see .run/logs/index.log):"; tail -5 "$RUN/logs/index.log"
fi
head -2 "$RUN/logs/index.log" | sed 's/^/[run]   /'

declare -A PID
start() {
  local name=$1
  "$BIN/$name" >> "$RUN/logs/$name.log" 2>&1 &
  PID[$name]=$!
  echo $! > "$RUN/pids/$name.pid"
}
for s in "${SERVICES[@]}"; do start "$s"; done
start gateway

say "waiting for every service to be ready"
ready=0
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
  for s in "${SERVICES[@]}" gateway; do
    if ! kill -0 "${PID[$s]}" 2>/dev/null; then
      say "$s exited during start-up; its log ($RUN/logs/$s.log):"; tail -5 "$RUN/logs/$s.log"; exit 1
    fi
  done
  sleep 0.1
done
if [ $ready -ne 1 ]; then
  say "not ready after 15 s:"; curl -sS "http://127.0.0.1:$HTTP_PORT/readyz" || true; echo; exit 1
fi

cat <<MSG

  The chat system is running.
    Open:      http://127.0.0.1:$HTTP_PORT/demo     (a company site with the chat widget)
    Ready:     http://127.0.0.1:$HTTP_PORT/readyz   (every service's state)
    Health:    http://127.0.0.1:$HTTP_PORT/healthz
    Logs:      .run/logs/    (one JSON line per event)
    CLI tools: source .run/env    (DATABASE_URL, service URLs, PATH)
  Press Ctrl-C to stop everything.

MSG
# Wait until a program dies or we are told to stop. The pids are the ones
# this script started (never read back from files another command may have
# removed: an empty pid would make `kill -0` signal our own group and wait
# forever).
while :; do
  # The stopping command cleans up; this one only leaves.
  if [ ! -f "$pidfile" ]; then
    trap - EXIT INT TERM; say "stopped from elsewhere (make stop)"; exit 0
  fi
  for s in "${SERVICES[@]}" gateway; do
    if ! kill -0 "${PID[$s]}" 2>/dev/null; then
      [ -f "$pidfile" ] || { trap - EXIT INT TERM; say "stopped from elsewhere (make stop)"; exit 0; }
      say "$s stopped unexpectedly; see $RUN/logs/$s.log"; tail -5 "$RUN/logs/$s.log"; exit 1
    fi
  done
  sleep 1 &
  wait $! || true
done
