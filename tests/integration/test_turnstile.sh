#!/usr/bin/env bash
# Bot protection in the gateway, as real processes (gateway, svc-session,
# svc-retrieval, svc-llm, Postgres) and the Siteverify fake
# (tests/fakes/fake-turnstile.js): Turnstile on POST /v1/sessions (pass,
# fail, spent token, missing token, a retry with the same idempotency_key,
# Siteverify slow or down: 503 fail closed, or fail open; the expected
# hostname; remoteip and idempotency_key as the fake saw them), the
# contact form's honeypot (201, no row), the bot-score header believed from
# trusted peers only, and /healthz after every hostile case.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export IP_HASH_SECRET=it-ip-hash-secret
export LOG_LEVEL=debug OFFLINE_TOKENS_PER_SECOND=0 LLM_PROVIDER=offline
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off
G="http://127.0.0.1:$HTTP_PORT"
PASS=1x0000000000000000000000000000000AA FAILS=2x0000000000000000000000000000000AA
SPENT=3x0000000000000000000000000000000AA SITE=1x00000000000000000000AA

node "$IT_ROOT/tests/fakes/fake-turnstile.js" --port 0 >"$IT_TMP/fake.out" 2>>"$IT_TMP/logs/fake-turnstile.log" &
IT_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$IT_TMP/fake.out" ] && break; sleep 0.05; done
F="http://127.0.0.1:$(jq -r .port "$IT_TMP/fake.out")"
VERIFY="$F/turnstile/v0/siteverify"
fake() { curl -s -X "$1" "$F/_fake/$2" -H 'content-type: application/json' ${3:+-d "$3"}; }

