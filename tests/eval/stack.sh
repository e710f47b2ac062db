#!/usr/bin/env bash
# The local evaluation stack: a private Postgres (or the one in
# EVAL_DATABASE_URL), migrations, kb/ plus tests/conversations/kb-planted/
# indexed, one svc-retrieval, svc-llm with the offline provider, and one
# gateway per *profile* (a profile is a gateway with its own settings, and
# its own svc-session or svc-llm where the settings live there). It writes
# DIR/stack.json, which tests/eval/run.py reads with --stack.
#
#   tests/eval/stack.sh start DIR [BUILD_DIR]   start; prints the path of stack.json
#   tests/eval/stack.sh stop DIR                stop everything it started
#
# Logs go to DIR/logs, pid files to DIR/pids. Every wait is bounded.
#
# Profiles (the conversations name them with "profile"; see docs/evaluation.md):
#   default         the shipped defaults, OFFLINE_TOKENS_PER_SECOND=0
#   hours-open      BUSINESS_HOURS "Mon-Sun 00:00-24:00": always inside business hours
#   hours-closed    BUSINESS_HOURS "Mon-Sun 09:00-10:00" in a time zone where it is not 09:xx now
#   turn-limit      SESSION_MAX_TURNS=3
#   session-budget  SESSION_DAILY_TOKENS=1 (the first turn is allowed, the second is over budget)
#   global-budget   GLOBAL_DAILY_TOKENS=1 on a database of its own (chat_budget)
#   slow-stream     its own svc-llm at OFFLINE_TOKENS_PER_SECOND=25 (a reload lands mid-answer)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: stack.sh start|stop DIR [BUILD_DIR]" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

