#!/usr/bin/env bash
# svc-session integration test: a real Postgres, svc-session as a real
# process, driven over RPC by tests/tools/session_cli. Sessions and tokens,
# turns with history, the turn lock (concurrency, expiry), optimistic
# concurrency of Commit, idempotent retries, the transcript, erasure,
# budgets, retention, crashes of svc-session and of Postgres, and LangGraph's
# own checkpointer reading our threads.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build/release}"

CLI="$IT_ROOT/$IT_BUILD/tools/session_cli"
LG="$IT_ROOT/tests/langgraph"
LOG="$IT_TMP/logs/svc-session.log"
LOG2="$IT_TMP/logs/svc-session-2.log" # a second replica
SECRET=integration-test-secret-0123456789abcdef
q() { psql "$DATABASE_URL" -qAtc "$1"; }
cli() { "$CLI" "$@" 2>&1; }
code_of() { jq -r 'if .error then .error.code else "OK" end' <<<"$1" 2>/dev/null || echo "BAD_OUTPUT: $1"; }
# check_code NAME WANT JSON
check_code() {
  local got; got=$(code_of "$3")
  if [ "$got" = "$2" ]; then it_ok "$1"; else it_fail "$1" "wanted $2, got: $3"; fi
}
# it_check_eq NAME WANT GOT
token_for() { # the token svc-session must issue for id $1 under $SECRET
  printf '%s.%s' "$1" "$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')"
}
tid() { printf 't_%s' "$(head -c 16 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')"; }

if [ ! -x "$CLI" ]; then
  it_fail "session_cli is built ($IT_BUILD/tools/session_cli: run make integration)"
  it_summary; exit 1
fi

# sess_start [VAR=value ...]: starts svc-session with these settings (on
# top of the test's defaults) and waits until it answers Health ready.
sess_start() {
  local v
  for v in SESSION_SECRET TURN_LOCK_TTL RETENTION_INTERVAL SESSION_DAILY_TOKENS GLOBAL_DAILY_TOKENS SESSION_MAX_TURNS; do
    unset "$v"
  done
  # TURN_LOCK_TTL: long enough that a loaded machine (or a sanitizer build)
  # cannot let a lock expire between the calls of the lock checks below.
  export SESSION_SECRET=$SECRET TURN_LOCK_TTL=4s RETENTION_INTERVAL=1s
  for v in "$@"; do export "${v?}"; done
  it_start svc-session
  for _ in $(seq 1 100); do
    [ "$(cli Health timeout=500 | jq -r .ready 2>/dev/null)" = true ] && return 0
    sleep 0.05
  done
  echo "     svc-session did not become ready" >&2
  return 1
}
sess_stop() { # SIGTERM and wait; returns the exit status
  local pid rc=124; pid=$(it_pid svc-session)
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; rc=$?; break; fi
    sleep 0.05
  done
  return "$rc"
}
sess_kill() { local pid; pid=$(it_pid svc-session); kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }

# turn SID TOKEN USER ANSWER [extra Commit args]: Begin + Commit; prints the
# Commit reply.
turn() {
  local sid=$1 tok=$2 user=$3 answer=$4; shift 4
  local t b; t=$(tid)
  b=$(cli Begin session_id="$sid" token="$tok" turn_id="$t" user_message="$user")
  [ "$(code_of "$b")" = OK ] || { echo "$b"; return 1; }
  cli Commit session_id="$sid" turn_id="$t" parent_checkpoint_id="$(jq -r .checkpoint_id <<<"$b")" \
    user="$user" assistant="$answer" "$@"
}
UUID6='^[0-9a-f]{8}-[0-9a-f]{4}-6[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

# --- schema and configuration -------------------------------------------------
"$IT_BIN/svc-session" --migrate >/dev/null 2>&1
it_check "migrations applied" test "$(q 'SELECT count(*) FROM checkpoint_migrations')" = 10

err=$(SESSION_SECRET=short "$IT_BIN/svc-session" 2>&1); rc=$?
it_check "a SESSION_SECRET under 32 characters exits 2 naming it" test "$rc" = 2 -a -n "$(grep SESSION_SECRET <<<"$err")"
out=$("$IT_BIN/svc-session" --help)
for v in SESSION_SECRET RETENTION_DAYS RETENTION_INTERVAL TURN_LOCK_TTL SESSION_MAX_TURNS SESSION_DAILY_TOKENS \
  GLOBAL_DAILY_TOKENS HISTORY_LIMIT; do
  grep -q "$v" <<<"$out" || it_fail "--help documents $v"
