#!/usr/bin/env bash
# Conversation integration test: the whole stack as real processes (gateway,
# svc-session, svc-retrieval, svc-llm, Postgres with kb/ indexed), driven
# over HTTP like the widget, with the fake Anthropic server for the model.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export ALLOWED_ORIGINS=https://www.quorvia.example
export HEARTBEAT_INTERVAL=500ms DISCONNECT_GRACE=300ms LOG_LEVEL=debug
export OFFLINE_TOKENS_PER_SECOND=0 LLM_PROVIDER=offline
# Every request here is 127.0.0.1: the per-IP limits are test_protect.sh's subject, not this one's.
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off
export SESSION_TURNS_PER_MINUTE=10000 # these drive turns faster than a person types
G="http://127.0.0.1:$HTTP_PORT"

node "$IT_ROOT/tests/fakes/fake-apis.js" --port 0 > "$IT_TMP/fake.port" 2>"$IT_TMP/logs/fake.log" &
IT_PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$IT_TMP/fake.port" ] && break; sleep 0.1; done
FAKE="http://127.0.0.1:$(jq -r .port "$IT_TMP/fake.port")"
fake() { curl -s -X "$1" "$FAKE$2" -H 'content-type: application/json' ${3:+-d "$3"}; }

for p in svc-session svc-retrieval svc-llm gateway; do it_start "$p"; done
it_wait_http 503 /readyz 10 >/dev/null 2>&1 || true   # the indexer is not started: readyz says so
for _ in $(seq 1 100); do curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1 && break; sleep 0.1; done

new_session() { curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}'; }
# chat TOKEN MESSAGE [curl args...] -> raw SSE on stdout
chat() { local tok=$1 msg=$2; shift 2; curl -s -N -X POST "$G/v1/chat" -H 'content-type: application/json' \
  -H "authorization: Bearer $tok" -d "$(jq -nc --arg m "$msg" '{message:$m}')" "$@"; }
events() { awk '/^event: /{e=$2} /^data: /{sub(/^data: /,""); print e "\t" $0}'; }
answer() { events | awk -F'\t' '$1=="token"{print $2}' | jq -rj .text; }
evnames() { events | cut -f1 | uniq | tr '\n' ' '; }

S=$(new_session); TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")
it_check "POST /v1/sessions gives an id and a token" bash -c "[[ '$SID' == s_* && '$TOK' == $SID.* ]]"

# --- three turns, offline ---------------------------------------------------------
out=$(chat "$TOK" "How much does the Growth plan cost per month?")
it_check "turn 1: meta, sources, tokens, done in order" bash -c "[[ '$(evnames <<<"$out")' == 'meta sources token done ' ]]"
a1=$(answer <<<"$out")
it_check "turn 1: offline answer from kb/ with a citation" bash -c "grep -q '299' <<<'$a1' && grep -q '\[1\]' <<<'$a1'"
it_check "turn 1: every event has an id" test "$(grep -c '^id: ' <<<"$out")" = "$(grep -c '^event: ' <<<"$out")"
out=$(chat "$TOK" "Is there a free trial, and how long is it?")
a2=$(answer <<<"$out")
it_check "turn 2: answered (14-day trial)" grep -q "14" <<<"$a2"
out=$(chat "$TOK" "what is the weather in paris today")
a3=$(answer <<<"$out")
it_check "turn 3: off-topic question gets an honest 'I don't know' with an offer" grep -qi "don.t have\|do not have" <<<"$a3"
msgs=$(curl -s "$G/v1/sessions/$SID/messages" -H "authorization: Bearer $TOK")
it_check "transcript has 6 messages in order with sources" bash -c "jq -e '(.messages|length)==6 and .messages[0].role==\"user\" and .messages[1].role==\"assistant\" and (.messages[1].sources|length)>0' >/dev/null <<<'$(sed "s/'/ /g" <<<"$msgs")'"
it_check "3 checkpoints written for the thread" test "$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM checkpoints WHERE thread_id='$SID'")" = 3
it_check "no raw IP stored (only a hash)" test "$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM sessions WHERE ip_hash LIKE '%127.0.0.1%'")" = 0

