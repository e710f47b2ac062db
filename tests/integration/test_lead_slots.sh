#!/usr/bin/env bash
# Lead slots end to end: the whole stack (gateway, svc-session, svc-retrieval,
# svc-llm, Postgres with kb/ indexed). A model (the fake Anthropic server)
# fills the lead over three turns with record_lead calls: a bad email is
# dropped, a number that cannot be read is kept and flagged, a German number
# is stored in E.164, a company is guessed from the email domain and then
# named; then it hands off. An offline conversation in German fills name,
# email and phone over three turns and reaches HANDOFF_SCORE, so a hand-off
# row appears without anyone asking for one.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export ALLOWED_ORIGINS=https://www.quorvia.example
export OFFLINE_TOKENS_PER_SECOND=0 LOG_LEVEL=debug
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off
export BUSINESS_HOURS="Mon-Sun 00:00-24:00" BUSINESS_TIMEZONE=Europe/Berlin
export LEAD_DEFAULT_COUNTRY=DE HANDOFF_SCORE=60
G="http://127.0.0.1:$HTTP_PORT"
q() { psql "$DATABASE_URL" -qAtc "$1"; }

node "$IT_ROOT/tests/fakes/fake-apis.js" --port 0 > "$IT_TMP/fake.port" 2>"$IT_TMP/logs/fake.log" &
IT_PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$IT_TMP/fake.port" ] && break; sleep 0.1; done
FAKE="http://127.0.0.1:$(jq -r .port "$IT_TMP/fake.port")"
fake() { curl -s -X "$1" "$FAKE$2" -H 'content-type: application/json' ${3:+-d "$3"}; }

for p in svc-session svc-retrieval; do it_start "$p"; done
LLM_PROVIDER=anthropic ANTHROPIC_API_KEY=sk-ant-test ANTHROPIC_BASE_URL="$FAKE" it_start svc-llm
it_start gateway
ready() { curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1; }
for _ in $(seq 1 100); do ready && break; sleep 0.1; done

new_session() { curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d "${1:-{\}}"; }
chat() { curl -s -N -X POST "$G/v1/chat" -H 'content-type: application/json' \
  -H "authorization: Bearer $1" -d "$(jq -nc --arg m "$2" '{message:$m}')"; }
event_data() { awk -v e="$1" '/^event: /{n=$2} /^data: /{if (n==e) {sub(/^data: /,""); print}}'; }
answer() { event_data token | jq -rj .text; }
# script TEXT TOOL_CALLS_JSON: the model's next answer
script() { fake POST /_fake/script "$(jq -nc --arg t "$1" --argjson c "$2" '{api:"anthropic",steps:[{text:$t,tool_calls:$c}]}')" >/dev/null; }
lead() { q "SELECT coalesce(lead->>'$2', '') FROM sessions WHERE id='$1'"; }
extra() { q "SELECT coalesce(lead->'extra'->>'$2', '') FROM sessions WHERE id='$1'"; }

# --- a model fills the lead over three turns ------------------------------------------
S=$(new_session); TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")
script "Nice to meet you, Jana! What is your email address?" \
  '[{"name":"record_lead","input":{"name":"Jana Novak","email":"jana.novak@","team_size":"40"}}]'
out=$(chat "$TOK" "Hi, I'm Jana Novak, my email is jana.novak@")
lev=$(event_data lead <<<"$out" | head -1)
it_check "turn 1: the lead event carries the name" it_jqe '.fields.name=="Jana Novak"' <<<"$lev"
it_check "turn 1: ... and not the bad email, nor team_size (not in LEAD_SLOTS)" it_jqe '(.fields|has("email")|not) and (.fields|has("team_size")|not)' <<<"$lev"
it_check_eq "turn 1: sessions.lead has the name" "Jana Novak" "$(lead "$SID" name)"
it_check_eq "turn 1: ... and no email (a bad email is dropped, not stored)" "" "$(lead "$SID" email)"
it_check_eq "turn 1: ... the score is name's 10" 10 "$(extra "$SID" score)"
it_check "turn 1: no hand-off yet" test "$(q "SELECT count(*) FROM handoff_records WHERE session_id='$SID'")" = 0

script "Thanks! And a phone number?" \
  '[{"name":"record_lead","input":{"email":"jana.novak@kettlebell-labs.com","phone":"call 555-CATS"}}]'
out=$(chat "$TOK" "It is jana.novak@kettlebell-labs.com, phone 555-CATS")
it_check_eq "turn 2: the email is stored" "jana.novak@kettlebell-labs.com" "$(lead "$SID" email)"
it_check_eq "turn 2: the name is kept from turn 1" "Jana Novak" "$(lead "$SID" name)"
it_check_eq "turn 2: a company guessed from the business domain" "Kettlebell Labs" "$(lead "$SID" company)"
it_check_eq "turn 2: ... marked as guessed" "email_domain" "$(extra "$SID" company_source)"
it_check_eq "turn 2: a number that cannot be read is kept as given" "call 555-CATS" "$(lead "$SID" phone)"
it_check_eq "turn 2: ... and flagged (phone_raw)" "call 555-CATS" "$(extra "$SID" phone_raw)"
it_check_eq "turn 2: score = email 30 + name 10 + company 10 (a flagged phone does not count)" 50 "$(extra "$SID" score)"
it_check "turn 2: under HANDOFF_SCORE: no hand-off" test "$(q "SELECT count(*) FROM handoff_records WHERE session_id='$SID'")" = 0

script "Thanks, I will pass this to our team." \
  '[{"name":"record_lead","input":{"phone":"0151 2345678","company":"Kettlebell Labs GmbH","consent":true}},{"name":"request_handoff","input":{"reason":"wants a demo for 40 people","urgency":"high"}}]'
