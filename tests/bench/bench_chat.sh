#!/usr/bin/env bash
# Load benchmarks of the chat path: the whole stack as real processes
# (Postgres with kb/ indexed, svc-session, svc-retrieval, svc-llm, gateway),
# driven over HTTP/SSE by BUILD_DIR/bench/bench_chat (see bench_chat.c).
#
#   tests/bench/bench_chat.sh BUILD_DIR [--summary FILE] [--quick]
#
#   0. Baselines, same run: retrieval.Search, session.Begin+Commit and
#      llm.Generate+Poll alone (rpc_call_sync, 1 caller and 16 threads).
#   1. TTFT with a model that emits at once: LLM_PROVIDER=offline,
#      OFFLINE_TOKENS_PER_SECOND=0 (in-process) at 1, 50 and 200
#      conversations (closed loop), turns/s at saturation (200, and 400 for
#      a check) and CPU per turn of every process; then the fake Anthropic
#      server (tests/fakes/fake-apis.js, tokens_per_second 0) at 1 and 50.
#   2. Streams one gateway holds: 10,000 readers attached (resume endpoint)
#      to 20 turns (500 each) kept silent by the fake Anthropic
#      (first_token_delay_ms), HEARTBEAT_INTERVAL=2s: how many stay open,
#      heartbeats per stream, gateway RSS and CPU; then the answers are
#      released and we time how long each reader waits for `done` after the
#      first reader of its turn got it. And 1,000 conversations streaming at 30
#      words/s (offline provider, OFFLINE_TOKENS_PER_SECOND=30): RSS, CPU.
#   3. Token relay lag: by schedule in the 30 words/s run, and exactly with
#      `bench_chat fake-anthropic` (words are CLOCK_MONOTONIC stamps) at 100
#      and 1,000 concurrent streams of 30 words/s.
#
# Settings that differ from the defaults (and why):
#   svc-session  SESSION_MAX_TURNS=1000000 SESSION_DAILY_TOKENS=1e12
#                GLOBAL_DAILY_TOKENS=1e15 SESSION_MAX_TOKENS=1e12 and the cost
#                caps GLOBAL_DAILY_COST/GLOBAL_MONTHLY_COST=1e9 (the budgets
#                would refuse the benchmark: the baseline's Commits charge
#                a priced model and reached the default 50 a day),
#                RPC_CONTEXTS=1024 (up to 1,000 turns at once).
#   svc-retrieval RPC_CONTEXTS=1024.
#   svc-llm      RPC_CONTEXTS=4096: every running turn parks one long Poll in
#                the server (a deferred call holds its context until a delta
#                or 10 s); with the default 256, the Polls of turns beyond 256
#                that wait for a first token queue in the socket (seen: p99
#                TTFT 3.0 s instead of 2.4 s, 600 turns on a 2 s first token).
#                (MAX_GENERATIONS stays the default: a finished generation
#                goes GENERATION_DONE_GRACE after its end was polled.)
#   gateway      RATE_SESSIONS, RATE_CHAT, RATE_LEADS off and
#                HTTP_MAX_CONNECTIONS_PER_IP=0 (every visitor is 127.0.0.1;
#                bench_limits.sh measures them on), HTTP_MAX_CONNECTIONS=16384,
#                HEARTBEAT_INTERVAL=2s. (MAX_TURNS and TURN_RETAIN_BYTES stay
#                the defaults: finished turns do not count against MAX_TURNS,
#                their memory is bounded in bytes.)
#   RPC_WORKERS stays 4 everywhere (the default; 2 cores).
# The stack is tests/bench/stack.sh's. Every process and the temporary
# directory are removed on exit.
# --summary FILE appends key=value lines (for run.sh).
# --quick: shorter runs (CI smoke: a few seconds each, 2,000 streams).
set -uo pipefail

usage() { echo "usage: bench_chat.sh BUILD_DIR [--summary FILE] [--quick]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$1; shift
SUMMARY=
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --summary) SUMMARY=${2:?}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) usage ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
STACK_NAME=bench_chat.sh
# shellcheck source=tests/bench/stack.sh
. "$ROOT/tests/bench/stack.sh"

for f in "$BENCH" "$PROBE" "$BIN/gateway" "$BIN/svc-session" "$BIN/svc-retrieval" "$BIN/svc-llm" "$BIN/svc-indexer"; do
  [ -x "$f" ] || { echo "bench_chat.sh: $f is missing (make bench builds it)" >&2; exit 1; }
done
command -v node >/dev/null || { echo "bench_chat.sh: node is needed for tests/fakes/fake-apis.js" >&2; exit 1; }

stack_begin chat-bench-chat

# --- Postgres, schema, knowledge base, ports -----------------------------------
stack_postgres
stack_env
# Every simulated visitor is 127.0.0.1: the per-IP limits would refuse the load
# (and the per-IP connection cap, 64, would close the 65th connection).
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off HTTP_MAX_CONNECTIONS_PER_IP=0
export SESSION_TURNS_PER_MINUTE=10000 # these drive turns faster than a person types