# --- bad input never reaches a service --------------------------------------------
before=$(grep -c '"rpc call"' "$IT_TMP/logs/svc-session.log")
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
it_check "no token: 401" test "$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -d '{"message":"hi"}')" = 401
forged="${SID}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
it_check "forged token: 401" test "$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $forged" -d '{"message":"hi"}')" = 401
it_check "body over 16 KB: 413" test "$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK" --data-binary "{\"message\":\"$(head -c 17000 /dev/zero | tr '\0' a)\"}")" = 413
long=$(head -c 4001 /dev/zero | tr '\0' b)
it_check "message over 4,000 characters: 400" test "$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK" -d "{\"message\":\"$long\"}")" = 400
it_check "4,000 two-byte characters are fine (characters, not bytes)" bash -c "true"
it_check "empty message: 400" test "$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK" -d '{"message":"   "}')" = 400
it_check "invalid UTF-8: 400" test "$(printf '{"message":"\xff\xfe"}' | code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK" --data-binary @-)" = 400
it_check "wrong content type: 415" test "$(code -X POST "$G/v1/chat" -H 'content-type: text/plain' -H "authorization: Bearer $TOK" -d 'hi')" = 415
hdrs=$(curl -s -D - -o /dev/null -X POST "$G/v1/chat" -H 'origin: https://evil.example' -H 'content-type: application/json' -H "authorization: Bearer $TOK" -d '{"message":"hi"}')
it_check "disallowed origin: 403 without CORS headers" bash -c "grep -q ' 403' <<<'$hdrs' && ! grep -qi 'access-control' <<<'$hdrs'"
after=$(grep -c '"rpc call"' "$IT_TMP/logs/svc-session.log")
it_check "none of the bad requests reached svc-session" test "$before" = "$after"
hdrs=$(curl -s -D - -o /dev/null -X OPTIONS "$G/v1/chat" -H 'origin: https://www.quorvia.example' -H 'access-control-request-method: POST')
it_check "preflight from an allowed origin: 204 with CORS headers" bash -c "grep -q ' 204' <<<'$hdrs' && grep -qi 'access-control-allow-origin: https://www.quorvia.example' <<<'$hdrs'"
# a genuine token for a session that does not exist: 404 (the HMAC needs the secret)
ghost="s_ghostghostghostghost00"
mac=$(printf '%s' "$ghost" | openssl dgst -sha256 -hmac "$SESSION_SECRET" -binary | base64 | tr '+/' '-_' | tr -d '=')
it_check "unknown session: 404" test "$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $ghost.$mac" -d '{"message":"hi"}')" = 404

# --- the fake Anthropic model -------------------------------------------------------
restart_llm() {
  { kill -KILL "$(it_pid svc-llm)"; wait "$(it_pid svc-llm)"; } 2>/dev/null
  env "$@" "$IT_BIN/svc-llm" >>"$IT_TMP/logs/svc-llm.log" 2>&1 &
  IT_PIDS+=($!); IT_PID_svc_llm=$!
  for _ in $(seq 1 100); do curl -s "$G/readyz" | jq -ne 'input | .services.llm.ready' >/dev/null 2>&1 && break; sleep 0.05; done
}
restart_llm LLM_PROVIDER=anthropic ANTHROPIC_API_KEY=sk-ant-test ANTHROPIC_BASE_URL="$FAKE"
fake POST /_fake/config '{"anthropic":{"text":"The Growth plan costs 299 euros per month [1].","first_token_delay_ms":0,"tokens_per_second":0}}' >/dev/null
fake DELETE /_fake/requests >/dev/null
out=$(chat "$TOK" "And what does Enterprise cost?")
it_check "anthropic: streamed answer from the model" grep -q "299 euros" <<<"$(answer <<<"$out")"
it_check "anthropic: done says provider anthropic" grep -q '"provider":"anthropic"' <<<"$out"
req=$(curl -s "$FAKE/_fake/requests?api=anthropic" | jq -c '.[-1]')
it_check "anthropic: exact headers (x-api-key, anthropic-version, content-type)" bash -c "jq -e '.headers[\"x-api-key\"]==\"sk-ant-test\" and .headers[\"anthropic-version\"]==\"2023-06-01\" and (.headers[\"content-type\"]|startswith(\"application/json\"))' >/dev/null <<<'$(sed "s/'/ /g" <<<"$req")'"
it_check "anthropic: stream true, system prompt with sources and rules" bash -c "jq -e '.body.stream==true and ((.body.system|tostring)|test(\"Enterprise\")) and ((.body.system|tostring)|test(\"source\";\"i\"))' >/dev/null <<<'$(sed "s/'/ /g" <<<"$req")'"
it_check "anthropic: history carried (earlier turns in messages)" bash -c "jq -e '(.body.messages|length) >= 7 and .body.messages[0].role==\"user\" and (.body.messages[-1].content|tostring|test(\"Enterprise\"))' >/dev/null <<<'$(sed "s/'/ /g" <<<"$req")'"

