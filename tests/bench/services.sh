#!/usr/bin/env bash
# Start-up time and idle memory of the four services and the gateway.
#
#   tests/bench/services.sh BUILD_DIR [--runs N] [--summary FILE]
#
# 1. A private Postgres (deploy/local/pg.sh, --fast) on a free port in a
#    temporary directory under /tmp, then `svc-session --migrate`.
# 2. Start-to-ready of svc-session, svc-retrieval, svc-llm, svc-indexer:
#    BUILD_DIR/bench/health_probe execs the service and polls Health
#    (rpc_call_sync every 1 ms) until it answers OK and ready; N runs each
#    (default 5), the median is reported. The gateway likewise, until
#    GET /healthz answers 200.
# 3. Idle RSS: the four services and the gateway running together, VmRSS
#    from /proc/PID/status after 2 s idle (goal <= 10 MB each).
# Everything started here (services, Postgres, the temporary directory) is
# stopped and removed on exit, also on failure or interruption.
# The programs get a random SESSION_SECRET, offline/local providers and no
# index sources, so that they start idle and never reach the network.
# --summary FILE writes the figures as key=value lines (for run.sh).
# Exit status: 0 when every measurement was taken, 1 otherwise.
set -euo pipefail

usage() { echo "usage: services.sh BUILD_DIR [--runs N] [--summary FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$1; shift
RUNS=5
SUMMARY=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=${2:?}; shift 2 ;;
    --summary) SUMMARY=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bin
PROBE=$BUILD/bench/health_probe
PG=$ROOT/deploy/local/pg.sh
FREE_PORT=$ROOT/scripts/free-port.sh
IDLE_SECS=2
RSS_GOAL_MB=10
SERVICES=(session retrieval llm indexer)

for f in "$PROBE" "$BIN/gateway" "${SERVICES[@]/#/$BIN/svc-}"; do
  [ -x "$f" ] || { echo "services.sh: $f is missing (run make all bench first)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/chat-bench-services.XXXXXX)
pids=()
pg_started=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    # Up to 5 s for a clean stop, then SIGKILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$pg_started" = 1 ]; then
    "$PG" stop "$work/pg" || true
  fi
  if [ "$rc" -ne 0 ] && [ -d "$work/logs" ]; then
    echo "services.sh: failed (status $rc); last log lines:" >&2
    for f in "$work"/logs/*.log; do
      [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -5 "$f" >&2; }
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

summary() { [ -z "$SUMMARY" ] || echo "$1=$2" >>"$SUMMARY"; }
[ -z "$SUMMARY" ] || : >"$SUMMARY"

median() { sort -n | awk '{v[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }

mkdir -p "$work/logs"

# --- Postgres ---------------------------------------------------------------
pg_port=$("$FREE_PORT")
pg_started=1
DATABASE_URL=$("$PG" start "$work/pg" "$pg_port" --fast)
export DATABASE_URL
"$BIN/svc-session" --migrate >"$work/logs/migrate.log" 2>&1 || {
  echo "services.sh: svc-session --migrate failed:" >&2; cat "$work/logs/migrate.log" >&2; exit 1; }

# --- distinct ports -----------------------------------------------------------
declare -A URL_VAR=([session]=SESSION_URL [retrieval]=RETRIEVAL_URL [llm]=LLM_URL [indexer]=INDEXER_URL)
used=" $pg_port "
new_port() {
  local p
  for _ in $(seq 50); do
    p=$("$FREE_PORT")
    case "$used" in *" $p "*) continue ;; esac
    used="$used$p "; echo "$p"; return 0
  done
  echo "services.sh: no free port" >&2; return 1
}
for s in "${SERVICES[@]}"; do
  p=$(new_port)
  export "${URL_VAR[$s]}=tcp://127.0.0.1:$p"
done
HTTP_PORT=$(new_port)
export HTTP_PORT
export LOG_LEVEL=info
# What the programs need to start, and nothing that would make them work at
# start-up or reach the network: offline/local providers, no index sources.
SESSION_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
export SESSION_SECRET LLM_PROVIDER=offline EMBEDDING_PROVIDER=local
unset ANTHROPIC_API_KEY OPENAI_API_KEY INDEX_SOURCES INDEX_INTERVAL IP_HASH_SECRET

echo "services: Postgres on 127.0.0.1:$pg_port ($work/pg); SESSION_URL=$SESSION_URL RETRIEVAL_URL=$RETRIEVAL_URL"
echo "          LLM_URL=$LLM_URL INDEXER_URL=$INDEXER_URL gateway HTTP_PORT=$HTTP_PORT"

# --- start-to-ready -------------------------------------------------------------
echo
echo "Start-to-ready: exec -> first Health answered OK and ready (gateway: GET /healthz 200); $RUNS runs, ms"
printf '   %-14s %-44s %8s %8s %8s\n' "program" "runs" "median" "in-main" "stop"
measure() { # name, probe args..., -- program
  local name=$1; shift
  local runs=() stops=() line ms
  for _ in $(seq "$RUNS"); do
    line=$("$PROBE" --timeout 20000 --log "$work/logs/$name.log" "$@") || {
      echo "services.sh: $name did not become ready" >&2; return 1; }
    case "$line" in *" exit=0 "*) ;; *) echo "services.sh: $name did not stop cleanly: $line" >&2; return 1 ;; esac
    ms=${line#ready_ms=}; ms=${ms%% *}
    runs+=("$ms")
    stops+=("${line##*stop_ms=}")
  done
  local med stop
  med=$(printf '%s\n' "${runs[@]}" | median)
  stop=$(printf '%s\n' "${stops[@]}" | median)
  # What the program itself reports as its start-up (main to ready), last run.
  local inmain
  inmain=$(grep '"msg":"ready"' "$work/logs/$name.log" | tail -1 | sed -n 's/.*"startup_ms":"\([0-9.]*\)".*/\1/p')
  printf '   %-14s %-44s %8s %8s %8s\n' "$name" "${runs[*]}" "$med" "${inmain:-?}" "$stop"
  summary "start_ms_$name" "$med"
  summary "stop_ms_$name" "$stop"
}
for s in "${SERVICES[@]}"; do
  measure "svc-$s" --rpc "$s" -- "$BIN/svc-$s"
