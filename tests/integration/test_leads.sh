#!/usr/bin/env bash
# Leads that reach sales: a chat hand-off becomes one handoff_records row
# (idempotent per session and kind), the visitor is told when sales will
# reply (business hours), and sales is notified by a signed webhook and an
# email from the outbox, outside the turn: retries with backoff, dead
# letters, a restart mid-retry. Erasure takes the hand-off and its outbox
# with it and leaves an audit row; no table keeps the session id.
# Real processes (gateway, svc-session, svc-retrieval, svc-llm offline),
# real Postgres, the receivers in tests/fakes/sales-sinks.js.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
IT_TIMEOUT=${IT_TIMEOUT_LEADS:-300} it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export ALLOWED_ORIGINS=https://www.quorvia.example
export OFFLINE_TOKENS_PER_SECOND=0 LLM_PROVIDER=offline
G="http://127.0.0.1:$HTTP_PORT"
q() { psql "$DATABASE_URL" -qAtc "$1"; }

node "$IT_ROOT/tests/fakes/sales-sinks.js" > "$IT_TMP/sinks.port" 2>"$IT_TMP/logs/sinks.log" &
IT_PIDS+=($!)
it_wait_for 10 test -s "$IT_TMP/sinks.port"
SINK="http://127.0.0.1:$(jq -r .http "$IT_TMP/sinks.port")"
SMTP_PORT=$(jq -r .smtp "$IT_TMP/sinks.port")
sink_mode() { curl -s -X POST "$SINK/_sink/mode" -d "$1" >/dev/null; }

# --- configuration that cannot work stops svc-session, naming the variable ------
bad_start() { # bad_start VAR_IN_MESSAGE ENV...
  local want=$1; shift
  local out; out=$(env "$@" timeout 10 "$IT_BIN/svc-session" 2>&1); local rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "$want" <<<"$out"
}
it_check "a webhook URL without a secret stops svc-session, naming HANDOFF_WEBHOOK_SECRET" \
  bad_start HANDOFF_WEBHOOK_SECRET HANDOFF_WEBHOOK_URL="$SINK/hook"
it_check "a short webhook secret is refused too" \
  bad_start HANDOFF_WEBHOOK_SECRET HANDOFF_WEBHOOK_URL="$SINK/hook" HANDOFF_WEBHOOK_SECRET=short
it_check "SMTP_URL without SALES_EMAIL stops svc-session, naming it" \
  bad_start SALES_EMAIL SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" SMTP_FROM=bot@quorvia.example
it_check "an unknown BUSINESS_TIMEZONE stops svc-session, naming it" \
  bad_start BUSINESS_TIMEZONE BUSINESS_TIMEZONE=Mars/Olympus
echo "2026-02-30" > "$IT_TMP/bad-holidays.txt"
echo "2026-13-01" >> "$IT_TMP/bad-holidays.txt"
it_check "a bad holidays file stops svc-session, naming the file and line" \
  bad_start "bad-holidays.txt:1" BUSINESS_HOLIDAYS_FILE="$IT_TMP/bad-holidays.txt"

bad_gateway() {
  local out; out=$(ADMIN_TOKEN=short timeout 10 "$IT_BIN/gateway" 2>&1); local rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q ADMIN_TOKEN <<<"$out"
}