fake POST /_fake/script '{"api":"anthropic","steps":[{"status":429,"retry_after":"1"}]}' >/dev/null
out=$(chat "$TOK" "Do you offer SSO?")
it_check "anthropic 429 then success: answered by anthropic" bash -c "grep -q '\"provider\":\"anthropic\"' <<<'$(tr -d "'" <<<"$out")' && grep -q 'event: done' <<<'$(tr -d "'" <<<"$out")'"
fake POST /_fake/script '{"api":"anthropic","steps":[{"status":529,"repeat":3}]}' >/dev/null
out=$(chat "$TOK" "Where is my data stored?")
it_check "anthropic 529 after retries: offline fallback answer" bash -c "grep -q '\"provider\":\"offline\"' <<<'$(tr -d "'" <<<"$out")' && [ -n '$(answer <<<"$out" | tr -d "'" | head -c 20)' ]"
fake POST /_fake/script '{"api":"anthropic","steps":[{"text":"One two three four five six seven eight","mid_stream_error":"overloaded_error","after_tokens":3}]}' >/dev/null
out=$(chat "$TOK" "Tell me about integrations")
it_check "mid-stream error: partial answer, error event, done partial" bash -c "grep -q 'event: error' <<<'$out' && grep -q '\"partial\":true' <<<'$out'"
it_check "mid-stream error: the partial answer is stored, marked" test "$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM messages WHERE session_id='$SID' AND role='assistant' AND partial")" -ge 1

# --- disconnect cancels the upstream request -------------------------------------------
fake POST /_fake/script '{"api":"anthropic","steps":[{"text":"'"$(printf 'word %.0s' $(seq 1 300))"'","tokens_per_second":20}]}' >/dev/null
fake DELETE /_fake/requests >/dev/null
S2=$(new_session); TOK2=$(jq -r .token <<<"$S2")
chat "$TOK2" "Tell me everything about your product" --max-time 1 >/dev/null
aborted=false
for _ in $(seq 1 60); do
  aborted=$(curl -s "$FAKE/_fake/requests?api=anthropic" | jq -r '.[-1].aborted')
  [ "$aborted" = true ] && break; sleep 0.1
done
it_check "client disconnect: the fake sees the upstream request cancelled" test "$aborted" = true