done
measure gateway --http "$HTTP_PORT" -- "$BIN/gateway"
echo "   (in-main: the program's own startup_ms from its ready log line, main() to ready, last run;"
echo "    stop: SIGTERM to exit, median)"

# --- idle RSS -----------------------------------------------------------------------
echo
echo "Idle RSS: the four services and the gateway running together, after ${IDLE_SECS} s idle"
declare -A PID
for s in "${SERVICES[@]}"; do
  "$BIN/svc-$s" >>"$work/logs/svc-$s.log" 2>&1 &
  PID[svc-$s]=$!; pids+=("$!")
done
for s in "${SERVICES[@]}"; do
  "$PROBE" --timeout 20000 --rpc "$s" --wait >/dev/null || { echo "services.sh: svc-$s not ready" >&2; exit 1; }
done
"$BIN/gateway" >>"$work/logs/gateway.log" 2>&1 &
PID[gateway]=$!; pids+=("$!")
"$PROBE" --timeout 20000 --http "$HTTP_PORT" --wait >/dev/null || { echo "services.sh: gateway not ready" >&2; exit 1; }
sleep "$IDLE_SECS"

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
printf '   %-14s %8s %8s %8s %8s %8s   %s\n' "program" "VmRSS" "anon" "file" "PSS" "threads" "VmRSS goal <= $RSS_GOAL_MB MB"
for name in "${SERVICES[@]/#/svc-}" gateway; do
  pid=${PID[$name]}
  st=/proc/$pid/status
  [ -r "$st" ] || { echo "services.sh: $name (pid $pid) is not running" >&2; exit 1; }
  read -r rss anon file threads < <(awk '/^VmRSS:/{r=$2} /^RssAnon:/{a=$2} /^RssFile:/{f=$2} /^Threads:/{t=$2}
                                         END {print r, a, f, t}' "$st")
  pss=$(awk '/^Pss:/ {print $2; exit}' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
  verdict=$(awk -v k="$rss" -v g="$RSS_GOAL_MB" 'BEGIN {print (k/1024 <= g) ? "met" : "NOT met"}')
  printf '   %-14s %5s MB %5s MB %5s MB %5s MB %8s   %s\n' "$name" "$(mb "$rss")" "$(mb "$anon")" "$(mb "$file")" \
    "$(mb "${pss:-0}")" "$threads" "$verdict"
  summary "rss_mb_$name" "$(mb "$rss")"
  summary "rss_anon_mb_$name" "$(mb "$anon")"
  summary "pss_mb_$name" "$(mb "${pss:-0}")"
done
echo "   (file: pages of the executable and shared libraries, mostly shared with the other programs;"
echo "    PSS: the process's proportional share of its pages, from /proc/PID/smaps_rollup)"
summary failed 0
