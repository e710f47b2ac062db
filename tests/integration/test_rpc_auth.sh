#!/usr/bin/env bash
# RPC authentication with real processes: the stack with RPC_SECRET answers a
# chat turn; callers without the secret, or with another, are refused
# UNAUTHENTICATED on Erase/Commit/Admin (and nothing happens); a captured
# signed request sent again is refused; the services keep serving and log one
# refusal line per peer per minute; a service told to listen beyond loopback
# without RPC_SECRET refuses to start naming it; a caller with the secret
# meeting a service without one is told the secrets differ.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
TOOLS="$IT_ROOT/$IT_BUILD/tools"
for t in session_cli rpc_abuse; do
  [ -x "$TOOLS/$t" ] || { echo "build $TOOLS/$t first (make $IT_BUILD/tools/$t)"; exit 1; }
done
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export RPC_SECRET=it-rpc-secret-0123456789-abcdefghijklmnopqrstuv
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef
export ALLOWED_ORIGINS=https://www.quorvia.example
export OFFLINE_TOKENS_PER_SECOND=0 LLM_PROVIDER=offline
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off SESSION_TURNS_PER_MINUTE=10000
G="http://127.0.0.1:$HTTP_PORT"
q() { psql "$DATABASE_URL" -qAtc "$1"; }
cli() { "$TOOLS/session_cli" "$@" 2>&1; }
bare() { env -u RPC_SECRET "$TOOLS/session_cli" "$@" 2>&1; }
code_of() { jq -r '.error.code // "OK"' <<<"$1" 2>/dev/null; }
# refused NAME OUTPUT REASON: UNAUTHENTICATED with that reason and a message naming RPC_SECRET
refused() {
  local name=$1 out=$2 reason=$3
  if [ "$(jq -r '.error.code + "|" + .error.reason' <<<"$out" 2>/dev/null)" = "UNAUTHENTICATED|$reason" ] &&
     grep -q RPC_SECRET <<<"$(jq -r .error.message <<<"$out")"; then
    it_ok "$name"
  else
    it_fail "$name" "$out"
  fi
}

for p in svc-session svc-retrieval svc-llm gateway; do it_start "$p"; done
for _ in $(seq 1 100); do curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1 && break; sleep 0.1; done
it_check "every service logs that it authenticates calls" bash -c "for p in svc-session svc-retrieval svc-llm; do grep -q '\"rpc_auth\":\"hmac-sha256\"' '$IT_TMP/logs/'\$p.log || exit 1; done"