done
it_ok "--help documents every svc-session variable"

# Without a secret: a random one and a warning.
it_check "svc-session starts without SESSION_SECRET" sess_start SESSION_SECRET=
it_check "without SESSION_SECRET it warns that tokens will not survive a restart" \
  grep -q "SESSION_SECRET is unset.*will not survive a restart" "$LOG"
r=$(cli Create); sid=$(jq -r .session_id <<<"$r")
it_check "without SESSION_SECRET tokens are not made with the test secret" test "$(jq -r .token <<<"$r")" != "$(token_for "$sid")"
sess_stop

# --- sessions and tokens ------------------------------------------------------
it_check "svc-session starts" sess_start
now_ms=$(($(date +%s%3N)))
r=$(cli Create ip_hash=iphash-abc origin=https://example.com locale=de-DE user_agent=Mozilla/5.0)
check_code "Create answers" OK "$r"
S=$(jq -r .session_id <<<"$r"); TOK=$(jq -r .token <<<"$r")
it_check "session id is s_ + 22 base64url characters" grep -Eq '^s_[A-Za-z0-9_-]{22}$' <<<"$S"
it_check_eq "token is the id + . + base64url(HMAC-SHA256(SESSION_SECRET, id))" "$(token_for "$S")" "$TOK"
exp=$(jq -r .expires_at_ms <<<"$r")
it_check "expires_at is created + RETENTION_DAYS (90)" test $((exp - now_ms - 90 * 86400000)) -gt -60000 -a $((exp - now_ms - 90 * 86400000)) -lt 60000
it_check_eq "ip_hash, origin and locale stored as given" "iphash-abc|https://example.com|de-DE" "$(q "SELECT ip_hash, origin, locale FROM sessions WHERE id='$S'")"

forged="${TOK%?}$([ "${TOK: -1}" = A ] && echo B || echo A)"
check_code "forged token: UNAUTHENTICATED" UNAUTHENTICATED "$(cli Load session_id="$S" token="$forged")"
r2=$(cli Create); S2=$(jq -r .session_id <<<"$r2"); TOK2=$(jq -r .token <<<"$r2")
check_code "another session's token: UNAUTHENTICATED" UNAUTHENTICATED "$(cli Load session_id="$S" token="$TOK2")"
check_code "missing token: UNAUTHENTICATED" UNAUTHENTICATED "$(cli Begin session_id="$S" turn_id=t_x)"
unknown=s_AAAAAAAAAAAAAAAAAAAAAA
check_code "unknown session with a valid token: NOT_FOUND" NOT_FOUND "$(cli Begin session_id=$unknown token="$(token_for $unknown)" turn_id=t_x)"
check_code "unknown session, Load: NOT_FOUND" NOT_FOUND "$(cli Load session_id=$unknown token="$(token_for $unknown)")"
check_code "malformed session id: INVALID_ARGUMENT" INVALID_ARGUMENT "$(cli Load session_id=s_short token="$TOK")"
check_code "session id with a bad character: INVALID_ARGUMENT" INVALID_ARGUMENT "$(cli Load session_id='s_AAAAAAAAAAAAAAAAAAAAA!' token="$TOK")"
big=$(head -c 16385 /dev/zero | tr '\0' a)
r=$(cli Begin session_id="$S" token="$TOK" turn_id=t_big user_message="$big")
check_code "user_message over 16 KB: INVALID_ARGUMENT" INVALID_ARGUMENT "$r"
it_check "the message says what is wrong" grep -q "user_message is too long" <<<"$r"
check_code "user_message of invalid UTF-8: INVALID_ARGUMENT" INVALID_ARGUMENT "$(cli Begin session_id="$S" token="$TOK" turn_id=t_x user_message=$'caf\xe9')"
check_code "origin over 256 bytes: INVALID_ARGUMENT" INVALID_ARGUMENT "$(cli Create origin="$(head -c 257 /dev/zero | tr '\0' o)")"
check_code "turn_id over 64 bytes: INVALID_ARGUMENT" INVALID_ARGUMENT "$(cli Begin session_id="$S" token="$TOK" turn_id="t_$(head -c 63 /dev/zero | tr '\0' x)")"
it_check_eq "no refused call took the turn lock" "" "$(q "SELECT coalesce(active_turn_id, '') FROM sessions WHERE id='$S'")"

# --- three turns, history carried ---------------------------------------------
T1=$(tid); b=$(cli Begin session_id="$S" token="$TOK" turn_id="$T1" user_message="What does the Team plan cost?" ip_hash=iphash-abc)
check_code "turn 1: Begin" OK "$b"
it_check_eq "turn 1: a new thread has no parent checkpoint and no history" "|0|0" "$(jq -r '"\(.checkpoint_id)|\(.history | length)|\(.turns_so_far)"' <<<"$b")"
it_check_eq "turn 1: the lock is held by the turn" "$T1" "$(q "SELECT active_turn_id FROM sessions WHERE id='$S'")"
check_code "turn 1: a retried Begin of the same turn succeeds" OK "$(cli Begin session_id="$S" token="$TOK" turn_id="$T1" user_message="What does the Team plan cost?")"
c=$(cli Commit session_id="$S" turn_id="$T1" parent_checkpoint_id= user="What does the Team plan cost?" \
  assistant="The Team plan costs 49 EUR per user and month [1]." "sources=Pricing|https://example.com/pricing#team|Team: 49 EUR per user" \
  usage.provider=offline usage.model=extractive usage.input_tokens=120 usage.output_tokens=30)
check_code "turn 1: Commit" OK "$c"
C1=$(jq -r .checkpoint_id <<<"$c")
it_check "checkpoint id is a UUIDv6" grep -Eq "$UUID6" <<<"$C1"
it_check_eq "turn 1: Commit releases the lock" "" "$(q "SELECT coalesce(active_turn_id, '') FROM sessions WHERE id='$S'")"

T2=$(tid); b=$(cli Begin session_id="$S" token="$TOK" turn_id="$T2" user_message="And the Business plan?")
it_check_eq "turn 2: Begin returns turn 1's checkpoint as parent" "$C1" "$(jq -r .checkpoint_id <<<"$b")"
it_check_eq "turn 2: history is turn 1's two messages" "user:What does the Team plan cost?|assistant:The Team plan costs 49 EUR per user and month [1]." \
  "$(jq -r '[.history[] | "\(.role):\(.content)"] | join("|")' <<<"$b")"
it_check_eq "turn 2: history keeps the sources, turn id and stop reason" "Pricing|https://example.com/pricing#team|$T1|end_turn" \
  "$(jq -r '.history[1] | "\(.sources[0].title)|\(.sources[0].url)|\(.turn_id)|\(.stop_reason)"' <<<"$b")"
it_check_eq "turn 2: usage so far" "1|150|199850" "$(jq -r '"\(.turns_so_far)|\(.tokens_used_today)|\(.token_budget_left)"' <<<"$b")"
c=$(cli Commit session_id="$S" turn_id="$T2" parent_checkpoint_id="$C1" user="And the Business plan?" \
  assistant="Business is 99 EUR [1]." lead.email=ada@example.com lead.name=Ada lead.extra_json='{"source":"pricing page"}' lead_changed=1)
check_code "turn 2: Commit with a lead" OK "$c"; C2=$(jq -r .checkpoint_id <<<"$c")
it_check "checkpoint ids increase (UUIDv6 order)" test "$C2" \> "$C1"

T3=$(tid); b=$(cli Begin session_id="$S" token="$TOK" turn_id="$T3" user_message="Can someone call me?")
it_check_eq "turn 3: Begin returns the 4 earlier messages in order" \
  "user:What does the Team plan cost?|assistant:The Team plan costs 49 EUR per user and month [1].|user:And the Business plan?|assistant:Business is 99 EUR [1]." \
  "$(jq -r '[.history[] | "\(.role):\(.content)"] | join("|")' <<<"$b")"
it_check_eq "turn 3: Begin returns the lead from the checkpoint" 'Ada|ada@example.com|{"source":"pricing page"}' "$(jq -r '.lead | "\(.name)|\(.email)|\(.extra_json)"' <<<"$b")"
c=$(cli Commit session_id="$S" turn_id="$T3" parent_checkpoint_id="$C2" user="Can someone call me?" assistant="Sure, what is your number?")
check_code "turn 3: Commit (lead unchanged)" OK "$c"; C3=$(jq -r .checkpoint_id <<<"$c")
b=$(cli Begin session_id="$S" token="$TOK" turn_id="$(tid)" history_limit=2)
it_check_eq "history_limit=2 returns the last 2 messages" "Can someone call me?|Sure, what is your number?" "$(jq -r '[.history[].content] | join("|")' <<<"$b")"
it_check_eq "the unchanged lead is still there" "ada@example.com" "$(jq -r .lead.email <<<"$b")"
it_check_eq "3 checkpoints chained by parent" "3|$C2" "$(q "SELECT count(*), max(parent_checkpoint_id) FILTER (WHERE checkpoint_id='$C3') FROM checkpoints WHERE thread_id='$S'")"
it_check_eq "checkpoint rows as PostgresSaver writes them" "|4|loop|3|$T3|messages" \
  "$(q "SELECT coalesce(type, ''), checkpoint->>'v', metadata->>'source', metadata->>'step', metadata->>'turn_id', checkpoint->'updated_channels'->>0 FROM checkpoints WHERE checkpoint_id='$C3'")"
it_check "checkpoint ts is ISO 8601 UTC with microseconds" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00$' <<<"$(q "SELECT checkpoint->>'ts' FROM checkpoints WHERE checkpoint_id='$C3'")"
it_check "channel versions look like LangGraph's" test "$(q "SELECT count(*) FROM checkpoints c, jsonb_each_text(c.checkpoint->'channel_versions') v WHERE c.thread_id='$S' AND v.value !~ '^[0-9]{32}\.0\.[0-9]{16}$'")" = 0
it_check_eq "every channel named by a checkpoint (but __start__) has a json blob" "0" \
  "$(q "SELECT count(*) FROM checkpoints c, jsonb_each_text(c.checkpoint->'channel_versions') v WHERE c.thread_id='$S' AND v.key <> '__start__' AND NOT EXISTS (SELECT 1 FROM checkpoint_blobs b WHERE b.thread_id=c.thread_id AND b.channel=v.key AND b.version=v.value AND b.type='json')")"
cli Release session_id="$S" turn_id="$(q "SELECT active_turn_id FROM sessions WHERE id='$S'")" >/dev/null

# --- the turn lock ------------------------------------------------------------
TA=$(tid); TB=$(tid)
check_code "lock: Begin of turn A" OK "$(cli Begin session_id="$S" token="$TOK" turn_id="$TA")"
r=$(cli Begin session_id="$S" token="$TOK" turn_id="$TB")
check_code "lock: a second turn while A is open: ALREADY_EXISTS" ALREADY_EXISTS "$r"
check_code "lock: Release of A by another turn id is not an error" OK "$(cli Release session_id="$S" turn_id="$TB")"
check_code "lock: ... and does not release A" ALREADY_EXISTS "$(cli Begin session_id="$S" token="$TOK" turn_id="$TB")"
check_code "lock: Release of A" OK "$(cli Release session_id="$S" turn_id="$TA")"
check_code "lock: after Release, turn B may begin" OK "$(cli Begin session_id="$S" token="$TOK" turn_id="$TB")"
cli Release session_id="$S" turn_id="$TB" >/dev/null
# Eight Begins at once: exactly one wins.
race=()
for i in 1 2 3 4 5 6 7 8; do cli Begin session_id="$S" token="$TOK" turn_id="t_race$i" >"$IT_TMP/race$i" & race+=($!); done
wait "${race[@]}"
ok=0; busy=0
for i in 1 2 3 4 5 6 7 8; do
  case $(code_of "$(cat "$IT_TMP/race$i")") in OK) ok=$((ok + 1)) ;; ALREADY_EXISTS) busy=$((busy + 1)) ;; esac
