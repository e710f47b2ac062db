# The chat stack for the load benchmarks, as real processes: a private
# Postgres with kb/ indexed, svc-session, svc-retrieval, svc-llm and the
# gateway on free ports. Sourced (not run) by tests/bench/bench_chat.sh and
# tests/bench/bench_limits.sh.
#
# The sourcing script sets, before it sources this file:
#   STACK_NAME  its name in messages ("bench_chat.sh")
#   ROOT        the repository; BUILD  the build directory (absolute)
#   SUMMARY     a file the key=value lines are appended to on exit, or empty
# and then calls, in this order:
#   stack_begin PREFIX   a work directory /tmp/PREFIX.XXXXXX, the traps
#   stack_postgres       Postgres (deploy/local/pg.sh --fast), migrations, kb/
#                        indexed; sets DATABASE_URL, PG_PID, chunks, t0
#   stack_env            free ports for the four services and the gateway
#                        (SESSION_URL, ..., HTTP_PORT), a random
#                        SESSION_SECRET, LOG_LEVEL=warn, the local embedder,
#                        no API key, no index sources
# then starts what it needs: start_rpc, restart_llm, restart_gateway.
# Every process started through start (PID[name]) and Postgres are stopped,
# and the work directory removed, on exit, also on failure or a signal; a
# failure prints the last lines of every log first.
#
# Settings every start gets (the why is in bench_chat.sh's header):
#   svc-llm  RPC_CONTEXTS=4096 (restart_llm)
#   gateway  HTTP_MAX_CONNECTIONS=16384 HEARTBEAT_INTERVAL=2s
#            ALLOWED_ORIGINS=http://127.0.0.1 (restart_gateway)
# shellcheck shell=bash

BIN=$BUILD/bin
BENCH=$BUILD/bench/bench_chat
PROBE=$BUILD/bench/health_probe
PG=$ROOT/deploy/local/pg.sh
FREE_PORT=$ROOT/scripts/free-port.sh
declare -A PID=()
pg_started=0
work=
S=