start_rpc session SESSION_URL RPC_CONTEXTS=1024 SESSION_MAX_TURNS=1000000 SESSION_DAILY_TOKENS=1000000000000 \
  GLOBAL_DAILY_TOKENS=1000000000000000 GLOBAL_DAILY_COST=1000000000 GLOBAL_MONTHLY_COST=1000000000 SESSION_MAX_TOKENS=1000000000000
start_rpc retrieval RETRIEVAL_URL RPC_CONTEXTS=1024
restart_llm LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=0

node "$ROOT/tests/fakes/fake-apis.js" --port 0 >"$work/fake.port" 2>/dev/null &
PID[fake]=$!
for _ in $(seq 100); do [ -s "$work/fake.port" ] && break; sleep 0.05; done
FAKE_PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/fake.port")
[ -n "$FAKE_PORT" ] || fail "the fake Anthropic server did not start"
FAKE="http://127.0.0.1:$FAKE_PORT"
fake() { curl -s -X "$1" "$FAKE$2" -H 'content-type: application/json' ${3:+-d "$3"} >/dev/null; }

setup_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}')
echo "chat path: Postgres 127.0.0.1:$pg_port (kb/: $chunks chunks), gateway :$HTTP_PORT, fake Anthropic :$FAKE_PORT;"
echo "           set up in $setup_s s; every service RPC_WORKERS=4; see the header of bench_chat.sh for settings"

if [ $QUICK = 1 ]; then
  D1=300; D50=3; D200=4; DFAKE1=200; DFAKE50=3; NREAD=2000; NLONG=4; HOLD=14; D1K=6; DLAG=5; BCALLS=300; BSECS=1
else
  D1=2000; D50=10; D200=15; DFAKE1=1000; DFAKE50=10; NREAD=10000; NLONG=20; HOLD=40; D1K=20; DLAG=12; BCALLS=1000; BSECS=3
fi

# --- 0. baselines ------------------------------------------------------------------
echo
echo "0. Baselines: the services alone (same run, rpc_call_sync; 1 caller x $BCALLS calls; 16 threads x $BSECS s)"
bench baseline --session-url "$SESSION_URL" --retrieval-url "$RETRIEVAL_URL" --llm-url "$LLM_URL" \
  --calls "$BCALLS" --threads 16 --seconds "$BSECS" --tag base --summary "$S" \
  --cpu "svc-session=${PID[svc-session]},svc-retrieval=${PID[svc-retrieval]},svc-llm=${PID[svc-llm]},postgres=$PG_PID+" \
  || fail "baseline failed"

# --- 1. TTFT and throughput, model instant --------------------------------------
turns() { # tag conc (--duration S | --turns N) [more args]
  local tag=$1 conc=$2; shift 2
  bench turns --port "$HTTP_PORT" --conc "$conc" --rss-pid "${PID[gateway]}" --tag "$tag" --summary "$S" "$@" \
    || fail "bench_chat turns ($tag) failed"
}
echo
echo "1. TTFT (request written -> first token event read), model instant: LLM_PROVIDER=offline, OFFLINE_TOKENS_PER_SECOND=0"
echo "   closed loop, one session per conversation (a fresh one every 10 turns), keep-alive connections"
restart_gateway
gw_idle_mb=$(rss_mb "${PID[gateway]}")
echo "-- 1 conversation"
turns off1 1 --turns "$D1" --warmup 1 --pool 400 --cpu "$(cpu_args)"
restart_gateway
echo "-- 50 conversations"
turns off50 50 --duration "$D50" --warmup 2 --pool 1500 --cpu "$(cpu_args)"
restart_gateway
echo "-- 200 conversations (saturation)"
turns off200 200 --duration "$D200" --warmup 3 --pool 2500 --cpu "$(cpu_args)"
retained() { # tag: gateway RSS with every connection closed, and the finished turns it keeps
  sleep 0.5
  local rss m turns kept bytes
  rss=$(rss_mb "${PID[gateway]}")
  m=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics")
  turns=$(awk '/^chat_turns_total/ {s+=$2} END {print s+0}' <<<"$m")
  kept=$(awk '$1 == "chat_turns_retained" {print $2}' <<<"$m")
  bytes=$(awk '$1 == "chat_turns_retained_bytes" {print $2}' <<<"$m")
  summ "$1_retained_turns" "$turns"
  summ "$1_retained_kept" "${kept:-0}"
  summ "$1_retained_rss_mb" "$rss"
  summ "$1_retained_kb_per_turn" "$(awk -v b="${bytes:-0}" -v t="${kept:-0}" 'BEGIN {printf "%.1f", t ? b / 1024 / t : 0}')"
  echo "   gateway VmRSS after the run, every connection closed: $rss MB (idle $gw_idle_mb MB); $turns turns ran," \
       "${kept:-?} finished ones kept for resume in $(awk -v b="${bytes:-0}" 'BEGIN {printf "%.1f", b / 1048576}') MB" \
       "(TURN_RETAIN 5m, TURN_RETAIN_BYTES 64 MiB)"
}
retained off200
restart_gateway
echo "-- 400 conversations (is 200 saturated?)"
turns off400 400 --duration "$D50" --warmup 3 --pool 3000