# --- the stack, notifying sales -----------------------------------------------
HOOK_SECRET=whsec-0123456789abcdef
export HANDOFF_WEBHOOK_URL="$SINK/hooks/sales" HANDOFF_WEBHOOK_SECRET=$HOOK_SECRET
export SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" SMTP_FROM=assistant@quorvia.example SALES_EMAIL="sales@quorvia.example, lead-desk@quorvia.example"
export SMTP_STARTTLS=false
export HANDOFF_OUTBOX_INTERVAL=200ms HANDOFF_RETRY_BASE=300ms HANDOFF_RETRY_MAX=1s HANDOFF_RETRY_FOR=1h
export HANDOFF_RESPONSE_TIME=20m BUSINESS_TIMEZONE=Europe/Berlin
start_session() { # start_session [ENV...]: svc-session (again) with ENV
  { kill -KILL "$(it_pid svc-session)" && wait "$(it_pid svc-session)"; } 2>/dev/null
  local kv
  for kv in "$@"; do export "${kv?}"; done
  it_start svc-session
  it_wait_for 10 bash -c "curl -s '$G/readyz' | jq -ne 'input | .services.session.ready' >/dev/null 2>&1"
}
export BUSINESS_HOURS="Mon-Sun 00:00-24:00"
ADMIN=admin-token-0123456789abcdef
it_check "a short ADMIN_TOKEN stops the gateway, naming it" bad_gateway
export ADMIN_TOKEN=$ADMIN INDEX_SOURCES="$IT_ROOT/kb" KB_BASE_URL=https://quorvia.example
it_start svc-session
for p in svc-retrieval svc-llm svc-indexer gateway; do it_start "$p"; done
it_check "the stack is ready" it_wait_for 60 bash -c "curl -s '$G/readyz' | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1"

new_session() { curl -sS -X POST "$G/v1/sessions" -H "content-type: application/json" -d "${1:-{\}}" -w "%{stderr}[POST /v1/sessions: %{http_code}]\\n" 2>>"$IT_TMP/logs/curl.log"; }
chat() { curl -s -N -X POST "$G/v1/chat" -H 'content-type: application/json' \
  -H "authorization: Bearer $1" -d "$(jq -nc --arg m "$2" '{message:$m}')"; }
event_data() { awk -v e="$1" '/^event: /{n=$2} /^data: /{if (n==e) {sub(/^data: /,""); print}}'; }

S=$(new_session); TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")
it_check "a session for the visitor" test -n "$TOK" -a "$TOK" != null
out=$(chat "$TOK" "Can I talk to someone in sales? I am Tom from Acme, tom@acme.io")
h=$(event_data handoff <<<"$out" | head -1)
[ -n "$h" ] || printf '     (no handoff event; the session: %s; the stream:)\n%s\n' "$S" "$(head -c 2000 <<<"$out")"
it_check "chat hand-off: a handoff event after it is stored, with its id" it_jqe '.id > 0' <<<"$h"
it_check "open hours: the promise says within HANDOFF_RESPONSE_TIME" it_jqe '.promise == "A colleague will reply within 20 minutes."' <<<"$h"
it_check_eq "the handoff event comes last before done" "event: handoff event: done " "$(grep '^event: ' <<<"$out" | tail -2 | tr '\n' ' ')"
row=$(q "SELECT source, reason_kind, status, email, within_business_hours, promised_response FROM handoff_records WHERE session_id='$SID'")
it_check_eq "one handoff_records row: chat, person, new, the lead's email, open hours, the promise" \
  "chat|person|new|tom@acme.io|t|A colleague will reply within 20 minutes." "$row"
HID=$(q "SELECT id FROM handoff_records WHERE session_id='$SID'")
it_check_eq "the event's id is the row's" "$HID" "$(jq -r .id <<<"$h")"
it_check_eq "two notifications queued (webhook, email)" "email webhook" "$(q "SELECT string_agg(channel, ' ' ORDER BY channel) FROM handoff_outbox WHERE handoff_id=$HID")"
out2=$(chat "$TOK" "Please, I want to talk to a person, my phone is +49 151 2345678")
it_check_eq "asking again in the same session updates the row, no second one" 1 "$(q "SELECT count(*) FROM handoff_records WHERE session_id='$SID'")"
it_check_eq "... and queues no second notification" 2 "$(q "SELECT count(*) FROM handoff_outbox WHERE handoff_id=$HID")"
it_check "... the second turn still confirms the hand-off" it_jqe ".id == $HID" <<<"$(event_data handoff <<<"$out2" | head -1)"