for p in svc-session svc-retrieval svc-llm; do it_start "$p"; done
IT_PID_gateway=
start_gw() { # start_gw VAR=VALUE...: (re)starts the gateway with these settings
  local pid
  pid=$(it_pid gateway)
  [ -n "$pid" ] && { kill -TERM "$pid"; wait "$pid"; } 2>/dev/null
  env "$@" "$IT_BIN/gateway" >>"$IT_TMP/logs/gateway.log" 2>&1 &
  IT_PIDS+=($!); IT_PID_gateway=$!
  it_wait_http 200 /healthz 10 || return 1
  for _ in $(seq 1 200); do
    curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready' >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}
# post PATH BODY [curl args...]: headers in $IT_TMP/h, body in $IT_TMP/b, prints the status
post() {
  local path=$1 body=$2; shift 2
  curl -s -D "$IT_TMP/h" -o "$IT_TMP/b" -w '%{http_code}' -X POST "$G$path" -H 'content-type: application/json' \
    -d "$body" "$@"
}
code_is() { jq -e --arg c "$1" '.error.code == $c and (.error.message | length) > 20' "$IT_TMP/b" >/dev/null; }
refused() { [ "$1" = "$2" ] && code_is "$3"; } # refused STATUS WANT CODE
retry_after() { tr -d '\r' < "$IT_TMP/h" | awk -F': ' 'tolower($1)=="retry-after"{print $2}'; }
healthy() { it_check "$1: /healthz still answers 200" it_wait_http 200 /healthz 2; }
seen() { fake GET requests; }
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
TS=(TURNSTILE_SITE_KEY=$SITE TURNSTILE_VERIFY_URL=$VERIFY)

# --- Turnstile off: sessions need no token -----------------------------------------------
start_gw
it_check "off: POST /v1/sessions without a token is 201" test "$(post /v1/sessions '{}')" = 201
it_check "off: GET /v1/config says no site key" \
  bash -c "curl -s '$G/v1/config' | jq -ne 'input | . == {\"turnstile_site_key\": null}' >/dev/null"
it_check "off: the fake was never called" test "$(seen | jq length)" = 0

# --- on, with the always-passing dummy secret --------------------------------------------
start_gw TURNSTILE_SECRET=$PASS "${TS[@]}" TRUSTED_PROXIES=127.0.0.1/32
it_check "on: GET /v1/config gives the site key" \
  bash -c "curl -s '$G/v1/config' | jq -ne 'input | .turnstile_site_key == \"$SITE\"' >/dev/null"
st=$(post /v1/sessions '{}')
it_check "no token: 403 bot_check_required" refused "$st" 403 bot_check_required
it_check "... and Siteverify was not called" test "$(seen | jq length)" = 0
healthy "after the missing token"
st=$(post /v1/sessions '{"turnstile_token":"tok-pass-1","locale":"de"}' -H 'CF-Connecting-IP: 203.0.113.7')
it_check "a passing token in the body: 201 with a session" bash -c "[ $st = 201 ] && jq -e '.session_id and .token' '$IT_TMP/b' >/dev/null"
SID=$(jq -r .session_id "$IT_TMP/b")
it_check "... the session was created with its locale" \
  test "$(psql "$DATABASE_URL" -qAtc "SELECT locale FROM sessions WHERE id='$SID'")" = de
last=$(seen | jq '.[-1]')
it_check "the fake saw the token, the secret and JSON" \
  it_jqe '.response == "tok-pass-1" and .secret_kind == "pass" and (.content_type | startswith("application/json"))' <<<"$last"
it_check "... remoteip is the client the gateway computed (CF-Connecting-IP from a trusted peer)" \
  it_jqe '.remoteip == "203.0.113.7"' <<<"$last"
it_check "... idempotency_key is a version-4 UUID" it_jqe --arg re "$uuid_re" '.idempotency_key | test($re)' <<<"$last"
st=$(post /v1/sessions '{}' -H 'CF-Turnstile-Response: tok-pass-2')
it_check "a passing token in the CF-Turnstile-Response header: 201" test "$st" = 201
k1=$(seen | jq -r '.[-2].idempotency_key'); k2=$(seen | jq -r '.[-1].idempotency_key')
it_check "each verification has its own idempotency_key" test "$k1" != "$k2"
st=$(post /v1/sessions '{"turnstile_token":"tok-pass-1"}')
it_check "the same token again (spent): 403 bot_check_failed" refused "$st" 403 bot_check_failed
it_check "... the fake answered timeout-or-duplicate" \
  bash -c "$(declare -f fake seen); F=$F; seen | jq -e '.[-1].answer[\"error-codes\"] == [\"timeout-or-duplicate\"]' >/dev/null"
it_check "... the gateway logged the refusal with the codes, not the token" \
  bash -c "grep '\"bot check failed\"' '$IT_TMP/logs/gateway.log' | grep -q timeout-or-duplicate && ! grep -q tok-pass-1 '$IT_TMP/logs/gateway.log'"
healthy "after the spent token"
n=$(seen | jq length)
st=$(post /v1/sessions "{\"turnstile_token\":\"$(head -c 2049 /dev/zero | tr '\0' a)\"}")
it_check "a token over 2048 characters: 403 bot_check_failed without a call" \
  bash -c "[ $st = 403 ] && jq -e '.error.code == \"bot_check_failed\"' '$IT_TMP/b' >/dev/null && [ \$(curl -s $F/_fake/requests | jq length) = $n ]"
healthy "after the long token"

# A lost reply: the fake records the token, answers 500; the retry with the
# same idempotency_key gets the first verdict (a new key would be "spent").
fake POST config '{"fail_first":1}' >/dev/null
st=$(post /v1/sessions '{"turnstile_token":"tok-retry"}')
it_check "Siteverify 500 once: the retry passes (201)" test "$st" = 201
it_check "... two calls for the token, with the same idempotency_key" \
  bash -c "curl -s $F/_fake/requests | jq -ne 'input | [.[] | select(.response == \"tok-retry\")] | length == 2 and .[0].idempotency_key == .[1].idempotency_key and .[0].status == 500 and .[1].status == 200' >/dev/null"

# --- slow and unreachable Siteverify: fail closed (503) and fail open ---------------------
start_gw TURNSTILE_SECRET=$PASS "${TS[@]}" TURNSTILE_TIMEOUT=1s
fake POST config '{"delay_ms":3000}' >/dev/null
t0=$(date +%s%N)
post /v1/sessions '{"turnstile_token":"tok-slow-1"}' >"$IT_TMP/slow.st" &
slow=$!
sleep 0.2
h0=$(date +%s%N)
it_check "while a check waits on Siteverify, /healthz answers at once (the HTTP thread is free)" it_wait_http 200 /healthz 1
h1=$(date +%s%N)
it_check "... within 300 ms" test $(((h1 - h0) / 1000000)) -lt 300
wait $slow
t1=$(date +%s%N)
it_check "Siteverify slower than TURNSTILE_TIMEOUT=1s: 503 bot_check_unavailable" refused "$(cat "$IT_TMP/slow.st")" 503 bot_check_unavailable
it_check "... with Retry-After: 5" test "$(retry_after)" = 5
it_check "... after about 1 s, not 3 s" test $(((t1 - t0) / 1000000)) -lt 2500
healthy "after the timeout"
start_gw TURNSTILE_SECRET=$PASS "${TS[@]}" TURNSTILE_TIMEOUT=1s TURNSTILE_FAIL_OPEN=true
it_check "the same with TURNSTILE_FAIL_OPEN=true: 201" test "$(post /v1/sessions '{"turnstile_token":"tok-slow-2"}')" = 201
it_check "... logged as let through" grep -q 'let through (TURNSTILE_FAIL_OPEN)' "$IT_TMP/logs/gateway.log"
fake POST config '{"delay_ms":null}' >/dev/null
DEAD="http://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 61000 62999)/turnstile/v0/siteverify"
start_gw TURNSTILE_SECRET=$PASS TURNSTILE_SITE_KEY=$SITE TURNSTILE_VERIFY_URL="$DEAD"
st=$(post /v1/sessions '{"turnstile_token":"tok-dead-1"}')
it_check "Siteverify unreachable (connection refused): 503 bot_check_unavailable" refused "$st" 503 bot_check_unavailable
healthy "after the unreachable Siteverify"
start_gw TURNSTILE_SECRET=$PASS TURNSTILE_SITE_KEY=$SITE TURNSTILE_VERIFY_URL="$DEAD" TURNSTILE_FAIL_OPEN=true
it_check "... and with TURNSTILE_FAIL_OPEN=true: 201" test "$(post /v1/sessions '{"turnstile_token":"tok-dead-2"}')" = 201

# --- the other dummy secrets, a wrong secret, the hostname --------------------------------
start_gw TURNSTILE_SECRET=$FAILS "${TS[@]}"
st=$(post /v1/sessions '{"turnstile_token":"tok-f"}')
it_check "secret 2x (always fails): 403 bot_check_failed" refused "$st" 403 bot_check_failed
healthy "after the failing token"
start_gw TURNSTILE_SECRET=$SPENT "${TS[@]}"
st=$(post /v1/sessions '{"turnstile_token":"tok-s"}')
it_check "secret 3x (token spent): 403 bot_check_failed" refused "$st" 403 bot_check_failed
start_gw TURNSTILE_SECRET=0x-not-a-secret-of-this-site "${TS[@]}"
st=$(post /v1/sessions '{"turnstile_token":"tok-w"}')
it_check "a secret Cloudflare refuses: 503 (the operator's problem, not the visitor's)" refused "$st" 503 bot_check_unavailable
it_check "... and an error log that names TURNSTILE_SECRET" \
  bash -c "grep '\"level\":\"error\"' '$IT_TMP/logs/gateway.log' | grep -q 'refuses TURNSTILE_SECRET (invalid-input-secret)'"
start_gw TURNSTILE_SECRET=$PASS "${TS[@]}" TURNSTILE_EXPECTED_HOSTNAME=chat.example.org
st=$(post /v1/sessions '{"turnstile_token":"tok-h1"}')
it_check "a token issued on another hostname: 403 bot_check_failed" refused "$st" 403 bot_check_failed
start_gw TURNSTILE_SECRET=$PASS "${TS[@]}" "TURNSTILE_EXPECTED_HOSTNAME=chat.example.org, Example.COM"
it_check "... on a listed hostname (any case): 201" test "$(post /v1/sessions '{"turnstile_token":"tok-h2"}')" = 201

bad_start() { # bad_start VARIABLE VAR=VALUE...: exits 2 naming VARIABLE
  local var=$1 rc; shift
  env "$@" HTTP_PORT="$("$IT_ROOT/scripts/free-port.sh" 61000 62999)" timeout 10 "$IT_BIN/gateway" >"$IT_TMP/bad.out" 2>&1; rc=$?
  [ "$rc" = 2 ] && grep -q "configuration error: $var" "$IT_TMP/bad.out"
}
it_check "TURNSTILE_SECRET without TURNSTILE_SITE_KEY: exit 2 naming TURNSTILE_SITE_KEY" \
  bad_start TURNSTILE_SITE_KEY TURNSTILE_SECRET=$PASS
it_check "TURNSTILE_VERIFY_URL=ftp://x: exit 2 naming it" bad_start TURNSTILE_VERIFY_URL TURNSTILE_VERIFY_URL=ftp://x
it_check "BOT_SCORE_HEADER with a space: exit 2 naming it" bad_start BOT_SCORE_HEADER "BOT_SCORE_HEADER=CF Bot"
it_check "BOT_SCORE_MIN=100: exit 2 naming it" bad_start BOT_SCORE_MIN BOT_SCORE_MIN=100

# A stop while checks wait on Siteverify: they are answered, the stop is quick.
start_gw TURNSTILE_SECRET=$PASS "${TS[@]}" TURNSTILE_TIMEOUT=30s
fake POST config '{"delay_ms":20000}' >/dev/null
post /v1/sessions '{"turnstile_token":"tok-stop"}' >"$IT_TMP/stop.st" &
waiter=$!
for _ in $(seq 1 100); do [ "$(seen | jq '[.[] | select(.response == "tok-stop")] | length')" = 1 ] && break; sleep 0.05; done
t0=$(date +%s%N)
kill -TERM "$(it_pid gateway)"; wait "$(it_pid gateway)"; rc=$?
t1=$(date +%s%N)
wait $waiter
it_check "SIGTERM with a check waiting 20 s on Siteverify: the gateway exits 0 within 3 s" \
  bash -c "[ $rc = 0 ] && [ $(((t1 - t0) / 1000000)) -lt 3000 ]"
it_check "... the waiting visitor got 503 bot_check_unavailable" refused "$(cat "$IT_TMP/stop.st")" 503 bot_check_unavailable
IT_PID_gateway=
fake POST config '{"delay_ms":null}' >/dev/null

# --- the contact form's honeypot ------------------------------------------------------------
start_gw
rows() { psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM handoff_records"; }
lead='{"name":"Ada","email":"ada@example.com","message":"Call me","consent":true'
r0=$(rows)
st=$(post /v1/leads "$lead}")
it_check "a real lead: 201 and one row" bash -c "[ $st = 201 ] && [ \$(psql '$DATABASE_URL' -qAtc 'SELECT count(*) FROM handoff_records') = $((r0 + 1)) ]"
real=$(cat "$IT_TMP/b")
st=$(post /v1/leads "$lead,\"website\":\"http://spam.example\"}")
it_check "the honeypot filled: 201 as if accepted" test "$st" = 201
it_check "... the same answer as a real lead (same fields, same promise)" \
  bash -c "jq -S . <<<'$real' > '$IT_TMP/real.json'; jq -S . '$IT_TMP/b' | diff -q - '$IT_TMP/real.json' >/dev/null"
it_check "... and no row in handoff_records" test "$(rows)" = $((r0 + 1))
it_check "... logged as honeypot by the gateway and svc-session" \
  bash -c "grep -q '\"honeypot\"' '$IT_TMP/logs/gateway.log' && grep -q '\"honeypot\"' '$IT_TMP/logs/svc-session.log'"
st=$(post /v1/leads "$lead,\"website\":\"\"}")
it_check "an empty honeypot (a person): 201 and stored" bash -c "[ $st = 201 ] && [ \$(psql '$DATABASE_URL' -qAtc 'SELECT count(*) FROM handoff_records') = $((r0 + 2)) ]"
st=$(post /v1/leads '{"name":"Bot","email":"not-an-email","consent":true,"website":"x"}')
it_check "a honeypot lead with a bad email still gets the same 400 as anyone" test "$st" = 400
healthy "after the honeypot"

# --- the bot-score header ---------------------------------------------------------------------
chat() { curl -s -N -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $1" \
  -d '{"message":"How much is the Growth plan?"}' "${@:2}"; }
start_gw BOT_SCORE_HEADER=CF-Bot-Score TRUSTED_PROXIES=127.0.0.1/32
st=$(post /v1/sessions '{}' -H 'CF-Bot-Score: 5')
it_check "trusted peer, score 5 < 30: POST /v1/sessions 403 bot_suspected" refused "$st" 403 bot_suspected
it_check "... the message offers the contact form" it_jqe '.error.message | test("contact form")' "$IT_TMP/b"
it_check "score 29: refused" test "$(post /v1/sessions '{}' -H 'CF-Bot-Score: 29')" = 403
it_check "score 30 (= BOT_SCORE_MIN): allowed" test "$(post /v1/sessions '{}' -H 'CF-Bot-Score: 30')" = 201
TOK=$(jq -r .token "$IT_TMP/b")
it_check "a score that is not 1..99 (\"abc\", \"0\", \"150\") is ignored" \
  bash -c "$(declare -f post); G=$G IT_TMP=$IT_TMP; for v in abc 0 150; do [ \$(post /v1/sessions '{}' -H \"CF-Bot-Score: \$v\") = 201 ] || exit 1; done"
st=$(post /v1/chat '{"message":"hi"}' -H "authorization: Bearer $TOK" -H 'CF-Bot-Score: 2')
it_check "trusted peer, score 2: POST /v1/chat 403 bot_suspected" refused "$st" 403 bot_suspected
it_check "... the same session chats with a good score" grep -q '^event: done' <<<"$(chat "$TOK" -H 'CF-Bot-Score: 90')"
healthy "after the low scores"
start_gw BOT_SCORE_HEADER=CF-Bot-Score
it_check "untrusted peer: its CF-Bot-Score: 1 is ignored (session 201)" test "$(post /v1/sessions '{}' -H 'CF-Bot-Score: 1')" = 201
TOK=$(jq -r .token "$IT_TMP/b")
it_check "... and its chat turn streams to done" grep -q '^event: done' <<<"$(chat "$TOK" -H 'CF-Bot-Score: 1')"
healthy "at the end"

it_summary
