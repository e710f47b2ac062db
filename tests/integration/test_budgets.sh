#!/usr/bin/env bash
# Per-session limits and cost budgets, enforced by svc-session in Postgres
# so they hold across gateway replicas: turns per minute (rate_limited),
# tokens per session, daily and monthly cost caps priced from MODEL_PRICES
# (budget_exhausted); a refused turn starts nothing; a cap is overshot by
# at most the turns already running when it was reached (two gateways,
# concurrent sessions); usage per model on /metrics and /admin/usage.
# Real processes and Postgres; the offline model, priced for the test.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
IT_TIMEOUT=${IT_TIMEOUT_BUDGETS:-300} it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef ALLOWED_ORIGINS='*'
export OFFLINE_TOKENS_PER_SECOND=0 LLM_PROVIDER=offline RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off
export ADMIN_TOKEN=admin-token-0123456789abcdef
# 1,000 per million tokens: each token of the offline model costs 1,000 micro-units.
export MODEL_PRICES="extractive-v1=1000/1000,*=1000000/1000000"
G="http://127.0.0.1:$HTTP_PORT"
q() { psql "$DATABASE_URL" -qAtc "$1"; }
ready() { curl -s "$G/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1; }
start_session() { # start_session [VAR=VALUE...]: svc-session (again) with these limits
  { kill -KILL "$(it_pid svc-session)" && wait "$(it_pid svc-session)"; } 2>/dev/null
  env "$@" "$IT_BIN/svc-session" >>"$IT_TMP/logs/svc-session.log" 2>&1 &
  IT_PIDS+=($!); IT_PID_svc_session=$!
  it_wait_for 10 ready
}
new_session() { curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}' | jq -r .token; }
# turn TOKEN [GATEWAY]: HTTP status of a chat turn; the body in $IT_TMP/turn.out
turn() {
  curl -s -o "$IT_TMP/turn.out" -D "$IT_TMP/turn.hdr" -w '%{http_code}' -X POST "${2:-$G}/v1/chat" \
    -H 'content-type: application/json' -H "authorization: Bearer $1" -d '{"message":"How much does the Growth plan cost?"}'
}
err_code() { jq -r '.error.code' "$IT_TMP/turn.out" 2>/dev/null; }

for p in svc-retrieval svc-llm gateway; do it_start "$p"; done
start_session SESSION_TURNS_PER_MINUTE=2

# --- turns per minute: rate_limited, with when to try again ---------------------------
T=$(new_session)
it_check_eq "turn 1 of the minute: 200" 200 "$(turn "$T")"
it_check_eq "turn 2 of the minute: 200" 200 "$(turn "$T")"
it_check_eq "turn 3 within the minute: 429" 429 "$(turn "$T")"
it_check_eq "... code rate_limited" rate_limited "$(err_code)"
ra=$(grep -i '^retry-after:' "$IT_TMP/turn.hdr" | tr -dc '0-9')
it_check "... Retry-After 1-60 s (when the oldest turn of the minute ages out: $ra s)" bash -c "[ '${ra:-0}' -ge 1 ] && [ '${ra:-0}' -le 60 ]"
it_check_eq "... and the refusal holds no turn lock" "" "$(q "SELECT coalesce(active_turn_id, '') FROM sessions WHERE id = '${T%%.*}'")"
it_check_eq "another session is not limited by this one's rate" 200 "$(turn "$(new_session)")"

# --- tokens per session ---------------------------------------------------------------
start_session SESSION_MAX_TOKENS=50
T=$(new_session)
it_check_eq "session tokens: the first turn runs" 200 "$(turn "$T")"
it_check_eq "session tokens: after SESSION_MAX_TOKENS the next turn is 429" 429 "$(turn "$T")"
it_check_eq "... code budget_exhausted" budget_exhausted "$(err_code)"
it_check "... with a sentence that offers a way on" grep -q "contact form" "$IT_TMP/turn.out"

# --- prices: the cost of each turn, stored in usage and the sharded daily totals ------
start_session
T=$(new_session); turn "$T" >/dev/null
it_check_eq "a turn's cost is its tokens x MODEL_PRICES (1,000 micro-units a token)" t \
  "$(q "SELECT cost_micros = (input_tokens + output_tokens) * 1000 AND cost_micros > 0 FROM usage ORDER BY id DESC LIMIT 1")"
it_check_eq "the daily totals (summed over shards) equal the usage rows" t \
  "$(q "SELECT (SELECT sum(cost_micros) FROM usage WHERE day = (now() AT TIME ZONE 'UTC')::date) = (SELECT sum(cost_micros) FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date)")"
it_check "usage_daily rows carry a shard" test "$(q "SELECT count(*) FROM usage_daily WHERE shard BETWEEN 0 AND 7")" -ge 1

# --- the daily cost cap ----------------------------------------------------------------
spent=$(q "SELECT sum(cost_micros) FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date")
cap=$(python3 -c "print('%.6f' % (($spent + 1) / 1e6))")
start_session GLOBAL_DAILY_COST="$cap"
T=$(new_session)
it_check_eq "below the daily cost cap a turn runs" 200 "$(turn "$T")"
it_check_eq "at the daily cost cap the next turn is 429 (another session too)" 429 "$(turn "$(new_session)")"
it_check_eq "... code budget_exhausted" budget_exhausted "$(err_code)"
it_check "... says when it is back (tomorrow, UTC) with Retry-After" bash -c "grep -q tomorrow '$IT_TMP/turn.out' && grep -qi '^retry-after: [1-9]' '$IT_TMP/turn.hdr'"

# --- the monthly cost cap ----------------------------------------------------------------
month_spent=$(q "SELECT sum(cost_micros) FROM usage_daily WHERE day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date")
mcap=$(python3 -c "print('%.6f' % (($month_spent + 1) / 1e6))")
q "INSERT INTO usage_daily (day, provider, model, shard, turns, cost_micros) VALUES (date_trunc('month', now() AT TIME ZONE 'UTC')::date, 'elsewhere', 'x', 9, 1, 2)" >/dev/null
start_session GLOBAL_MONTHLY_COST="$mcap"
it_check_eq "at the monthly cost cap a turn is 429 budget_exhausted" "429 budget_exhausted" "$(turn "$(new_session)") $(err_code)"
it_check "... and the message says this month" grep -q "month" "$IT_TMP/turn.out"
q "DELETE FROM usage_daily WHERE provider = 'elsewhere'" >/dev/null

# --- two gateways, concurrent sessions: overshoot bounded by the turns in flight ------------
G2_PORT=$("$IT_ROOT/scripts/free-port.sh" 18000 19999)
HTTP_PORT=$G2_PORT "$IT_BIN/gateway" >>"$IT_TMP/logs/gateway-2.log" 2>&1 &
IT_PIDS+=($!)
G2="http://127.0.0.1:$G2_PORT"
it_wait_for 10 bash -c "curl -s '$G2/readyz' | jq -ne 'input | .ready' >/dev/null 2>&1"
{ kill -KILL "$(it_pid svc-llm)" && wait "$(it_pid svc-llm)"; } 2>/dev/null
OFFLINE_TOKENS_PER_SECOND=15 it_start svc-llm   # slow answers: the turns overlap
spent=$(q "SELECT sum(cost_micros) FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date")
cap=$(python3 -c "print('%.6f' % (($spent + 1) / 1e6))")  # one micro-unit of room
start_session GLOBAL_DAILY_COST="$cap"
N=6
toks=(); for i in $(seq 1 $N); do toks+=("$(new_session)"); done
before=$(q "SELECT count(*) FROM usage")
cpids=()
for i in $(seq 0 $((N - 1))); do
  gw=$G; [ $((i % 2)) = 1 ] && gw=$G2
  curl -s -o "$IT_TMP/c$i.out" -w '%{http_code}' -X POST "$gw/v1/chat" -H 'content-type: application/json' \
    -H "authorization: Bearer ${toks[$i]}" -d '{"message":"Tell me about the Growth plan"}' > "$IT_TMP/c$i.code" &
  cpids+=($!)
done
it_step "waiting for the $N concurrent turns"
wait "${cpids[@]}"
ok=$(cat "$IT_TMP"/c*.code | grep -o 200 | wc -l)
done_n=$(grep -l '^event: done' "$IT_TMP"/c*.out | wc -l)
it_check_eq "concurrent turns started under the cap (through both gateways) all finish" "$N $N" "$ok $done_n"
it_check_eq "... each charged" "$N" "$(($(q "SELECT count(*) FROM usage") - before))"
it_check_eq "after them, the next turn is refused: the overshoot is exactly the $N turns in flight" "429 budget_exhausted" \
  "$(turn "$(new_session)" "$G2") $(err_code)"

# --- usage per model: /metrics and /admin/usage ------------------------------------------------
m=$(curl -s -H "authorization: Bearer $ADMIN_TOKEN" "$G/metrics")
model_metrics() {
  grep -q 'chat_model_tokens_total{provider="offline",model="extractive-v1",direction="output"} [1-9]' <<<"$m" &&
    awk '/^chat_model_cost_total\{provider="offline",model="extractive-v1"\}/ { ok = $2 > 0 } END { exit !ok }' <<<"$m"
}
it_check "/metrics: tokens and cost by provider and model" model_metrics
u=$(curl -s -H "authorization: Bearer $ADMIN_TOKEN" "$G/admin/usage?days=2")
it_check "/admin/usage: today's cost against the cap, per day and model" jq -e \
  '.currency == "USD" and .today.cost > 0 and .today.cap > 0 and .month.cap > 0 and (.days | map(select(.model == "extractive-v1")) | length) >= 1 and .days[0].turns >= 1' <<<"$u"
it_check_eq "/admin/usage?days=999: 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $ADMIN_TOKEN" "$G/admin/usage?days=999")"

# --- configuration -------------------------------------------------------------------------------
bad() { local out; out=$(env "$@" timeout 10 "$IT_BIN/svc-session" 2>&1); local rc=$?; [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "${1%%=*}" <<<"$out"; }
it_check "a bad MODEL_PRICES stops svc-session, naming it" bad MODEL_PRICES="claude=cheap"
it_check "a bad GLOBAL_DAILY_COST stops svc-session, naming it" bad GLOBAL_DAILY_COST="-5"
it_check "the gateway still serves (/healthz)" test "$(curl -s -o /dev/null -w '%{http_code}' "$G/healthz")" = 200
it_summary