delivered() { [ "$(q "SELECT count(*) FROM handoff_outbox WHERE handoff_id=$1 AND state='sent'")" = "${2:-2}" ]; }
it_check "both notifications are delivered, outside the turn" it_wait_for 15 delivered "$HID"
hooks=$(curl -s "$SINK/_sink/webhooks")
hook=$(jq -c '[.[] | select(.path=="/hooks/sales")][0]' <<<"$hooks")
body=$(jq -r .body <<<"$hook")
ts=$(jq -r '.headers["x-chat-timestamp"]' <<<"$hook")
sig=$(jq -r '.headers["x-chat-signature"]' <<<"$hook")
want="v1=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$HOOK_SECRET" -hex | sed 's/^.*= //')"
it_check_eq "webhook signature: v1=HMAC-SHA256(secret, timestamp.body), checked with openssl" "$want" "$sig"
it_check "webhook timestamp is now (Unix seconds)" bash -c "[ \$(( $(date +%s) - $ts )) -lt 60 ]"
it_check "webhook body: the hand-off, its lead and the transcript" it_jqe \
  ".event==\"handoff.created\" and .handoff_id==$HID and .lead.email==\"tom@acme.io\" and .reason_kind==\"person\" and (.transcript|length)>=2 and .transcript[0].role==\"user\" and .promised_response!=null" <<<"$body"
it_check "webhook body has no ip hash" bash -c "! grep -q ip_hash <<<'$(tr -d "'" <<<"$body")'"
it_check_eq "webhook carries the delivery id" "$(q "SELECT id FROM handoff_outbox WHERE handoff_id=$HID AND channel='webhook'")" "$(jq -r '.headers["x-chat-delivery"]' <<<"$hook")"
mail=$(curl -s "$SINK/_sink/mail" | jq -c '.[0]')
it_check_eq "email to every SALES_EMAIL address, from SMTP_FROM" "assistant@quorvia.example sales@quorvia.example,lead-desk@quorvia.example" "$(jq -r '.from + " " + (.to|join(","))' <<<"$mail")"
text=$(jq -r .data <<<"$mail" | python3 -c 'import sys, email; m = email.message_from_string(sys.stdin.read()); print(m["Subject"]); print(m.get_payload(decode=True).decode())')
mail_ok() { grep -q '^New lead: Tom' <<<"$text" && grep -q 'Email: tom@acme.io' <<<"$text" && grep -q '^Transcript:' <<<"$text" && grep -q 'talk to someone in sales' <<<"$text"; }
it_check "email: subject names the lead, body has the summary and the transcript" mail_ok

# --- a retried Commit of a turn (the gateway lost the reply): the same hand-off -------------
CLI="$IT_ROOT/$IT_BUILD/tools/session_cli"
c=$("$CLI" Create); CS=$(jq -r .session_id <<<"$c"); CT=$(jq -r .token <<<"$c")
RT=t_retried-turn-0123456789
b=$("$CLI" Begin session_id="$CS" token="$CT" turn_id="$RT" user_message="I want a demo")
commit_once() {
  "$CLI" Commit session_id="$CS" turn_id="$RT" parent_checkpoint_id="$(jq -r .checkpoint_id <<<"$b")" \
    user="I want a demo, kim@example.org" assistant="Noted." lead.email=kim@example.org lead_changed=true \
    handoff_requested=true handoff_reason="The visitor asked for a demo" handoff_urgency=high
}
r1=$(commit_once); r2=$(commit_once)
it_check "Commit with a hand-off answers its id and the promise" it_jqe '(.handoff_id | tonumber) > 0 and (.handoff_promise | length) > 0' <<<"$r1"
it_check_eq "a retried Commit answers the same hand-off" "$(jq -r .handoff_id <<<"$r1")" "$(jq -r .handoff_id <<<"$r2")"
it_check_eq "... and stores one row with its notifications" "1|2|high|demo" \
  "$(q "SELECT count(*), (SELECT count(*) FROM handoff_outbox o JOIN handoff_records h ON h.id = o.handoff_id WHERE h.session_id = '$CS'), max(urgency), max(reason_kind) FROM handoff_records WHERE session_id = '$CS'")"