done
it_check_eq "lock: 8 concurrent Begins: one OK, seven ALREADY_EXISTS" "1|7" "$ok|$busy"
cli Release session_id="$S" turn_id="$(q "SELECT active_turn_id FROM sessions WHERE id='$S'")" >/dev/null

# Expiry: TURN_LOCK_TTL=4s.
TC=$(tid); TD=$(tid)
b=$(cli Begin session_id="$S" token="$TOK" turn_id="$TC"); PC=$(jq -r .checkpoint_id <<<"$b")
sleep 4.3
b=$(cli Begin session_id="$S" token="$TOK" turn_id="$TD")
check_code "lock: after TURN_LOCK_TTL another turn may begin" OK "$b"
nmsg=$(q "SELECT count(*) FROM messages WHERE session_id='$S'")
r=$(cli Commit session_id="$S" turn_id="$TC" parent_checkpoint_id="$PC" user=late assistant=late)
check_code "lock: the expired turn's Commit: ABORTED" ABORTED "$r"
it_check_eq "lock: ... and nothing was written" "$nmsg" "$(q "SELECT count(*) FROM messages WHERE session_id='$S'")"
check_code "lock: the turn that took over commits" OK "$(cli Commit session_id="$S" turn_id="$TD" parent_checkpoint_id="$(jq -r .checkpoint_id <<<"$b")" user=d assistant=d)"
check_code "Commit of a turn that never began: ABORTED" ABORTED "$(cli Commit session_id="$S" turn_id="$(tid)" parent_checkpoint_id="$(q "SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id='$S'")" user=x assistant=x)"

