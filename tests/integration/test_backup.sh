#!/usr/bin/env bash
# Backup integration test: deploy/backup/chat-backup.sh against a real
# Postgres holding real conversations (the stack runs a few turns and a lead)
# and the S3 fake (tests/fakes/fake-s3.js), which verifies every SigV4
# signature. Backup -> list -> restore into a second database -> every row
# compared; then the failures: a bad secret, an unreachable endpoint, a
# tampered dump, a non-empty target; the alert webhook and the 7-day count.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
BK="$IT_ROOT/deploy/backup/chat-backup.sh"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export OFFLINE_TOKENS_PER_SECOND=0 LLM_PROVIDER=offline
G="http://127.0.0.1:$HTTP_PORT"

# --- real conversation data -----------------------------------------------------------
for p in svc-session svc-retrieval svc-llm gateway; do it_start "$p"; done
ok=0
for _ in $(seq 1 100); do
  curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1 && { ok=1; break; }
  sleep 0.1
done
[ $ok = 1 ] || it_fail "stack ready within 10 s" "$(curl -s "$G/readyz")"
for q in "How much does the Growth plan cost?" "Is there a free trial?"; do
  S=$(curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}'); TOK=$(jq -r .token <<<"$S")
  curl -s -N --max-time 20 -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK" \
    -d "$(jq -nc --arg m "$q" '{message:$m}')" >/dev/null
  curl -s --max-time 20 -N -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK" -d '{"message":"And the Enterprise plan?"}' >/dev/null
done
curl -s --max-time 10 -X POST "$G/v1/leads" -H 'content-type: application/json' -H "authorization: Bearer $TOK" \
  -d '{"name":"Ada Lovelace","email":"ada@example.com","company":"Analytical Engines","message":"Call me","consent":true}' >/dev/null
# Awkward text survives: tabs, newlines, backslashes, quotes, non-ASCII.
SID=$(jq -r .session_id <<<"$S")
psql "$DATABASE_URL" -qAtc "INSERT INTO messages (session_id, turn_id, role, content) VALUES ('$SID', 't_manual', 'user', E'tab\there\nnew line \\\\ back\\\\slash ''quote'' \"dq\" Grüße 🚀 \\\\.')" >/dev/null
count() { psql "$1" -qAtc "SELECT count(*) FROM $2"; }
it_check "source has conversations (messages, checkpoints, sessions)" \
  test "$(count "$DATABASE_URL" messages)" -ge 8 -a "$(count "$DATABASE_URL" checkpoints)" -ge 4 -a "$(count "$DATABASE_URL" sessions)" -ge 2
it_check "source has a lead (handoff_records)" test "$(count "$DATABASE_URL" handoff_records)" -ge 1

# --- the S3 fake and the webhook --------------------------------------------------------
node "$IT_ROOT/tests/fakes/fake-s3.js" --port 0 --bucket chat-backups --key AKIDTEST:s3cr3t-test-key \
  > "$IT_TMP/s3.port" 2>"$IT_TMP/logs/fake-s3.log" &
IT_PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$IT_TMP/s3.port" ] && break; sleep 0.1; done
[ -s "$IT_TMP/s3.port" ] || it_fail "fake-s3 started within 5 s" "$(tail -3 "$IT_TMP/logs/fake-s3.log")"
S3="http://127.0.0.1:$(jq -r .port "$IT_TMP/s3.port")"
export TIGRIS_ENDPOINT=$S3 TIGRIS_BUCKET_NAME=chat-backups TIGRIS_ACCESS_KEY_ID=AKIDTEST TIGRIS_SECRET_ACCESS_KEY=s3cr3t-test-key
export BACKUP_ALERT_WEBHOOK=$S3/_fake/webhook BACKUP_METRICS_FILE=$IT_TMP/backup.prom
alerts() { curl -s "$S3/_fake/webhook" | jq length; }

