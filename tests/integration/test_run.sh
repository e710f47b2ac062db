#!/usr/bin/env bash
# The local stack script (deploy/local/run.sh, behind `make run` / `make
# stop`), in a private RUN_DIR on free ports: it comes up ready; a stop from
# another terminal ends the waiting script (exit 0) and leaves no process
# behind; so does SIGTERM; a program that dies on its own ends it with exit
# 1 and the rest stopped.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
IT_BUILD=${1:-build/release}
IT_TMP=$(mktemp -d /tmp/chat-it-run.XXXXXX)
mkdir -p "$IT_TMP/logs"
RUNSH="$IT_ROOT/deploy/local/run.sh"
RUN_PID=
run_teardown() {
  it_unbound
  [ -n "$RUN_PID" ] && kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  RUN_DIR="$IT_TMP/run" "$RUNSH" --stop >/dev/null 2>&1
  if [ "$IT_FAILED" -gt 0 ]; then echo "logs kept in $IT_TMP"; else rm -rf "$IT_TMP"; fi
}
trap run_teardown EXIT
it_bound "${IT_TIMEOUT:-600}"

if [ "$(readlink -f "$IT_ROOT/build/bin/gateway")" != "$(readlink -f "$IT_ROOT/$IT_BUILD/bin/gateway")" ]; then
  it_fail "build/bin points at $IT_BUILD" "run make first"; it_summary; exit 1
fi
export RUN_DIR="$IT_TMP/run"
unset DATABASE_URL SESSION_URL RETRIEVAL_URL LLM_URL INDEXER_URL
# free-port.sh never hands out a port of the kernel's ephemeral range (an
# outgoing connection may hold it; a listener on it then fails "Address in
# use": seen as svc-indexer failing to start in test_knowledge.sh).
read -r eph_lo eph_hi < /proc/sys/net/ipv4/ip_local_port_range
eph_hits=0
for _ in $(seq 1 50); do p=$("$IT_ROOT/scripts/free-port.sh" $((eph_lo - 20)) $((eph_lo + 500))); [ "$p" -ge "$eph_lo" ] && eph_hits=$((eph_hits + 1)); done
it_check "free-port.sh keeps out of the ephemeral range ($eph_lo-$eph_hi)" test "$eph_hits" = 0
HTTP_PORT=$("$IT_ROOT/scripts/free-port.sh" 18000 19999)
PG_PORT=$("$IT_ROOT/scripts/free-port.sh")
export HTTP_PORT PG_PORT

# start_stack: run.sh in the background; waits until it says the stack is
# running (its own readiness wait is over: /readyz alone could answer 200
# while run.sh still counts a program's exit as a failed start) and /readyz
# answers 200.
start_stack() {
  : > "$IT_TMP/logs/run.log.now"
  HTTP_PORT=$HTTP_PORT PG_PORT=$PG_PORT "$RUNSH" > >(tee -a "$IT_TMP/logs/run.log" > "$IT_TMP/logs/run.log.now") 2>&1 &
  RUN_PID=$!
  it_step "waiting for the local stack to be ready"
  for _ in $(seq 1 600); do
    grep -q 'The chat system is running' "$IT_TMP/logs/run.log.now" &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz")" = 200 ] && return 0
    kill -0 "$RUN_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# stack_pids: the programs the stack runs, from its pid files.
stack_pids() { cat "$RUN_DIR"/pids/*.pid 2>/dev/null | tr '\n' ' '; }
# exits_within SECS: the background run.sh ends within SECS; its status in RUN_RC.
exits_within() {
  it_step "waiting up to $1 s for run.sh to exit"
  for _ in $(seq 1 $(($1 * 10))); do
    if ! kill -0 "$RUN_PID" 2>/dev/null; then wait "$RUN_PID"; RUN_RC=$?; RUN_PID=; return 0; fi
    sleep 0.1
  done
  return 1
}
# logged TEXT: run.log has TEXT (tee may write the last lines a moment after
# run.sh exits).
logged() { for _ in $(seq 1 30); do grep -q "$1" "$IT_TMP/logs/run.log" && return 0; sleep 0.1; done; return 1; }
none_alive() { local p; for p in $1; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
pg_down() { ! "$IT_ROOT/deploy/local/pg.sh" status "$RUN_DIR/pg" >/dev/null 2>&1; }

# --- a stop from another terminal ----------------------------------------------
it_check "the stack comes up ready" start_stack
pids=$(stack_pids)
it_check "five programs are running" test "$(wc -w <<<"$pids")" = 5
RUN_DIR="$RUN_DIR" "$RUNSH" --stop >>"$IT_TMP/logs/stop.log" 2>&1
it_check "run.sh exits after make stop" exits_within 15
it_check "... with status 0" test "${RUN_RC:-x}" = 0
it_check "... saying it was stopped from elsewhere" logged 'stopped from elsewhere'
it_check "no program is left running" none_alive "$pids"
it_check "Postgres is stopped" pg_down

# --- SIGTERM to the waiting script -----------------------------------------------
it_check "the stack comes up again" start_stack
pids=$(stack_pids)
kill -TERM "$RUN_PID"
it_check "run.sh exits on SIGTERM" exits_within 15
it_check "... with status 0" test "${RUN_RC:-x}" = 0
it_check "no program is left running after SIGTERM" none_alive "$pids"
it_check "Postgres is stopped after SIGTERM" pg_down

# --- a program dies on its own -------------------------------------------------
it_check "the stack comes up a third time" start_stack
pids=$(stack_pids)
kill -KILL "$(cat "$RUN_DIR/pids/svc-llm.pid")"
it_check "run.sh exits when a program dies" exits_within 15
it_check "... with status 1" test "${RUN_RC:-x}" = 1
it_check "... naming it" logged 'svc-llm stopped unexpectedly'
it_check "the other programs are stopped" none_alive "$pids"
it_check "Postgres is stopped after the crash" pg_down

cp "$RUN_DIR"/logs/*.log "$IT_TMP/logs/" 2>/dev/null
it_summary
