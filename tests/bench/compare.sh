#!/usr/bin/env bash
# Our stack against its peer, the stack the architecture decision record
# first planned (tests/bench/peers/fastapi/: FastAPI + uvicorn + psycopg 3 +
# a LangGraph-style checkpointer), doing the same chat turn for the same
# client (BUILD_DIR/bench/bench_chat turns), one system after the other.
#
#   tests/bench/compare.sh BUILD_DIR [--quick]        (make bench-compare)
#
# Set-up, shared by both: a private Postgres (deploy/local/pg.sh --fast),
# `svc-session --migrate`, kb/ indexed by svc-indexer (the local embedder),
# the fake Anthropic server (tests/fakes/fake-apis.js, tokens_per_second 0,
# started afresh for each system), and the query vectors of bench_chat's
# questions from our embedder (BUILD_DIR/bench/query_vectors), which the
# peer loads at start instead of embedding (this favours the peer).
#   ours  svc-session, svc-retrieval, svc-llm (LLM_PROVIDER=anthropic,
#         ANTHROPIC_BASE_URL = the fake), gateway; the settings of
#         tests/bench/bench_chat.sh (see its header), RPC_WORKERS 4, and
#         HTTP_MAX_CONNECTIONS_PER_IP=0 (every conversation is 127.0.0.1).
#   peer  uvicorn app:app --workers 2 (the cores), uvloop and httptools when
#         installed, a psycopg pool of 4 per worker (8 connections, as our
#         svc-session and svc-retrieval hold 4 each).
# For each system:
#   1. start-to-ready: every process launched at once -> GET /readyz says
#      ready (curl every 5 ms; ours: the gateway sees session, retrieval and
#      llm ready; peer: a worker's pool answers), median of 3 starts (1 with
#      --quick);
#   2. RSS of the system's processes (VmRSS summed; Postgres and the fake
#      not included), 1 s after ready and after the last load run;
#   3. the same sources: each question's source URLs as the peer streams
#      them against `svc-retrieval search` (peer only);
#   4. TTFT p50/p99 at 1, 50 and 200 conversations (closed loop), turns/s
#      at 200 (saturation), CPU per turn at 200 from /proc (the system's
#      processes, then with the Postgres backends: children of the
#      postmaster, both systems' only database), token events per turn, and
#      how long the system's threads were runnable but waiting for a core
#      per unit of time on one (/proc/PID/task/*/schedstat): how much the
#      other work on the machine held this system back.
# The 1-minute load average is taken before every run and printed with the
# figures: other work on the machine slows both systems.
# Output: the runs' own lines, then ONE Markdown table (metric, better,
# ours, peer, peer / ours, load), also written to build/bench/compare.md.
# A figure that could not be measured stays in the table as "missed".
# Everything started here is stopped on exit, also on failure or interrupt.
# The peer's Debian packages are installed on demand
# (deploy/local/install-deps.sh --bench-peer).
set -uo pipefail

usage() { echo "usage: compare.sh BUILD_DIR [--quick]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$1; shift
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    *) usage ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bin
BENCH=$BUILD/bench/bench_chat
QVEC=$BUILD/bench/query_vectors
PG=$ROOT/deploy/local/pg.sh
FREE_PORT=$ROOT/scripts/free-port.sh
PEER_DIR=$ROOT/tests/bench/peers/fastapi
PY=/usr/bin/python3 # Debian's, with Debian's packages
OUT_DIR=$ROOT/build/bench
OUT=$OUT_DIR/compare.md

fail() { echo "compare.sh: $*" >&2; exit 1; }
for f in "$BENCH" "$QVEC" "$BIN/gateway" "$BIN/svc-session" "$BIN/svc-retrieval" "$BIN/svc-llm" "$BIN/svc-indexer"; do
  [ -x "$f" ] || fail "$f is missing (make bench-compare builds it)"
