#!/usr/bin/env bash
# svc-llm integration test: the real svc-llm against the fake Anthropic /
# OpenAI servers (tests/fakes/fake-apis.js), driven by tests/tools/llm_cli.
# No Postgres needed. Covers the offline provider (citations, no-info
# answer, lead rules), the exact Anthropic request, retries, fallback,
# mid-stream errors, tool calls, cancel, idle expiry, the OpenAI-compatible
# provider, 50 concurrent generations, bad input, the circuit breaker, the
# first-token timeout and a clean stop with a poll waiting.
#
#   bash tests/integration/test_llm.sh [BUILD_DIR]     (default build/release)
#
# With a sanitizer build (build/san) every process log is also checked for
# AddressSanitizer / LeakSanitizer / UBSan reports. KEEP_LOGS=1 keeps the
# logs of a passing run.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

IT_BUILD=${1:-build/release}
IT_BIN="$IT_ROOT/$IT_BUILD/bin"
CLI="$IT_ROOT/$IT_BUILD/tools/llm_cli"
IT_TMP=$(mktemp -d /tmp/chat-it-llm.XXXXXX)
mkdir -p "$IT_TMP/logs"
export LOG_LEVEL=info
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
unset LLM_PROVIDER ANTHROPIC_API_KEY OPENAI_API_KEY ANTHROPIC_BASE_URL OPENAI_BASE_URL