out=$(chat "$TOK" "Sorry, my number is 0151 2345678, and we are Kettlebell Labs GmbH. Can we get a demo?")
it_check_eq "turn 3: the German number is stored in E.164" "+491512345678" "$(lead "$SID" phone)"
it_check_eq "turn 3: ... and is no longer flagged" "" "$(extra "$SID" phone_raw)"
it_check_eq "turn 3: the named company replaces the guess" "Kettlebell Labs GmbH" "$(lead "$SID" company)"
it_check_eq "turn 3: ... no longer marked as guessed" "" "$(extra "$SID" company_source)"
it_check_eq "turn 3: score 70 + intent 25 (demo)" 95 "$(extra "$SID" score)"
it_check "turn 3: the lead event has the E.164 number" it_jqe '.fields.phone=="+491512345678"' <<<"$(event_data lead <<<"$out" | head -1)"
h=$(event_data handoff <<<"$out" | head -1)
it_check "turn 3: the handoff SSE event with the model's reason" it_jqe '.id > 0 and .request.reason=="wants a demo for 40 people" and .request.urgency=="high"' <<<"$h"
row=$(q "SELECT name, email, phone, company, consent FROM handoff_records WHERE id=$(jq -r .id <<<"$h")")
it_check_eq "the handoff_records row: name, email, phone in E.164, company, consent" \
  "Jana Novak|jana.novak@kettlebell-labs.com|+491512345678|Kettlebell Labs GmbH|t" "$row"
it_check_eq "one hand-off for the session" 1 "$(q "SELECT count(*) FROM handoff_records WHERE session_id='$SID'")"
it_check_eq "the lead is marked qualified (score 95 >= 60)" true "$(lead "$SID" qualified)"

# --- offline, in German: a hand-off from the score alone ----------------------------------
{ kill -KILL "$(it_pid svc-llm)"; wait "$(it_pid svc-llm)"; } 2>/dev/null
LLM_PROVIDER=offline it_start svc-llm
for _ in $(seq 1 100); do ready && break; sleep 0.1; done
S=$(new_session '{"locale":"de-DE"}'); TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")
out=$(chat "$TOK" "Hallo, mein Name ist Anna Schmidt.")
a=$(answer <<<"$out")
it_check_eq "de turn 1: the name is stored" "Anna Schmidt" "$(lead "$SID" name)"
it_check "de turn 1: the answer asks for the email, in German" grep -q "E-Mail-Adresse" <<<"$a"
it_check "de turn 1: no hand-off" test "$(q "SELECT count(*) FROM handoff_records WHERE session_id='$SID'")" = 0
out=$(chat "$TOK" "Meine E-Mail ist anna.schmidt@holzbau-weber.de")
a=$(answer <<<"$out")
it_check_eq "de turn 2: the email is stored" "anna.schmidt@holzbau-weber.de" "$(lead "$SID" email)"
it_check_eq "de turn 2: the company guessed from the domain" "Holzbau Weber" "$(lead "$SID" company)"
it_check_eq "de turn 2: score 50, under HANDOFF_SCORE" 50 "$(extra "$SID" score)"
it_check "de turn 2: the answer asks for the phone (not the email again)" bash -c "grep -q Telefonnummer <<<'$a' && ! grep -q 'E-Mail-Adresse erreichen' <<<'$a'"
it_check "de turn 2: still no hand-off" test "$(q "SELECT count(*) FROM handoff_records WHERE session_id='$SID'")" = 0
out=$(chat "$TOK" "Sie erreichen mich unter 0151 2345678.")
it_check_eq "de turn 3: the phone in E.164" "+491512345678" "$(lead "$SID" phone)"
it_check_eq "de turn 3: score 70" 70 "$(extra "$SID" score)"
it_check "de turn 3: the handoff SSE event, nobody asked" it_jqe '.id > 0 and .request.reason=="qualified lead (score 70)"' <<<"$(event_data handoff <<<"$out" | head -1)"
row=$(q "SELECT name, email, phone, company, reason FROM handoff_records WHERE session_id='$SID'")
it_check_eq "de: one handoff_records row with the lead and the score as its reason" \
  "Anna Schmidt|anna.schmidt@holzbau-weber.de|+491512345678|Holzbau Weber|qualified lead (score 70)" "$row"
it_check "de: the promise is in German" grep -q "meldet sich" <<<"$(q "SELECT promised_response FROM handoff_records WHERE session_id='$SID'")"
out=$(chat "$TOK" "Wie lange dauert die Testphase?")
it_check_eq "de turn 4: a qualified lead is not handed off a second time" 1 "$(q "SELECT count(*) FROM handoff_records WHERE session_id='$SID'")"

# --- bad configuration is refused with a sentence -------------------------------------
msg=$(LEAD_SLOTS=name,shoe_size HTTP_PORT=1 timeout 10 "$IT_BIN/gateway" 2>&1 | head -3)
it_check "LEAD_SLOTS with an unknown slot: the gateway says which" grep -q 'LEAD_SLOTS: unknown slot "shoe_size"' <<<"$msg"
msg=$(LEAD_SCORE_WEIGHTS=email=lots HTTP_PORT=1 timeout 10 "$IT_BIN/gateway" 2>&1 | head -3)
it_check "LEAD_SCORE_WEIGHTS with bad points: refused" grep -q 'LEAD_SCORE_WEIGHTS' <<<"$msg"
msg=$(LEAD_DEFAULT_COUNTRY=XX HTTP_PORT=1 timeout 10 "$IT_BIN/gateway" 2>&1 | head -3)
it_check "LEAD_DEFAULT_COUNTRY not supported: refused" grep -q 'LEAD_DEFAULT_COUNTRY' <<<"$msg"

it_summary
