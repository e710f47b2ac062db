#!/usr/bin/env bash
# Abuse protection in the gateway, as real processes (gateway, svc-session,
# svc-retrieval, svc-llm, Postgres): per-IP limits on sessions, chat turns
# and the contact form (429 rate_limited + Retry-After, no RPC made), who the
# client is (CF-Connecting-IP believed only from a trusted peer,
# X-Forwarded-For only when configured, IPv6 per /64), malformed proxy
# configuration refused at start, and the gateway still serving afterwards.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export IP_HASH_SECRET=it-ip-hash-secret
export LOG_LEVEL=debug OFFLINE_TOKENS_PER_SECOND=0 LLM_PROVIDER=offline
G="http://127.0.0.1:$HTTP_PORT"

for p in svc-session svc-retrieval svc-llm; do it_start "$p"; done
IT_PID_gateway=

# start_gw VAR=VALUE...: (re)starts the gateway with these settings.
start_gw() {
  local pid
  pid=$(it_pid gateway)
  [ -n "$pid" ] && { kill -TERM "$pid"; wait "$pid"; } 2>/dev/null
  env "$@" "$IT_BIN/gateway" >>"$IT_TMP/logs/gateway.log" 2>&1 &
  IT_PIDS+=($!); IT_PID_gateway=$!
  it_wait_http 200 /healthz 10 || return 1
  # the services answer (a 503 would still spend a token: the limit comes first)
  for _ in $(seq 1 200); do
    curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready' >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}
rpc_calls() { grep -c '"rpc call"' "$IT_TMP/logs/svc-session.log"; }
# post PATH BODY [curl args...]: headers in $IT_TMP/h, body in $IT_TMP/b, prints the status
post() {
  local path=$1 body=$2; shift 2
  curl -s -D "$IT_TMP/h" -o "$IT_TMP/b" -w '%{http_code}' -X POST "$G$path" -H 'content-type: application/json' \
    -d "$body" "$@"
}
retry_after() { tr -d '\r' < "$IT_TMP/h" | awk -F': ' 'tolower($1)=="retry-after"{print $2}'; }
is_rate_limited() { # is_rate_limited STATUS MAX_RETRY_AFTER
  local ra
  ra=$(retry_after)
  [ "$1" = 429 ] && [[ $ra =~ ^[0-9]+$ ]] && [ "$ra" -ge 1 ] && [ "$ra" -le "$2" ] &&
    grep -qi '^content-type: application/json' "$IT_TMP/h" &&
    jq -e '.error.code == "rate_limited" and (.error.message | length) > 20' "$IT_TMP/b" >/dev/null
}
hmac_ip() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$IP_HASH_SECRET" | awk '{print substr($NF, 1, 32)}'; }
statuses() { tr '\n' ' ' | sed 's/ $//'; }

# --- a peer that is not a proxy: the socket address is the client -------------------
start_gw RATE_SESSIONS=3/1h RATE_CHAT=3/1h RATE_LEADS=2/1h
codes=$(for _ in 1 2 3; do post /v1/sessions '{}'; echo; done | statuses)
it_check "3 sessions within RATE_SESSIONS=3/1h: 201 each" test "$codes" = "201 201 201"
TOK=$(jq -r .token "$IT_TMP/b")
before=$(rpc_calls)
st=$(post /v1/sessions '{}')
it_check "the 4th session: 429, Retry-After (<= 1200 s), JSON code rate_limited" is_rate_limited "$st" 1200
it_check "... Retry-After is one refill interval (1200 s, rounded up)" test "$(retry_after)" = 1200
codes=$(for i in 1 2 3 4 5; do post /v1/sessions '{}' -H "CF-Connecting-IP: 198.51.100.$i"; echo; done | statuses)
it_check "a different spoofed CF-Connecting-IP each time does not escape the limit" test "$codes" = "429 429 429 429 429"
codes=$(for i in 1 2 3; do post /v1/sessions '{}' -H "X-Forwarded-For: 198.51.100.$i"; echo; done | statuses)
it_check "nor does a spoofed X-Forwarded-For" test "$codes" = "429 429 429"
it_check "the refused requests made no RPC (svc-session saw none)" test "$(rpc_calls)" = "$before"

chat() { curl -s -N -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $1" \
  -d '{"message":"How much is the Growth plan?"}' "${@:2}"; }
ok=0
for _ in 1 2 3; do chat "$TOK" | grep -q '^event: done' && ok=$((ok + 1)); done
it_check "3 chat turns within RATE_CHAT=3/1h are answered" test "$ok" = 3
before=$(rpc_calls)
turns_before=$(curl -s "$G/metrics" | awk '/^chat_turns_total/{s+=$2} END{print s+0}')
st=$(post /v1/chat '{"message":"one more"}' -H "authorization: Bearer $TOK")
it_check "the 4th chat turn: 429 rate_limited with Retry-After" is_rate_limited "$st" 1200
it_check "... made no RPC (no Begin: no turn registered or locked)" test "$(rpc_calls)" = "$before"
it_check "... and counted no turn" test "$(curl -s "$G/metrics" | awk '/^chat_turns_total/{s+=$2} END{print s+0}')" = "$turns_before"
it_check "/metrics counts the refusal as a chat 429" bash -c "curl -s '$G/metrics' | grep -q 'chat_http_requests_total{route=\"chat\",code=\"429\"} 1'"

lead='{"name":"Ada","email":"ada@example.com","message":"Call me","consent":true}'
codes=$(for _ in 1 2 3; do post /v1/leads "$lead"; echo; done | statuses)
it_check "contact form: 2 within RATE_LEADS=2/1h, the 3rd 429" test "$codes" = "201 201 429"
it_check "... the 3rd is rate_limited with Retry-After" is_rate_limited 429 1800
it_check "the gateway log has no raw client IP of the spoofed headers" bash -c "! grep -q '198\.51\.100\.' '$IT_TMP/logs/gateway.log'"

# --- 127.0.0.1 is a trusted proxy: its CF-Connecting-IP is the client ---------------
start_gw RATE_SESSIONS=2/1h TRUSTED_PROXIES=127.0.0.1/32
codes=$(for i in 1 2 3 4 5; do post /v1/sessions '{}' -H "CF-Connecting-IP: 203.0.113.$i"; echo; done | statuses)
it_check "trusted peer: 5 different CF-Connecting-IP values get 5 buckets (201 each)" test "$codes" = "201 201 201 201 201"
SID5=$(jq -r .session_id "$IT_TMP/b")
it_check "... the session stores HMAC(IP_HASH_SECRET, CF-Connecting-IP), not the IP" \
  test "$(psql "$DATABASE_URL" -qAtc "SELECT ip_hash FROM sessions WHERE id='$SID5'")" = "$(hmac_ip 203.0.113.5)"
codes=$(for _ in 1 2 3; do post /v1/sessions '{}' -H "CF-Connecting-IP: 203.0.113.9"; echo; done | statuses)
it_check "... one value has one bucket: 201 201 429" test "$codes" = "201 201 429"
codes=$(for i in 1 2 3; do post /v1/sessions '{}' -H "CF-Connecting-IP: 2001:db8:5:6::$i"; echo; done | statuses)
it_check "IPv6 clients of one /64 share a bucket: 201 201 429" test "$codes" = "201 201 429"
it_check "... the next /64 has its own" test "$(post /v1/sessions '{}' -H 'CF-Connecting-IP: 2001:db8:5:7::1')" = 201
codes=$(for _ in 1 2 3; do post /v1/sessions '{}' -H 'CF-Connecting-IP: not-an-ip'; echo; done | statuses)
it_check "a CF-Connecting-IP that is not an address: the peer is the client (201 201 429)" test "$codes" = "201 201 429"
it_check "X-Forwarded-For is not believed unless configured (the peer's bucket is spent)" \
  test "$(post /v1/sessions '{}' -H 'X-Forwarded-For: 192.0.2.77')" = 429

# --- X-Forwarded-For when configured: the right-most untrusted hop -------------------
start_gw RATE_SESSIONS=2/1h TRUSTED_PROXIES=127.0.0.1/32,10.0.0.0/8 TRUST_X_FORWARDED_FOR=true
codes=$(for i in 1 2 3; do post /v1/sessions '{}' -H "X-Forwarded-For: 192.0.2.$i, 198.51.100.50, 10.1.1.1"; echo; done | statuses)
it_check "XFF: a spoofed left part does not escape (right-most untrusted hop: 201 201 429)" test "$codes" = "201 201 429"
it_check "XFF: another right-most hop has its own bucket" \
  test "$(post /v1/sessions '{}' -H 'X-Forwarded-For: 198.51.100.51, 10.1.1.1')" = 201

# --- malformed configuration stops the start -------------------------------------------
bad_start() { # bad_start VARIABLE VAR=VALUE...: exits 2 naming VARIABLE
  local var=$1 rc; shift
  env "$@" HTTP_PORT="$("$IT_ROOT/scripts/free-port.sh" 61000 62999)" timeout 10 "$IT_BIN/gateway" \
    >"$IT_TMP/bad.out" 2>&1; rc=$?
  [ "$rc" = 2 ] && grep -q "configuration error: $var" "$IT_TMP/bad.out"
}
for v in "10.0.0.0/x" "10.0.0.0/33" "10.0.0.0/8junk" "10.0.0.300/8" "2001:db8::/129" "127.0.0.1/32, /8"; do
  it_check "TRUSTED_PROXIES=\"$v\": exit 2 naming TRUSTED_PROXIES" bad_start TRUSTED_PROXIES "TRUSTED_PROXIES=$v"
done
it_check "TRUST_CLOUDFLARE with a missing CLOUDFLARE_IPS_FILE: exit 2 naming it" \
  bad_start CLOUDFLARE_IPS_FILE TRUST_CLOUDFLARE=true CLOUDFLARE_IPS_FILE=/nonexistent/ips.txt
it_check "RATE_CHAT=\"lots\": exit 2 naming RATE_CHAT" bad_start RATE_CHAT RATE_CHAT=lots
it_check "RATE_SESSIONS=\"30/10m burst 0\": exit 2 naming RATE_SESSIONS" bad_start RATE_SESSIONS "RATE_SESSIONS=30/10m burst 0"
it_check "RATE_TABLE_SIZE=10: exit 2 naming RATE_TABLE_SIZE" bad_start RATE_TABLE_SIZE RATE_TABLE_SIZE=10

# --- after all that: healthy, and a normal turn works -----------------------------------
it_check "/healthz still answers 200 (the bad starts did not disturb the running gateway)" it_wait_http 200 /healthz 5
it_check "the XFF gateway still serves sessions" test "$(post /v1/sessions '{}' -H 'X-Forwarded-For: 192.0.2.200')" = 201
it_check "TRUST_CLOUDFLARE=true with the shipped deploy/cloudflare/ips.txt starts and serves" \
  start_gw RATE_SESSIONS=2/1h TRUST_CLOUDFLARE=true CLOUDFLARE_IPS_FILE="$IT_ROOT/deploy/cloudflare/ips.txt"
codes=$(for i in 1 2 3; do post /v1/sessions '{}' -H "CF-Connecting-IP: 198.51.100.$i"; echo; done | statuses)
it_check "... where 127.0.0.1 is not Cloudflare: its CF-Connecting-IP is ignored (201 201 429)" test "$codes" = "201 201 429"
start_gw
S=$(curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}')
TOKN=$(jq -r .token <<<"$S")
out=$(chat "$TOKN")
it_check "a normal chat turn streams to done" grep -q '^event: done' <<<"$out"

it_summary