# --- optimistic concurrency and idempotent Commit -----------------------------
counts() { q "SELECT (SELECT count(*) FROM messages WHERE session_id='$S'), (SELECT count(*) FROM checkpoints WHERE thread_id='$S'), (SELECT count(*) FROM checkpoint_blobs WHERE thread_id='$S'), (SELECT count(*) FROM usage WHERE session_id='$S'), (SELECT coalesce(sum(turns), 0) FROM usage_daily), (SELECT turns FROM sessions WHERE id='$S')"; }
TE=$(tid); b=$(cli Begin session_id="$S" token="$TOK" turn_id="$TE"); PE=$(jq -r .checkpoint_id <<<"$b")
before=$(counts)
r=$(cli Commit session_id="$S" turn_id="$TE" parent_checkpoint_id="$C1" user=e assistant=e usage.provider=offline usage.output_tokens=5)
check_code "Commit with a stale parent: ABORTED" ABORTED "$r"
it_check "... with a message naming the parent" grep -q "is not the latest" <<<"$r"
it_check_eq "... and nothing written in any table" "$before" "$(counts)"
r=$(cli Commit session_id="$S" turn_id="$TE" parent_checkpoint_id="$PE" user=e assistant=e usage.provider=offline usage.output_tokens=5)
check_code "the same turn commits with the right parent" OK "$r"; CE=$(jq -r .checkpoint_id <<<"$r")
after=$(counts)
r=$(cli Commit session_id="$S" turn_id="$TE" parent_checkpoint_id="$PE" user=e assistant=e usage.provider=offline usage.output_tokens=5)
it_check_eq "a retried Commit returns the same checkpoint id" "$CE" "$(jq -r .checkpoint_id <<<"$r")"
it_check_eq "... and writes nothing again" "$after" "$(counts)"

