#!/usr/bin/env bash
# Sustained load does not fill the gateway or svc-llm with finished work:
# finished turns count against TURN_RETAIN_BYTES (oldest dropped first), not
# against MAX_TURNS, and svc-llm drops a generation GENERATION_DONE_GRACE
# after a Poll delivered its end instead of keeping it GENERATION_IDLE_TTL.
# Turns refused at Begin keep nothing. Before: with MAX_TURNS=3 the 4th turn
# within TURN_RETAIN got 503, and every finished generation stayed 60 s.
# Real processes, offline model.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
IT_TIMEOUT=${IT_TIMEOUT_SUSTAIN:-180} it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef ADMIN_TOKEN=it-admin-0123456789-0123456789-abcdef
export LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=0
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off SESSION_TURNS_PER_MINUTE=10000
export MAX_TURNS=3 TURN_RETAIN=10m TURN_RETAIN_BYTES=65536
export GENERATION_IDLE_TTL=10m GENERATION_DONE_GRACE=1s
LP=$("$IT_ROOT/scripts/free-port.sh" 20000 29999)
G="http://127.0.0.1:$HTTP_PORT"
it_start svc-session
it_start svc-retrieval
METRICS_ADDR=127.0.0.1:$LP it_start svc-llm
it_start gateway
it_wait_for 10 bash -c "curl -s '$G/readyz' | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null"

S=$(curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}')
TOK=$(jq -r .token <<<"$S")
N=40
ok=0 first_tid="" last_tid=""
it_step "running $N turns one after the other"
for i in $(seq 1 $N); do
  out=$(curl -s -N -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK" \
    -d "{\"message\":\"How much does the Growth plan cost? ($i)\"}")
  grep -q '^event: done' <<<"$out" && ok=$((ok + 1))
  tid=$(grep -m1 '^data: {"turn_id"' <<<"$out" | sed 's/^data: //' | jq -r .turn_id)
  [ -z "$first_tid" ] && first_tid=$tid
  last_tid=$tid
done
it_check_eq "$N turns in a row with MAX_TURNS=3 all end with done (finished turns do not count)" "$N" "$ok"

m=$(curl -s "$G/metrics" -H "authorization: Bearer $ADMIN_TOKEN")
metric() { awk -v k="$1" '$1 == k {print $2}' <<<"$m"; }
it_check_eq "no turn is running afterwards" 0 "$(metric chat_turns_running)"
bytes=$(metric chat_turns_retained_bytes)
kept=$(metric chat_turns_retained)
it_check "finished turns hold at most TURN_RETAIN_BYTES (${bytes:-?} bytes in ${kept:-?} turns)" \
  bash -c "[ -n '$bytes' ] && [ '$bytes' -le 65536 ] && [ '$bytes' -gt 0 ]"
it_check "some but not all $N turns are kept (${kept:-?})" bash -c "[ -n '$kept' ] && [ '$kept' -ge 2 ] && [ '$kept' -lt $N ]"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
replay=$(curl -s -N "$G/v1/chat/$last_tid/events" -H "authorization: Bearer $TOK" -H "Last-Event-ID: 0")
it_check "the newest finished turn still resumes (its whole log, done last)" \
  bash -c "grep -q '^event: done' <<<'$(tr "'" ' ' <<<"$replay")' && grep -q '^event: token' <<<'$(tr "'" ' ' <<<"$replay")'"
it_check_eq "the oldest, dropped for the byte bound, is gone: 404" 404 "$(code "$G/v1/chat/$first_tid/events" -H "authorization: Bearer $TOK")"

# Turns refused at Begin (here: the session was erased, 404) keep nothing.
S2=$(curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}')
TOK2=$(jq -r .token <<<"$S2")
curl -s -o /dev/null -X DELETE "$G/v1/sessions/$(jq -r .session_id <<<"$S2")" -H "authorization: Bearer $TOK2"
refused=0
for _ in $(seq 1 20); do
  c=$(code -X POST "$G/v1/chat" -H 'content-type: application/json' -H "authorization: Bearer $TOK2" -d '{"message":"hello"}')
  [ "$c" = 404 ] && refused=$((refused + 1))
done
it_check_eq "20 turns of an erased session: 404 each" 20 "$refused"
m=$(curl -s "$G/metrics" -H "authorization: Bearer $ADMIN_TOKEN")
it_check_eq "refused turns leave nothing in the registry (retained count unchanged)" "$kept" "$(metric chat_turns_retained)"
it_check_eq "... and none is running" 0 "$(metric chat_turns_running)"

gens() { curl -s "http://127.0.0.1:$LP/metrics" | awk '$1 ~ /^chat_llm_generations/ {print $2}'; }
it_wait_for 10 bash -c "[ \"\$(curl -s http://127.0.0.1:$LP/metrics | awk '\$1 ~ /^chat_llm_generations/ {print \$2}')\" = 0 ]"
it_check_eq "svc-llm holds no generation once their ends were delivered (grace 1s, idle TTL 10m)" 0 "$(gens)"
it_summary