# (delivered before the webhook is told to fail below, so it cannot use up those failures)
it_check "... which is delivered too" it_wait_for 15 delivered "$(jq -r .handoff_id <<<"$r1")"
it_check_eq "a bad urgency is refused" INVALID_ARGUMENT "$("$CLI" Commit session_id="$CS" turn_id=t_other parent_checkpoint_id= user=x handoff_requested=true handoff_urgency=whenever | jq -r .error.code)"

# --- retries and dead letters ------------------------------------------------------
sink_mode '{"webhook":"fail:2"}'
S2=$(new_session); TOK2=$(jq -r .token <<<"$S2"); SID2=$(jq -r .session_id <<<"$S2")
chat "$TOK2" "I want a demo, reach me at ana@example.org" >/dev/null
H2=$(q "SELECT id FROM handoff_records WHERE session_id='$SID2'")
it_check "a failing webhook is retried until it gets through" it_wait_for 15 delivered "$H2"
it_check_eq "... on the third attempt (two failures, backoff)" 3 "$(q "SELECT attempts FROM handoff_outbox WHERE handoff_id=$H2 AND channel='webhook'")"
it_check_eq "... kind demo" demo "$(q "SELECT reason_kind FROM handoff_records WHERE id=$H2")"

start_session HANDOFF_RETRY_FOR=2s
sink_mode '{"webhook":"fail"}'
S3=$(new_session); TOK3=$(jq -r .token <<<"$S3"); SID3=$(jq -r .session_id <<<"$S3")
chat "$TOK3" "Can a human call me? joe@example.net" >/dev/null
H3=$(q "SELECT id FROM handoff_records WHERE session_id='$SID3'")
dead() { [ "$(q "SELECT state FROM handoff_outbox WHERE handoff_id=$H3 AND channel='webhook'")" = dead ]; }
it_check "a webhook failing past HANDOFF_RETRY_FOR becomes a dead letter" it_wait_for 15 dead
it_check "... with the last error kept" bash -c "[ \"\$(psql '$DATABASE_URL' -qAtc \"SELECT last_error FROM handoff_outbox WHERE handoff_id=$H3 AND channel='webhook'\")\" = 'webhook answered HTTP 500' ]"
it_check "... and logged" grep -q 'dead letter' "$IT_TMP/logs/svc-session.log"
it_check "... while the email of the same hand-off went out" it_wait_for 5 bash -c "[ \"\$(psql '$DATABASE_URL' -qAtc \"SELECT state FROM handoff_outbox WHERE handoff_id=$H3 AND channel='email'\")\" = sent ]"

start_session HANDOFF_RETRY_FOR=1h HANDOFF_RETRY_BASE=1s
S4=$(new_session); TOK4=$(jq -r .token <<<"$S4"); SID4=$(jq -r .session_id <<<"$S4")
chat "$TOK4" "Can I get a quote for 50 seats? Mail me: eve@example.com" >/dev/null
H4=$(q "SELECT id FROM handoff_records WHERE session_id='$SID4'")
tried() { [ "$(q "SELECT attempts > 0 AND state = 'pending' AND last_error IS NOT NULL FROM handoff_outbox WHERE handoff_id=$H4 AND channel='webhook'")" = t ]; }
it_check "restart mid-retry: a failed attempt is pending" it_wait_for 10 tried
{ kill -KILL "$(it_pid svc-session)" && wait "$(it_pid svc-session)"; } 2>/dev/null
sink_mode '{"webhook":"ok"}'
start_session
it_check "restart mid-retry: after svc-session restarts the notification is delivered" it_wait_for 20 delivered "$H4"
it_check_eq "... kind pricing" pricing "$(q "SELECT reason_kind FROM handoff_records WHERE id=$H4")"