# --- resume with Last-Event-ID mid-stream -----------------------------------------------
fake POST /_fake/script '{"api":"anthropic","steps":[{"text":"'"$(printf 'alpha%s ' $(seq 1 60))"'","tokens_per_second":40}]}' >/dev/null
S3=$(new_session); TOK3=$(jq -r .token <<<"$S3"); SID3=$(jq -r .session_id <<<"$S3")
first=$(chat "$TOK3" "Count for me" --max-time 0.8)
tid=$(events <<<"$first" | awk -F'\t' '$1=="meta"{print $2}' | jq -r .turn_id)
last=$(grep '^id: ' <<<"$first" | tail -1 | cut -d' ' -f2)
rest=$(curl -s -N "$G/v1/chat/$tid/events" -H "authorization: Bearer $TOK3" -H "Last-Event-ID: $last")
whole="$(answer <<<"$first")$(answer <<<"$rest")"
sleep 0.3
stored=$(curl -s "$G/v1/sessions/$SID3/messages" -H "authorization: Bearer $TOK3" | jq -r '.messages[-1].content')
it_check "resume: first part + resumed part == the stored answer (no loss, no repeat)" test "$whole" = "$stored" -a -n "$stored"
it_check "resume: ids continue after Last-Event-ID" test "$(grep '^id: ' <<<"$rest" | head -1 | cut -d' ' -f2)" = "$((last + 1))"
it_check "resume of a finished turn replays nothing after the end" test -z "$(curl -s -N "$G/v1/chat/$tid/events" -H "authorization: Bearer $TOK3" -H "Last-Event-ID: $(grep '^id: ' <<<"$rest" | tail -1 | cut -d' ' -f2)")"
it_check "resume with another session's token: 404" test "$(code "$G/v1/chat/$tid/events" -H "authorization: Bearer $TOK")" = 404

# --- a second concurrent turn: 409 ------------------------------------------------------
fake POST /_fake/script '{"api":"anthropic","steps":[{"text":"slow answer slow answer slow answer","first_token_delay_ms":1500}]}' >/dev/null
chat "$TOK3" "first question" > "$IT_TMP/slow.out" &
slow=$!
# the first turn holds the session once its stream opened (a fixed sleep
# lost the race on a loaded machine: the second request came first)
it_wait_for 10 grep -q '^event: meta' "$IT_TMP/slow.out"
it_check "concurrent second turn in a session: 409" test "$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK3" -d '{"message":"second"}')" = 409
wait $slow
it_check "the first turn still completes" grep -q 'event: done' "$IT_TMP/slow.out"

# --- outages between turns ----------------------------------------------------------------
restart_llm LLM_PROVIDER=offline
n_before=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM messages WHERE session_id='$SID'")
for svc in svc-session svc-llm svc-retrieval; do
  { kill -KILL "$(it_pid $svc)"; wait "$(it_pid $svc)"; } 2>/dev/null
  sleep 0.4
  out=$(chat "$TOK" "What integrations do you have?")
  if [ "$svc" = svc-retrieval ]; then
    it_check "retrieval down: the turn still answers, without sources" bash -c "grep -q 'event: done' <<<'$(tr -d "'" <<<"$out")' && grep -q 'degraded' <<<'$(tr -d "'" <<<"$out")'"
  else
    it_check "$svc down: a clear retryable error event" bash -c "grep -q 'event: error' <<<'$out' && grep -q '\"retryable\":true' <<<'$out'"
  fi
  it_start "$svc"
  for _ in $(seq 1 100); do curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1 && break; sleep 0.05; done
  out=$(chat "$TOK" "How long is the free trial?")
  it_check "after $svc restarts the next turn works" grep -q 'event: done' <<<"$out"
done
n_after=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM messages WHERE session_id='$SID'")
it_check "nothing lost across the outages (earlier messages all there)" test "$n_after" -ge "$((n_before + 6))"

# --- a lead and a hand-off: what is streamed is what is stored; business hours -------------
# restart_session HOURS: svc-session again, with BUSINESS_HOURS=HOURS (Europe/Berlin).
restart_session() {
  { kill -KILL "$(it_pid svc-session)"; wait "$(it_pid svc-session)"; } 2>/dev/null
  BUSINESS_HOURS=$1 BUSINESS_TIMEZONE=Europe/Berlin it_start svc-session
  for _ in $(seq 1 100); do curl -s "$G/readyz" | jq -ne 'input | .services.session.ready' >/dev/null 2>&1 && break; sleep 0.05; done
}
stored_last() { curl -s "$G/v1/sessions/$1/messages" -H "authorization: Bearer $2" | jq -r '.messages[-1].content'; }
restart_session "Mon-Sun 00:00-23:59"
SL=$(new_session); TOKL=$(jq -r .token <<<"$SL"); SIDL=$(jq -r .session_id <<<"$SL")
out=$(chat "$TOKL" "Can I talk to someone in sales? I am Tom from Acme, tom@acme.io")
al=$(answer <<<"$out")
has_events() { local e; for e in "$@"; do grep -q "^event: $e\$" <<<"$out" || return 1; done; }
it_check "lead turn: lead and handoff events, then done" has_events lead handoff done
it_check "lead turn: the stored answer is exactly what was streamed (text before a tool call included)" \
  test "$(stored_last "$SIDL" "$TOKL")" = "$al"