echo
echo "1b. The same with the fake Anthropic server (node tests/fakes/fake-apis.js, tokens_per_second 0) through libcurl"
fake POST /_fake/config '{"anthropic":{"text":"The Growth plan costs 299 euros per month and includes ten seats, every integration and priority support [1]. You can try it free for 14 days without a credit card [2]. Would you like me to connect you with our team?","first_token_delay_ms":0,"tokens_per_second":0}}'
restart_llm LLM_PROVIDER=anthropic ANTHROPIC_API_KEY=sk-ant-bench ANTHROPIC_BASE_URL="$FAKE"
restart_gateway
echo "-- 1 conversation"
turns fake1 1 --turns "$DFAKE1" --warmup 1 --pool 300 --cpu "$(cpu_args "fake-apis.js=${PID[fake]}")"
restart_gateway
echo "-- 50 conversations"
turns fake50 50 --duration "$DFAKE50" --warmup 2 --pool 1000 --cpu "$(cpu_args "fake-apis.js=${PID[fake]}")"

# --- 2. open streams ------------------------------------------------------------------
echo
echo "2a. Open streams: $NREAD readers (GET /v1/chat/{id}/events) on $NLONG silent turns, HEARTBEAT_INTERVAL=2s"
delay_ms=$(( (HOLD + 5) * 1000 ))
fake POST /_fake/config "{\"anthropic\":{\"text\":\"Here is the answer you were waiting for [1].\",\"first_token_delay_ms\":$delay_ms,\"tokens_per_second\":0}}"
restart_llm LLM_PROVIDER=anthropic ANTHROPIC_API_KEY=sk-ant-bench ANTHROPIC_BASE_URL="$FAKE" \
  LLM_FIRST_TOKEN_TIMEOUT=300s LLM_TIMEOUT=600s
restart_gateway
summ streams_gw_rss_idle_mb "$(rss_mb "${PID[gateway]}")"
echo "   gateway VmRSS idle: $(rss_mb "${PID[gateway]}") MB; the fake answers after ${delay_ms} ms"
bench streams --port "$HTTP_PORT" --turns "$NLONG" --readers "$NREAD" --hold-until "$HOLD" --finish 30 \
  --heartbeat 2 --rss-pid "${PID[gateway]}" --cpu "gateway=${PID[gateway]}" --tag streams --summary "$S" \
  || fail "bench_chat streams failed"
# The same with a smaller per-connection pool (HTTP_CONNECTION_MEMORY): what
# each open stream holds is mostly that pool; 16 KB still takes the default
# 8 KB header cap.
echo "-- the same with HTTP_CONNECTION_MEMORY=16384 (default 32768)"
restart_gateway HTTP_CONNECTION_MEMORY=16384
bench streams --port "$HTTP_PORT" --turns "$NLONG" --readers "$NREAD" --hold-until "$HOLD" --finish 30 \
  --heartbeat 2 --rss-pid "${PID[gateway]}" --cpu "gateway=${PID[gateway]}" --tag streams16k --summary "$S" \
  || fail "bench_chat streams (16 KB pools) failed"
fake POST /_fake/reset

echo
echo "2b. 1,000 conversations streaming at 30 words/s each (offline provider, OFFLINE_TOKENS_PER_SECOND=30)"
restart_llm LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=30
restart_gateway
turns s1k 1000 --duration "$D1K" --warmup 5 --pool 2500 --pace-ms 34 --turn-timeout 120 --cpu "$(cpu_args)"
retained s1k

# --- 3. relay lag with stamps ----------------------------------------------------------
echo
echo "3. Token relay lag, exact: bench_chat fake-anthropic stamps every word (30 words/s, 300 words = 10 s an answer,"
echo "   so that nearly all the work is streaming): svc-llm LLM_PROVIDER=anthropic -> libcurl -> Poll -> gateway -> reader"
"$BENCH" fake-anthropic --tps 30 --words 300 --port-file "$work/stamp.port" >/dev/null 2>"$work/logs/stamp-fake.log" &
PID[stamp-fake]=$!
for _ in $(seq 100); do [ -s "$work/stamp.port" ] && break; sleep 0.05; done
STAMP="http://127.0.0.1:$(cat "$work/stamp.port")"
restart_llm LLM_PROVIDER=anthropic ANTHROPIC_API_KEY=sk-ant-bench ANTHROPIC_BASE_URL="$STAMP"
restart_gateway
echo "-- 100 streams"
turns lag100 100 --duration "$DLAG" --warmup 4 --pool 600 --stamps --cpu "$(cpu_args "fake=${PID[stamp-fake]}")"
restart_gateway
echo "-- 1,000 streams"
turns lag1k 1000 --duration "$DLAG" --warmup 8 --pool 2500 --stamps --turn-timeout 120 \
  --cpu "$(cpu_args "fake=${PID[stamp-fake]}")"

summ failed 0
echo
echo "bench_chat.sh: done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b-a}') s"