# --- the promise when closed, in the visitor's language ------------------------------
days=(Mon Tue Wed Thu Fri Sat Sun)
tomorrow=${days[$(( $(TZ=Europe/Berlin date +%u) % 7 ))]}
start_session BUSINESS_HOURS="$tomorrow 09:00-18:00"
S5=$(new_session); TOK5=$(jq -r .token <<<"$S5")
h5=$(chat "$TOK5" "Can I talk to someone in sales? sam@example.com" | event_data handoff | head -1)
it_check "closed: the promise names the next opening" it_jqe '.promise == "We are closed now; we will reply tomorrow from 09:00 (Europe/Berlin)."' <<<"$h5"
S6=$(new_session '{"locale":"de-DE"}'); TOK6=$(jq -r .token <<<"$S6")
h6=$(chat "$TOK6" "Kann ich bitte mit jemandem vom Vertrieb sprechen? max@example.de" | event_data handoff | head -1)
it_check "closed, German visitor: the promise in German" it_jqe '.promise == "Wir sind gerade nicht erreichbar; wir melden uns morgen ab 09:00 (Europe/Berlin)."' <<<"$h6"

# --- the contact form ------------------------------------------------------------------
start_session BUSINESS_HOURS="Mon-Sun 00:00-24:00"
code=$(curl -s -o "$IT_TMP/lead.out" -w '%{http_code}' -X POST "$G/v1/leads" -H 'content-type: application/json' \
  -d '{"name":"Ada Lovelace","email":"ada@example.com","message":"Please call me about Enterprise","consent":true}')
it_check_eq "contact form: 201" 201 "$code"
it_check "contact form: the reply carries the promise" it_jqe '.promise == "A colleague will reply within 20 minutes."' "$IT_TMP/lead.out"
HF=$(q "SELECT id FROM handoff_records WHERE email='ada@example.com' AND source='form'")
it_check_eq "contact form: a form row with consent" "form|t" "$(q "SELECT reason_kind, consent FROM handoff_records WHERE id=$HF")"
it_check "contact form: sales is notified too" it_wait_for 15 delivered "$HF"
curl -s -o /dev/null -X POST "$G/v1/leads" -H 'content-type: application/json' \
  -d '{"name":"Grace","email":"grace@hopper-systems.de","phone":"0151 2345 678","message":"Call me","consent":true}'
it_check_eq "contact form: the phone in E.164, the company from the business email" "+491512345678|Hopper Systems" \
  "$(q "SELECT phone, company FROM handoff_records WHERE email='grace@hopper-systems.de'")"

# --- STARTTLS required against a server without it: a clear error, retried ---------
start_session SMTP_STARTTLS=true
S7=$(new_session); TOK7=$(jq -r .token <<<"$S7"); SID7=$(jq -r .session_id <<<"$S7")
chat "$TOK7" "I'd like a demo, ivy@example.com" >/dev/null
H7=$(q "SELECT id FROM handoff_records WHERE session_id='$SID7'")
tls_err() { q "SELECT last_error FROM handoff_outbox WHERE handoff_id=$H7 AND channel='email' AND state='pending'" | grep -qi 'ssl\|tls'; }
it_check "SMTP_STARTTLS=true against a server without STARTTLS: not sent, the error says why" it_wait_for 10 tls_err
start_session SMTP_STARTTLS=false

