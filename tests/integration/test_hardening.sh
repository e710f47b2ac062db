#!/usr/bin/env bash
# HTTP edge hardening, as real processes (gateway, svc-session,
# svc-retrieval, svc-llm, Postgres): every cap answered with its status and
# a JSON error (431 headers, 413 body, 400 message length, JSON depth and
# keys, 400 Content-Length with Transfer-Encoding, connections per IP), a
# slow client cut at HTTP_REQUEST_TIMEOUT while a longer SSE stream goes on,
# security headers on API responses and /demo, the admin brute-force guard
# (429), paged transcripts (a huge one never fails the RPC), no ?token= in
# any log, and after each hostile case /healthz and a chat turn still work.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export IP_HASH_SECRET=it-ip-hash-secret
export LOG_LEVEL=debug LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=0
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off SESSION_TURNS_PER_MINUTE=1000
export ADMIN_TOKEN=it-admin-token-0123456789
G="http://127.0.0.1:$HTTP_PORT"
PY="python3 $(dirname "$0")/hardening_client.py"

for p in svc-session svc-retrieval; do it_start "$p"; done
# svc-llm answers slowly so a stream outlives HTTP_REQUEST_TIMEOUT
OFFLINE_TOKENS_PER_SECOND=12 "$IT_BIN/svc-llm" >>"$IT_TMP/logs/svc-llm.log" 2>&1 &
IT_PIDS+=($!)
IT_PID_gateway=