# Two replicas receive the same Commit at once (a gateway retry to another
# replica): the session row lock serialises them, one writes, the other
# answers the same checkpoint id, nothing is written twice.
URL2="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 10000 11999)"
SESSION_URL=$URL2 "$IT_BIN/svc-session" >>"$LOG2" 2>&1 &
PID2=$!; IT_PIDS+=("$PID2")
for _ in $(seq 1 100); do [ "$(cli Health url="$URL2" timeout=500 | jq -r .ready 2>/dev/null)" = true ] && break; sleep 0.05; done
TF=$(tid); b=$(cli Begin session_id="$S" token="$TOK" turn_id="$TF" url="$URL2"); PF=$(jq -r .checkpoint_id <<<"$b")
check_code "a second replica serves the same session" OK "$b"
nck=$(q "SELECT count(*) FROM checkpoints WHERE thread_id='$S'")
cli Commit session_id="$S" turn_id="$TF" parent_checkpoint_id="$PF" user=f assistant=f >"$IT_TMP/dup1" &
d1=$!
cli Commit session_id="$S" turn_id="$TF" parent_checkpoint_id="$PF" user=f assistant=f url="$URL2" >"$IT_TMP/dup2" &
d2=$!
wait "$d1" "$d2"
it_check_eq "the same Commit on two replicas at once: both OK with one checkpoint id" "OK|OK|true" \
  "$(code_of "$(cat "$IT_TMP/dup1")")|$(code_of "$(cat "$IT_TMP/dup2")")|$(jq -r .checkpoint_id "$IT_TMP/dup1" | grep -qx "$(jq -r .checkpoint_id "$IT_TMP/dup2")" && echo true)"
it_check_eq "... and exactly one checkpoint and two messages were written" "$((nck + 1))|2" \
  "$(q "SELECT count(*) FROM checkpoints WHERE thread_id='$S'")|$(q "SELECT count(*) FROM messages WHERE turn_id='$TF'")"
CF=$(jq -r .checkpoint_id "$IT_TMP/dup1")
kill -TERM "$PID2"; wait "$PID2"; rc=$?
it_check "the second replica stops cleanly" test "$rc" = 0

