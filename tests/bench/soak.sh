#!/usr/bin/env bash
# Sustained load (make soak): the whole chat stack as real processes
# (tests/bench/stack.sh; offline model, instant), every setting at its
# default except the per-IP limits (every visitor is 127.0.0.1) and the
# token budgets (they would refuse the run). First 200 conversations in a
# closed loop for a short while give the saturation rate; then the same 200
# conversations with a think time between turns chosen for about 80 % of it
# (bench_chat turns --think-ms) run for SECONDS (default 600). Every 15 s the
# resident memory of each process is sampled.
#
#   tests/bench/soak.sh BUILD_DIR [--seconds N] [--summary FILE]
#
# Passes (exit 0) when the run ends with zero errors and memory is flat:
# between the sample at half time and the last one no process grew more
# than 10 % plus 4 MB (the first half covers the gateway filling its bounded
# store of finished turns, TURN_RETAIN 5m / TURN_RETAIN_BYTES 64 MiB). Prints
# the offered and achieved rate, TTFT, errors and every process's memory.
set -uo pipefail

usage() { echo "usage: soak.sh BUILD_DIR [--seconds N] [--summary FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$1; shift
SUMMARY=
SECS=600
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECS=${2:?}; shift 2 ;;
    --summary) SUMMARY=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
STACK_NAME=soak.sh
# shellcheck source=tests/bench/stack.sh
. "$ROOT/tests/bench/stack.sh"
for f in "$BENCH" "$PROBE" "$BIN/gateway" "$BIN/svc-session" "$BIN/svc-retrieval" "$BIN/svc-llm" "$BIN/svc-indexer"; do
  [ -x "$f" ] || { echo "soak.sh: $f is missing (make bench builds it)" >&2; exit 1; }
done

stack_begin chat-soak
stack_postgres
stack_env
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off HTTP_MAX_CONNECTIONS_PER_IP=0 SESSION_TURNS_PER_MINUTE=10000
export LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=0
start_rpc session SESSION_URL RPC_CONTEXTS=1024 SESSION_MAX_TURNS=1000000 SESSION_DAILY_TOKENS=1000000000000 \
  GLOBAL_DAILY_TOKENS=1000000000000000 GLOBAL_DAILY_COST=1000000000 GLOBAL_MONTHLY_COST=1000000000 SESSION_MAX_TOKENS=1000000000000
start_rpc retrieval RETRIEVAL_URL RPC_CONTEXTS=1024
restart_llm
restart_gateway
CONC=200
echo "soak: Postgres 127.0.0.1:$pg_port (kb/: $chunks chunks), gateway :$HTTP_PORT; load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "-- saturation: $CONC conversations, closed loop, 10 s"
bench turns --port "$HTTP_PORT" --conc "$CONC" --duration 10 --warmup 3 --pool 2500 --tag sat --summary "$S" \
  | grep -E 'turns/s|errors' || fail "the saturation run failed"
sat=$(awk -F= '$1 == "sat_turns_per_s" {print $2}' "$S")
done_ms=$(awk -F= '$1 == "sat_done_p50_ms" {print $2}' "$S")
[ -n "$sat" ] && awk -v s="$sat" 'BEGIN {exit !(s > 0)}' || fail "no saturation rate measured"
# C conversations each waiting think ms plus a turn: rate ~ C / (think + turn)
think=$(awk -v c=$CONC -v s="$sat" 'BEGIN {printf "%.0f", c * 1000 / (0.8 * s)}')
echo "   saturation $sat turns/s (turn p50 $done_ms ms): think time $think ms for ~80 %"
summ saturation_turns_per_s "$sat"
summ think_ms "$think"

sample() { # one line: seconds since start, then each process's VmRSS in MB
  local line=$1 n
  for n in gateway svc-session svc-retrieval svc-llm; do line="$line $(rss_mb "${PID[$n]}")"; done
  echo "$line"
}
echo "-- soak: $CONC conversations for $SECS s, think $think ms"
(
  t=0
  while sleep 15; do t=$((t + 15)); sample "$t"; done
) >"$work/rss.txt" &
PID[sampler]=$!
sample 0 >"$work/rss0.txt"
bench turns --port "$HTTP_PORT" --conc "$CONC" --duration "$SECS" --warmup 5 --pool 20000 --think-ms "$think" \
  --turn-timeout 30 --tag soak --summary "$S" --cpu "$(cpu_args)" | grep -E 'turns/s|TTFT|errors|recorded' \
  || fail "the soak run failed"
stop_pid "${PID[sampler]}"
unset "PID[sampler]"
sample "end" >>"$work/rss.txt"

rate=$(awk -F= '$1 == "soak_turns_per_s" {print $2}' "$S")
errs=$(awk -F= '$1 == "soak_errors" {print $2}' "$S")
failed=$(awk -F= '$1 == "soak_failed" {print $2}' "$S")
echo "   achieved $rate turns/s = $(awk -v r="$rate" -v s="$sat" 'BEGIN {printf "%.0f", 100 * r / s}') % of saturation;" \
  "failed turns: $failed; errors: $errs"
echo "   resident memory (MB):   gateway svc-session svc-retrieval svc-llm"
n=$(wc -l <"$work/rss.txt")
half=$(sed -n "$(( (n + 1) / 2 ))p" "$work/rss.txt")
last=$(tail -1 "$work/rss.txt")
printf '   %-20s %s\n' "start" "$(cut -d' ' -f2- "$work/rss0.txt")" "half ($(cut -d' ' -f1 <<<"$half") s)" \
  "$(cut -d' ' -f2- <<<"$half")" "end" "$(cut -d' ' -f2- <<<"$last")"
flat=$(awk -v h="$half" -v l="$last" 'BEGIN {
  split(h, a, " "); split(l, b, " "); ok = 1
  for (i = 2; i <= 5; i++) if (b[i] > a[i] * 1.10 + 4) ok = 0
  print ok }')
summ soak_rss_half "$(cut -d' ' -f2- <<<"$half" | tr ' ' ',')"
summ soak_rss_end "$(cut -d' ' -f2- <<<"$last" | tr ' ' ',')"
summ soak_flat "$flat"
status=0
[ "$failed" = 0 ] && [ "$errs" = none ] || { echo "soak: FAILED: turns failed or errors ($errs)"; status=1; }
[ "$flat" = 1 ] || { echo "soak: FAILED: memory grew in the second half"; status=1; }
[ $status = 0 ] && echo "soak: passed: zero errors, memory flat in the second half"
exit $status