start_gw() { # start_gw VAR=VALUE...
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
# req METHOD PATH [curl args...]: headers in $IT_TMP/h, body in $IT_TMP/b, prints the status
req() {
  local m=$1 path=$2; shift 2
  curl -s -D "$IT_TMP/h" -o "$IT_TMP/b" -w '%{http_code}' -X "$m" "$G$path" "$@"
}
jqq() { jq -e "$@" >/dev/null; }
code_is() { jq -e --arg c "$1" '.error.code == $c and (.error.message | length) > 10' "$IT_TMP/b" >/dev/null; }
hdr() { tr -d '\r' < "$IT_TMP/h" | awk -F': ' -v n="$1" 'tolower($1)==tolower(n){print substr($0, length($1) + 3)}'; }
new_session() { curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}'; }
chat_ok() { # a normal turn streams to done
  local tok
  tok=$(new_session | jq -r .token)
  curl -s -N --max-time 60 -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $tok" \
    -d '{"message":"What does the Growth plan cost?"}' | grep -q '^event: done'
}
still_fine() { # still_fine AFTER
  it_check "after $1: /healthz answers 200" test "$(curl -s -o /dev/null -w '%{http_code}' "$G/healthz")" = 200
  it_check "after $1: a chat turn works" chat_ok
}

it_check "the gateway starts" start_gw HTTP_REQUEST_TIMEOUT=2s HTTP_MAX_CONNECTIONS_PER_IP=8 RATE_ADMIN=20/1m \
  HSTS_MAX_AGE=31536000
S=$(new_session); TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")

# --- caps ---------------------------------------------------------------------------------
args=(); for i in $(seq 1 70); do args+=(-H "X-Many-$i: v"); done
it_check "70 header lines: 431 headers_too_large (JSON)" \
  bash -c "[ \"\$(curl -s -o '$IT_TMP/b' -w '%{http_code}' $(printf "'%s' " "${args[@]}") '$G/healthz')\" = 431 ]"
it_check "... with a sentence" code_is headers_too_large
big=$(head -c 10000 /dev/zero | tr '\0' a)
st=$(req GET /healthz -H "X-Big: $big")
it_check "a 10 KB header: 431 headers_too_large" test "$st" = 431
it_check "... JSON error" code_is headers_too_large
still_fine "the header caps"
# The caps are settings: a site with large cookies raises them (the pool
# with them), a bad pair stops the gateway at start, naming both.
out=$(HTTP_MAX_HEADER_BYTES=32768 timeout 10 "$IT_BIN/gateway" 2>&1); rc=$?
it_check "HTTP_MAX_HEADER_BYTES over half of HTTP_CONNECTION_MEMORY: the gateway does not start, saying why" \
  bash -c "[ $rc -ne 0 ] && grep -q 'HTTP_MAX_HEADER_BYTES' <<<'$out' && grep -q 'HTTP_CONNECTION_MEMORY' <<<'$out'"
it_check "the gateway restarts with HTTP_MAX_HEADERS=20 HTTP_MAX_HEADER_BYTES=20000 HTTP_CONNECTION_MEMORY=65536" \
  start_gw HTTP_REQUEST_TIMEOUT=2s HTTP_MAX_CONNECTIONS_PER_IP=8 RATE_ADMIN=20/1m HSTS_MAX_AGE=31536000 \
  HTTP_MAX_HEADERS=20 HTTP_MAX_HEADER_BYTES=20000 HTTP_CONNECTION_MEMORY=65536
it_check_eq "a 10 KB Cookie header is accepted then" 200 "$(req GET /healthz -H "Cookie: big=$big")"
st=$(req GET /healthz -H "X-Big: $(head -c 21000 /dev/zero | tr '\0' a)")
it_check "a 21 KB header: 431 naming the configured 20000 bytes" bash -c "[ $st = 431 ] && grep -q '20000 bytes' '$IT_TMP/b'"
args=(); for i in $(seq 1 25); do args+=(-H "X-Many-$i: v"); done
st=$(curl -s -o "$IT_TMP/b" -w '%{http_code}' "${args[@]}" "$G/healthz")
it_check "25 header lines over HTTP_MAX_HEADERS=20: 431 naming 20" bash -c "[ $st = 431 ] && grep -q 'more than 20 header' '$IT_TMP/b'"
it_check "the gateway restarts with the defaults" start_gw HTTP_REQUEST_TIMEOUT=2s HTTP_MAX_CONNECTIONS_PER_IP=8 \
  RATE_ADMIN=20/1m HSTS_MAX_AGE=31536000

body=$(printf '{"message":"%s"}' "$(head -c 17000 /dev/zero | tr '\0' a)")
st=$(req POST /v1/chat -H 'content-type: application/json' -H "authorization: Bearer $TOK" --data-binary "$body")
it_check "a 17 KB body: 413 payload_too_large" bash -c "[ $st = 413 ] && jq -e '.error.code == \"payload_too_large\"' '$IT_TMP/b' >/dev/null"
msg=$(printf '{"message":"%s"}' "$(head -c 4001 /dev/zero | tr '\0' a)")
st=$(req POST /v1/chat -H 'content-type: application/json' -H "authorization: Bearer $TOK" --data-binary "$msg")
it_check "a 4001-character message: 400 message_too_long" bash -c "[ $st = 400 ] && jq -e '.error.code == \"message_too_long\"' '$IT_TMP/b' >/dev/null"
deep='{"message":"hi","x":[[[[[[[[[1]]]]]]]]]}'
st=$(req POST /v1/chat -H 'content-type: application/json' -H "authorization: Bearer $TOK" -d "$deep")
it_check "JSON nested 10 deep on /v1/chat: 400 json_too_deep" bash -c "[ $st = 400 ]" && it_check "... with a sentence" code_is json_too_deep
keys=$(python3 -c 'import json; print(json.dumps({"k%d" % i: i for i in range(70)}))')
st=$(req POST /v1/leads -H 'content-type: application/json' -d "$keys")
it_check "70 keys on /v1/leads: 400 json_too_many_keys" bash -c "[ $st = 400 ]" && it_check "... with a sentence" code_is json_too_many_keys
st=$(req POST /admin/handoffs/1 -H 'content-type: application/json' -H "authorization: Bearer $ADMIN_TOKEN" -d "$deep")
it_check "JSON nested 10 deep on /admin: 400 json_too_deep" bash -c "[ $st = 400 ]"
still_fine "the body caps"

out=$($PY cl-te "$HTTP_PORT")
it_check "Content-Length with Transfer-Encoding: 400" grep -q '^HTTP/1.1 400' <<<"$out"
it_check "... ambiguous_length, and the input is not echoed" bash -c "grep -q ambiguous_length <<<'$out' && ! grep -q chunked <<<'$(sed -n '/^\r*$/,$p' <<<"$out")'"
still_fine "CL+TE"

# --- connections per IP ----------------------------------------------------------------
closed=$($PY idle "$HTTP_PORT" 8)
it_check "9 idle connections with HTTP_MAX_CONNECTIONS_PER_IP=8: the 9th is closed at once ($closed)" test "$closed" = 1
still_fine "the connection cap"

# --- slow clients and long streams -----------------------------------------------------
turn_tok=$(new_session | jq -r .token)
( t0=$(date +%s.%N); curl -s -N --max-time 90 -X POST "$G/v1/chat" -H 'content-type: application/json' \
    -H "authorization: Bearer $turn_tok" -d '{"message":"Tell me everything about the Growth plan and its pricing"}' \
    > "$IT_TMP/stream"; echo "$t0 $(date +%s.%N)" > "$IT_TMP/stream_t" ) &
SPID=$!
secs=$($PY slow-headers "$HTTP_PORT" 20)
it_check "a client sending headers at 1 byte/s is cut after HTTP_REQUEST_TIMEOUT=2s (${secs}s)" \
  awk -v s="$secs" 'BEGIN{exit !(s >= 1.5 && s < 5)}'
secs=$($PY slow-body "$HTTP_PORT" 20)
it_check "a client sending its body at 1 byte/s is cut too (${secs}s)" awk -v s="$secs" 'BEGIN{exit !(s >= 1.5 && s < 5)}'
wait "$SPID"
dur=$(awk '{printf "%.1f", $2 - $1}' "$IT_TMP/stream_t")
it_check "an SSE stream longer than the timeout (${dur}s) goes on to done" \
  bash -c "grep -q '^event: done' '$IT_TMP/stream' && awk -v d=$dur 'BEGIN{exit !(d > 3)}'"
it_check "the cut is logged" grep -q 'did not arrive in time' "$IT_TMP/logs/gateway.log"
still_fine "slowloris"

# --- security headers --------------------------------------------------------------------
req GET /healthz >/dev/null
it_check "API: X-Content-Type-Options nosniff" test "$(hdr X-Content-Type-Options)" = nosniff
it_check "API: Referrer-Policy no-referrer" test "$(hdr Referrer-Policy)" = no-referrer
it_check "API: X-Frame-Options DENY" test "$(hdr X-Frame-Options)" = DENY
it_check "API: a CSP with frame-ancestors 'none'" grep -q "frame-ancestors 'none'" <<<"$(hdr Content-Security-Policy)"
it_check "API: Strict-Transport-Security with HSTS_MAX_AGE" test "$(hdr Strict-Transport-Security)" = "max-age=31536000; includeSubDomains"
req GET /nope >/dev/null
it_check "a 404 carries them too" test "$(hdr X-Content-Type-Options)" = nosniff
if [ "$(req GET /demo)" = 200 ]; then
  csp=$(hdr Content-Security-Policy)
  it_check "/demo: a CSP allowing its script and Turnstile, no framing" \
    bash -c "grep -q \"script-src 'self' https://challenges.cloudflare.com\" <<<\"$csp\" && grep -q \"frame-ancestors 'none'\" <<<\"$csp\""
  it_check "/demo: nosniff and no-referrer" bash -c "[ \"$(hdr X-Content-Type-Options)\" = nosniff ] && [ \"$(hdr Referrer-Policy)\" = no-referrer ]"
else
  it_fail "/demo is served (WIDGET_DIR)"
fi
tid=$(grep -m1 '^data:' "$IT_TMP/stream" | sed 's/^data: //' | jq -r '.turn_id // empty')
[ -z "$tid" ] && tid=$(tr -d '\r' < "$IT_TMP/stream" | grep -m1 -o '"turn_id":"[^"]*"' | cut -d'"' -f4)
curl -s -N --max-time 5 -D "$IT_TMP/h" -o /dev/null "$G/v1/chat/$tid/events?token=$turn_tok"
it_check "an SSE stream (resume with ?token=) carries nosniff and no-referrer" \
  bash -c "[ \"$(hdr X-Content-Type-Options)\" = nosniff ] && [ \"$(hdr Referrer-Policy)\" = no-referrer ]"
start_gw HTTP_REQUEST_TIMEOUT=2s RATE_ADMIN=20/1m
req GET /healthz >/dev/null
it_check "no Strict-Transport-Security with HSTS_MAX_AGE=0" test -z "$(hdr Strict-Transport-Security)"

# --- the admin brute-force guard ----------------------------------------------------------
codes=$(for i in 1 2 3 4; do req GET /admin/usage -H "authorization: Bearer wrong-token-$i-0123456789"; echo; done | tr '\n' ' ')
it_check "RATE_ADMIN=20/1m: two wrong tokens spend it (cost 10 each), then 429 ($codes)" test "$codes" = "401 401 429 429 "
it_check "... rate_limited with Retry-After" bash -c "jq -e '.error.code == \"rate_limited\"' '$IT_TMP/b' >/dev/null && [ -n \"\$(tr -d '\r' < '$IT_TMP/h' | grep -i '^retry-after:')\" ]"
it_check "... the right token from the same IP waits too" test "$(req GET /admin/usage -H "authorization: Bearer $ADMIN_TOKEN")" = 429
it_check "... /metrics with a wrong token is guarded the same way" test "$(req GET /metrics -H 'authorization: Bearer wrong-0123456789abcdef')" = 429
still_fine "the admin brute force"

# --- connections per client behind a trusted proxy ----------------------------------------
start_gw HTTP_REQUEST_TIMEOUT=5s HTTP_MAX_CONNECTIONS_PER_IP=4 TRUSTED_PROXIES=127.0.0.1 TRUST_X_FORWARDED_FOR=true
out=$($PY hold "$HTTP_PORT" 4 203.0.113.7)
it_check "behind a trusted proxy: a 5th request in progress for one client is 429 too_many_connections" \
  bash -c "grep -q '^HTTP/1.1 429' <<<'$out' && grep -q too_many_connections <<<'$out'"
out=$($PY hold "$HTTP_PORT" 4 203.0.113.8)
it_check "... counted per client: the proxy itself is not capped (4 held for one, another client served)" \
  bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 203.0.113.9' '$G/healthz')\" = 200 ]"
still_fine "the per-client cap"

# --- paged transcripts ---------------------------------------------------------------------
start_gw
S=$(new_session); TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")
psql -q "$DATABASE_URL" -c "INSERT INTO messages (session_id, turn_id, role, content)
  SELECT '$SID', 't_' || g, CASE WHEN g % 2 = 0 THEN 'user' ELSE 'assistant' END, 'm' || g || ' ' || repeat('x', 20000)
  FROM generate_series(1, 600) g" >/dev/null
it_check "600 messages of 20 KB (12 MB) inserted" test "$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM messages WHERE session_id = '$SID'")" = 600
st=$(req GET "/v1/sessions/$SID/messages" -H "authorization: Bearer $TOK")
it_check "the first page of a 12 MB transcript: 200, not an RPC failure" test "$st" = 200
n1=$(jq '.messages | length' "$IT_TMP/b")
it_check "... under 3 MB of messages, the newest ones, with more and a cursor ($n1)" \
  jqq '(.messages | length) > 10 and (.messages | length) < 160 and .more == true and (.before | type) == "number" and (.messages[-1].content | startswith("m600 "))' "$IT_TMP/b"