# --- Load ---------------------------------------------------------------------
l=$(cli Load session_id="$S" token="$TOK")
check_code "Load" OK "$l"
it_check_eq "Load returns the whole transcript in order" "$(q "SELECT string_agg(content, '|' ORDER BY id) FROM messages WHERE session_id='$S'")" "$(jq -r '[.messages[].content] | join("|")' <<<"$l")"
it_check_eq "Load: 12 messages of 6 committed turns" 12 "$(jq '.messages | length' <<<"$l")"
it_check_eq "Load keeps sources with their text" "Pricing|Team: 49 EUR per user" "$(jq -r '.messages[1].sources[0] | "\(.title)|\(.text)"' <<<"$l")"
it_check_eq "Load returns the lead and the session's times" "ada@example.com|true" "$(jq -r '"\(.lead.email)|\(.expires_at_ms - .created_at_ms == 90 * 86400000)"' <<<"$l")"
it_check_eq "Load limit=2: the last two" "f|f" "$(cli Load session_id="$S" token="$TOK" limit=2 | jq -r '[.messages[].content] | join("|")')"

# --- LangGraph's own checkpointer reads the thread ----------------------------
lg_ready=0
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -d "$LG/node_modules/@langchain/langgraph-checkpoint-postgres" ] || [ "$LG/package-lock.json" -nt "$LG/node_modules/.package-lock.json" ]; then
    if (cd "$LG" && npm ci --no-audit --no-fund --loglevel=error) >"$IT_TMP/logs/npm.log" 2>&1; then lg_ready=1; fi
  else
    lg_ready=1
  fi
fi
if [ "$lg_ready" = 1 ]; then
  it_ok "npm ci of tests/langgraph (@langchain/langgraph-checkpoint-postgres 1.0.5)"
  g=$(cd "$LG" && node getTuple.mjs "$S" 2>&1)
  it_check_eq "LangGraph getTuple: the latest checkpoint" "$CF" "$(jq -r .checkpoint_id <<<"$g" 2>/dev/null)"
  it_check_eq "LangGraph getTuple: every message, role and content, in order" \
    "$(jq -c '[.messages[] | {role, content}]' <<<"$l")" "$(jq -c '[.messages[] | {role, content}]' <<<"$g" 2>/dev/null)"
  it_check_eq "LangGraph getTuple: real HumanMessage/AIMessage objects" "HumanMessage,AIMessage" "$(jq -r '[.messages[0:2][].class] | join(",")' <<<"$g" 2>/dev/null)"
  it_check_eq "LangGraph getTuple: the lead" "Ada|ada@example.com|pricing page" "$(jq -r '.lead | "\(.name)|\(.email)|\(.extra.source)"' <<<"$g" 2>/dev/null)"
  it_check_eq "LangGraph getTuple: sources in additional_kwargs" "https://example.com/pricing#team" "$(jq -r '.messages[1].sources[0].url' <<<"$g" 2>/dev/null)"
  schema() { q "SELECT (SELECT string_agg(v::text, ',' ORDER BY v) FROM checkpoint_migrations), (SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY table_name, column_name) FROM information_schema.columns WHERE table_name LIKE 'checkpoint%'), (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename LIKE 'checkpoint%')"; }
  s0=$(schema)
  out=$(cd "$LG" && node getTuple.mjs --setup 2>&1)
  it_check_eq "LangGraph saver.setup() runs" '{"setup":"ok"}' "$out"
  it_check_eq "LangGraph saver.setup() changes nothing (migrations v0-v9, columns, indexes)" "$s0" "$(schema)"
else
  it_fail "npm ci of tests/langgraph" "$(tail -5 "$IT_TMP/logs/npm.log" 2>/dev/null || echo 'node/npm not found')"
fi

