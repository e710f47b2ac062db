#!/usr/bin/env bash
# The widget in a real browser (Debian's Chromium driven by playwright-core)
# against the real stack: gateway serving /demo and /widget/chat.js, the
# offline model streaming answers from kb/. The scenarios are in
# widget/test/run.mjs; this script brings the stack up and counts them.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"
if ! bash "$IT_ROOT/widget/test/install.sh" > "$IT_TMP/logs/widget-install.log" 2>&1; then
  it_fail "widget test tools installed (widget/test/install.sh)" "$(tail -3 "$IT_TMP/logs/widget-install.log")"
  # The same scenarios against the API mock, which can also reset a socket
# mid-answer with the browser offline (a real network cut).
out=$(cd "$IT_ROOT" && timeout 600 node widget/test/run.mjs 2>&1); rc=$?
line=$(grep -E '^widget: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -1)
grep -E '^(ok|FAIL|skip) ' <<<"$out" | grep -v '^ok' | sed 's/^/     /'
if [ -n "$line" ] && [ $rc -eq 0 ]; then it_ok "browser scenarios against the API mock ($line)"; else it_fail "browser scenarios against the API mock" "${line:-no summary (exit $rc)}"; fi
it_summary; exit 1
fi
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
KB_BASE_URL=https://quorvia.example "$IT_BIN/svc-indexer" index "$IT_ROOT/kb" >/dev/null 2>&1
export SESSION_SECRET=widget-test-secret-0123456789-0123456789
export ALLOWED_ORIGINS="http://127.0.0.1:$HTTP_PORT,http://localhost:$HTTP_PORT"
export WIDGET_DIR="$IT_ROOT/widget" LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=60
export HEARTBEAT_INTERVAL=2s DISCONNECT_GRACE=5s
# Every browser session is 127.0.0.1: the per-IP limits are test_protect.sh's subject.
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off
export SESSION_TURNS_PER_MINUTE=10000 # these drive turns faster than a person types
for p in svc-session svc-retrieval svc-llm gateway; do it_start "$p"; done
for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$HTTP_PORT/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1 && break; sleep 0.1; done
it_check "gateway serves /demo and /widget/chat.js" bash -c "curl -sf http://127.0.0.1:$HTTP_PORT/demo | grep -q 'chat.' && curl -sf http://127.0.0.1:$HTTP_PORT/widget/chat.js >/dev/null"
out=$(cd "$IT_ROOT" && WIDGET_BASE_URL="http://127.0.0.1:$HTTP_PORT" timeout 600 node widget/test/run.mjs 2>&1); rc=$?
echo "$out" | sed 's/^/     /'
line=$(grep -E '^widget: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -1)
if [ -n "$line" ] && [ $rc -eq 0 ]; then it_ok "browser scenarios against the real stack ($line)"; else it_fail "browser scenarios against the real stack" "${line:-no summary (exit $rc)}"; fi
# The same scenarios against the API mock, which can also reset a socket
# mid-answer with the browser offline (a real network cut).
out=$(cd "$IT_ROOT" && timeout 600 node widget/test/run.mjs 2>&1); rc=$?
line=$(grep -E '^widget: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -1)
grep -E '^(ok|FAIL|skip) ' <<<"$out" | grep -v '^ok' | sed 's/^/     /'
if [ -n "$line" ] && [ $rc -eq 0 ]; then it_ok "browser scenarios against the API mock ($line)"; else it_fail "browser scenarios against the API mock" "${line:-no summary (exit $rc)}"; fi
it_summary