# --- the admin API ---------------------------------------------------------------------
A="$G/admin"
acode() { curl -s -o "$IT_TMP/admin.out" -w '%{http_code}' -H "authorization: Bearer $ADMIN" "$@"; }
ready_pub=$(curl -s "$G/readyz")
it_check "/readyz without the admin token: states only (no versions, errors, timings)" it_jqe '.ready and .services.session.ready and ([.services[] | keys[]] | unique) == ["ready"]' <<<"$ready_pub"
it_check "/readyz with the admin token: every service's detail" it_jqe '.services.session.version and .services.llm.status == "OK" and (.services.session.ms >= 0)' <<<"$(curl -s -H "authorization: Bearer $ADMIN" "$G/readyz")"
it_check_eq "/metrics without the admin token (ADMIN_TOKEN set): 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$G/metrics")"
it_check_eq "/metrics with the admin token: 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $ADMIN" "$G/metrics")"
it_check_eq "admin: no token, 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$A/handoffs")"
it_check_eq "admin: a wrong token, 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H 'authorization: Bearer admin-token-0123456789abcdeX' "$A/handoffs")"
it_check_eq "admin: a visitor's session token is not the admin token, 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOK" "$A/handoffs")"
it_check_eq "admin: list hand-offs, 200" 200 "$(acode "$A/handoffs")"
total=$(q "SELECT count(*) FROM handoff_records")
it_check_eq "admin: the list has every hand-off, newest first" "$total|true" "$(jq -r '"\(.handoffs|length)|\(.handoffs[0].id > .handoffs[-1].id)"' "$IT_TMP/admin.out")"
acode "$A/handoffs?limit=2" >/dev/null
p1=$(jq -c '[.handoffs[].id]' "$IT_TMP/admin.out"); nb=$(jq -r .next_before_id "$IT_TMP/admin.out")
acode "$A/handoffs?limit=2&before_id=$nb" >/dev/null
p2=$(jq -c '[.handoffs[].id]' "$IT_TMP/admin.out")
it_check "admin: pages of 2 with next_before_id, no overlap" it_jqe -n --argjson a "$p1" --argjson b "$p2" '($a|length)==2 and ($b|length)>=1 and ($a[-1] > $b[0])'
acode "$A/handoffs?status=new&since=$(date -u +%F)" >/dev/null
it_check_eq "admin: filter by status and date" "$(q "SELECT count(*) FROM handoff_records WHERE status='new' AND created_at >= current_date")" "$(jq '.handoffs|length' "$IT_TMP/admin.out")"
it_check_eq "admin: an unknown status filter, 400" 400 "$(acode "$A/handoffs?status=maybe")"
it_check_eq "admin: a date that is not one, 400" 400 "$(acode "$A/handoffs?since=yesterday-ish")"
it_check_eq "admin: read one hand-off, 200" 200 "$(acode "$A/handoffs/$HID")"
it_check "admin: the hand-off with its lead, notifications and transcript" it_jqe \
  ".id==$HID and .email==\"tom@acme.io\" and (.notifications|map(.state)|unique)==[\"sent\"] and (.transcript|length)==4 and .transcript[0].role==\"user\"" "$IT_TMP/admin.out"
it_check_eq "admin: an unknown hand-off, 404" 404 "$(acode "$A/handoffs/999999")"
it_check_eq "admin: change the status, 200" 200 "$(acode -X POST "$A/handoffs/$HID" -d '{"status":"contacted"}')"
it_check_eq "admin: ... stored" contacted "$(q "SELECT status FROM handoff_records WHERE id=$HID")"
it_check_eq "admin: a status that does not exist, 400" 400 "$(acode -X POST "$A/handoffs/$HID" -d '{"status":"maybe"}')"
it_check_eq "admin: a body that is not JSON, 400" 400 "$(acode -X POST "$A/handoffs/$HID" -d 'status=won')"
it_check_eq "admin: export a session, 200" 200 "$(acode "$A/sessions/$SID/export")"
it_check "admin: the export has every table's rows of the session" it_jqe \
  ".session.id==\"$SID\" and (.messages|length)==4 and (.checkpoints|length)==2 and (.checkpoint_blobs|length)>=2 and (.handoff_records|length)==1 and (.handoff_outbox|length)==2 and (.usage|length)==2" "$IT_TMP/admin.out"