# --- Erase --------------------------------------------------------------------
rx=$(cli Create); X=$(jq -r .session_id <<<"$rx"); XT=$(jq -r .token <<<"$rx")
turn "$X" "$XT" "hello" "hi there" usage.provider=offline usage.input_tokens=3 >/dev/null
turn "$X" "$XT" "bye" "goodbye" >/dev/null
q "INSERT INTO handoff_records (session_id, reason, within_business_hours, email, expires_at) VALUES ('$X', 'asked for a call', true, 'x@example.com', now() + interval '90 days')"
q "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob) SELECT '$X', '', max(checkpoint_id), 'task', 0, 'messages', 'json', '\x5b5d' FROM checkpoints WHERE thread_id='$X'"
rows() { q "SELECT (SELECT count(*) FROM sessions WHERE id='$1') + (SELECT count(*) FROM messages WHERE session_id='$1') + (SELECT count(*) FROM checkpoints WHERE thread_id='$1') + (SELECT count(*) FROM checkpoint_blobs WHERE thread_id='$1') + (SELECT count(*) FROM checkpoint_writes WHERE thread_id='$1') + (SELECT count(*) FROM handoff_records WHERE session_id='$1') + (SELECT count(*) FROM usage WHERE session_id='$1')"; }
it_check_eq "erase: the session has rows in every table first" 14 "$(rows "$X")"
check_code "erase with a forged token: UNAUTHENTICATED" UNAUTHENTICATED "$(cli Erase session_id="$X" token="$TOK")"
it_check_eq "... and nothing was deleted" 14 "$(rows "$X")"
daily=$(q "SELECT sum(turns) FROM usage_daily")
r=$(cli Erase session_id="$X" token="$XT")
it_check_eq "Erase reports what it deleted" "4|2" "$(jq -r '"\(.messages_deleted)|\(.checkpoints_deleted)"' <<<"$r")"
it_check_eq "Erase leaves no row of the session in any table" 0 "$(rows "$X")"
it_check_eq "usage totals survive erasure (usage_daily)" "$daily" "$(q "SELECT sum(turns) FROM usage_daily")"
check_code "a second Erase: NOT_FOUND" NOT_FOUND "$(cli Erase session_id="$X" token="$XT")"
check_code "Load of an erased session: NOT_FOUND" NOT_FOUND "$(cli Load session_id="$X" token="$XT")"
it_check_eq "other sessions are untouched" 12 "$(q "SELECT count(*) FROM messages WHERE session_id='$S'")"
ry=$(cli Create); Y=$(jq -r .session_id <<<"$ry")
check_code "admin Erase without a token" OK "$(cli Erase session_id="$Y" admin=1)"
check_code "Erase without a token and without admin: UNAUTHENTICATED" UNAUTHENTICATED "$(cli Erase session_id="$S2")"

# --- kill -9 of svc-session ---------------------------------------------------
TK=$(tid); b=$(cli Begin session_id="$S" token="$TOK" turn_id="$TK" user_message="before the crash")
PK=$(jq -r .checkpoint_id <<<"$b")
sess_kill
check_code "svc-session down: calls fail UNAVAILABLE" UNAVAILABLE "$(cli Load session_id="$S" token="$TOK" timeout=2000)"
it_check "svc-session restarts after kill -9" sess_start
r=$(cli Commit session_id="$S" turn_id="$TK" parent_checkpoint_id="$PK" user="before the crash" assistant="after the crash")
check_code "kill -9 between Begin and Commit: the Commit succeeds after restart" OK "$r"
b=$(cli Begin session_id="$S" token="$TOK" turn_id="$(tid)" history_limit=100)
it_check_eq "... and nothing was lost (14 messages, the last two of the crashed turn)" "14|before the crash|after the crash" \
  "$(jq -r '"\(.history | length)|\(.history[12].content)|\(.history[13].content)"' <<<"$b")"
cli Release session_id="$S" turn_id="$(q "SELECT active_turn_id FROM sessions WHERE id='$S'")" >/dev/null


# --- budgets ------------------------------------------------------------------
sess_stop
it_check "svc-session restarts with small budgets" sess_start SESSION_DAILY_TOKENS=100 SESSION_MAX_TURNS=3 GLOBAL_DAILY_TOKENS=100000
rb=$(cli Create); B=$(jq -r .session_id <<<"$rb"); BT=$(jq -r .token <<<"$rb")
turn "$B" "$BT" "q1" "a1" usage.provider=fake usage.input_tokens=40 usage.output_tokens=20 >/dev/null
b=$(cli Begin session_id="$B" token="$BT" turn_id="$(tid)")
it_check_eq "Begin reports tokens used today and the budget left" "60|40" "$(jq -r '"\(.tokens_used_today)|\(.token_budget_left)"' <<<"$b")"
cli Release session_id="$B" turn_id="$(q "SELECT active_turn_id FROM sessions WHERE id='$B'")" >/dev/null
turn "$B" "$BT" "q2" "a2" usage.provider=fake usage.input_tokens=40 usage.output_tokens=20 >/dev/null
r=$(cli Begin session_id="$B" token="$BT" turn_id="$(tid)")
check_code "session daily token budget reached: RESOURCE_EXHAUSTED" RESOURCE_EXHAUSTED "$r"
ra=$(jq -r .error.retry_after_ms <<<"$r"); want=$(( (86400 - $(date -u +%s) % 86400) * 1000 ))
it_check "... with retry_after = time until UTC midnight" test "$ra" -gt 0 -a $((ra - want)) -lt 5000 -a $((want - ra)) -lt 5000
it_check "... and a readable message" grep -q "daily budget of 100 tokens" <<<"$r"
it_check_eq "... and the turn lock is not held" "" "$(q "SELECT coalesce(active_turn_id, '') FROM sessions WHERE id='$B'")"
rc2=$(cli Create); B2=$(jq -r .session_id <<<"$rc2"); B2T=$(jq -r .token <<<"$rc2")
for i in 1 2 3; do turn "$B2" "$B2T" "q$i" "a$i" usage.provider=fake usage.output_tokens=1 >/dev/null; done
r=$(cli Begin session_id="$B2" token="$B2T" turn_id="$(tid)")
check_code "turn cap (SESSION_MAX_TURNS=3) reached: RESOURCE_EXHAUSTED" RESOURCE_EXHAUSTED "$r"
it_check "... saying so" grep -q "limit of 3 turns" <<<"$r"
q "INSERT INTO usage_daily (day, provider, model, turns, output_tokens) VALUES ((now() AT TIME ZONE 'UTC')::date, 'elsewhere', '', 1, 100000)"
rg=$(cli Create); G=$(jq -r .session_id <<<"$rg")
r=$(cli Begin session_id="$G" token="$(jq -r .token <<<"$rg")" turn_id="$(tid)")
check_code "global daily token budget reached: RESOURCE_EXHAUSTED" RESOURCE_EXHAUSTED "$r"
it_check "... with retry_after until UTC midnight" test "$(jq -r .error.retry_after_ms <<<"$r")" -gt 0
q "DELETE FROM usage_daily WHERE provider='elsewhere'"
check_code "below the global budget again: Begin works" OK "$(cli Begin session_id="$G" token="$(jq -r .token <<<"$rg")" turn_id="$(tid)")"