# --- lifecycle, backup, list ---------------------------------------------------------
out=$(timeout 30 "$BK" lifecycle 2>&1); echo "$out" | tail -2 | sed 's/^/     /' 
it_check "lifecycle: 90-day rule put (Content-MD5, signed) and read back" grep -q "expire 90 days" <<<"$out"
it_check "lifecycle: bad DAYS is refused (exit 2)" bash -c "timeout 10 '$BK' lifecycle 0 >/dev/null 2>&1; [ \$? = 2 ]"
t0=$(date +%s%N)
key=$(timeout 120 "$BK" backup 2>"$IT_TMP/logs/backup.log"); rc=$?
t_backup=$(( ($(date +%s%N) - t0) / 1000000 ))
it_check "backup exits 0 and names its object" bash -c "[ $rc = 0 ] && [[ '$key' == backups/$(date -u +%F)/chat-*.sql.gz ]]"
[ $rc = 0 ] || cat "$IT_TMP/logs/backup.log"
listing=$(timeout 30 "$BK" list 2>&1)
it_check "list shows the backup, complete (with its manifest)" grep -qxF "$key" <<<"$listing"
man=$(curl -s --aws-sigv4 "aws:amz:auto:s3" --user "AKIDTEST:s3cr3t-test-key" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$S3/chat-backups/${key%.sql.gz}.manifest.json")
it_check "manifest: row counts of the ADR's tables match the source" bash -c "
  for t in checkpoints checkpoint_writes checkpoint_blobs handoff_records messages sessions; do
    [ \"\$(jq -r --arg t \$t '.tables[\$t].rows' <<<'$(sed "s/'/ /g" <<<"$man")')\" = \"\$(psql '$DATABASE_URL' -qAtc \"SELECT count(*) FROM \$t\")\" ] || { echo \"\$t differs\"; exit 1; }
  done"
it_check "manifest: the knowledge base is schema only (rebuilt by re-indexing)" bash -c "jq -ne 'input | (.schema_only|index(\"kb_chunks\")) != null and (.tables.kb_chunks == null)' >/dev/null <<<'$(sed "s/'/ /g" <<<"$man")'"
it_check "metrics file: last run succeeded" grep -qx 'chat_backup_last_run_success 1' "$BACKUP_METRICS_FILE"

# --- restore into a second database, compare every row ---------------------------------
psql "$DATABASE_URL" -qAtc "CREATE DATABASE chat_restored" >/dev/null
R_URL="${DATABASE_URL%/chat}/chat_restored"
t0=$(date +%s%N)
out=$(timeout 120 "$BK" restore "$key" "$R_URL" 2>"$IT_TMP/logs/restore.log"); rc=$?
t_restore=$(( ($(date +%s%N) - t0) / 1000000 ))
it_check "restore exits 0 and verified the tables" bash -c "[ $rc = 0 ] && grep -q 'tables verified' <<<'$out'"
[ $rc = 0 ] || cat "$IT_TMP/logs/restore.log"
rows() { psql "$1" -qAt -c "SET intervalstyle = postgres" -c "COPY \"$2\" TO STDOUT" | LC_ALL=C sort | sha256sum; }
diffs=""; compared=0
for t in checkpoints checkpoint_writes checkpoint_blobs checkpoint_migrations handoff_records handoff_outbox erasure_audit messages sessions usage usage_daily schema_migrations; do
  a=$(rows "$DATABASE_URL" "$t"); b=$(rows "$R_URL" "$t"); compared=$((compared + $(count "$DATABASE_URL" "$t")))
  [ "$a" = "$b" ] || diffs+=" $t"
done
it_check "every row of the 12 backed-up tables is identical after restore ($compared rows)" test -z "$diffs"
[ -z "$diffs" ] || echo "     differing tables:$diffs"
it_check "the awkward message survived byte for byte" test "$(psql "$R_URL" -qAtc "SELECT md5(content) FROM messages WHERE content LIKE 'tab%'")" = "$(psql "$DATABASE_URL" -qAtc "SELECT md5(content) FROM messages WHERE content LIKE 'tab%'")"
# backup_runs is the job's own log (created by the first backup, after its dump); \restrict keys are random.
sch() { pg_dump --schema-only --no-owner --no-privileges -T 'public.backup_runs*' "$1" | grep -v -E '^(--|\\(un)?restrict )' | grep -v '^$'; }
sch "$DATABASE_URL" > "$IT_TMP/schema.src"; sch "$R_URL" > "$IT_TMP/schema.restored"
it_check "the restored schema is the source's (extension, tables, indexes, constraints)" \
  bash -c "grep -q 'CREATE EXTENSION' '$IT_TMP/schema.src' && grep -q 'kb_chunks_embedding_hnsw' '$IT_TMP/schema.src' && diff -q '$IT_TMP/schema.src' '$IT_TMP/schema.restored' >/dev/null"
it_check "the restored database passes svc-session --migrate (nothing pending)" bash -c "DATABASE_URL='$R_URL' '$IT_BIN/svc-session' --migrate >/dev/null 2>&1"
KB_BASE_URL=https://quorvia.example DATABASE_URL="$R_URL" "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
it_check "re-indexing fills the restored knowledge base" test "$(count "$R_URL" kb_chunks)" = "$(count "$DATABASE_URL" kb_chunks)"
it_check "restore into a non-empty database is refused" bash -c "! timeout 60 '$BK' restore '$key' '$R_URL' >/dev/null 2>&1"

# --- failures: tampered dump, bad signature, unreachable endpoint ----------------------
put() { curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:auto:s3" --user "AKIDTEST:s3cr3t-test-key" \
  -H "x-amz-content-sha256: $(sha256sum "$2" | cut -d' ' -f1)" --data-binary "@$2" -X PUT "$S3/chat-backups/$1"; }
echo "-- tampered" | gzip > "$IT_TMP/tampered.gz"
cp "$IT_TMP/tampered.gz" /dev/null
tk="backups/1999-01-01/chat-19990101T000000Z"
curl -s --aws-sigv4 "aws:amz:auto:s3" --user "AKIDTEST:s3cr3t-test-key" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  "$S3/chat-backups/${key%.sql.gz}.manifest.json" > "$IT_TMP/m.json"
put "$tk.manifest.json" "$IT_TMP/m.json" >/dev/null; put "$tk.sql.gz" "$IT_TMP/tampered.gz" >/dev/null
psql "$DATABASE_URL" -qAtc "CREATE DATABASE chat_r2" >/dev/null
err=$(timeout 60 "$BK" restore "$tk.sql.gz" "${DATABASE_URL%/chat}/chat_r2" 2>&1 >/dev/null); rc=$?
it_check "a dump that does not match its manifest's SHA-256 is refused" bash -c "[ $rc = 1 ] && grep -q 'checksum mismatch' <<<'$err'"
it_check "... and nothing was loaded" test "$(psql "${DATABASE_URL%/chat}/chat_r2" -qAtc "SELECT count(*) FROM pg_tables WHERE schemaname='public'")" = 0

a0=$(alerts)
err=$(TIGRIS_SECRET_ACCESS_KEY=wrong-secret timeout 60 "$BK" backup 2>&1 >/dev/null); rc=$?
it_check "bad secret: backup exits 1" test "$rc" = 1
it_check "bad secret: the fake rejected the signature (SignatureDoesNotMatch)" bash -c "curl -s '$S3/_fake/stats' | jq -ne 'input | .rejected.SignatureDoesNotMatch >= 1' >/dev/null && grep -q SignatureDoesNotMatch <<<'$(sed "s/'/ /g" <<<"$err")'"
it_check "bad secret: one alert reached the webhook, naming the error" bash -c "[ \$(curl -s '$S3/_fake/webhook' | jq length) = $((a0 + 1)) ] && curl -s '$S3/_fake/webhook' | jq -ne 'input | .[-1].body.error | test(\"SignatureDoesNotMatch\")' >/dev/null"
it_check "bad secret: the run is counted (backup_runs, metrics file)" bash -c "[ \$(psql '$DATABASE_URL' -qAtc 'SELECT count(*) FROM backup_runs WHERE NOT ok') = 1 ] && grep -qx 'chat_backup_failures_7d 1' '$BACKUP_METRICS_FILE' && grep -qx 'chat_backup_last_run_success 0' '$BACKUP_METRICS_FILE'"
dead=$("$IT_ROOT/scripts/free-port.sh")
TIGRIS_ENDPOINT=http://127.0.0.1:$dead timeout 60 "$BK" backup >/dev/null 2>&1; rc=$?
it_check "unreachable endpoint: backup exits 1 and alerts" bash -c "[ $rc = 1 ] && [ \$(curl -s '$S3/_fake/webhook' | jq length) = $((a0 + 2)) ]"
it_check "two failures: no review trigger yet" bash -c "curl -s '$S3/_fake/webhook' | jq -ne 'input | .[-1].body.review_trigger == false and .[-1].body.failures_7d == 2' >/dev/null"
TIGRIS_ENDPOINT=http://127.0.0.1:$dead timeout 60 "$BK" backup >/dev/null 2>&1
it_check "third failure in 7 days: the alert says the ADR-006 review trigger is reached" bash -c "curl -s '$S3/_fake/webhook' | jq -ne 'input | .[-1].body.review_trigger == true and .[-1].body.failures_7d == 3 and (.[-1].body.text|test(\"review trigger\"))' >/dev/null"
it_check "status shows the trigger" bash -c "timeout 20 '$BK' status 2>&1 | grep -q 'failures in the last 7 days: 3.*TRIGGER REACHED'"
it_check "a successful backup still counts the week's failures" bash -c "timeout 120 '$BK' backup >/dev/null 2>&1 && grep -qx 'chat_backup_failures_7d 3' '$BACKUP_METRICS_FILE'"
it_check "missing settings: exit 2 with the variable named" bash -c "env -u TIGRIS_BUCKET_NAME timeout 10 '$BK' backup 2>&1 >/dev/null | grep -q TIGRIS_BUCKET_NAME; [ \${PIPESTATUS[0]} = 2 ]"
it_check "unsigned requests are refused by the fake" test "$(curl -s -o /dev/null -w '%{http_code}' "$S3/chat-backups/$key")" = 403

gz_bytes=$(jq -r .bytes <<<"$man")
echo "backup of kb/ + $(count "$DATABASE_URL" messages) messages: ${t_backup} ms (${gz_bytes} bytes gzipped); restore + verify: ${t_restore} ms"
it_summary