stop_pid() { # pid: TERM, up to 5 s, then KILL
  local p=$1
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

stack_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local name
  for name in "${!PID[@]}"; do stop_pid "${PID[$name]}"; done
  [ "$pg_started" = 1 ] && "$PG" stop "$work/pg" >/dev/null 2>&1
  if [ "$rc" -ne 0 ] && [ -d "$work/logs" ]; then
    echo "$STACK_NAME: failed (status $rc); last log lines:" >&2
    for f in "$work"/logs/*.log; do
      [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -5 "$f" >&2; }
    done
  fi
  [ -n "$SUMMARY" ] && [ -s "$S" ] && cat "$S" >>"$SUMMARY"
  [ -n "$work" ] && rm -rf "$work"
  exit "$rc"
}

summ() { echo "$1=$2" >>"$S"; }
fail() { echo "$STACK_NAME: $*" >&2; exit 1; }

stack_begin() { # prefix of the work directory's name
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  mkdir -p "$work/logs"
  S=$work/summary.txt
  : >"$S"
  trap stack_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

stack_postgres() {
  t0=$(date +%s.%N)
  pg_port=$("$FREE_PORT")
  used=" $pg_port "
  pg_started=1
  DATABASE_URL=$("$PG" start "$work/pg" "$pg_port" --fast) || fail "Postgres did not start"
  export DATABASE_URL
  PG_PID=$(head -1 "$work/pg/data/postmaster.pid")
  "$BIN/svc-session" --migrate >"$work/logs/migrate.log" 2>&1 || fail "svc-session --migrate failed"
  KB_BASE_URL=https://quorvia.example "$BIN/svc-indexer" index "$ROOT/kb" >"$work/logs/index.log" 2>&1 \
    || fail "indexing kb/ failed"
  chunks=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM kb_chunks" 2>/dev/null || echo "?")
}

new_port() {
  local p
  for _ in $(seq 50); do
    p=$("$FREE_PORT")
    case "$used" in *" $p "*) continue ;; esac
    used="$used$p "; echo "$p"; return 0
  done
  fail "no free port"
}

stack_env() {
  export SESSION_URL="tcp://127.0.0.1:$(new_port)"
  export RETRIEVAL_URL="tcp://127.0.0.1:$(new_port)"
  export LLM_URL="tcp://127.0.0.1:$(new_port)"
  export INDEXER_URL="tcp://127.0.0.1:$(new_port)"
  HTTP_PORT=$(new_port)
  export HTTP_PORT LOG_LEVEL=warn
  SESSION_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
  export SESSION_SECRET EMBEDDING_PROVIDER=local
  unset ANTHROPIC_API_KEY OPENAI_API_KEY INDEX_SOURCES INDEX_INTERVAL IP_HASH_SECRET LLM_PROVIDER
}

start() { # name [VAR=value...]: starts BIN/name with extra environment
  local name=$1; shift
  env "$@" "$BIN/$name" >>"$work/logs/$name.log" 2>&1 &
  PID[$name]=$!
}
# up NAME PROBE-ARGS...: waits until NAME answers; 1 when it exited meanwhile
# (its port was taken between free-port.sh and its bind: the machine is
# shared), fails the run when it runs but does not answer within 20 s.
up() {
  local name=$1; shift
  for _ in $(seq 40); do
    kill -0 "${PID[$name]}" 2>/dev/null || { wait "${PID[$name]}" 2>/dev/null; return 1; }
    "$PROBE" --timeout 500 "$@" --wait >/dev/null 2>&1 && return 0
  done
  fail "$name not ready"
}
start_rpc() { # name URL-variable [VAR=value...]: starts svc-name, on a new port if its own was taken
  local name=$1 var=$2; shift 2
  for _ in 1 2 3; do
    start "svc-$name" "$@"
    up "svc-$name" --rpc "$name" && return 0
    export "$var=tcp://127.0.0.1:$(new_port)"
  done
  fail "svc-$name could not start (see its log)"
}
restart_rpc() { # name URL-variable [VAR=value...]: stops svc-name, then start_rpc
  stop_pid "${PID[svc-$1]:-}"
  start_rpc "$@"
}
restart_llm() { # VAR=value... (the gateway is restarted after it, so a new LLM_URL is picked up)
  restart_rpc llm LLM_URL RPC_CONTEXTS=4096 "$@"
}
restart_gateway() { # VAR=value...
  stop_pid "${PID[gateway]:-}"
  local ok=0
  for _ in 1 2 3; do
    start gateway HTTP_MAX_CONNECTIONS=16384 HEARTBEAT_INTERVAL=2s ALLOWED_ORIGINS=http://127.0.0.1 "$@"
    up gateway --http "$HTTP_PORT" && { ok=1; break; }
    HTTP_PORT=$(new_port); export HTTP_PORT
  done
  [ $ok = 1 ] || fail "the gateway could not start (see its log)"
  # wait until the gateway's clients are connected to the three services
  for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$HTTP_PORT/readyz" \
      | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1 \
      && break
    sleep 0.05
  done
}
run_bg() { # program args...: runs it in the background and waits (so a signal reaches the trap at once)
  "$@" &
  PID[bench]=$!
  wait "${PID[bench]}"
  local rc=$?
  unset "PID[bench]"
  return $rc
}
bench() { run_bg "$BENCH" "$@"; } # bench_chat MODE args...
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null; }
cpu_args() { # the processes whose CPU bench_chat reports [, more name=PID]
  local a="gateway=${PID[gateway]},svc-session=${PID[svc-session]},svc-retrieval=${PID[svc-retrieval]}"
  a="$a,svc-llm=${PID[svc-llm]},postgres=$PG_PID+"
  [ -n "${1:-}" ] && a="$a,$1"
  echo "$a"
}
