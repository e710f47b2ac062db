#!/usr/bin/env bash
# The knowledge benchmarks (issue 3, "Measured, in make bench"), all in one run
# against a private Postgres:
#
#   tests/bench/bench_knowledge.sh BUILD_DIR [--quick] [--summary FILE]
#
# 1. Indexing throughput, local embedder into Postgres (svc-indexer index):
#    kb/ (3 runs from empty, median), then a synthetic corpus of Markdown
#    pages made of kb/'s sentences shuffled with a fixed seed (2,000 pages of
#    8 sections, ~16k chunks), with the CPU time of the indexer and of
#    Postgres; the re-index of the unchanged corpus; and, to show where the
#    time goes, 500 more pages indexed with the HNSW index dropped.
# 4. Hit@5 of hybrid, vector-only and full-text-only search on kb/'s question
#    set (tests/retrieval/eval.sh, without and with the relevance floor),
#    while the database holds kb/ alone.
# 2. Search latency through RPC (bench_knowledge search: rpc_call_sync to a
#    running svc-retrieval, warm-up first, queries from the question set and
#    paraphrases) at the kb/ size, and at 100,000 chunks: the synthetic pages
#    plus chunks written directly by COPY (bench_knowledge load: kb/ text,
#    embed_local vectors), the HNSW index built afterwards (timed), VACUUM
#    ANALYZE; 1 and 8 concurrent callers; at 100k also vector-only and
#    text-only, to split the time.
# 3. HNSW recall@10 at 100,000 chunks against the exact answer
#    (bench_knowledge recall), at hnsw.ef_search 40, 100 (the service's
#    default) and 200, with the latency of each.
# Goals are reported, not enforced (run.sh prints them next to the figures).
# Calls at 100k stop after a time budget per measurement (--max-secs), so a
# slow search cannot make the run take hours; the number done is printed.
# There a call that times out (statement timeout) is reported as a finding,
# not a failure of the run; at the kb/ size any failed call fails the run.
# Everything started here (Postgres, svc-retrieval, the temporary directory)
# is stopped and removed on exit, also on failure or interruption.
# --quick: 300 pages, 20,000 chunks, 500 queries, 50 recall queries.
# --summary FILE writes the figures as key=value lines (for run.sh).
# Exit status: 0 when every measurement ran, 1 otherwise.
set -uo pipefail

usage() { echo "usage: bench_knowledge.sh BUILD_DIR [--quick] [--summary FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$1; shift
QUICK=0
SUMMARY=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --summary) SUMMARY=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bin
BK=$BUILD/bench/bench_knowledge
PROBE=$BUILD/bench/health_probe
PG=$ROOT/deploy/local/pg.sh
FREE_PORT=$ROOT/scripts/free-port.sh
QUESTIONS=$ROOT/tests/retrieval/questions.tsv

PAGES=2000; CHUNKS=100000; QUERIES=2000; WARMUP=200; RECALL_Q=200; DIAG_PAGES=500
MAX_SECS=40       # per latency measurement at 100k
if [ $QUICK = 1 ]; then
  PAGES=300; CHUNKS=20000; QUERIES=500; WARMUP=50; RECALL_Q=50; DIAG_PAGES=100; MAX_SECS=10
fi

for f in "$BK" "$PROBE" "$BIN/svc-indexer" "$BIN/svc-retrieval" "$BIN/svc-session"; do
  [ -x "$f" ] || { echo "bench_knowledge.sh: $f is missing (run make all bench first)" >&2; exit 1; }
done
for t in psql jq; do
  command -v "$t" >/dev/null || { echo "bench_knowledge.sh: $t is needed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/chat-bench-knowledge.XXXXXX)
pg_started=0
ret_pid=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$ret_pid" ]; then
    kill -TERM "$ret_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$ret_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ret_pid" 2>/dev/null || true
    wait "$ret_pid" 2>/dev/null || true
  fi
  if [ "$pg_started" = 1 ]; then
    "$PG" stop "$work/pg" || true
  fi
  if [ "$rc" -ne 0 ] && [ -d "$work/logs" ]; then
    echo "bench_knowledge.sh: failed (status $rc); last log lines:" >&2
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

FAILED=0
fail() { echo "bench_knowledge.sh: $*" >&2; FAILED=1; }
summary() { [ -z "$SUMMARY" ] || echo "$1=$2" >>"$SUMMARY"; }
[ -z "$SUMMARY" ] || : >"$SUMMARY"
sum_args=()
[ -z "$SUMMARY" ] || sum_args=(--summary "$SUMMARY")
T_START=$(date +%s.%N)
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.0f}" 'BEGIN {if (b + 0 > 0) printf f "\n", a / b; else print "n/a"}'; }