# --- retention ----------------------------------------------------------------
rr=$(cli Create); R=$(jq -r .session_id <<<"$rr"); RT=$(jq -r .token <<<"$rr")
turn "$R" "$RT" "old" "news" >/dev/null
q "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id='$R'"
check_code "an expired session: NOT_FOUND" NOT_FOUND "$(cli Begin session_id="$R" token="$RT" turn_id="$(tid)")"
q "INSERT INTO handoff_records (session_id, reason, within_business_hours, expires_at) VALUES ('$G', 'old lead', false, now() - interval '1 second')"
gone=0
for _ in $(seq 1 60); do
  if [ "$(rows "$R")" = 0 ] && [ "$(q "SELECT count(*) FROM handoff_records WHERE reason='old lead'")" = 0 ]; then gone=1; break; fi
  sleep 0.1
done
it_check "retention deletes an expired session with its checkpoints, blobs and messages" test "$gone" = 1
it_check "retention deletes expired handoff records" test "$(q "SELECT count(*) FROM handoff_records WHERE reason='old lead'")" = 0
it_check "retention logs how much it deleted" grep -q '"msg":"retention: deleted expired data".*"sessions":"1"' "$LOG"
it_check_eq "retention keeps live sessions" 1 "$(q "SELECT count(*) FROM sessions WHERE id='$S'")"

# --- Postgres outage ----------------------------------------------------------
"$IT_ROOT/deploy/local/pg.sh" stop "$IT_TMP/pg" >/dev/null
r=$(cli Load session_id="$S" token="$TOK")
check_code "Postgres down: UNAVAILABLE" UNAVAILABLE "$r"
it_check "... with a retry hint" test "$(jq -r .error.retry_after_ms <<<"$r")" -gt 0
"$IT_ROOT/deploy/local/pg.sh" start "$IT_TMP/pg" "$IT_PG_PORT" --fast >/dev/null
ok=0
for _ in $(seq 1 40); do
  [ "$(code_of "$(cli Load session_id="$S" token="$TOK")")" = OK ] && { ok=1; break; }
  sleep 0.1
done
it_check "Postgres back: svc-session reconnects by itself" test "$ok" = 1
rn=$(cli Create)
check_code "... and a whole turn works" OK "$(turn "$(jq -r .session_id <<<"$rn")" "$(jq -r .token <<<"$rn")" "still there?" "yes")"

# --- clean stop, sanitizers ---------------------------------------------------
sess_stop; rc=$?
it_check "svc-session stops cleanly on SIGTERM (exit 0)" test "$rc" = 0
if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$LOG" "$LOG2"; then
  it_fail "no sanitizer reports in the svc-session logs" "$(grep -Em3 'Sanitizer|runtime error:' "$LOG" "$LOG2")"
else
  it_ok "no sanitizer reports in the svc-session logs"
fi
it_check "no raw IP or visitor text in the log" test -z "$(grep -e 'What does the Team plan cost' -e 'ada@example.com' "$LOG")"

it_summary