FAKE_PID=
SVC_PID=
SVC_N=0
llm_teardown() {
  it_unbound
  [ -n "$SVC_PID" ] && kill -KILL "$SVC_PID" 2>/dev/null
  [ -n "$FAKE_PID" ] && kill -TERM "$FAKE_PID" 2>/dev/null
  wait 2>/dev/null
  if [ "$IT_FAILED" -gt 0 ] || [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $IT_TMP"; else rm -rf "$IT_TMP"; fi
}
trap llm_teardown EXIT
it_bound "${IT_TIMEOUT:-900}"

if [ ! -x "$IT_BIN/svc-llm" ] || [ ! -x "$CLI" ]; then
  it_fail "build present" "need $IT_BIN/svc-llm and $CLI (make all $IT_BUILD/tools/llm_cli)"
  it_summary; exit 1
fi

# ---------------------------------------------------------------- helpers
node "$IT_ROOT/tests/fakes/fake-apis.js" --port 0 >"$IT_TMP/fake.out" 2>"$IT_TMP/logs/fake.log" &
FAKE_PID=$!
for _ in $(seq 1 100); do [ -s "$IT_TMP/fake.out" ] && break; sleep 0.05; done
FAKE_PORT=$(jq -r .port "$IT_TMP/fake.out" 2>/dev/null)
if ! [[ "$FAKE_PORT" =~ ^[0-9]+$ ]]; then
  it_fail "fake APIs start" "$(cat "$IT_TMP/logs/fake.log")"; it_summary; exit 1
fi
FAKE="http://127.0.0.1:$FAKE_PORT"

ctl() { # ctl METHOD PATH [JSON]
  if [ $# -ge 3 ]; then curl -s -X "$1" "$FAKE$2" -H 'content-type: application/json' --data-binary "$3"
  else curl -s -X "$1" "$FAKE$2"; fi
}
script() { ctl POST /_fake/script "{\"api\":\"$1\",\"steps\":$2}" >/dev/null; }
requests() { ctl GET "/_fake/requests?api=$1"; }
# last_aborted API: waits (up to 5 s: an abort travels through the engine
# thread and the socket) until the fake's last request of API is aborted;
# prints that request either way.
last_aborted() {
  local r
  it_step "waiting up to 5s for the last $1 request to be aborted"
  for _ in $(seq 1 50); do
    r=$(requests "$1" | jq -c '.[-1]')
    jq -e '.aborted == true' <<<"$r" >/dev/null 2>&1 && break
    sleep 0.1
  done
  printf '%s\n' "$r"
}
forget() { ctl DELETE /_fake/requests >/dev/null; }

# svc_start [VAR=VALUE...]: a fresh svc-llm with that environment on a free
# port (LLM_URL); waits until it answers Health.
svc_start() {
  SVC_N=$((SVC_N + 1))
  LLM_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 14000 15999)"
  SVC_LOG="$IT_TMP/logs/svc-llm.$SVC_N.log"
  env "$@" LLM_URL="$LLM_URL" "$IT_BIN/svc-llm" >>"$SVC_LOG" 2>&1 &
  SVC_PID=$!
  for _ in $(seq 1 100); do
    "$CLI" "$LLM_URL" health >/dev/null 2>&1 && return 0
    kill -0 "$SVC_PID" 2>/dev/null || break
    sleep 0.05
  done
  it_fail "svc-llm #$SVC_N starts" "$(tail -5 "$SVC_LOG")"
  return 1
}

# svc_stop NAME: SIGTERM, expects exit 0 and a log free of sanitizer reports.
svc_stop() {
  kill -TERM "$SVC_PID" 2>/dev/null
  local rc=0
  wait "$SVC_PID" || rc=$?
  SVC_PID=
  it_check "$1: svc-llm stops cleanly (exit 0)" test "$rc" = 0
  san_check "$1: svc-llm log has no sanitizer report" "$SVC_LOG"
}

san_check() { # san_check NAME FILE
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$2" 2>/dev/null; then
    it_fail "$1" "$(grep -m3 -E 'ERROR: |runtime error:' "$2")"
  else
    it_ok "$1"
  fi
}

CLI_ERR="$IT_TMP/logs/llm_cli.err"
cli() { "$CLI" "$LLM_URL" "$@" 2>>"$CLI_ERR"; }
# run REQ_JSON [opts]: the summary line of a generation polled to its end.
run() { local r=$1; shift; cli run "$r" "$@" | tail -1; }
# jt NAME JSON FILTER: passes when jq FILTER is true on JSON.
jt() {
  if [ "$(jq -r "$3" <<<"$2" 2>/dev/null)" = "true" ]; then it_ok "$1"
  else it_fail "$1" "jq '$3' on: $(head -c 600 <<<"$2")"; fi
}

# ------------------------------------------------------------- test data
GROWTH='Our most popular plan, for companies that run on data. Growth costs €299 per month billed monthly, or €249 per month billed annually, and includes 20 seats, 10 million events per month, audience syncs every 15 minutes, Salesforce, and data-warehouse integrations with BigQuery, Snowflake and Amazon Redshift. Growth is also the plan you get during the 14-day free trial.'
SSO='Single sign-on with SAML 2.0 and OpenID Connect is available on the Enterprise plan. Okta, Microsoft Entra ID and Google Workspace are supported out of the box.'
RESIDENCY='All customer data is stored in the EU, in Frankfurt, Germany. Backups are kept in a second EU region.'
SOURCES=$(jq -nc --arg g "$GROWTH" --arg s "$SSO" --arg r "$RESIDENCY" '[
  {title:"Single sign-on", url:"https://quorvia.example/security/sso", heading_path:"Security > SSO", text:$s},
  {title:"Plans and pricing", url:"https://quorvia.example/pricing/plans#growth", heading_path:"Pricing > Growth", text:("Growth\n" + $g)},
  {title:"Data residency", url:"https://quorvia.example/security/residency", heading_path:"Security > Residency", text:$r}]')
req() { # req MESSAGE [extra jq object]
  jq -nc --arg m "$1" --argjson s "$SOURCES" --argjson x "${2:-{\}}" \
    '{user_message:$m, sources:$s, business_hours_open:false, business_hours_text:"Mon–Fri 09:00–18:00 CET", user_hash:"u-hash-1"} + $x'
}
PRICE_Q=$(req "How much does the Growth plan cost?")

# ======================================================= offline provider
svc_start LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=0 COMPANY_NAME=Quorvia || { it_summary; exit 1; }

out=$(run "$PRICE_Q")
jt "offline: answers, provider offline, model extractive-v1" "$out" \
  '.done and .stop_reason=="end_turn" and .provider=="offline" and .usage.provider=="offline" and .usage.model=="extractive-v1" and .error_code=="OK"'
jt "offline: quotes the source sentence verbatim" "$out" \
  '.text | contains("Growth costs €299 per month billed monthly, or €249 per month billed annually, and includes 20 seats")'
jt "offline: cites the right source [2] and only it" "$out" '(.text|contains("[2]")) and ((.text|contains("[1]"))|not) and ((.text|contains("[3]"))|not)'
jt "offline: streamed word by word (many deltas, seq 1..n)" "$out" '.deltas > 20 and .seq_ok'
jt "offline: usage estimated" "$out" '.usage.input_tokens > 50 and .usage.output_tokens > 20'

out=$(run "$(req 'What is the capital of France?')")
jt "offline: no relevant source -> \"don't have that information\"" "$out" '.text|contains("don'"'"'t have that information in our documentation")'
jt "offline: ... offers the team and mentions business hours when closed" "$out" '(.text|contains("Mon–Fri 09:00–18:00 CET")) and (.text|contains("email"))'
out=$(run '{"user_message":"Where is your data stored?","business_hours_open":true}')
jt "offline: no sources at all -> no-info answer offering the team" "$out" '(.text|contains("don'"'"'t have that information")) and (.text|contains("connect you with our team"))'

out=$(cli run "$(req 'Hi, my name is Jane Doe from Acme Corp. Email jane.doe@acme.example or call +49 30 1234 5678. Can we book a demo next week?')")
lead=$(grep '"record_lead"' <<<"$out" | head -1)
jt "offline: email/phone -> TOOL_CALL record_lead with the fields (phone in E.164)" "${lead:-{\}}" \
  '.kind=="TOOL_CALL" and .tool_input.email=="jane.doe@acme.example" and .tool_input.phone=="+493012345678" and .tool_input.name=="Jane Doe" and .tool_input.company=="Acme Corp" and .tool_input.timeline=="next week"'
hand=$(grep '"request_handoff"' <<<"$out" | head -1)
jt "offline: asking for a demo -> TOOL_CALL request_handoff" "${hand:-{\}}" '.kind=="TOOL_CALL" and (.tool_input.reason|test("demo"))'
out=$(run "$(req 'Can I talk to a human please?')")
jt "offline: no contact details -> no record_lead, asks for them" "$out" '.text|contains("email address")'

# Bad input, unknown streams.
bad() { # bad NAME REQ
  local o; o=$(cli generate "$2")
  jt "bad input: $1 -> INVALID_ARGUMENT" "$o" '.rpc_error=="INVALID_ARGUMENT"'
}
bad "empty user_message" '{"user_message":""}'
bad "blank user_message" '{"user_message":"   \n "}'
bad "user_message over 16 KB" "$(jq -nc --arg m "$(head -c 16385 /dev/zero | tr '\0' a)" '{user_message:$m}')"
bad "201 history messages" "$(jq -nc '{user_message:"hi", history:[range(201)|{role:"user",content:"x"}]}')"
bad "21 sources" "$(jq -nc '{user_message:"hi", sources:[range(21)|{title:"t",url:"u",text:"x"}]}')"
bad "user_message not UTF-8" '{"user_message_hex":"68c328ff"}'
bad "unknown provider" '{"user_message":"hi","provider":"gemini"}'
bad "history role other than user/assistant" '{"user_message":"hi","history":[{"role":"system","content":"x"}]}'
ok16=$(cli generate "$(jq -nc --arg m "$(head -c 16384 /dev/zero | tr '\0' a)" '{user_message:$m}')")
jt "a user_message of exactly 16 KB is accepted" "$ok16" '.stream_id|test("^.+\\.[A-Za-z0-9_-]{22}$")'
out=$(cli poll "nosuch.AAAAAAAAAAAAAAAAAAAAAA" 0 0)
jt "poll of an unknown stream -> NOT_FOUND" "$out" '.rpc_error=="NOT_FOUND"'
out=$(cli cancel "nosuch.AAAAAAAAAAAAAAAAAAAAAA")
jt "cancel of an unknown stream is a no-op (was_running false)" "$out" '.was_running==false'

gen=$(cli generate "$PRICE_Q")
sid=$(jq -r .stream_id <<<"$gen")
jt "generate: stream id is <replica>.<22 base64url>, provider/model given" "$gen" \
  '(.stream_id|test("^[^ ]+\\.[A-Za-z0-9_-]{22}$")) and .provider=="offline" and .model=="extractive-v1"'
it_step "waiting up to 10s for generation $sid to be done"
for _ in $(seq 1 100); do out=$(cli poll "$sid" 0 0); jq -e .done <<<"$out" >/dev/null 2>&1 && break; sleep 0.1; done
jt "poll: one reply carries every pending delta (coalesced), done" "$out" '(.deltas|length) > 20 and .done and (.deltas[0].seq==1)'
n=$(jq '.deltas|length' <<<"$out")
out=$(cli poll "$sid" "$n" 5000)
jt "poll after the last seq of a finished stream: at once, done, no deltas" "$out" '.done and (.deltas|length)==0'
out=$(cli poll "$sid" 3 0)
jt "poll after_seq=3 returns from seq 4" "$out" '.deltas[0].seq==4'
out=$(cli cancel "$sid")
jt "cancel of a finished generation: was_running false" "$out" '.was_running==false'

svc_stop "offline"

# ================================================ anthropic (fake server)
AENV=(ANTHROPIC_API_KEY=sk-ant-test "ANTHROPIC_BASE_URL=$FAKE" OPENAI_API_KEY=sk-test "OPENAI_BASE_URL=$FAKE/v1"
      COMPANY_NAME=Quorvia GENERATION_IDLE_TTL=2s OFFLINE_TOKENS_PER_SECOND=100)
svc_start "${AENV[@]}" || { it_summary; exit 1; }
ctl POST /_fake/reset >/dev/null

HIST=$(jq -nc '[{role:"assistant",content:"Welcome! How can I help?"},
                {role:"user",content:"Do you have a free plan?"},
                {role:"assistant",content:"Yes, the Free plan costs nothing [1]."}]')
Q=$(req "How much does the Growth plan cost?" "$(jq -nc --argjson h "$HIST" '{history:$h, lead:{name:"Ada"}, session_id:"s1", turn_id:"t1"}')")
out=$(run "$Q")
jt "anthropic: answer streamed from the fake" "$out" \
  '.done and .stop_reason=="end_turn" and .provider=="anthropic" and .text=="Hello! This is the fake Anthropic API answering." and .seq_ok'
jt "anthropic: usage from message_start/message_delta" "$out" '.usage.input_tokens > 100 and .usage.output_tokens==.deltas and .usage.provider=="anthropic" and .usage.model=="claude-sonnet-4-5"'
r=$(requests anthropic | jq -c '.[-1]')
jt "anthropic request: path and exact headers" "$r" \
  '.method=="POST" and .path=="/v1/messages" and .headers["x-api-key"]=="sk-ant-test" and .headers["anthropic-version"]=="2023-06-01" and .headers["content-type"]=="application/json"'
jt "anthropic request: model, max_tokens, stream, temperature, metadata" "$r" \
  '.body.model=="claude-sonnet-4-5" and .body.max_tokens==1024 and .body.stream==true and .body.temperature==0.2 and .body.metadata.user_id=="u-hash-1"'
jt "anthropic request: one system block with cache_control ephemeral" "$r" \
  '(.body.system|length)==1 and .body.system[0].type=="text" and .body.system[0].cache_control.type=="ephemeral"'
jt "anthropic request: system prompt holds the rules and the company" "$r" \
  '.body.system[0].text | (contains("Quorvia") and contains("[1]") and contains("Never reveal") and contains("not instructions") and contains("record_lead") and contains("Mon–Fri 09:00–18:00 CET") and contains("name: Ada"))'
jt "anthropic request: system prompt holds every source in order, delimited" "$r" \
  '.body.system[0].text | (index("<source id=\"1\">") < index("<source id=\"2\">")) and (index("<source id=\"2\">") < index("<source id=\"3\">")) and contains("Single sign-on with SAML 2.0") and contains("Growth costs €299 per month") and contains("https://quorvia.example/pricing/plans#growth") and contains("</sources>")'
jt "anthropic request: history (from the first user message) + the question" "$r" \
  '.body.messages==[{role:"user",content:"Do you have a free plan?"},{role:"assistant",content:"Yes, the Free plan costs nothing [1]."},{role:"user",content:"How much does the Growth plan cost?"}]'
jt "anthropic request: tools record_lead (the LEAD_SLOTS default) and request_handoff, tool_choice auto" "$r" \
  '([.body.tools[].name]==["record_lead","request_handoff"]) and .body.tool_choice.type=="auto" and (.body.tools[0].input_schema.properties|has("email") and has("consent") and has("timeline") and (has("team_size")|not)) and (.body.tools[1].input_schema.properties|has("reason") and has("urgency"))'

BIG=$(head -c 30000 /dev/zero | tr '\0' b)
HIST2=$(jq -nc --arg big "$BIG" '[{role:"user",content:$big},{role:"assistant",content:"That was long."},{role:"user",content:"Second question"},{role:"assistant",content:"Second answer"}]')
run "$(req "Third question" "$(jq -nc --argjson h "$HIST2" '{history:$h}')")" >/dev/null
r=$(requests anthropic | jq -c '.[-1]')
jt "anthropic request: history over HISTORY_TOKEN_BUDGET drops the oldest, starts with a user turn" "$r" \
  '.body.messages==[{role:"user",content:"Second question"},{role:"assistant",content:"Second answer"},{role:"user",content:"Third question"}]'

# 429 with retry-after, then success.
forget
script anthropic '[{"status":429,"retry_after":"1"}]'
out=$(run "$PRICE_Q")
r=$(requests anthropic)
jt "429 + retry-after: retried, then the answer (no fallback)" "$out" '.provider=="anthropic" and .text=="Hello! This is the fake Anthropic API answering."'
jt "429 + retry-after: two requests, the second >= 1 s later" "$r" 'length==2 and .[0].status==429 and .[1].status==200 and (.[1].ts_ms - .[0].ts_ms) >= 950'

# 529 three times: two retries, then the offline answer.
forget
script anthropic '[{"status":529,"repeat":3}]'
full=$(cli run "$PRICE_Q")
out=$(tail -1 <<<"$full")
r=$(requests anthropic)
jt "529 x3: exactly 3 attempts (2 retries)" "$r" 'length==3 and map(.status)==[529,529,529]'
jt "529 x3: backoff between attempts (>= 0.35 s, then >= 0.7 s)" "$r" '(.[1].ts_ms - .[0].ts_ms) >= 350 and (.[2].ts_ms - .[1].ts_ms) >= 700'
first=$(sed -n 2p <<<"$full")
jt "529 x3: first delta is NOTICE \"fallback: anthropic unavailable\"" "${first:-{\}}" '.seq==1 and .kind=="NOTICE" and .text=="fallback: anthropic unavailable"'
jt "529 x3: offline answer with citation, provider offline" "$out" \
  '.done and .provider=="offline" and .usage.provider=="offline" and (.text|contains("€299 per month")) and (.text|contains("[2]")) and .error_code=="OK"'

# x-should-retry: false wins over a 500.
forget
script anthropic '[{"status":500,"x_should_retry":"false"}]'
out=$(run "$PRICE_Q")
jt "500 with x-should-retry false: no retry, offline fallback" "$(requests anthropic | jq -c "{n:length, p:\"$(jq -r .provider <<<"$out")\"}")" '.n==1 and .p=="offline"'
forget
script anthropic '[{"status":503,"x_should_retry":"true","retry_after_ms":"100"},{"status":400}]'
out=$(run "$PRICE_Q")
jt "x-should-retry true retries; a 400 is not retried" "$(requests anthropic | jq -c "{s:map(.status), p:\"$(jq -r .provider <<<"$out")\"}")" '.s==[503,400] and .p=="offline"'

# Mid-stream error after 3 tokens.
script anthropic '[{"text":"one two three four five six","mid_stream_error":"overloaded_error","after_tokens":3}]'
out=$(run "$PRICE_Q")
jt "mid-stream error: partial answer kept and marked, error fields" "$out" \
  '.done and .stop_reason=="error" and .partial==true and .text=="one two three" and .error_code=="UNAVAILABLE" and .error_retryable==true and (.error_message|test("overloaded"))'
script anthropic '[{"text":"one two","mid_stream_error":"invalid_request_error","after_tokens":1}]'
out=$(run "$PRICE_Q")
jt "mid-stream invalid_request_error: not retryable" "$out" '.partial and .error_retryable==false and .error_code=="INVALID_ARGUMENT"'
script anthropic '[{"text":"alpha beta gamma","tokens_per_second":50,"drop_after_ms":300,"stall_after_tokens":2}]'
out=$(run "$PRICE_Q")
jt "connection dropped after the first token: partial, retryable error" "$out" '.done and .partial and .stop_reason=="error" and .error_retryable and .text=="alpha beta"'

# Tool call: input_json_delta fragments (first one ""), events split into 3-byte chunks.
script anthropic '[{"text":"Thanks, noted.","tool_calls":[{"name":"record_lead","input":{"email":"a@b.example","name":"Zoë Ünï","consent":true}}],"chunk_bytes":3}]'
full=$(cli run "$PRICE_Q")
tool=$(grep '"TOOL_CALL"' <<<"$full" | head -1)
jt "tool_use -> TOOL_CALL delta with name, id and the joined input" "${tool:-{\}}" \
  '.tool_name=="record_lead" and (.tool_call_id|startswith("toolu_")) and .tool_input=={"email":"a@b.example","name":"Zoë Ünï","consent":true}'
jt "tool_use: text kept across 3-byte chunks, stop_reason tool_use" "$(tail -1 <<<"$full")" '.text=="Thanks, noted." and .stop_reason=="tool_use"'

# Cancel: the upstream request is aborted at once.
forget
LONG=$(printf 'word%d ' $(seq 1 80))
script anthropic "[{\"text\":\"$LONG\",\"tokens_per_second\":10}]"
full=$(cli run "$PRICE_Q" --cancel-after 3)
jt "cancel: was_running true" "$(grep was_running <<<"$full" | head -1)" '.was_running==true'
jt "cancel: generation ends with stop_reason cancelled" "$(tail -1 <<<"$full")" '.done and .stop_reason=="cancelled" and .partial==false'
r=$(last_aborted anthropic)
jt "cancel: the fake recorded the request as aborted, early" "$r" '.aborted==true and (.closed_ms - .ts_ms) < 3000'
sid=$(jq -r .stream_id <<<"$(tail -1 <<<"$full")")
jt "cancel is idempotent (second: was_running false)" "$(cli cancel "$sid")" '.was_running==false'

# Idle expiry: nobody polls, the generation goes and its request is aborted.
forget
script anthropic '[{"hang":true}]'
sid=$(cli generate "$PRICE_Q" | jq -r .stream_id)
cli poll "$sid" 0 0 >/dev/null
sleep 3.5
jt "idle TTL: unpolled generation expires -> NOT_FOUND" "$(cli poll "$sid" 0 0)" '.rpc_error=="NOT_FOUND"'
jt "idle TTL: its upstream request was aborted" "$(requests anthropic | jq -c '.[-1]')" '.aborted==true'

# Long poll: waits for the first delta, or max_wait_ms.
script anthropic '[{"first_token_delay_ms":1500}]'
sid=$(cli generate "$PRICE_Q" | jq -r .stream_id)
t0=$(date +%s%N); out=$(cli poll "$sid" 0 400); t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
jt "long poll with nothing new returns after ~max_wait_ms, empty (${ms} ms)" "$out" "(.deltas|length)==0 and (.done|not) and $ms >= 350 and $ms < 1400"
t0=$(date +%s%N); out=$(cli poll "$sid" 0 10000); t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
jt "long poll returns as soon as the first delta exists (${ms} ms)" "$out" "(.deltas|length) >= 1 and .deltas[0].seq==1 and $ms < 3000"

# OpenAI-compatible provider (request override).
forget
OQ=$(jq -c '. + {provider:"openai"}' <<<"$Q")
out=$(run "$OQ")
jt "openai: streamed answer, [DONE], usage chunk" "$out" \
  '.done and .provider=="openai" and .stop_reason=="end_turn" and .text=="Hello! This is the fake OpenAI-compatible API answering." and .usage.output_tokens > 0 and .usage.input_tokens > 100'
r=$(requests openai_chat | jq -c '.[-1]')
jt "openai request: path, bearer key, stream + include_usage, system first" "$r" \
  '.path=="/v1/chat/completions" and .headers.authorization=="Bearer sk-test" and .body.stream==true and .body.stream_options.include_usage==true and .body.messages[0].role=="system" and (.body.messages[0].content|contains("<source id=\"2\">")) and .body.messages[-1]=={role:"user",content:"How much does the Growth plan cost?"} and ([.body.tools[].function.name]==["record_lead","request_handoff"])'
script openai_chat '[{"text":"","tool_calls":[{"name":"request_handoff","input":{"reason":"wants a demo","urgency":"high"}}],"usage_choices_null":true}]'
full=$(cli run "$OQ")
jt "openai: tool call -> TOOL_CALL, finish_reason tool_calls -> tool_use" "$(grep TOOL_CALL <<<"$full" | head -1)" '.tool_name=="request_handoff" and .tool_input.urgency=="high"'
jt "openai: stop_reason tool_use (usage chunk with choices null)" "$(tail -1 <<<"$full")" '.stop_reason=="tool_use" and .done'
script openai_chat '[{"status":503},{"text":"Recovered."}]'
out=$(run "$OQ")
jt "openai: 503 retried, then answered" "$out" '.provider=="openai" and .text=="Recovered."'
script openai_chat '[{"text":"a b c d","mid_stream_error":"server_error","after_tokens":2}]'
out=$(run "$OQ")
jt "openai: error object mid-stream -> partial, retryable" "$out" '.partial and .error_retryable and .text=="a b"'

# 50 concurrent generations.
ctl POST /_fake/config '{"anthropic":{"tokens_per_second":200}}' >/dev/null
out=$(cli load 50 "$PRICE_Q")
jt "50 concurrent generations all complete from anthropic" "$out" '.started==50 and .completed==50 and .failed==0 and .providers.anthropic==50'
ctl POST /_fake/config '{"anthropic":{"tokens_per_second":null}}' >/dev/null

# Circuit breaker: 5 consecutive failed requests open it.
forget
script anthropic '[{"status":529,"repeat":20}]'
run "$PRICE_Q" >/dev/null
out2=$(run "$PRICE_Q")
n_before=$(requests anthropic | jq length)
full=$(cli run "$PRICE_Q")
n_after=$(requests anthropic | jq length)
jt "breaker: opens after 5 failed requests (3 + 2)" "{\"n\":$n_before}" '.n==5'
jt "breaker: while open, no request goes upstream" "{\"a\":$n_before,\"b\":$n_after}" '.a==.b'
jt "breaker: ... and the answer is offline with the NOTICE" "$(sed -n 2p <<<"$full")" '.kind=="NOTICE" and .text=="fallback: anthropic unavailable"'
jt "breaker: the second generation fell back too" "$out2" '.provider=="offline"'
ctl POST /_fake/reset >/dev/null

svc_stop "anthropic"

# ============================================= MAX_GENERATIONS, timeouts
svc_start LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=1 MAX_GENERATIONS=2 || { it_summary; exit 1; }
cli generate "$PRICE_Q" >/dev/null
cli generate "$PRICE_Q" >/dev/null
out=$(cli generate "$PRICE_Q")
jt "MAX_GENERATIONS reached -> RESOURCE_EXHAUSTED with retry_after" "$out" '.rpc_error=="RESOURCE_EXHAUSTED" and .retry_after_ms > 0'
svc_stop "max generations"

svc_start ANTHROPIC_API_KEY=sk-ant-test "ANTHROPIC_BASE_URL=$FAKE" LLM_FIRST_TOKEN_TIMEOUT=1s OFFLINE_TOKENS_PER_SECOND=0 || { it_summary; exit 1; }
forget
script anthropic '[{"hang":true}]'
t0=$(date +%s%N); full=$(cli run "$PRICE_Q"); t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
jt "first-token timeout: NOTICE and the offline answer (${ms} ms)" "$(sed -n 2p <<<"$full")" '.kind=="NOTICE" and .text=="fallback: anthropic unavailable"'
jt "first-token timeout: answered offline after ~1 s" "$(tail -1 <<<"$full")" ".provider==\"offline\" and $ms >= 900 and $ms < 5000"
jt "first-token timeout: the hung request was aborted" "$(last_aborted anthropic)" '.aborted==true'

svc_stop "first-token timeout"

# A clean stop answers a waiting long poll at once (the stopping hook), so
# the drain does not wait for it and no deferred call outlives the server.
svc_start ANTHROPIC_API_KEY=sk-ant-test "ANTHROPIC_BASE_URL=$FAKE" DRAIN_TIMEOUT=10s || { it_summary; exit 1; }
forget
script anthropic '[{"hang":true}]'
sid=$(cli generate "$PRICE_Q" | jq -r .stream_id)
cli poll "$sid" 0 0 >/dev/null
("$CLI" "$LLM_URL" poll "$sid" 0 30000 >"$IT_TMP/poll.out" 2>>"$CLI_ERR") &
poller=$!
sleep 0.3
t0=$(date +%s%N)
svc_stop "stop with a waiting poll"
wait "$poller"
t1=$(date +%s%N)
jt "stop: the waiting poll is answered at once, the service stops quickly" "$(cat "$IT_TMP/poll.out")" \
  "has(\"deltas\") and (.done|not) and $(( (t1 - t0) / 1000000 )) < 2000"
jt "stop: the upstream request of the running generation was aborted" "$(last_aborted anthropic)" '.aborted==true'

san_check "llm_cli: no sanitizer report" "$CLI_ERR"
jt "fake saw no request on an unknown path" "$(ctl GET /_fake/stats)" '.unknown.requests==0'
it_summary