done
command -v node >/dev/null || fail "node is needed for tests/fakes/fake-apis.js"
"$ROOT/deploy/local/install-deps.sh" --bench-peer || fail "installing the peer's packages failed"
"$PY" -c 'import fastapi, uvicorn, psycopg, psycopg_pool, httpx' || fail "the peer's Python packages are missing"

work=$(mktemp -d /tmp/chat-bench-compare.XXXXXX)
mkdir -p "$work/logs" "$OUT_DIR"
declare -A PID=()
pg_started=0
S=$work/summary.txt
: >"$S"

started_at() { awk '{sub(/.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null; } # field 22: start time
stop_pid() { # pid: TERM, up to 5 s, then KILL; then its children of then that still run (uvicorn's workers)
  local p=$1 kids k st
  [ -n "$p" ] || return 0
  kids=$(for k in $(ps -o pid= --ppid "$p" 2>/dev/null); do echo "$k:$(started_at "$k")"; done)
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for k in $kids; do
    st=$(started_at "${k%%:*}")
    [ -n "$st" ] && [ "$st" = "${k#*:}" ] && kill -KILL "${k%%:*}" 2>/dev/null
  done
  return 0
}
stop_all() { # names...
  local n
  for n in "$@"; do
    [ -n "${PID[$n]:-}" ] && stop_pid "${PID[$n]}"
    unset "PID[$n]"
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local name
  for name in "${!PID[@]}"; do stop_pid "${PID[$name]}"; done
  [ "$pg_started" = 1 ] && "$PG" stop "$work/pg" >/dev/null 2>&1
  if [ "$rc" -ne 0 ] && [ -d "$work/logs" ]; then
    echo "compare.sh: failed (status $rc); last log lines:" >&2
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

summ() { echo "$1=$2" >>"$S"; }
val() { sed -n "s/^$1=//p" "$S" | tail -1; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# --- Postgres, schema, knowledge base, query vectors ------------------------------
t0=$(date +%s.%N)
pg_port=$("$FREE_PORT")
pg_started=1
DATABASE_URL=$("$PG" start "$work/pg" "$pg_port" --fast) || fail "Postgres did not start"
export DATABASE_URL
PG_PID=$(head -1 "$work/pg/data/postmaster.pid")
"$BIN/svc-session" --migrate >"$work/logs/migrate.log" 2>&1 || fail "svc-session --migrate failed"
KB_BASE_URL=https://quorvia.example "$BIN/svc-indexer" index "$ROOT/kb" >"$work/logs/index.log" 2>&1 \
  || fail "indexing kb/ failed"
chunks=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM kb_chunks" 2>/dev/null || echo "?")
"$BENCH" questions >"$work/questions.txt" || fail "bench_chat questions failed"
"$QVEC" <"$work/questions.txt" >"$work/vectors.json" 2>"$work/logs/query_vectors.log" || fail "query_vectors failed"

used=" $pg_port "
new_port() { # VAR: a free port no other process of this run was given (in this shell, so `used` keeps it)
  local p
  for _ in $(seq 50); do
    p=$("$FREE_PORT")
    case "$used" in *" $p "*) continue ;; esac
    used="$used$p "; printf -v "$1" '%s' "$p"; return 0
  done
  fail "no free port"
}
SESSION_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
export SESSION_SECRET LOG_LEVEL=warn EMBEDDING_PROVIDER=local
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off SESSION_TURNS_PER_MINUTE=10000
unset ANTHROPIC_API_KEY OPENAI_API_KEY INDEX_SOURCES INDEX_INTERVAL IP_HASH_SECRET LLM_PROVIDER

ANSWER='The Growth plan costs 299 euros per month and includes ten seats, every integration and priority support [1]. You can try it free for 14 days without a credit card [2]. Would you like me to connect you with our team?'
start_fake() {
  stop_all fake
  rm -f "$work/fake.port"
  node "$ROOT/tests/fakes/fake-apis.js" --port 0 >"$work/fake.port" 2>>"$work/logs/fake.log" &
  PID[fake]=$!
  for _ in $(seq 100); do [ -s "$work/fake.port" ] && break; sleep 0.05; done
  FAKE_PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/fake.port")
  [ -n "$FAKE_PORT" ] || fail "the fake Anthropic server did not start"
  FAKE="http://127.0.0.1:$FAKE_PORT"
  curl -s -X POST "$FAKE/_fake/config" -H 'content-type: application/json' \
    -d "{\"anthropic\":{\"text\":\"$ANSWER\",\"first_token_delay_ms\":0,\"tokens_per_second\":0}}" >/dev/null \
    || fail "configuring the fake failed"
}

# wait_ready PORT: ms from $launch_ns until GET /readyz says the turn's services are ready
# (60 s at most): ours, session, retrieval and llm, as bench_chat.sh waits for (the
# indexer is not on the turn's path and does not run here); the peer, "ready". A poll
# gives up after 0.1 s: the gateway holds /readyz up to 1 s while a service is not
# connected yet, and the next poll's Health call is the one that finds it connected.
wait_ready() {
  local deadline=$(($(date +%s) + 60))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    # jq -ne 'input | ...': no answer (refused, timed out) fails, as jq -e alone would not
    if curl -s --max-time 0.1 "http://127.0.0.1:$1/readyz" 2>/dev/null | jq -ne 'input | .ready or
        (.services.session.ready and .services.llm.ready and .services.retrieval.ready)' >/dev/null 2>&1; then
      awk -v a="$launch_ns" -v b="$(date +%s%N)" 'BEGIN {printf "%.0f", (b - a) / 1e6}'
      return 0
    fi
    sleep 0.005
  done
  return 1
}

OURS=(svc-session svc-retrieval svc-llm gateway)
start_ours() { # every process at once; sets HTTP_PORT
  local p1 p2 p3
  new_port p1; new_port p2; new_port p3; new_port HTTP_PORT
  export SESSION_URL="tcp://127.0.0.1:$p1" RETRIEVAL_URL="tcp://127.0.0.1:$p2" LLM_URL="tcp://127.0.0.1:$p3" HTTP_PORT
  launch_ns=$(date +%s%N)
  env RPC_CONTEXTS=1024 SESSION_MAX_TURNS=1000000 SESSION_DAILY_TOKENS=1000000000000 \
    GLOBAL_DAILY_TOKENS=1000000000000000 GLOBAL_DAILY_COST=1000000000 GLOBAL_MONTHLY_COST=1000000000 \
    SESSION_MAX_TOKENS=1000000000000 "$BIN/svc-session" >>"$work/logs/svc-session.log" 2>&1 &
  PID[svc-session]=$!
  env RPC_CONTEXTS=1024 "$BIN/svc-retrieval" >>"$work/logs/svc-retrieval.log" 2>&1 &
  PID[svc-retrieval]=$!
  env RPC_CONTEXTS=4096 LLM_PROVIDER=anthropic ANTHROPIC_API_KEY=sk-ant-bench \
    ANTHROPIC_BASE_URL="$FAKE" "$BIN/svc-llm" >>"$work/logs/svc-llm.log" 2>&1 &
  PID[svc-llm]=$!
  env HTTP_MAX_CONNECTIONS=16384 HTTP_MAX_CONNECTIONS_PER_IP=0 HEARTBEAT_INTERVAL=2s \
    ALLOWED_ORIGINS=http://127.0.0.1 "$BIN/gateway" >>"$work/logs/gateway.log" 2>&1 &
  PID[gateway]=$!
}
PEER_ARGS=()
"$PY" -c 'import uvloop' 2>/dev/null && PEER_ARGS+=(--loop uvloop)
"$PY" -c 'import httptools' 2>/dev/null && PEER_ARGS+=(--http httptools)
start_peer() {
  new_port HTTP_PORT
  launch_ns=$(date +%s%N)
  (cd "$PEER_DIR" && exec env ANTHROPIC_BASE_URL="$FAKE" ANTHROPIC_API_KEY=sk-ant-bench HEARTBEAT_INTERVAL=2 \
    PEER_DB_POOL=4 PEER_QUERY_VECTORS="$work/vectors.json" \
    "$PY" -m uvicorn app:app --host 127.0.0.1 --port "$HTTP_PORT" --workers 2 "${PEER_ARGS[@]}" \
    --no-access-log --log-level warning) >>"$work/logs/peer.log" 2>&1 &
  PID[peer]=$!
}

# the pids of the system's processes (the peer: uvicorn and its workers)
sys_pids() {
  if [ "$1" = ours ]; then
    local n
    for n in "${OURS[@]}"; do echo "${PID[$n]}"; done
  else
    echo "${PID[peer]}"
    ps -o pid= --ppid "${PID[peer]}" 2>/dev/null
  fi
}
rss_sum_mb() { # system: VmRSS of its processes, summed (each one's on stderr)
  local kb=0 p r
  for p in $(sys_pids "$1"); do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
    printf '   VmRSS %-16s %6.1f MB\n' "$(cat "/proc/$p/comm" 2>/dev/null)" \
      "$(awk -v k="${r:-0}" 'BEGIN {print k / 1024}')" >&2
    kb=$((kb + ${r:-0}))
  done
  awk -v k="$kb" 'BEGIN {printf "%.1f", k / 1024}'
}
# "RUN CPU" ns of the system's threads: on a core (schedstat), runnable but waiting for one (run_delay)
sched_ns() {
  local p
  for p in $(sys_pids "$1"); do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done |
    awk '{r += $1; w += $2} END {printf "%.0f %.0f", r, w}'
}
cpu_args() { # system: bench_chat --cpu
  if [ "$1" = ours ]; then
    echo "gateway=${PID[gateway]},svc-session=${PID[svc-session]},svc-retrieval=${PID[svc-retrieval]},svc-llm=${PID[svc-llm]},postgres=$PG_PID+,fake=${PID[fake]}"
  else
    echo "peer=${PID[peer]}+,postgres=$PG_PID+,fake=${PID[fake]}"
  fi
}
bench() { # runs bench_chat in the background and waits (so a signal reaches the trap at once)
  "$BENCH" "$@" &
  PID[bench_chat]=$!
  wait "${PID[bench_chat]}"
  local rc=$?
  unset "PID[bench_chat]"
  return $rc
}

if [ $QUICK = 1 ]; then
  STARTS=1; N1=200; D50=3; D200=4; W200=3
else
  STARTS=3; N1=1000; D50=10; D200=15; W200=5
fi
setup_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}')
echo "compare: Postgres 127.0.0.1:$pg_port (kb/: $chunks chunks), set up in $setup_s s;" \
  "peer: uvicorn --workers 2 ${PEER_ARGS[*]}"

# same_sources: each question's source URLs from the peer's stream against svc-retrieval's CLI
same_sources() {
  local q ours peer tok agree=0 n=0
  while IFS= read -r q; do
    n=$((n + 1))
    ours=$("$BIN/svc-retrieval" search "$q" 2>/dev/null | jq -r .url | tr '\n' ' ')
    tok=$(curl -s --max-time 10 -X POST "http://127.0.0.1:$HTTP_PORT/v1/sessions" -H 'content-type: application/json' -d '{}' |
      jq -r .token)
    peer=$(curl -sN --max-time 30 -X POST "http://127.0.0.1:$HTTP_PORT/v1/chat" -H 'content-type: application/json' \
      -H "Authorization: Bearer $tok" -d "$(jq -cn --arg m "$q" '{message: $m}')" |
      sed -n '/^event: sources/,/^$/s/^data: //p' | jq -r '.sources[].url' | tr '\n' ' ')
    if [ "$ours" = "$peer" ]; then agree=$((agree + 1)); else
      echo "   sources differ for \"$q\": ours [$ours] peer [$peer]"; fi
  done <"$work/questions.txt"
  echo "   the same sources as svc-retrieval for $agree of $n questions"
  summ peer_same_sources "$agree/$n"
}

run_system() { # ours|peer
  local sys=$1 i ms starts=()
  echo
  echo "== $sys"
  start_fake
  for i in $(seq "$STARTS"); do
    "start_$sys"
    if ms=$(wait_ready "$HTTP_PORT"); then starts+=("$ms"); else echo "   $sys: not ready within 60 s"; fi
    if [ "$i" -lt "$STARTS" ]; then
      if [ "$sys" = ours ]; then stop_all "${OURS[@]}"; else stop_all peer; fi
    fi
  done
  [ ${#starts[@]} -gt 0 ] || fail "$sys did not become ready (see its log)"
  summ "${sys}_start_ms" "$(printf '%s\n' "${starts[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')"
  summ "${sys}_start_load" "$(load1)"
  echo "   start-to-ready ms: ${starts[*]}"
  sleep 1
  summ "${sys}_rss_idle_mb" "$(rss_sum_mb "$sys")"
  summ "${sys}_rss_idle_load" "$(load1)"
  [ "$sys" = peer ] && same_sources
  local conc args
  for conc in 1 50 200; do
    case $conc in
      1) args=(--turns "$N1" --warmup 1 --pool 300) ;;
      50) args=(--duration "$D50" --warmup 2 --pool 1000) ;;
      200) args=(--duration "$D200" --warmup "$W200" --pool 2500) ;;
    esac
    summ "${sys}${conc}_load" "$(load1)"
    echo "-- $conc conversation(s), load $(load1)"
    local s0 s1
    s0=$(sched_ns "$sys")
    bench turns --port "$HTTP_PORT" --conc "$conc" "${args[@]}" --cpu "$(cpu_args "$sys")" --tag "$sys$conc" \
      --summary "$S" || echo "   bench_chat turns ($sys, $conc) failed"
    s1=$(sched_ns "$sys")
    # over the whole bench_chat run: ms spent waiting for a core per ms spent on one
    summ "${sys}${conc}_wait_per_cpu" "$(echo "$s0 $s1" | awk '{if ($3 - $1 > 0) printf "%.2f", ($4 - $2) / ($3 - $1)}')"
  done
  summ "${sys}_rss_after_mb" "$(rss_sum_mb "$sys")"
  summ "${sys}_rss_after_load" "$(load1)"
  if [ "$sys" = ours ]; then stop_all "${OURS[@]}" fake; else stop_all peer fake; fi
}

run_system ours
run_system peer

# --- the table ---------------------------------------------------------------------------
# CPU ms per turn at 200: the system's processes, and with Postgres
cpu_sum() { # tag, with_pg(0|1)
  awk -F= -v t="$1_cpu_ms_turn_" -v pg="$2" 'index($1, t) == 1 {
      n = substr($1, length(t) + 1)
      if (n == "fake" || n == "bench_chat" || (n == "postgres" && !pg)) next
      s += $2; got = 1 }
    END { if (got) printf "%.3f", s }' "$S"
}
for sys in ours peer; do
  summ "${sys}_cpu_sys" "$(cpu_sum "${sys}200" 0)"
  summ "${sys}_cpu_all" "$(cpu_sum "${sys}200" 1)"
done

row() { # label, better (lower|higher), ours key, peer key, ours load key, peer load key
  local o p r
  o=$(val "$3"); p=$(val "$4")
  r=$(awk -v o="$o" -v p="$p" 'BEGIN {if (o + 0 > 0 && p + 0 > 0) printf "%.2f", p / o; else print "—"}')
  case "$o" in "" | -*) o=missed ;; esac # bench_chat writes -1 for a percentile of no samples
  case "$p" in "" | -*) p=missed ;; esac
  printf '| %s | %s | %s | %s | %s | %s / %s |\n' "$1" "$2" "$o" "$p" "$r" "$(val "$5")" "$(val "$6")"
}
{
  echo "# bench-compare: our C stack and the FastAPI peer, the same turn"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null);" \
    "$([ $QUICK = 1 ] && echo 'quick (smoke) run' || echo 'full run'); kb/: $chunks chunks;" \
    "model: the fake Anthropic server, instant (tokens_per_second 0)."
  echo "Load: the 1-minute load average just before each figure's run (ours / peer); other work on the machine slows both."
  echo
  echo "| metric | better | ours | peer | peer / ours | load (ours / peer) |"
  echo "|---|---|---|---|---|---|"
  for c in 1 50 200; do
    row "TTFT p50, $c conv. (ms)" lower "ours${c}_ttft_p50_ms" "peer${c}_ttft_p50_ms" "ours${c}_load" "peer${c}_load"
    row "TTFT p99, $c conv. (ms)" lower "ours${c}_ttft_p99_ms" "peer${c}_ttft_p99_ms" "ours${c}_load" "peer${c}_load"
  done
  row "turns/s, 200 conv. (saturation)" higher ours200_turns_per_s peer200_turns_per_s ours200_load peer200_load
  for sys in ours peer; do
    summ "${sys}_events_per_turn" "$(awk -v e="$(val "${sys}200_token_events_per_s")" -v t="$(val "${sys}200_turns_per_s")" \
      'BEGIN {if (t + 0 > 0 && e != "") printf "%.1f", e / t}')"
  done
  row "token events per turn, 200 conv. (SSE writes)" "—" ours_events_per_turn peer_events_per_turn ours200_load \
    peer200_load
  row "CPU ms per turn, 200 conv.: the system's processes" lower ours_cpu_sys peer_cpu_sys ours200_load peer200_load
  row "CPU ms per turn, 200 conv.: with Postgres backends" lower ours_cpu_all peer_cpu_all ours200_load peer200_load
  row "ms waiting for a core per ms on one, 200 conv." lower ours200_wait_per_cpu peer200_wait_per_cpu ours200_load \
    peer200_load
  row "RSS MB, the system's processes, idle" lower ours_rss_idle_mb peer_rss_idle_mb ours_rss_idle_load peer_rss_idle_load
  row "RSS MB, the system's processes, after the runs" lower ours_rss_after_mb peer_rss_after_mb ours_rss_after_load \
    peer_rss_after_load
  row "start-to-ready ms (launch -> /readyz ready, median of $STARTS)" lower ours_start_ms peer_start_ms ours_start_load \
    peer_start_load
  echo
  echo "Turn errors: ours $(for c in 1 50 200; do printf '%s=%s ' "$c" "$(val "ours${c}_errors")"; done)/" \
    "peer $(for c in 1 50 200; do printf '%s=%s ' "$c" "$(val "peer${c}_errors")"; done)."
  echo "The peer streamed the same sources as svc-retrieval for $(val peer_same_sources) questions."
  echo "ours: gateway, svc-session, svc-retrieval, svc-llm; peer: uvicorn and its 2 workers. CPU: utime+stime from"
  echo "/proc over the measured window, per turn done in it; Postgres: the postmaster's children. RSS: VmRSS summed"
  echo "(Postgres and the fake model not included; the peer's workers share pages with each other). After the"
  echo "runs our gateway still holds every finished turn for resuming (TURN_RETAIN, 5 minutes); the peer keeps none."
  echo "The peer gets its query vectors precomputed (ours embeds every question): this favours the peer. The model"
  echo "answers at once, so our svc-llm hands the gateway the whole answer in one or two Polls and the gateway sends"
  echo "that many token events; the peer sends one per upstream delta (one per word): this favours ours."
} >"$work/table.md"
echo
cat "$work/table.md"
cp "$work/table.md" "$OUT"
echo
echo "compare.sh: table written to ${OUT#"$ROOT"/}; done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b-a}') s"