stop_stack() {
  local pids=() p
  for f in "$dir"/pids/*.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null
    for _ in $(seq 1 50); do
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  fi
  rm -f "$dir"/pids/*.pid
  # Only the Postgres this script started (not EVAL_DATABASE_URL's).
  [ -f "$dir/pg.ours" ] && "$root/deploy/local/pg.sh" stop "$dir/pg" >/dev/null 2>&1 && rm -f "$dir/pg.ours"
  return 0
}

if [ "$cmd" = stop ]; then stop_stack; exit 0; fi
[ "$cmd" = start ] || { echo "stack.sh: unknown command $cmd" >&2; exit 2; }

build=${3:-build/release}
bin="$root/$build/bin"
for p in gateway svc-session svc-retrieval svc-llm svc-indexer; do
  [ -x "$bin/$p" ] || { echo "stack.sh: $bin/$p is missing: run make first" >&2; exit 1; }
done
mkdir -p "$dir/logs" "$dir/pids"
say() { printf '[eval-stack] %s\n' "$*" >&2; }
fail() { say "$*"; stop_stack; exit 1; }

declare -A taken=()
port() { # port LO HI: sets P to a free port not handed out before (no subshell, so taken[] is kept)
  local p
  for _ in $(seq 1 50); do
    p=$("$root/scripts/free-port.sh" "$1" "$2") || return 1
    [ -z "${taken[$p]:-}" ] && { taken[$p]=1; P=$p; return 0; }
  done
  fail "no free port in $1-$2"
}

if [ -n "${EVAL_DATABASE_URL:-}" ]; then
  db=$EVAL_DATABASE_URL
else
  say "starting Postgres in $dir/pg"
  touch "$dir/pg.ours"
  port 20000 29999
  db=$("$root/deploy/local/pg.sh" start "$dir/pg" "$P" --fast) || fail "Postgres did not start"
fi
budget_db="${db%/*}/chat_budget"

export SESSION_SECRET
SESSION_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
# The offline provider unless EVAL_LLM_PROVIDER says otherwise (anthropic
# or openai, with their keys in the environment); always the local embedder.
export LOG_LEVEL=${LOG_LEVEL:-info} ALLOWED_ORIGINS='*' EMBEDDING_PROVIDER=local
# Every conversation comes from 127.0.0.1: the per-IP limits would refuse most.
export RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off
export SESSION_TURNS_PER_MINUTE=10000 # these drive turns faster than a person types
export LLM_PROVIDER=${EVAL_LLM_PROVIDER:-offline}
[ "$LLM_PROVIDER" = offline ] && unset ANTHROPIC_API_KEY OPENAI_API_KEY

say "migrating"
DATABASE_URL=$db "$bin/svc-session" --migrate > "$dir/logs/migrate.log" 2>&1 || fail "migration failed: $(tail -3 "$dir/logs/migrate.log")"
# global-budget's database starts empty on every start (its budget unspent).
psql "$db" -qc "DROP DATABASE IF EXISTS chat_budget" >/dev/null 2>&1
psql "$db" -qc "CREATE DATABASE chat_budget" >/dev/null 2>&1 || fail "cannot create the chat_budget database"
DATABASE_URL=$budget_db "$bin/svc-session" --migrate >> "$dir/logs/migrate.log" 2>&1 || fail "migration of chat_budget failed"

say "indexing kb/ and tests/conversations/kb-planted/"
kb_base=https://quorvia.example
planted_base=https://community.quorvia.example
DATABASE_URL=$db "$bin/svc-indexer" index --base-url "$kb_base" "$root/kb" > "$dir/logs/index.log" 2>&1 ||
  fail "indexing kb/ failed: $(tail -3 "$dir/logs/index.log")"
DATABASE_URL=$db "$bin/svc-indexer" index --no-prune --base-url "$planted_base" "$root/tests/conversations/kb-planted" >> "$dir/logs/index.log" 2>&1 ||
  fail "indexing the planted pages failed: $(tail -3 "$dir/logs/index.log")"

start() { # start LOGNAME PROGRAM [VAR=VALUE...]
  local name=$1 prog=$2; shift 2
  env "$@" "$bin/$prog" >> "$dir/logs/$name.log" 2>&1 &
  echo $! > "$dir/pids/$name.pid"
}
port 10000 14999; rurl="tcp://127.0.0.1:$P"
port 10000 14999; lurl="tcp://127.0.0.1:$P"
port 10000 14999; slow_lurl="tcp://127.0.0.1:$P"
port 10000 14999; iurl="tcp://127.0.0.1:$P" # no indexer runs; the gateway wants an address
start svc-retrieval svc-retrieval DATABASE_URL="$db" RETRIEVAL_URL="$rurl"
start svc-llm svc-llm LLM_URL="$lurl" OFFLINE_TOKENS_PER_SECOND=0
start svc-llm-slow svc-llm LLM_URL="$slow_lurl" OFFLINE_TOKENS_PER_SECOND=25 RPC_WORKERS=1

# A time zone where it is not 09:xx now, for hours-closed.
closed_tz=UTC
[ "$(TZ=UTC date +%H)" = 09 ] && closed_tz=Asia/Tokyo

json="{\"database_url\":\"$db\",\"bin\":\"$bin\",\"kb_url_prefix\":\"$kb_base/\",\"planted_url_prefix\":\"$planted_base/\",\"profiles\":{"
sep=""
profile() { # profile NAME DATABASE LLM_URL BUSINESS_HOURS SUMMARY [svc-session VAR=VALUE...]
  local name=$1 pdb=$2 pl=$3 hours=$4 summary=$5; shift 5
  local surl hp
  port 15000 17999; surl="tcp://127.0.0.1:$P"
  port 18000 19999; hp=$P
  start "svc-session-$name" svc-session DATABASE_URL="$pdb" SESSION_URL="$surl" RPC_WORKERS=2 \
    BUSINESS_HOURS="$hours" BUSINESS_TIMEZONE="${HOURS_TZ:-Europe/Berlin}" "$@"
  start "gateway-$name" gateway SESSION_URL="$surl" RETRIEVAL_URL="$rurl" LLM_URL="$pl" INDEXER_URL="$iurl" \
    HTTP_PORT="$hp" DISCONNECT_GRACE=10s
  json+="$sep\"$name\":{\"url\":\"http://127.0.0.1:$hp\",\"business_hours\":\"$hours\",\"settings\":\"$summary\"}"
  sep=","
}
profile default "$db" "$lurl" "Mon-Fri 09:00-18:00" "shipped defaults, OFFLINE_TOKENS_PER_SECOND=0"
profile hours-open "$db" "$lurl" "Mon-Sun 00:00-24:00" "BUSINESS_HOURS=Mon-Sun 00:00-24:00 (always open)"
HOURS_TZ=$closed_tz profile hours-closed "$db" "$lurl" "Mon-Sun 09:00-10:00" "BUSINESS_HOURS=Mon-Sun 09:00-10:00 $closed_tz (closed now)"
profile turn-limit "$db" "$lurl" "Mon-Fri 09:00-18:00" "SESSION_MAX_TURNS=3" SESSION_MAX_TURNS=3
profile session-budget "$db" "$lurl" "Mon-Fri 09:00-18:00" "SESSION_DAILY_TOKENS=1" SESSION_DAILY_TOKENS=1
profile global-budget "$budget_db" "$lurl" "Mon-Fri 09:00-18:00" "GLOBAL_DAILY_TOKENS=1 (own database)" GLOBAL_DAILY_TOKENS=1
profile slow-stream "$db" "$slow_lurl" "Mon-Fri 09:00-18:00" "OFFLINE_TOKENS_PER_SECOND=25"
json+="}}"
printf '%s\n' "$json" > "$dir/stack.json"

say "waiting for every gateway to be ready"
for url in $(grep -o '"url":"[^"]*"' "$dir/stack.json" | cut -d'"' -f4); do
  ok=0
  for _ in $(seq 1 150); do
    if curl -s --max-time 2 "$url/readyz" | jq -ne 'input | .services.session.ready and .services.llm.ready and .services.retrieval.ready' >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok -eq 1 ] || fail "$url is not ready after 15 s: $(curl -s --max-time 2 "$url/readyz")"
done
echo "$dir/stack.json"