it_check_eq "admin: export of an unknown session, 404" 404 "$(acode "$A/sessions/s_AAAAAAAAAAAAAAAAAAAAAA/export")"
it_check_eq "admin: a retention run now, 200" 200 "$(acode -X POST "$A/retention/run")"
it_check "admin: ... with its counts" it_jqe 'has("sessions_deleted") and has("handoff_records_deleted")' "$IT_TMP/admin.out"
it_check_eq "admin: reindex, 202" 202 "$(acode -X POST "$A/reindex")"
job=$(jq -r .job_id "$IT_TMP/admin.out")
index_done() { acode "$A/index" >/dev/null && jq -e ".job_id==$job and .state==\"done\"" "$IT_TMP/admin.out" >/dev/null; }
it_check "admin: the indexing run finishes (GET /admin/index)" it_wait_for 60 index_done
it_check_eq "admin: erase a session without its token, 200" 200 "$(acode -X DELETE "$A/sessions/$SID2")"
it_check_eq "admin: ... audited as an admin erasure" admin "$(q "SELECT cause FROM erasure_audit ORDER BY id DESC LIMIT 1")"

# --- erasure reaches everything ---------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$G/v1/sessions/$SID" -H "authorization: Bearer $TOK")
it_check_eq "erase: 200" 200 "$code"
it_check_eq "erase: the hand-off and its notifications are gone" "0|0" \
  "$(q "SELECT (SELECT count(*) FROM handoff_records WHERE id=$HID), (SELECT count(*) FROM handoff_outbox WHERE handoff_id=$HID)")"
it_check_eq "erase: an audit row with counts and no identifier" "request|1|1|2" \
  "$(q "SELECT cause, sessions, handoffs, outbox FROM erasure_audit ORDER BY id DESC LIMIT 1")"
# Every text-like column of every table of the schema: none holds the id.
refs=0
while IFS='|' read -r tbl col; do
  n=$(q "SELECT count(*) FROM \"$tbl\" WHERE \"$col\"::text LIKE '%$SID%'")
  if [ "$n" != 0 ]; then refs=$((refs + n)); echo "     $tbl.$col still holds the session ($n rows)"; fi
done < <(q "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema='public' AND data_type IN ('text','jsonb','json','character varying','bytea')")
it_check_eq "erase: no column of any table still references the session" 0 "$refs"
it_check_eq "erase: the audit table holds no session id" 0 "$(q "SELECT count(*) FROM erasure_audit WHERE row_to_json(erasure_audit.*)::text LIKE '%s\\_%'")"

# --- SESSION_SECRET rotation: the previous secret still verifies, never signs -----------
OLD_SECRET=$SESSION_SECRET
SR=$(new_session); TOKR=$(jq -r .token <<<"$SR"); SIDR=$(jq -r .session_id <<<"$SR")
restart_gw() {
  { kill -KILL "$(it_pid gateway)" && wait "$(it_pid gateway)"; } 2>/dev/null
  it_start gateway
  it_wait_for 10 bash -c "curl -s '$G/readyz' | jq -ne 'input | .ready' >/dev/null 2>&1"
}
export SESSION_SECRET=it-secret-rotated-0123456789-0123456789 SESSION_SECRET_PREVIOUS=$OLD_SECRET
start_session; restart_gw
it_check "rotation: a token made under the previous secret still works" bash -c "curl -s -N -X POST '$G/v1/chat' -H 'content-type: application/json' -H 'authorization: Bearer $TOKR' -d '{\"message\":\"hello\"}' | grep -q '^event: done'"
SN=$(new_session); TOKN=$(jq -r .token <<<"$SN"); SIDN=$(jq -r .session_id <<<"$SN")
signed_by() { printf '%s.%s' "$1" "$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$2" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')"; }
it_check_eq "rotation: new tokens are made under the new secret" "$(signed_by "$SIDN" "$SESSION_SECRET")" "$TOKN"
export SESSION_SECRET_PREVIOUS=
start_session; restart_gw
it_check_eq "rotation over: the old token is refused (401)" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$G/v1/sessions/$SIDR/messages" -H "authorization: Bearer $TOKR")"
it_check_eq "rotation over: the new token works" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$G/v1/sessions/$SIDN/messages" -H "authorization: Bearer $TOKN")"

it_check "svc-session is still serving (/healthz)" test "$(curl -s -o /dev/null -w '%{http_code}' "$G/healthz")" = 200
it_summary
