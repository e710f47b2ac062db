#!/usr/bin/env bash
# Compose integration test (make compose-test; also part of make test):
# builds the images (deploy/docker/, on a locally made Debian base unless
# BASE names another), brings docker-compose.yml up with the fake model
# APIs, and drives it over HTTP: a full streamed turn with citations, a
# resume with Last-Event-ID, an erase, svc-llm killed in the middle of a
# turn and the recovery, then a graceful stop (every program exits 0).
# When no Docker engine can start it prints one line saying so and counts
# nothing (the rest of make test still runs).
set -uo pipefail
IT_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IT_PASSED=0; IT_FAILED=0
it_ok()   { IT_PASSED=$((IT_PASSED + 1)); printf 'ok   %s\n' "$1"; }
it_fail() { IT_FAILED=$((IT_FAILED + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '     %s\n' "$2"; return 0; }
it_check() { local name=$1; shift; if "$@"; then it_ok "$name"; else it_fail "$name" "command failed: $*"; fi; }
summary() { echo "integration: $IT_PASSED passed, $IT_FAILED failed"; [ "$IT_FAILED" -eq 0 ]; }

TMP=$(mktemp -d /tmp/chat-compose.XXXXXX)
if ! why=$("$IT_ROOT/tests/compose/docker-up.sh" "$TMP/docker"); then
  echo "compose test SKIPPED: $why"
  rm -rf "$TMP"; summary; exit 0
fi
cd "$IT_ROOT"
PROJECT="chatit$$"
export CHAT_TAG=it
fp() { "$IT_ROOT/scripts/free-port.sh" "$@"; }
export PG_PORT; PG_PORT=$(fp 61000 61199)
export SESSION_PORT; SESSION_PORT=$(fp 61200 61399)
export RETRIEVAL_PORT; RETRIEVAL_PORT=$(fp 61400 61599)
export LLM_PORT; LLM_PORT=$(fp 61600 61799)
export INDEXER_PORT; INDEXER_PORT=$(fp 61800 61999)
export HTTP_PORT; HTTP_PORT=$(fp 62000 62199)
export FAKE_PORT; FAKE_PORT=$(fp 62200 62399)
export LLM_PROVIDER=anthropic ANTHROPIC_API_KEY=sk-ant-compose-test ANTHROPIC_BASE_URL="http://127.0.0.1:$FAKE_PORT"
export HEARTBEAT_INTERVAL=1s DISCONNECT_GRACE=2s ALLOWED_ORIGINS="http://127.0.0.1:$HTTP_PORT"
export POSTGRES_PASSWORD="it-$RANDOM-$RANDOM"
DC=(docker-compose -p "$PROJECT" --profile fakes)
G="http://127.0.0.1:$HTTP_PORT"; FAKE="http://127.0.0.1:$FAKE_PORT"

s3_pid=""
teardown() {
  [ -n "$s3_pid" ] && { kill "$s3_pid"; wait "$s3_pid"; } 2>/dev/null
  "${DC[@]}" logs --no-color >"$TMP/compose.log" 2>&1 || true
  timeout 120 "${DC[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  # The engine this test started is stopped, unless another compose test
  # (a concurrent run on this machine) has containers on it by now.
  if [ -s "$TMP/docker/dockerd.pid" ] && [ -z "$(docker ps -q 2>/dev/null)" ]; then
    kill "$(cat "$TMP/docker/dockerd.pid")" 2>/dev/null
  fi
  if [ "$IT_FAILED" -gt 0 ]; then echo "logs kept in $TMP (compose.log)"; else rm -rf "$TMP"; fi
}
trap teardown EXIT
trap 'it_fail "interrupted (signal)"; exit 1' TERM INT

# --- images ----------------------------------------------------------------------------
if [ -z "${BASE:-}" ]; then
  timeout 900 "$IT_ROOT/deploy/docker/make-base-image.sh" chat/debian:12-slim 2>"$TMP/base.log" \
    || { it_fail "base image made with debootstrap" "$(tail -2 "$TMP/base.log")"; summary; exit 1; }
  export BASE=chat/debian:12-slim
fi
t0=$(date +%s)
built=1
for img in postgres gateway svc-session svc-retrieval svc-llm svc-indexer; do
  if ! timeout 1200 docker build -q --build-arg BASE="$BASE" --build-arg VERSION="$(git describe --always 2>/dev/null || echo dev)" \
       -t "chat/$img:$CHAT_TAG" -f "deploy/docker/$img.Dockerfile" . >"$TMP/build-$img.log" 2>&1; then
    built=0; it_fail "image chat/$img builds" "$(tail -3 "$TMP/build-$img.log")"
  fi
done
for extra in "fakes tests/compose/fakes.Dockerfile" "backup deploy/docker/backup.Dockerfile"; do
  set -- $extra
  timeout 600 docker build -q --build-arg BASE="$BASE" -t "chat/$1:$CHAT_TAG" -f "$2" . >"$TMP/build-$1.log" 2>&1 \
    || { built=0; it_fail "image chat/$1 builds" "$(tail -3 "$TMP/build-$1.log")"; }
done
[ $built = 1 ] || { summary; exit 1; }
it_ok "8 images built in $(( $(date +%s) - t0 )) s"
sizes=""
for img in gateway svc-session svc-retrieval svc-llm svc-indexer postgres backup; do
  sizes+=" $img=$(docker image inspect -f '{{.Size}}' "chat/$img:$CHAT_TAG" | awk '{printf "%.0fMB", $1/1e6}')"
done
echo "image sizes:$sizes"
user_ok=1
for img in gateway svc-session svc-retrieval svc-llm svc-indexer; do
  cfg=$(docker image inspect -f '{{.Config.User}} {{.Config.StopSignal}} {{if .Config.Healthcheck}}hc{{end}}' "chat/$img:$CHAT_TAG")
  [ "$cfg" = "chat SIGTERM hc" ] || { user_ok=0; echo "     chat/$img: user/stopsignal/healthcheck = $cfg"; }
done
it_check "service images: non-root user, STOPSIGNAL SIGTERM, HEALTHCHECK" test $user_ok = 1
it_check "runtime images have tzdata and no compiler" bash -c "docker run --rm --entrypoint sh chat/svc-session:$CHAT_TAG -c 'test -f /usr/share/zoneinfo/Europe/Berlin && ! command -v cc' >/dev/null"

# --- up, health-gated ---------------------------------------------------------------------
t0=$(date +%s%N)
if ! timeout 300 "${DC[@]}" up -d >"$TMP/up.log" 2>&1; then
  it_fail "docker-compose up" "$(tail -5 "$TMP/up.log")"; summary; exit 1
fi
ready=0
for _ in $(seq 1 600); do
  curl -fsS "$G/readyz" >/dev/null 2>&1 && { ready=1; break; }; sleep 0.1
done
ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
it_check "compose up: /readyz 200 (every service ready) in ${ready_ms} ms" test $ready = 1
[ $ready = 1 ] || { echo "     waited 60 s for GET $G/readyz: $(curl -s "$G/readyz")"; summary; exit 1; }
echo "compose start-to-ready: ${ready_ms} ms (up -d including the one-shot migrate and kb-load)"
cid() { "${DC[@]}" ps -q "$1"; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$(cid "$1")"; }
hok=1
for s in postgres svc-session svc-retrieval svc-llm svc-indexer gateway; do
  h=""; for _ in $(seq 1 60); do h=$(health "$s"); [ "$h" = healthy ] && break; sleep 0.5; done
  [ "$h" = healthy ] || { hok=0; echo "     $s: $h"; }
done
it_check "all six containers report healthy (HEALTHCHECK: pg_isready, Health RPC, /healthz)" test $hok = 1
it_check "migrate and kb-load ran once and exited 0" bash -c "[ \"\$(docker inspect -f '{{.State.ExitCode}}' $(cid migrate) $(cid kb-load) | sort -u)\" = 0 ]"

# --- a streamed turn with citations (the fake Anthropic) ------------------------------------
fake() { curl -s -X "$1" "$FAKE$2" -H 'content-type: application/json' ${3:+-d "$3"}; }
new_session() { curl -s -X POST "$G/v1/sessions" -H 'content-type: application/json' -d '{}'; }
chat() { local tok=$1 msg=$2; shift 2; curl -s -N --max-time 30 -X POST "$G/v1/chat" -H 'content-type: application/json' \
  -H "authorization: Bearer $tok" -d "$(jq -nc --arg m "$msg" '{message:$m}')" "$@"; }
events() { awk '/^event: /{e=$2} /^data: /{sub(/^data: /,""); print e "\t" $0}'; }
answer() { events | awk -F'\t' '$1=="token"{print $2}' | jq -rj .text; }
export -f events answer   # used inside bash -c checks
fake POST /_fake/config '{"anthropic":{"text":"The Growth plan costs 299 euros per month [1].","tokens_per_second":0}}' >/dev/null
S=$(new_session); TOK=$(jq -r .token <<<"$S"); SID=$(jq -r .session_id <<<"$S")
out=$(chat "$TOK" "How much does the Growth plan cost?")
it_check "turn: meta, sources, tokens, done in order" bash -c "[[ '$(events <<<"$out" | cut -f1 | uniq | tr '\n' ' ')' == 'meta sources token done ' ]]"
it_check "turn: the answer streamed from the model, with a citation [1]" bash -c "grep -q '299 euros per month \[1\]' <<<'$(answer <<<"$out")'"
it_check "turn: sources from kb/ (indexed by kb-load) with titles and URLs" bash -c "events <<<'$(sed "s/'/ /g" <<<"$out")' | awk -F'\t' '\$1==\"sources\"{print \$2}' | jq -se 'any(.[]; (.sources|length)>0 and (.sources[0].url|startswith(\"https://quorvia.example/\")))' >/dev/null"
it_check "turn: the model got the sources in its system prompt" bash -c "curl -s '$FAKE/_fake/requests?api=anthropic' | jq -ne 'input | .[-1].body.system|tostring|test(\"quorvia|Growth\";\"i\")' >/dev/null"

# --- resume -------------------------------------------------------------------------------
fake POST /_fake/script "{\"api\":\"anthropic\",\"steps\":[{\"text\":\"$(printf 'word%s ' $(seq 1 40))\",\"tokens_per_second\":20}]}" >/dev/null
first=$(chat "$TOK" "Tell me about your integrations" --max-time 1)
tid=$(events <<<"$first" | awk -F'\t' '$1=="meta"{print $2}' | jq -r .turn_id)
last=$(grep '^id: ' <<<"$first" | tail -1 | cut -d' ' -f2)
rest=$(curl -s -N --max-time 20 "$G/v1/chat/$tid/events" -H "authorization: Bearer $TOK" -H "Last-Event-ID: $last")
whole="$(answer <<<"$first")$(answer <<<"$rest")"
stored=$(curl -s "$G/v1/sessions/$SID/messages" -H "authorization: Bearer $TOK" | jq -r '.messages[-1].content')
it_check "resume: first part + resumed part == the stored answer" test -n "$stored" -a "$whole" = "$stored"
it_check "resume: ids continue after Last-Event-ID" test "$(grep '^id: ' <<<"$rest" | head -1 | cut -d' ' -f2)" = "$((last + 1))"

# --- the backup image against the compose Postgres (S3: the SigV4-verifying fake) ---------
node "$IT_ROOT/tests/fakes/fake-s3.js" --port 0 --bucket chat-backups --key AKIDCOMPOSE:compose-s3-secret >"$TMP/s3.port" 2>"$TMP/fake-s3.log" &
s3_pid=$!
for _ in $(seq 1 50); do [ -s "$TMP/s3.port" ] && break; sleep 0.1; done
S3="http://127.0.0.1:$(jq -r .port "$TMP/s3.port" 2>/dev/null)"
bk() { timeout 120 docker run --rm --network host -e DATABASE_URL="postgresql://chat:$POSTGRES_PASSWORD@127.0.0.1:$PG_PORT/chat" \
  -e TIGRIS_ENDPOINT="$S3" -e TIGRIS_BUCKET_NAME=chat-backups -e TIGRIS_ACCESS_KEY_ID=AKIDCOMPOSE \
  -e TIGRIS_SECRET_ACCESS_KEY=compose-s3-secret "chat/backup:$CHAT_TAG" "$@"; }
key=$(bk backup 2>"$TMP/backup.log"); rc=$?
it_check "backup image: chat-backup backup against the compose Postgres exits 0" test $rc = 0 -a -n "$key"
it_check "backup image: list shows it" bash -c "docker run --rm --network host -e TIGRIS_ENDPOINT='$S3' -e TIGRIS_BUCKET_NAME=chat-backups -e TIGRIS_ACCESS_KEY_ID=AKIDCOMPOSE -e TIGRIS_SECRET_ACCESS_KEY=compose-s3-secret chat/backup:$CHAT_TAG list 2>/dev/null | grep -qxF '$key'"
kill $s3_pid 2>/dev/null; wait $s3_pid 2>/dev/null

# --- erase --------------------------------------------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
it_check "erase: DELETE /v1/sessions/{id} 200" test "$(code -X DELETE "$G/v1/sessions/$SID" -H "authorization: Bearer $TOK")" = 200
it_check "erase: the session is gone (404)" test "$(code "$G/v1/sessions/$SID/messages" -H "authorization: Bearer $TOK")" = 404
left=$(docker exec "$(cid postgres)" psql -qAt -U chat -d chat -c "SELECT (SELECT count(*) FROM messages WHERE session_id='$SID')+(SELECT count(*) FROM checkpoints WHERE thread_id='$SID')")
it_check "erase: no messages or checkpoints left in Postgres" test "$left" = 0

# --- svc-llm killed mid-turn, then recovery -------------------------------------------------
S=$(new_session); TOK=$(jq -r .token <<<"$S")
fake POST /_fake/script "{\"api\":\"anthropic\",\"steps\":[{\"text\":\"$(printf 'slow%s ' $(seq 1 200))\",\"tokens_per_second\":10}]}" >/dev/null
chat "$TOK" "Tell me everything" >"$TMP/killed.sse" 2>/dev/null &
chat_pid=$!
for _ in $(seq 1 100); do grep -q '^event: token' "$TMP/killed.sse" 2>/dev/null && break; sleep 0.1; done
it_check "kill: the turn was streaming before the kill" grep -q '^event: token' "$TMP/killed.sse"
docker kill -s KILL "$(cid svc-llm)" >/dev/null
ended=0
for _ in $(seq 1 250); do kill -0 $chat_pid 2>/dev/null || { ended=1; break; }; sleep 0.1; done
kill $chat_pid 2>/dev/null; wait $chat_pid 2>/dev/null
it_check "kill: the open stream ended within 25 s of svc-llm dying" test $ended = 1
it_check "kill: the visitor got a retryable error event" bash -c "events <'$TMP/killed.sse' | awk -F'\t' '\$1==\"error\"{print \$2}' | jq -se 'any(.[]; .retryable==true)' >/dev/null"
it_check "kill: readyz reports llm not ready (503)" bash -c "for i in \$(seq 1 50); do [ \$(curl -s -o /dev/null -w '%{http_code}' '$G/readyz') = 503 ] && exit 0; sleep 0.1; done; exit 1"
others=1
for s in postgres svc-session svc-retrieval svc-indexer gateway; do
  [ "$(docker inspect -f '{{.State.Running}}' "$(cid "$s")")" = true ] || { others=0; echo "     $s is not running"; }
done
it_check "kill: the other containers kept running" test $others = 1
timeout 60 "${DC[@]}" start svc-llm >/dev/null 2>&1
back=0
for _ in $(seq 1 300); do curl -s "$G/readyz" | jq -ne 'input | .ready' >/dev/null 2>&1 && { back=1; break; }; sleep 0.1; done
it_check "recovery: svc-llm restarted and /readyz is 200 again" test $back = 1
fake POST /_fake/config '{"anthropic":{"text":"Yes, there is a 14-day free trial [1].","tokens_per_second":0}}' >/dev/null
out=$(chat "$TOK" "Is there a free trial?")
it_check "recovery: the next turn in the same session completes" bash -c "grep -q '^event: done' <<<'$out' && grep -q '14-day free trial' <<<'$(answer <<<"$out")'"

# --- graceful stop --------------------------------------------------------------------------
timeout 120 "${DC[@]}" stop -t 15 >/dev/null 2>&1
codes=""
for s in svc-session svc-retrieval svc-llm svc-indexer gateway postgres; do
  codes+=" $s=$(docker inspect -f '{{.State.ExitCode}}' "$(cid "$s")")"
done
it_check "stop: every program exits 0 on its STOPSIGNAL ($codes )" bash -c "! grep -q -E '=[1-9]' <<<'$codes'"
grep -q '"stopped"\|"msg":"stopped"' <("${DC[@]}" logs --no-color svc-session 2>&1) && it_ok "stop: svc-session logged its drained stop" \
  || it_fail "stop: svc-session logged its drained stop"
summary
