#!/usr/bin/env bash
# Foundation integration test: real Postgres, every program as a real
# process. Migrations, configuration errors, readiness, bad RPC input,
# outages and clean shutdown.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
export SESSION_SECRET=stack-test-secret-0123456789-0123456789
PROGRAMS=(svc-session svc-retrieval svc-llm svc-indexer gateway)

# --- migrations -------------------------------------------------------------
out=$("$IT_BIN/svc-session" --migrate 2>/dev/null)
n_migrations=$(ls "$IT_ROOT"/svc-session/migrations/*.sql | wc -l)
it_check "migrate applies every migration ($n_migrations)" grep -q "($n_migrations migrations applied" <<<"$out"
out=$("$IT_BIN/svc-session" --migrate 2>/dev/null)
it_check "migrate twice is a no-op" grep -q "0 migrations applied" <<<"$out"
q() { psql "$DATABASE_URL" -qAtc "$1"; }
it_check "checkpointer migrations v0..v9 recorded" test "$(q 'SELECT count(*), min(v), max(v) FROM checkpoint_migrations')" = "10|0|9"
it_check "checkpoint_writes has task_path" test "$(q "SELECT count(*) FROM information_schema.columns WHERE table_name='checkpoint_writes' AND column_name='task_path'")" = 1
it_check "kb_chunks has a GIN full-text index" test "$(q "SELECT count(*) FROM pg_indexes WHERE indexname='kb_chunks_tsv_idx' AND indexdef LIKE '%gin%'")" = 1
q "SELECT kb_use_embedding_model('local','hash-384',384)" >/dev/null
it_check "embedding model fixes vector(384) + HNSW" test "$(q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid='kb_chunks'::regclass AND attname='embedding'")|$(q "SELECT count(*) FROM pg_indexes WHERE indexname='kb_chunks_embedding_hnsw' AND indexdef LIKE '%hnsw%'")" = "vector(384)|1"
err=$(q "SELECT kb_use_embedding_model('openai','text-embedding-3-small',1536)" 2>&1)
it_check "a different embedding model is refused with a re-index hint" grep -q "embedding model mismatch" <<<"$err"

# --- configuration ----------------------------------------------------------
for p in svc-session svc-retrieval svc-indexer; do
  err=$(env -u DATABASE_URL "$IT_BIN/$p" 2>&1); rc=$?
  it_check "$p without DATABASE_URL exits 2 naming it" test "$rc" = 2 -a -n "$(grep DATABASE_URL <<<"$err")"
done
err=$(RPC_WORKERS=abc "$IT_BIN/svc-llm" 2>&1); rc=$?
it_check "bad RPC_WORKERS exits 2 naming it" test "$rc" = 2 -a -n "$(grep 'RPC_WORKERS' <<<"$err")"
err=$(HTTP_PORT=70000 "$IT_BIN/gateway" 2>&1); rc=$?
it_check "bad HTTP_PORT exits 2 naming it" test "$rc" = 2 -a -n "$(grep 'HTTP_PORT' <<<"$err")"
err=$(LLM_URL=http://x "$IT_BIN/svc-llm" 2>&1); rc=$?
it_check "LLM_URL with a wrong scheme exits 2" test "$rc" = 2 -a -n "$(grep 'LLM_URL' <<<"$err")"
out=$(DATABASE_URL=postgresql://u:hunter2@db/x ANTHROPIC_API_KEY=sk-ant-secret "$IT_BIN/svc-llm" --print-config 2>&1)
it_check "--print-config masks secrets" test -z "$(grep -e hunter2 -e sk-ant-secret <<<"$out")" -a -n "$(grep ANTHROPIC_API_KEY <<<"$out")"
out=$(CHECKPOINT_DB_URL="$DATABASE_URL" env -u DATABASE_URL "$IT_BIN/svc-session" --print-config 2>&1); rc=$?
it_check "CHECKPOINT_DB_URL is accepted for DATABASE_URL" test "$rc" = 0
for p in "${PROGRAMS[@]}"; do
  it_check "$p --help" bash -c "'$IT_BIN/$p' --help | grep -q Usage"
done
"$IT_ROOT/scripts/gen-config-doc.sh" "$IT_BIN" "$IT_TMP/configuration.md"
it_check "docs/configuration.md matches the programs' --help (run scripts/gen-config-doc.sh)" \
  diff -q "$IT_TMP/configuration.md" "$IT_ROOT/docs/configuration.md"

# --- the running stack --------------------------------------------------------
for p in "${PROGRAMS[@]}"; do it_start "$p"; done
it_check "readyz 200 with all services up" it_wait_http 200 /readyz 10
body=$(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")
it_check "readyz names every service" bash -c "jq -e '.ready and .services.session.ready and .services.retrieval.ready and .services.llm.ready and .services.indexer.ready' >/dev/null <<<'$body'"
it_check "healthz 200" it_wait_http 200 /healthz 2
code=$(curl -s -o /tmp/it404.$$ -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/nope")
it_check "unknown path: 404 with a JSON error" test "$code" = 404 -a "$(jq -r .error.code /tmp/it404.$$)" = not_found
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$HTTP_PORT/healthz")
it_check "POST /healthz: 405" test "$code" = 405
rm -f /tmp/it404.$$

for s in session retrieval llm indexer; do
  var="${s^^}_URL"
  it_step "rpc_abuse against svc-$s"
  if out=$(timeout -k 5 120 "$IT_ROOT/$IT_BUILD/tools/rpc_abuse" "${!var}" "$s" 2>&1); then
    it_ok "svc-$s survives malformed, unknown, truncated and 100 MB requests"
  else
    it_fail "svc-$s survives malformed, unknown, truncated and 100 MB requests" "$(grep FAIL <<<"$out" | head -3)"
  fi
done
it_check "svc-session logged the bad inputs" bash -c "grep -q 'malformed envelope' '$IT_TMP/logs/svc-session.log' && grep -q 'unknown method' '$IT_TMP/logs/svc-session.log'"

# --- outages ----------------------------------------------------------------
{ kill -KILL "$(it_pid svc-llm)"; wait "$(it_pid svc-llm)"; } 2>/dev/null
it_check "readyz 503 while svc-llm is down" it_wait_http 503 /readyz 5
body=$(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")
it_check "readyz says llm is the one down" test "$(jq -r '.services.llm.ready, .services.session.ready' <<<"$body" | tr '\n' ' ')" = "false true "
it_start svc-llm
it_check "readyz 200 again after svc-llm restarts" it_wait_http 200 /readyz 5

"$IT_ROOT/deploy/local/pg.sh" stop "$IT_TMP/pg" >/dev/null
it_check "readyz 503 while Postgres is down" it_wait_http 503 /readyz 5
body=$(curl -s "http://127.0.0.1:$HTTP_PORT/readyz")
it_check "readyz says why (database)" grep -q "database not reachable" <<<"$body"
"$IT_ROOT/deploy/local/pg.sh" start "$IT_TMP/pg" "$IT_PG_PORT" --fast >/dev/null
it_check "readyz 200 again after Postgres returns" it_wait_http 200 /readyz 10

# --- clean shutdown -----------------------------------------------------------
for p in "${PROGRAMS[@]}"; do
  pid=$(it_pid "$p")
  kill -TERM "$pid"
  rc=124
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; rc=$?; break; fi
    sleep 0.05
  done
  it_check "$p stops cleanly on SIGTERM (exit 0)" test "$rc" = 0
done
it_check "services log a final 'stopped' line" grep -q '"msg":"stopped"' "$IT_TMP/logs/svc-session.log"

it_summary