mkdir -p "$work/logs"

# --- Postgres ----------------------------------------------------------------------
pg_port=$("$FREE_PORT")
pg_started=1
DATABASE_URL=$("$PG" start "$work/pg" "$pg_port" --fast) || { echo "bench_knowledge.sh: Postgres did not start" >&2; exit 1; }
export DATABASE_URL
"$BIN/svc-session" --migrate >"$work/logs/migrate.log" 2>&1 || {
  echo "bench_knowledge.sh: svc-session --migrate failed:" >&2; cat "$work/logs/migrate.log" >&2; exit 1; }
export EMBEDDING_PROVIDER=local LOG_LEVEL=warn KB_BASE_URL=https://quorvia.example
unset EMBEDDING_MODEL EMBEDDING_DIMENSIONS OPENAI_API_KEY INDEX_SOURCES INDEX_INTERVAL RETRIEVAL_EF_SEARCH
q() { psql "$DATABASE_URL" -qAtc "$1"; }

# CPU seconds used by the Postgres cluster so far: the postmaster and its
# children (backends, parallel workers, background processes), counting the
# children that already exited (reaped into the postmaster's cutime/cstime).
pg_cpu() {
  local pm
  pm=$(head -1 "$work/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  { cat "/proc/$pm/stat"; for c in $(ps -o pid= --ppid "$pm"); do cat "/proc/$c/stat"; done; } 2>/dev/null |
    awk -v hz="$(getconf CLK_TCK)" '{ t += $14 + $15 + $16 + $17 } END { printf "%.2f\n", t / hz }'
}

# index_run ARGS...: svc-indexer index ARGS; sets I_SECS (the indexer's own
# figure), I_EMB, I_WRITTEN, I_ADDED, I_UNCHANGED, I_FAILED, I_WALL, I_CPU
# (indexer user+sys), I_PGCPU (Postgres CPU meanwhile).
index_run() {
  local out=$work/logs/index.log pg0 pg1 rc
  pg0=$(pg_cpu)
  local TIMEFORMAT='%R %U %S'
  { time "$BIN/svc-indexer" index "$@" >"$out" 2>&1; } 2>"$work/index.time"
  rc=$?
  sleep 0.3 # the connection's backend exits and is reaped
  pg1=$(pg_cpu)
  read -r I_WALL u s <"$work/index.time"
  I_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')
  I_PGCPU=$(awk -v a="$pg0" -v b="$pg1" 'BEGIN {printf "%.2f", b - a}')
  I_SECS=$(sed -nE 's/^chunks: .*; ([0-9.]+) s$/\1/p' "$out")
  I_EMB=$(sed -nE 's/^chunks: ([0-9]+) embedded.*/\1/p' "$out")
  I_WRITTEN=$(sed -nE 's/^chunks: [0-9]+ embedded, ([0-9]+) written.*/\1/p' "$out")
  I_ADDED=$(sed -nE 's/^documents: [0-9]+ seen, ([0-9]+) added.*/\1/p' "$out")
  I_UNCHANGED=$(sed -nE 's/.* ([0-9]+) unchanged.*/\1/p' "$out")
  I_FAILED=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' "$out")
  if [ $rc -ne 0 ] || [ -z "$I_SECS" ]; then
    fail "svc-indexer index $* failed (status $rc):"; cat "$out" >&2
    return 1
  fi
  [ "${I_FAILED:-0}" = 0 ] || fail "svc-indexer index $*: $I_FAILED pages failed"
  return 0
}
index_line() { # label
  printf '   %-44s %7s chunks %7.2f s %8s chunks/s   CPU: indexer %5.2f s, Postgres %6.2f s\n' "$1" "$I_EMB" \
    "$I_SECS" "$(div "$I_EMB" "$I_SECS")" "$I_CPU" "$I_PGCPU"
}

echo "knowledge: Postgres on 127.0.0.1:$pg_port ($work/pg, --fast: fsync off), pgvector $(q "SELECT extversion FROM pg_extension WHERE extname = 'vector'"), local embedder (lsa-v1, 256 dims, trained on kb/ by the indexer)"

# --- 1. indexing kb/ ----------------------------------------------------------------------
echo
echo "[1/6] Indexing throughput, local embedder into Postgres: kb/ (svc-indexer index; the indexer's own seconds)"
kb_runs=()
for i in 1 2 3; do
  if [ "$i" -gt 1 ]; then
    "$BIN/svc-indexer" reset >>"$work/logs/index.log" 2>&1 || fail "svc-indexer reset failed"
  fi
  index_run "$ROOT/kb" || break
  index_line "kb/ from empty, run $i ($I_ADDED pages)"
  kb_runs+=("$I_SECS")
  KB_CHUNKS=$I_EMB
done
kb_med=$(printf '%s\n' "${kb_runs[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "n/a")}')
summary kb_index_s "$kb_med"
summary kb_index_chunks "${KB_CHUNKS:-0}"
summary kb_index_cps "$(div "${KB_CHUNKS:-0}" "$kb_med")"
index_run "$ROOT/kb" && printf '   %-44s %7s chunks %7.2f s  (%s unchanged pages, %s written)\n' \
  "kb/ again, unchanged: embedded" "$I_EMB" "$I_SECS" "$I_UNCHANGED" "$I_WRITTEN"
summary kb_reindex_s "${I_SECS:-n/a}"

# --- 4. hit@5 on kb/ ------------------------------------------------------------------------------
echo
echo "[2/6] Hit@5 on kb/'s question set (tests/retrieval/eval.sh; svc-retrieval search -k 5), kb/ alone in the database"
for floor in --no-floor ""; do
  for m in hybrid vector text; do
    line=$(bash "$ROOT/tests/retrieval/eval.sh" "$BIN" "$m" $floor 2>>"$work/logs/eval.log")
    echo "   $line"
    rate=$(sed -nE 's/.*= ([0-9.]+);.*/\1/p' <<<"$line")
    none=$(sed -nE 's/.*no result: ([0-9]+\/[0-9]+).*/\1/p' <<<"$line")
    [ -n "$rate" ] || fail "eval.sh $m $floor gave no figure"
    key=hit5_$m${floor:+_nofloor}
    summary "$key" "${rate:-n/a}"
    summary "${key}_unanswerable_empty" "${none:-n/a}"
  done
done
echo "   (no floor: ranking alone; with the floor: what the service returns. Unanswerable: off-topic questions"
echo "    that got no result at all, so the assistant can say it does not know)"

# --- 2a. search latency at the kb/ size ------------------------------------------------------------
RETRIEVAL_URL=tcp://127.0.0.1:$("$FREE_PORT")
export RETRIEVAL_URL
"$BIN/svc-retrieval" >>"$work/logs/svc-retrieval.log" 2>&1 &
ret_pid=$!
"$PROBE" --timeout 20000 --rpc retrieval --wait >/dev/null || { echo "bench_knowledge.sh: svc-retrieval not ready" >&2; exit 1; }
echo
echo "[3/6] Search latency through RPC (svc-retrieval at $RETRIEVAL_URL: RPC_WORKERS 4 default, ef_search 100), kb/: $(q 'SELECT count(*) FROM kb_chunks') chunks"
"$BK" search --questions "$QUESTIONS" --queries "$QUERIES" --warmup "$WARMUP" --callers 1,8 --tag kb \
  "${sum_args[@]}" || fail "search at the kb/ size failed"

# --- 1b. the synthetic corpus --------------------------------------------------------------------------
echo
echo "[4/6] Indexing throughput: a synthetic corpus of $PAGES Markdown pages made of kb/ sentences (bench_knowledge pages)"
"$BK" pages "$work/pages" --pages "$PAGES" || fail "generating pages failed"
SYN=https://bench.example/synthetic
if index_run --base-url "$SYN" "$work/pages"; then
  index_line "synthetic, $I_ADDED pages, into $(q 'SELECT count(*) FROM kb_chunks') rows"
  summary syn_pages "$I_ADDED"
  summary syn_chunks "$I_EMB"
  summary syn_index_s "$I_SECS"
  summary syn_index_cps "$(div "$I_EMB" "$I_SECS")"
  summary syn_index_cpu "indexer $I_CPU s, Postgres $I_PGCPU s, wall $I_WALL s"
  SYN_CPU="$I_CPU"; SYN_PGCPU="$I_PGCPU"
fi
if index_run --base-url "$SYN" "$work/pages"; then
  printf '   %-44s %7s chunks %7.2f s  (%s unchanged pages, %s written)   CPU: indexer %5.2f s, Postgres %6.2f s\n' \
    "re-index, unchanged: embedded" "$I_EMB" "$I_SECS" "$I_UNCHANGED" "$I_WRITTEN" "$I_CPU" "$I_PGCPU"
  summary syn_reindex_s "$I_SECS"
  summary syn_reindex_embedded "$I_EMB"
  summary syn_reindex_written "$I_WRITTEN"
fi
# Where the time goes: the same kind of pages without the HNSW index (it is
# rebuilt below for the 100k corpus anyway).
"$BK" pages "$work/pages-diag" --pages "$DIAG_PAGES" --seed 43 >/dev/null || fail "generating pages failed"
q "DROP INDEX IF EXISTS kb_chunks_embedding_hnsw" >/dev/null
if index_run --base-url "$SYN-diag" "$work/pages-diag"; then
  index_line "diagnosis: $I_ADDED more pages, NO HNSW index"
  summary nohnsw_index_cps "$(div "$I_EMB" "$I_SECS")"
fi

# --- 2b/3. 100,000 chunks ---------------------------------------------------------------------------------
echo
echo "[5/6] $CHUNKS chunks: the pages above plus chunks written by COPY (bench_knowledge load); search latency"
"$BK" load --chunks "$CHUNKS" "${sum_args[@]}" || fail "loading $CHUNKS chunks failed"
# How many rows the OR-ed full-text query of the question set matches (each
# is ranked with ts_rank_cd before the LIMIT).
psql "$DATABASE_URL" -qAt >"$work/tsmatch.txt" 2>>"$work/logs/psql.log" <<SQL
CREATE TEMP TABLE qs (q text, pages text);
\copy qs FROM '$QUESTIONS'
DELETE FROM qs WHERE q = 'question';
SELECT count(*), round(avg(n)), percentile_disc(0.5) WITHIN GROUP (ORDER BY n), max(n), (SELECT count(*) FROM kb_chunks)
FROM (SELECT (SELECT count(*) FROM kb_chunks c
              WHERE c.tsv @@ replace(websearch_to_tsquery('english', qs.q)::text, ' & ', ' | ')::tsquery) AS n FROM qs) s;
SQL
IFS='|' read -r tq tavg tmed tmax trows <"$work/tsmatch.txt"
echo "   full-text candidates: the $tq questions' OR-ed queries match $tavg rows on average (median $tmed, max $tmax)"
echo "   of $trows; every match is ranked (ts_rank_cd) before LIMIT"
summary ts_match_avg "$tavg"
summary ts_match_median "$tmed"
echo
echo "   Search through RPC at $(q 'SELECT count(*) FROM kb_chunks') chunks (at most ${MAX_SECS} s per measurement)"
"$BK" search --questions "$QUESTIONS" --queries "$QUERIES" --warmup "$((WARMUP / 4))" --callers 1,8 --tag 100k \
  --max-secs "$MAX_SECS" --tolerate-timeouts "${sum_args[@]}" || fail "search at $CHUNKS chunks failed"
for m in vector text; do
  "$BK" search --questions "$QUESTIONS" --queries "$((QUERIES / 2))" --warmup 20 --callers 1 --tag 100k --mode "$m" \
    --max-secs "$((MAX_SECS / 2))" --tolerate-timeouts "${sum_args[@]}" | grep -v '^   (\|^    ' ||
    fail "$m search at $CHUNKS chunks failed"
done

echo
echo "[6/6] HNSW recall@10 at $(q 'SELECT count(*) FROM kb_chunks') chunks (bench_knowledge recall)"
"$BK" recall --questions "$QUESTIONS" --queries "$RECALL_Q" --ef 40,100,200 "${sum_args[@]}" || fail "recall failed"

echo
echo "knowledge benchmarks: $(elapsed) s"
summary kb_bench_s "$(elapsed)"
summary failed "$FAILED"
exit $FAILED
