#!/usr/bin/env bash
# /metrics on every service (METRICS_ADDR): RPC latency histograms per
# method, calls by status code, database operation latency, RSS, and a
# service's own lines (svc-llm: generations held). Real processes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
IT_TIMEOUT=${IT_TIMEOUT_METRICS:-180} it_setup "${1:-build/release}"
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
export SESSION_SECRET=it-secret-0123456789-0123456789-abcdef LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=0
port() { "$IT_ROOT/scripts/free-port.sh" 20000 29999; }
SP=$(port); LP=$(port); RP=$(port)
METRICS_ADDR=127.0.0.1:$SP it_start svc-session
METRICS_ADDR=127.0.0.1:$LP it_start svc-llm
METRICS_ADDR=127.0.0.1:$RP it_start svc-retrieval
it_wait_for 10 bash -c "curl -sf http://127.0.0.1:$SP/metrics >/dev/null && curl -sf http://127.0.0.1:$LP/metrics >/dev/null && curl -sf http://127.0.0.1:$RP/metrics >/dev/null"
CLI="$IT_ROOT/$IT_BUILD/tools/session_cli"
for _ in 1 2 3; do "$CLI" Create >/dev/null; done
"$CLI" Begin session_id=s_AAAAAAAAAAAAAAAAAAAAAA token=x turn_id=t_x >/dev/null # UNAUTHENTICATED
m=$(curl -s "http://127.0.0.1:$SP/metrics")
has() { grep -qE "$1" <<<"$m"; }
it_check "svc-session: an RPC latency histogram per method" has '^chat_rpc_server_seconds_bucket\{service="svc-session",method="Create",le="\+Inf"\} 3$'
it_check "svc-session: calls by method and status code" has '^chat_rpc_server_calls_total\{service="svc-session",method="Begin",code="UNAUTHENTICATED"\} 1$'
it_check "svc-session: database operation latency (the 30 ms p95 trigger)" has '^chat_db_operation_seconds_count\{service="svc-session",op="Create"\} 3$'
it_check "svc-session: resident memory" has '^chat_process_resident_memory_bytes\{service="svc-session"\} [1-9][0-9]+$'
it_check "svc-llm: generations held" bash -c "curl -s http://127.0.0.1:$LP/metrics | grep -qE '^chat_llm_generations\{service=\"svc-llm\"\} [0-9]+$'"
it_check "svc-retrieval serves /metrics too" bash -c "curl -s http://127.0.0.1:$RP/metrics | grep -q 'chat_process_uptime_seconds{service=\"svc-retrieval\"}'"
it_check_eq "another path: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SP/other")"
it_check_eq "POST: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$SP/metrics")"
out=$(METRICS_ADDR=nonsense timeout 10 "$IT_BIN/svc-retrieval" 2>&1); rc=$?
it_check "a bad METRICS_ADDR stops the service, naming it" bash -c "[ $rc = 2 ] && grep -q METRICS_ADDR <<<'$out'"
it_summary
