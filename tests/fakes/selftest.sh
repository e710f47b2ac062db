#!/usr/bin/env bash
# Self-test of tests/fakes/fake-apis.js: starts it on an ephemeral port,
# drives every API and the control API with curl, checks the answers with jq,
# prints "fakes: N passed, M failed" and exits non-zero on any failure. The
# fake is always stopped on exit; its stderr log is kept on failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d /tmp/fakes-selftest.XXXXXX)
PASSED=0
FAILED=0
FAKE_PID=

cleanup() {
  if [ -n "$FAKE_PID" ]; then
    kill -TERM "$FAKE_PID" 2>/dev/null
    wait "$FAKE_PID" 2>/dev/null
  fi
  if [ "$FAILED" -gt 0 ]; then echo "fake log kept in $TMP/err"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

ok()   { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '     %s\n' "$2"; return 0; }
# check NAME CMD...: passes when CMD succeeds.
check() {
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name" "failed: $*"; fi
}
# jcheck NAME FILE FILTER: passes when jq FILTER is true on FILE.
jcheck() {
  local name=$1 file=$2 filter=$3
  if [ "$(jq -r "$filter" "$file" 2>/dev/null)" = "true" ]; then ok "$name"; else fail "$name" "jq '$filter' on $(head -c 300 "$file")"; fi
}
# The JSON payloads of an SSE capture, as one array.
sse_json() { grep '^data: ' "$1" | sed 's/^data: //' | grep -v '^\[DONE\]$' | jq -s '.'; }
sse_names() { grep '^event: ' "$1" | sed 's/^event: //'; }

node "$HERE/fake-apis.js" --port 0 >"$TMP/out" 2>"$TMP/err" &
FAKE_PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/out" ] && break; sleep 0.05; done
check "startup prints exactly one {\"port\":N} line" grep -Eqx '\{"port":[0-9]+\}' "$TMP/out"
PORT=$(jq -r .port "$TMP/out" 2>/dev/null)
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
  fail "fake did not start"; echo "fakes: $PASSED passed, $FAILED failed"; exit 1
fi
BASE="http://127.0.0.1:$PORT"

ctl() { # ctl METHOD PATH [JSON]
  if [ $# -ge 3 ]; then curl -s -X "$1" "$BASE$2" -H 'content-type: application/json' --data-binary "$3"
  else curl -s -X "$1" "$BASE$2"; fi
}
script() { ctl POST /_fake/script "{\"api\":\"$1\",\"steps\":$2}" >/dev/null; }
AH=(-H 'x-api-key: sk-ant-test' -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json')
OH=(-H 'Authorization: Bearer sk-test' -H 'content-type: application/json')
MSG='{"model":"claude-test","max_tokens":256,"system":"Be brief.","messages":[{"role":"user","content":"What are your opening hours?"}]}'
MSG_STREAM=$(jq -c '. + {stream:true}' <<<"$MSG")
# anth OUTFILE [curl args...]: POST /v1/messages; prints the HTTP status.
anth() { local o=$1; shift; curl -sN -o "$o" -D "$o.h" -w '%{http_code}' "$BASE/v1/messages" "$@"; }
hdr() { grep -i "^$2:" "$1.h" | head -1 | sed -E 's/^[^:]+: *//' | tr -d '\r'; }

# ---- Anthropic: non-stream, validation ---------------------------------
code=$(anth "$TMP/a1" "${AH[@]}" -d "$MSG")
check "anthropic non-stream 200" test "$code" = 200
jcheck "anthropic non-stream Message shape" "$TMP/a1" \
  '.type=="message" and .role=="assistant" and (.id|startswith("msg_")) and .content[0].type=="text" and .stop_reason=="end_turn" and .usage.output_tokens>0'
check "anthropic request-id header" grep -Eq '^req_' <<<"$(hdr "$TMP/a1" request-id)"

code=$(anth "$TMP/a2" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' -d "$MSG")
check "anthropic no x-api-key -> 401" test "$code" = 401
jcheck "anthropic 401 error shape" "$TMP/a2" \
  '.type=="error" and .error.type=="authentication_error" and (.error.message|length>0) and (.request_id|startswith("req_"))'
check "anthropic error request_id matches header" test "$(jq -r .request_id "$TMP/a2")" = "$(hdr "$TMP/a2" request-id)"

code=$(anth "$TMP/a3" -H 'x-api-key: k' -H 'content-type: application/json' -d "$MSG")
check "anthropic no anthropic-version -> 400" test "$code" = 400
jcheck "anthropic 400 invalid_request_error" "$TMP/a3" '.error.type=="invalid_request_error"'

code=$(anth "$TMP/a4" "${AH[@]}" -d '{"model":"m","messages":[{"role":"user","content":"hi"}]}')
check "anthropic missing max_tokens -> 400" test "$code" = 400
jcheck "anthropic 400 names max_tokens" "$TMP/a4" '.error.message|test("max_tokens")'
code=$(anth "$TMP/a5" "${AH[@]}" -d '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":""}]}')
check "anthropic empty user content -> 400" test "$code" = 400
code=$(anth "$TMP/a6" "${AH[@]}" -d '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"t","input":{}}]},{"role":"user","content":"ok"}]}')
check "anthropic tool_use without tool_result -> 400" test "$code" = 400
code=$(anth "$TMP/a7" -H 'x-api-key: k' -H 'anthropic-version: 2023-06-01' -H 'content-type: text/plain' -d "$MSG")
check "anthropic non-JSON content-type -> 400" test "$code" = 400

# ---- Anthropic: streaming -------------------------------------------------
code=$(anth "$TMP/s1" "${AH[@]}" -d "$MSG_STREAM")
sse_json "$TMP/s1" >"$TMP/s1.json"
check "anthropic stream 200" test "$code" = 200
check "anthropic stream content-type" grep -q '^text/event-stream' <<<"$(hdr "$TMP/s1" content-type)"
names=$(sse_names "$TMP/s1" | tr '\n' ' ')
check "anthropic stream event order" grep -Eq '^message_start content_block_start ping (content_block_delta )+content_block_stop message_delta message_stop $' <<<"$names"
check "anthropic event name equals data.type" test "$(sse_names "$TMP/s1" | tr '\n' ' ')" = "$(jq -r '.[].type' "$TMP/s1.json" | tr '\n' ' ')"
want_text=$(jq -r .anthropic.text <<<"$(ctl GET /_fake/config)")
jcheck "anthropic deltas join to the text" "$TMP/s1.json" \
  "[.[]|select(.type==\"content_block_delta\")|.delta.text]|join(\"\")==$(jq -Rn --arg t "$want_text" '$t')"
jcheck "anthropic deltas keep leading spaces" "$TMP/s1.json" \
  '[.[]|select(.type=="content_block_delta")|.delta.text][1:]|map(test("^[ !.,]"))|all'
# system "Be brief." (9) + user (28) = 37 chars -> ceil(37/4) = 10
jcheck "anthropic message_start usage" "$TMP/s1.json" \
  '.[0].message.usage.input_tokens==10 and .[0].message.usage.output_tokens==1 and .[0].message.content==[] and .[0].message.stop_reason==null'
jcheck "anthropic message_delta cumulative usage" "$TMP/s1.json" \
  '([.[]|select(.type=="content_block_delta")]|length) as $n | (.[]|select(.type=="message_delta")|.usage.output_tokens==$n and .delta.stop_reason=="end_turn" and .delta.stop_sequence==null)'

script anthropic '[{"text":"Thanks, noted.","tool_calls":[{"name":"record_lead","input":{"email":"a@b.example","name":"Zoë Ünï"}}]}]'
anth "$TMP/s2" "${AH[@]}" -d "$MSG_STREAM" >/dev/null
sse_json "$TMP/s2" >"$TMP/s2.json"
jcheck "anthropic tool_use block start" "$TMP/s2.json" \
  '[.[]|select(.type=="content_block_start" and .content_block.type=="tool_use")][0] | .index==1 and (.content_block.id|startswith("toolu_")) and .content_block.name=="record_lead" and .content_block.input=={}'
jcheck "anthropic partial_json starts empty and joins to the input" "$TMP/s2.json" \
  '[.[]|select(.type=="content_block_delta" and .index==1)|.delta] as $d | ($d|map(.type=="input_json_delta")|all) and $d[0].partial_json=="" and ($d|map(.partial_json)|join("")|fromjson)=={"email":"a@b.example","name":"Zoë Ünï"}'
jcheck "anthropic tool call stop_reason tool_use" "$TMP/s2.json" '.[]|select(.type=="message_delta")|.delta.stop_reason=="tool_use"'
check "anthropic tool stream ends with block stop, message_delta, message_stop" \
  test "$(sse_names "$TMP/s2" | tail -3 | tr '\n' ' ')" = "content_block_stop message_delta message_stop "

# ---- Anthropic: scripted errors --------------------------------------------
script anthropic '[{"status":429,"retry_after":"1"},{"status":529},{"status":500,"x_should_retry":"false"}]'
c1=$(anth "$TMP/e1" "${AH[@]}" -d "$MSG_STREAM"); c2=$(anth "$TMP/e2" "${AH[@]}" -d "$MSG_STREAM")
c3=$(anth "$TMP/e3" "${AH[@]}" -d "$MSG_STREAM"); c4=$(anth "$TMP/e4" "${AH[@]}" -d "$MSG_STREAM")
check "anthropic script consumed in order, then default" test "$c1 $c2 $c3 $c4" = "429 529 500 200"
jcheck "anthropic 429 rate_limit_error" "$TMP/e1" '.error.type=="rate_limit_error" and (.request_id|startswith("req_"))'
check "anthropic 429 retry-after header" test "$(hdr "$TMP/e1" retry-after)" = 1
jcheck "anthropic 529 overloaded_error" "$TMP/e2" '.error.type=="overloaded_error"'
jcheck "anthropic 500 api_error" "$TMP/e3" '.error.type=="api_error"'
check "anthropic x-should-retry header" test "$(hdr "$TMP/e3" x-should-retry)" = false
check "anthropic error responses carry request-id" test -n "$(hdr "$TMP/e2" request-id)"

script anthropic '[{"text":"one two three four five six","mid_stream_error":"overloaded_error","after_tokens":3}]'
code=$(anth "$TMP/m1" "${AH[@]}" -d "$MSG_STREAM")
sse_json "$TMP/m1" >"$TMP/m1.json"
check "anthropic mid-stream error after HTTP 200" test "$code" = 200
jcheck "anthropic mid-stream error after 3 tokens" "$TMP/m1.json" \
  '([.[]|select(.type=="content_block_delta")]|length)==3 and .[-1]=={"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
check "anthropic mid-stream error: no message_stop" test -z "$(sse_names "$TMP/m1" | grep message_stop)"

script anthropic '[{"status":200,"malformed":true}]'
code=$(anth "$TMP/b1" "${AH[@]}" -d "$MSG")
check "anthropic malformed: 200 with unparsable JSON" bash -c "test '$code' = 200 && ! jq -e . '$TMP/b1'"

# ---- Abort detection ---------------------------------------------------------
ctl DELETE /_fake/requests >/dev/null
script anthropic '[{"hang":true}]'
curl -s -o /dev/null --max-time 1 "$BASE/v1/messages" "${AH[@]}" -d "$MSG_STREAM"; rc=$?
check "hang: client times out (curl exit 28)" test "$rc" = 28
LONG=$(printf 'word%d ' $(seq 1 60))
script anthropic "[{\"text\":\"$LONG\",\"tokens_per_second\":10}]"
curl -sN -o "$TMP/slow" --max-time 1 "$BASE/v1/messages" "${AH[@]}" -d "$MSG_STREAM"; rc=$?
check "slow stream: client gives up (curl exit 28)" test "$rc" = 28
check "slow stream: some deltas arrived before the abort" test "$(grep -c 'text_delta' "$TMP/slow")" -ge 3
sleep 0.3
ctl GET '/_fake/requests?api=anthropic' >"$TMP/log1"
jcheck "requests log records both aborts" "$TMP/log1" 'length==2 and (map(.aborted)|all) and (map(.dropped)|any|not)'
jcheck "aborted stream stopped well before it would have ended" "$TMP/log1" '.[1].closed_ms - .[1].ts_ms < 3000'
ctl GET /_fake/stats >"$TMP/st1"
jcheck "stats count aborts, nothing in flight" "$TMP/st1" '.anthropic.aborted==2 and .anthropic.in_flight==0'

script anthropic "[{\"text\":\"$LONG\",\"tokens_per_second\":50,\"drop_after_ms\":200}]"
curl -sN -o "$TMP/drop" --max-time 5 "$BASE/v1/messages" "${AH[@]}" -d "$MSG_STREAM"; rc=$?
check "drop: transfer fails (curl exit 18)" test "$rc" = 18
check "drop: headers and some events arrived, no message_stop" \
  bash -c "grep -q message_start '$TMP/drop' && ! grep -q message_stop '$TMP/drop'"
sleep 0.1
ctl GET '/_fake/requests?api=anthropic' >"$TMP/log2"
jcheck "drop is logged as dropped, not aborted" "$TMP/log2" '.[-1].dropped==true and .[-1].aborted==false'

# ---- Requests log and config ---------------------------------------------------
jcheck "requests log entry fields" "$TMP/log2" \
  '.[0] | .method=="POST" and .path=="/v1/messages" and .headers["x-api-key"]=="sk-ant-test" and .headers["anthropic-version"]=="2023-06-01" and .body.model=="claude-test" and .body.stream==true and (.ts_ms|type=="number") and .api=="anthropic"'
ctl POST /_fake/config '{"anthropic":{"text":"Configured default."}}' >/dev/null
anth "$TMP/c1" "${AH[@]}" -d "$MSG" >/dev/null
jcheck "config sets the default answer" "$TMP/c1" '.content[0].text=="Configured default."'
ctl POST /_fake/config '{"anthropic":{"text":null}}' >/dev/null
code=$(curl -s -o "$TMP/c2" -w '%{http_code}' -X POST "$BASE/_fake/script" -d '{"api":"anthropic","steps":[{"stauts":429}]}')
check "control rejects an unknown step key" test "$code" = 400
jcheck "control error names the key" "$TMP/c2" '.error|test("stauts")'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/_fake/script" -d '{"api":"gemini","steps":[]}')
check "control rejects an unknown api" test "$code" = 400

# ---- OpenAI chat completions -------------------------------------------------
CHAT='{"model":"gpt-test","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there"}]}'
CHAT_STREAM=$(jq -c '. + {stream:true, stream_options:{include_usage:true}}' <<<"$CHAT")
chat() { local o=$1; shift; curl -sN -o "$o" -D "$o.h" -w '%{http_code}' "$BASE/v1/chat/completions" "$@"; }

script openai_chat '[{"text":"Hi, how can I help?"}]'
code=$(chat "$TMP/o1" "${OH[@]}" -d "$CHAT_STREAM")
sse_json "$TMP/o1" >"$TMP/o1.json"
check "openai stream 200" test "$code" = 200
check "openai stream has no event names" test -z "$(sse_names "$TMP/o1")"
check "openai stream ends with data: [DONE]" test "$(grep '^data: ' "$TMP/o1" | tail -1)" = "data: [DONE]"
jcheck "openai first chunk carries the role" "$TMP/o1.json" \
  '.[0] | .object=="chat.completion.chunk" and (.id|startswith("chatcmpl-")) and .choices[0].delta.role=="assistant" and .choices[0].finish_reason==null'
jcheck "openai content deltas join to the text" "$TMP/o1.json" \
  '[.[]|.choices // []|.[]|.delta.content // empty]|join("")=="Hi, how can I help?"'
jcheck "openai finish_reason stop, then usage chunk with choices []" "$TMP/o1.json" \
  '.[-2].choices[0].finish_reason=="stop" and .[-1].choices==[] and .[-1].usage.total_tokens==.[-1].usage.prompt_tokens+.[-1].usage.completion_tokens'

code=$(chat "$TMP/o2" "${OH[@]}" -d "$CHAT")
jcheck "openai non-stream chat.completion" "$TMP/o2" \
  '.object=="chat.completion" and .choices[0].message.role=="assistant" and (.choices[0].message.content|length>0) and .choices[0].finish_reason=="stop" and .usage.total_tokens>0'
code=$(chat "$TMP/o3" -H 'content-type: application/json' -d "$CHAT")
check "openai no bearer -> 401" test "$code" = 401
jcheck "openai error shape" "$TMP/o3" '(.error|keys)==["code","message","param","type"]'
code=$(chat "$TMP/o4" "${OH[@]}" -d '{"model":"m"}')
check "openai missing messages -> 400" test "$code" = 400

script openai_chat '[{"status":429,"retry_after":"2"},{"tool_calls":[{"name":"record_lead","input":{"email":"a@b.example"}}],"text":""}]'
c1=$(chat "$TMP/o5" "${OH[@]}" -d "$CHAT_STREAM")
check "openai scripted 429 with retry-after" test "$c1 $(hdr "$TMP/o5" retry-after)" = "429 2"
jcheck "openai 429 error shape" "$TMP/o5" '.error.code=="rate_limit_exceeded"'
chat "$TMP/o6" "${OH[@]}" -d "$CHAT_STREAM" >/dev/null
sse_json "$TMP/o6" >"$TMP/o6.json"
jcheck "openai streamed tool call" "$TMP/o6.json" \
  '[.[]|.choices // []|.[]|.delta.tool_calls // empty|.[]] as $t | $t[0].type=="function" and ($t[0].id|startswith("call_")) and $t[0].function.name=="record_lead" and ([$t[].function.arguments]|join("")|fromjson)=={"email":"a@b.example"}'
jcheck "openai tool call finish_reason" "$TMP/o6.json" '[.[]|.choices // []|.[]|.finish_reason // empty]==["tool_calls"]'

script openai_chat '[{"text":"a b c d e","mid_stream_error":"server_error","after_tokens":2}]'
chat "$TMP/o7" "${OH[@]}" -d "$CHAT_STREAM" >/dev/null
sse_json "$TMP/o7" >"$TMP/o7.json"
jcheck "openai mid-stream error payload" "$TMP/o7.json" '.[-1].error.type=="server_error" and .[-1].error.message!="" and ([.[]|.choices // []|.[]|.delta.content // ""|select(.!="")]|length)==2'
check "openai mid-stream error: no [DONE]" test -z "$(grep -F '[DONE]' "$TMP/o7")"

script openai_chat '[{"hang":true}]'
curl -s -o /dev/null --max-time 1 "$BASE/v1/chat/completions" "${OH[@]}" -d "$CHAT_STREAM"; rc=$?
sleep 0.2
check "openai hang: curl exit 28" test "$rc" = 28
jcheck "openai hang recorded as aborted" <(ctl GET '/_fake/requests?api=openai_chat') '.[-1].aborted==true'

# ---- Embeddings ------------------------------------------------------------------
emb() { local o=$1; shift; curl -s -o "$o" -D "$o.h" -w '%{http_code}' "$BASE/v1/embeddings" "$@"; }
ctl DELETE /_fake/requests >/dev/null
E3='{"model":"text-embedding-3-small","input":["Opening hours are nine to five on weekdays","Our opening hours on weekdays are nine to five","Pricing for the enterprise plan"]}'
code=$(emb "$TMP/v1" "${OH[@]}" -d "$E3")
check "embeddings batch 200" test "$code" = 200
jcheck "embeddings response shape" "$TMP/v1" \
  '(keys==["data","model","object","usage"]) and .object=="list" and .model=="text-embedding-3-small" and ([.data[].index]==[0,1,2]) and (.data|map(.object=="embedding" and (.embedding|length)==1536 and (keys==["embedding","index","object"]))|all)'
jcheck "embeddings are L2-normalised" "$TMP/v1" '.data|map(.embedding|map(.*.)|add|.-1|fabs<1e-5)|all'
jcheck "embeddings usage = sum of ceil(chars/4)" "$TMP/v1" '.usage.prompt_tokens==(11+12+8) and .usage.total_tokens==.usage.prompt_tokens'
jcheck "embeddings: shared words are closer than unrelated text" "$TMP/v1" \
  'def dot(a;b): [a,b]|transpose|map(.[0]*.[1])|add; .data as $d | dot($d[0].embedding;$d[1].embedding) > dot($d[0].embedding;$d[2].embedding) + 0.3'
emb "$TMP/v2" "${OH[@]}" -d '{"model":"text-embedding-3-small","input":"Pricing for the enterprise plan"}' >/dev/null
check "embeddings are deterministic" test "$(jq -c '.data[2].embedding' "$TMP/v1")" = "$(jq -c '.data[0].embedding' "$TMP/v2")"
emb "$TMP/v3" "${OH[@]}" -d '{"model":"text-embedding-3-small","input":"hi","dimensions":256}' >/dev/null
jcheck "embeddings honour dimensions" "$TMP/v3" '.data[0].embedding|length==256'
emb "$TMP/v4" "${OH[@]}" -d '{"model":"text-embedding-3-large","input":"hi"}' >/dev/null
jcheck "embeddings -large default 3072" "$TMP/v4" '.data[0].embedding|length==3072'
ctl GET /_fake/stats >"$TMP/st2"
jcheck "stats count embedded inputs" "$TMP/st2" '.embeddings.inputs==6 and .embeddings.requests==4'

code=$(emb "$TMP/x1" "${OH[@]}" -d '{"model":"text-embedding-3-small","input":""}')
check "embeddings empty string -> 400" test "$code" = 400
jcheck "embeddings 400 error shape" "$TMP/x1" '.error.type=="invalid_request_error" and (.error|has("param") and has("code"))'
jq -nc '{model:"text-embedding-3-small",input:[range(2049)|"x"]}' >"$TMP/x2.json"
check "embeddings 2049 inputs -> 400" test "$(emb "$TMP/x2" "${OH[@]}" --data-binary @"$TMP/x2.json")" = 400
jq -nc '{model:"text-embedding-3-small",input:("a"*32769)}' >"$TMP/x3.json"
check "embeddings input over 8192 tokens -> 400" test "$(emb "$TMP/x3" "${OH[@]}" --data-binary @"$TMP/x3.json")" = 400
jq -nc '{model:"text-embedding-3-small",input:[range(37)|"b"*32768]}' >"$TMP/x4.json"
check "embeddings over 300000 tokens per request -> 400" test "$(emb "$TMP/x4" "${OH[@]}" --data-binary @"$TMP/x4.json")" = 400
check "embeddings missing model -> 400" test "$(emb "$TMP/x5" "${OH[@]}" -d '{"input":"hi"}')" = 400
check "embeddings no bearer -> 401" test "$(emb "$TMP/x6" -H 'content-type: application/json' -d "$E3")" = 401

script embeddings '[{"status":429,"retry_after":"1","retry_after_ms":"250"},{"status":500},{"status":200,"malformed":true}]'
c1=$(emb "$TMP/r1" "${OH[@]}" -d "$E3"); c2=$(emb "$TMP/r2" "${OH[@]}" -d "$E3"); c3=$(emb "$TMP/r3" "${OH[@]}" -d "$E3")
check "embeddings scripted 429, 500, 200" test "$c1 $c2 $c3" = "429 500 200"
check "embeddings 429 retry-after and retry-after-ms" test "$(hdr "$TMP/r1" retry-after) $(hdr "$TMP/r1" retry-after-ms)" = "1 250"
jcheck "embeddings 500 server_error" "$TMP/r2" '.error.type=="server_error"'
check "embeddings malformed body is the truncated list" test "$(cat "$TMP/r3")" = '{"object":"list","data":[{'
script embeddings '[{"hang":true}]'
curl -s -o /dev/null --max-time 1 "$BASE/v1/embeddings" "${OH[@]}" -d "$E3"; rc=$?
check "embeddings hang: curl exit 28" test "$rc" = 28
sleep 0.2
ctl GET /_fake/stats >"$TMP/st3"
jcheck "failed embedding requests add no inputs" "$TMP/st3" '.embeddings.inputs==6 and .embeddings.aborted==1'
ctl DELETE /_fake/requests >/dev/null
ctl GET /_fake/stats >"$TMP/st4"
jcheck "DELETE /_fake/requests resets log and counters" "$TMP/st4" '.embeddings.inputs==0 and .embeddings.requests==0 and .anthropic.requests==0'
jcheck "requests log empty after DELETE" <(ctl GET '/_fake/requests?api=embeddings') 'length==0'

# ---- Unknown paths and shutdown -----------------------------------------------
code=$(curl -s -o "$TMP/u1" -w '%{http_code}' "$BASE/embeddings" "${OH[@]}" -d "$E3")
check "path without /v1 -> 404 (as the real API)" test "$code" = 404
jcheck "unknown path logged under api=unknown" <(ctl GET '/_fake/requests?api=unknown') 'length==1 and .[0].path=="/embeddings"'

kill -TERM "$FAKE_PID"; wait "$FAKE_PID"; rc=$?
FAKE_PID=
check "SIGTERM exits 0" test "$rc" = 0
check "stderr has one JSON line per request" bash -c "jq -e -s 'length>20 and (map(has(\"ts\") and has(\"path\"))|all)' '$TMP/err'"

echo "fakes: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