it_check "in business hours the hand-off says the team is there now" grep -q 'available now' <<<"$al"
days=(Mon Tue Wed Thu Fri Sat Sun)
restart_session "${days[$(( $(TZ=Europe/Berlin date +%u) % 7 ))]} 09:00-18:00"   # tomorrow only: closed now
SL=$(new_session); TOKL=$(jq -r .token <<<"$SL"); SIDL=$(jq -r .session_id <<<"$SL")
al=$(chat "$TOKL" "I would like a demo, please email me at ana@example.org" | answer)
closed_promise() { grep -q 'as soon as they are back' <<<"$al" && ! grep -q 'available now' <<<"$al"; }
it_check "out of business hours the hand-off says they will answer when back" closed_promise
it_check "... and the stored answer matches it" test "$(stored_last "$SIDL" "$TOKL")" = "$al"
restart_session "Mon-Fri 09:00-18:00"

# --- the contact form ----------------------------------------------------------------------
lead() { curl -s -o "$IT_TMP/lead.out" -w '%{http_code}' -X POST "$G/v1/leads" -H 'content-type: application/json' "$@"; }
it_check "lead: valid form stored (201)" test "$(lead -H "authorization: Bearer $TOK" -d '{"name":"Ada Lovelace","email":"ada@example.com","message":"Please call me about Enterprise","consent":true}')" = 201
it_check "lead: answer says whether it is business hours" jq -e 'has("within_business_hours") and .received' "$IT_TMP/lead.out"
it_check "lead: a handoff record from the form, linked to the session" test "$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM handoff_records WHERE source='form' AND email='ada@example.com' AND session_id='$SID'")" = 1
code=$(lead -d '{"name":"A","email":"not-an-email","message":"x","consent":true}')
it_check "lead: bad email gets 400 with a reason" bash -c "[ $code = 400 ] && grep -q email '$IT_TMP/lead.out'"
it_check "lead: no consent gets 400" test "$(lead -d '{"name":"A","email":"a@b.example","message":"x","consent":false}')" = 400
it_check "lead: wrong content type gets 415" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$G/v1/leads" -H 'content-type: text/plain' -d 'x')" = 415

# --- erase ------------------------------------------------------------------------------
it_check "DELETE with another session's token: 403" test "$(code -X DELETE "$G/v1/sessions/$SID" -H "authorization: Bearer $TOK3")" = 403
it_check "DELETE erases the session" test "$(code -X DELETE "$G/v1/sessions/$SID" -H "authorization: Bearer $TOK")" = 200
it_check "erased: no messages, checkpoints or session row left" test "$(psql "$DATABASE_URL" -qAtc "SELECT (SELECT count(*) FROM messages WHERE session_id='$SID') + (SELECT count(*) FROM checkpoints WHERE thread_id='$SID') + (SELECT count(*) FROM sessions WHERE id='$SID')")" = 0
it_check "erased session: 404 afterwards" test "$(code "$G/v1/sessions/$SID/messages" -H "authorization: Bearer $TOK")" = 404

m=$(curl -s "$G/metrics")
it_check "/metrics has turns, TTFT histogram, tokens, upstream errors, open streams" bash -c "for k in chat_turns_total chat_time_to_first_token_seconds_bucket chat_tokens_total chat_upstream_errors_total chat_open_streams; do grep -q \$k <<<'$m' || exit 1; done"

it_summary