# --- the stack with RPC_SECRET answers a chat turn ------------------------------
chat() { curl -s -N -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $1" \
  -d "$(jq -nc --arg m "$2" '{message:$m}')"; }
S=$(curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}')
TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")
it_check "POST /v1/sessions through authenticated RPC" bash -c "[[ '$SID' == s_* ]]"
out=$(chat "$TOK" "How much does the Growth plan cost per month?")
it_check "a chat turn is answered (tokens, then done)" bash -c "grep -q '^event: token' <<<'$out' && grep -q '^event: done' <<<'$out'"
it_check "the answer cites kb/ (retrieval and llm answered too)" bash -c "grep '^data: ' <<<'$out' | grep -q 299"
msgs=$(q "SELECT count(*) FROM messages WHERE session_id = '$SID'")
it_check "the turn was committed (2 messages)" test "$msgs" = 2

# --- callers without the secret -------------------------------------------------
it_step "session_cli without RPC_SECRET"
refused "admin Erase without RPC_SECRET: UNAUTHENTICATED (no_mac)" "$(bare Erase session_id="$SID" admin=1)" no_mac
it_check "... and the session is still there" test "$(q "SELECT count(*) FROM messages WHERE session_id = '$SID'")" = 2
refused "Commit without RPC_SECRET: UNAUTHENTICATED (no_mac)" \
  "$(bare Commit session_id="$SID" turn_id=t-forged user=hi assistant=forged usage.input_tokens=1)" no_mac
it_check "... and nothing was committed" test "$(q "SELECT count(*) FROM messages WHERE session_id = '$SID'")" = 2
refused "Admin without RPC_SECRET: UNAUTHENTICATED (no_mac)" "$(bare Admin action=list_handoffs)" no_mac
refused "Release without RPC_SECRET: UNAUTHENTICATED (no_mac)" "$(bare Release session_id="$SID")" no_mac
out=$(RPC_SECRET=another-secret-0123456789-abcdefghijklmnop "$TOOLS/session_cli" Erase session_id="$SID" admin=1 2>&1)
refused "admin Erase with another RPC_SECRET: UNAUTHENTICATED (bad_mac)" "$out" bad_mac
it_check "... saying the secrets differ" grep -q "RPC_SECRET differs between caller and service" <<<"$out"
it_check "... and the session is still there" test "$(q "SELECT count(*) FROM messages WHERE session_id = '$SID'")" = 2
out=$(cli Admin action=list_handoffs)
it_check "Admin with RPC_SECRET: answered" test "$(code_of "$out")" = OK

# --- raw envelopes: replay, altered, stale --------------------------------------
it_step "rpc_abuse auth against svc-session"
if out=$(timeout -k 5 60 "$TOOLS/rpc_abuse" "$SESSION_URL" session auth Erase Commit Admin Release 2>&1); then
  it_ok "svc-session: unsigned and wrongly signed Erase/Commit/Admin/Release refused, a replayed capture refused, altered and stale requests refused ($(tail -1 <<<"$out"))"
else
  it_fail "svc-session: rpc_abuse auth" "$(grep FAIL <<<"$out" | head -5)"
fi
it_step "rpc_abuse auth against svc-llm"
if out=$(timeout -k 5 60 "$TOOLS/rpc_abuse" "$LLM_URL" llm auth Generate Cancel 2>&1); then
  it_ok "svc-llm: the same checks on Generate/Cancel ($(tail -1 <<<"$out"))"
else
  it_fail "svc-llm: rpc_abuse auth" "$(grep FAIL <<<"$out" | head -5)"
fi
it_step "rpc_abuse auth against svc-retrieval"
if out=$(timeout -k 5 60 "$TOOLS/rpc_abuse" "$RETRIEVAL_URL" retrieval auth Search 2>&1); then
  it_ok "svc-retrieval: the same checks on Search ($(tail -1 <<<"$out"))"
else
  it_fail "svc-retrieval: rpc_abuse auth" "$(grep FAIL <<<"$out" | head -5)"
fi
it_step "rpc_abuse (malformed input) with the secret"
if out=$(timeout -k 5 120 "$TOOLS/rpc_abuse" "$SESSION_URL" session 2>&1); then
  it_ok "svc-session still survives malformed, unknown, truncated and 100 MB requests"
else
  it_fail "svc-session: rpc_abuse" "$(grep FAIL <<<"$out" | head -3)"
fi

# --- still serving, and the log is not flooded ----------------------------------
out=$(chat "$TOK" "Is there a free trial, and how long is it?")
it_check "after all the refusals the stack still answers a turn" bash -c "grep -q '^event: done' <<<'$out'"
n=$(grep -c 'request refused UNAUTHENTICATED' "$IT_TMP/logs/svc-session.log")
it_check "svc-session logged its many refusals from 127.0.0.1 once (one line per peer per minute; got $n)" test "$n" = 1
line=$(grep 'request refused UNAUTHENTICATED' "$IT_TMP/logs/svc-session.log" | head -1)
it_check "... naming the peer, the method and the reason" test "$(jq -r '.peer + "|" + .method + "|" + .reason' <<<"$line")" = "127.0.0.1|chat.session.Session/Erase|no_mac"

# --- a gateway whose RPC_SECRET differs: the operator's fault, not the visitor's --
gw2_port=$("$IT_ROOT/scripts/free-port.sh" 24000 25999)
RPC_SECRET=another-secret-0123456789-abcdefghijklmnop HTTP_PORT=$gw2_port "$IT_BIN/gateway" >>"$IT_TMP/logs/gateway-other.log" 2>&1 &
gw2_pid=$!; IT_PIDS+=("$gw2_pid")
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$gw2_port/healthz" && break; sleep 0.1; done
code=$(curl -s -o "$IT_TMP/gw2.json" -w '%{http_code}' -X POST "http://127.0.0.1:$gw2_port/v1/sessions" -H 'content-type: application/json' -d '{}')
it_check "a gateway with another RPC_SECRET answers POST /v1/sessions 503, not 401 (got $code)" test "$code" = 503
it_check "... and logs that the secrets differ" grep -q "RPC_SECRET differs between caller and service" "$IT_TMP/logs/gateway-other.log"
{ kill -TERM "$gw2_pid"; wait "$gw2_pid"; } 2>/dev/null

# --- listening beyond loopback needs RPC_SECRET ---------------------------------
port=$("$IT_ROOT/scripts/free-port.sh" 20000 21999)
for url in "tcp://0.0.0.0:$port" "tcp://[::]:$port" "tcp://10.1.2.3:$port"; do
  err=$(env -u RPC_SECRET SESSION_URL="$url" timeout -k 2 10 "$IT_BIN/svc-session" 2>&1); rc=$?
  it_check "svc-session on $url without RPC_SECRET exits 2 naming RPC_SECRET" test "$rc" = 2 -a -n "$(grep RPC_SECRET <<<"$err")"
done
err=$(env -u RPC_SECRET LLM_URL="tcp://0.0.0.0:$port" timeout -k 2 10 "$IT_BIN/svc-llm" 2>&1); rc=$?
it_check "svc-llm on 0.0.0.0 without RPC_SECRET exits 2 naming RPC_SECRET" test "$rc" = 2 -a -n "$(grep RPC_SECRET <<<"$err")"
err=$(RPC_SECRET=too-short LLM_URL="tcp://127.0.0.1:$port" timeout -k 2 10 "$IT_BIN/svc-llm" 2>&1); rc=$?
it_check "a short RPC_SECRET exits 2 naming RPC_SECRET" test "$rc" = 2 -a -n "$(grep 'RPC_SECRET must be' <<<"$err")"
err=$(RPC_SECRET=too-short timeout -k 2 10 "$IT_BIN/gateway" 2>&1); rc=$?
it_check "the gateway with a short RPC_SECRET exits 2 naming RPC_SECRET" test "$rc" = 2 -a -n "$(grep 'RPC_SECRET must be' <<<"$err")"
LLM_URL="tcp://0.0.0.0:$port" "$IT_BIN/svc-llm" >>"$IT_TMP/logs/svc-llm-open.log" 2>&1 &
open_pid=$!; IT_PIDS+=("$open_pid")
for _ in $(seq 1 50); do grep -q '"rpc_auth":"hmac-sha256"' "$IT_TMP/logs/svc-llm-open.log" 2>/dev/null && break; sleep 0.1; done
it_check "svc-llm on 0.0.0.0 with RPC_SECRET starts" bash -c "kill -0 $open_pid && grep -q '\"msg\":\"ready\".*\"rpc_auth\":\"hmac-sha256\"' '$IT_TMP/logs/svc-llm-open.log'"
{ kill -TERM "$open_pid"; wait "$open_pid"; } 2>/dev/null
dev_url="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 22000 23999)"
env -u RPC_SECRET SESSION_URL="$dev_url" "$IT_BIN/svc-session" >>"$IT_TMP/logs/svc-session-dev.log" 2>&1 &
dev_pid=$!; IT_PIDS+=("$dev_pid")
for _ in $(seq 1 50); do grep -q '"rpc_auth":"off' "$IT_TMP/logs/svc-session-dev.log" 2>/dev/null && break; sleep 0.1; done
it_check "svc-session on 127.0.0.1 without RPC_SECRET starts (development)" kill -0 "$dev_pid"
out=$(bare Health url="$dev_url")
it_check "... and answers callers without a secret" test "$(code_of "$out")" = OK
out=$(cli Health url="$dev_url")
refused "a caller with RPC_SECRET meeting a service without: UNAUTHENTICATED (secret_mismatch)" "$out" secret_mismatch
it_check "... saying the secrets differ" grep -q "RPC_SECRET differs between caller and service" <<<"$out"
{ kill -TERM "$dev_pid"; wait "$dev_pid"; } 2>/dev/null

it_summary