total=$n1; before=$(jq .before "$IT_TMP/b"); pages=1; ok=1
while [ "$before" != null ] && [ "$pages" -lt 20 ]; do
  st=$(req GET "/v1/sessions/$SID/messages?before=$before" -H "authorization: Bearer $TOK")
  [ "$st" = 200 ] || { ok=0; break; }
  total=$((total + $(jq '.messages | length' "$IT_TMP/b"))); pages=$((pages + 1))
  jq -e --argjson b "$before" 'all(.messages[]; .id < $b)' "$IT_TMP/b" >/dev/null || ok=0
  before=$(jq '.before // null' "$IT_TMP/b")
done
it_check "every page answered 200 and went back in time ($pages pages)" test "$ok" = 1
it_check "all 600 messages came, once ($total)" test "$total" = 600
it_check "the last page says more: false" jqq '.more == false and (.messages[0].content | startswith("m1 "))' "$IT_TMP/b"
st=$(req GET "/v1/sessions/$SID/messages?limit=5" -H "authorization: Bearer $TOK")
it_check "?limit=5: the 5 newest" jqq '(.messages | length) == 5 and .more == true and (.messages[4].content | startswith("m600 "))' "$IT_TMP/b"
b=$(jq .before "$IT_TMP/b")
req GET "/v1/sessions/$SID/messages?limit=5&before=$b" -H "authorization: Bearer $TOK" >/dev/null
it_check "?limit=5&before=: the 5 before those" jqq '(.messages | length) == 5 and (.messages[4].content | startswith("m595 "))' "$IT_TMP/b"
for q in 'limit=0' 'limit=abc' 'limit=1001' 'before=-3' 'before=x1'; do
  st=$(req GET "/v1/sessions/$SID/messages?$q" -H "authorization: Bearer $TOK")
  it_check "?$q: 400 invalid_page" bash -c "[ $st = 400 ] && jq -e '.error.code == \"invalid_page\"' '$IT_TMP/b' >/dev/null"
done
still_fine "the huge transcript"

# --- ?token= never logged ----------------------------------------------------------------
curl -s -o /dev/null "$G/v1/chat/t_nonexistent000000000000/events?token=$TOK"
curl -s -o /dev/null "$G/v1/chat/$tid/events?token=$TOK&last_event_id=junk"
curl -s -o /dev/null "$G/v1/chat/bad/events?token=$TOK" -H "X-Big: $big"
leaks=$(grep -l -F -e "$TOK" -e "$turn_tok" "$IT_TMP"/logs/*.log 2>/dev/null | tr '\n' ' ')
it_check "no session token from ?token= in any log file ($leaks)" test -z "$leaks"

it_summary
