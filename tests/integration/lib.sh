# Shared helpers for integration tests: a private Postgres, the programs on
# free ports, assertions that count, and bounds. Source it; call it_setup
# first (or it_bound alone for a test without Postgres).
#
# Bounds: every curl is bounded (IT_CURL_MAX_TIME, default 60 s; a call's own
# --max-time wins, curl keeps the last one given), and the whole script is
# stopped after IT_TIMEOUT seconds (default 900) by a watchdog that prints
# what the script was doing (it_step, set by it_check and the wait helpers),
# counts it as a failure, and stops the programs it started.
# shellcheck shell=bash
IT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IT_PASSED=0
IT_FAILED=0
IT_PIDS=()
IT_STEP_FILE=

curl() { command curl --max-time "${IT_CURL_MAX_TIME:-60}" "$@"; }
export -f curl

# it_check_eq NAME WANT GOT: passes when GOT is WANT, else says both.
it_check_eq() { if [ "$2" = "$3" ]; then it_ok "$1"; else it_fail "$1" "wanted [$2], got [$3]"; fi; }
# it_wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or
# the time is up (1); the step says what is awaited.
it_wait_for() {
  local secs=$1; shift
  it_step "waiting up to ${secs}s for: $*"
  for _ in $(seq 1 $((secs * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}
# it_jqe FILTER... [FILE]: jq -e on stdin or FILE (the last argument, when
# it names a file) that also fails on empty input (jq -e alone passes it);
# with -n it reads no input.
it_jqe() {
  [ "${1:-}" = -n ] && { jq -e "$@" >/dev/null; return; }
  local in
  if [ $# -ge 2 ] && [ -f "${*: -1}" ]; then in=$(cat "${*: -1}"); set -- "${@:1:$#-1}"; else in=$(cat); fi
  [ -n "$in" ] && jq -e "$@" >/dev/null <<<"$in"
}

it_ok()   { IT_PASSED=$((IT_PASSED + 1)); printf 'ok   %s\n' "$1"; }
it_fail() { IT_FAILED=$((IT_FAILED + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '     %s\n' "$2"; return 0; }
it_step() { [ -n "$IT_STEP_FILE" ] && printf '%s\n' "$*" > "$IT_STEP_FILE"; return 0; }
it_check() { # it_check NAME CMD...
  local name=$1; shift
  it_step "checking: $name"
  if "$@"; then it_ok "$name"; else it_fail "$name" "command failed: $*"; fi
}

# it_bound SECONDS: stops this script after SECONDS. The watchdog is a
# subshell that polls once a second whether the script still runs; at the
# deadline it signals the script (USR1: counted as a failure naming the step,
# then the summary and the script's EXIT trap) and ends the script's
# children, so a hung foreground command cannot defer the trap.
it_bound() {
  local secs=$1 main=$$ name
  name=$(basename "$0")
  IT_STEP_FILE=$(mktemp /tmp/chat-it-step.XXXXXX)
  it_step "starting"
  trap 'it_on_timeout' USR1
  (
    trap - EXIT
    trap '' TERM # it ends the script's children, itself among them
    for ((t = 0; t < secs; t++)); do
      kill -0 "$main" 2>/dev/null || { rm -f "$IT_STEP_FILE"; exit 0; }
      sleep 1
    done
    printf 'TIMEOUT %s: still running after %ss while %s\n' "$name" "$secs" "$(cat "$IT_STEP_FILE" 2>/dev/null)"
    kill -USR1 "$main" 2>/dev/null
    sleep 0.2
    pkill -TERM -P "$main" 2>/dev/null
    sleep 5
    pkill -KILL -P "$main" 2>/dev/null
  ) &
  IT_WATCHDOG_PID=$!
  IT_WATCHDOG_SECS=$secs
}
# it_unbound: ends the watchdog (teardown calls it, so a bare `wait` there
# does not wait for it).
it_unbound() {
  [ -n "${IT_WATCHDOG_PID:-}" ] && { kill -KILL "$IT_WATCHDOG_PID" 2>/dev/null; wait "$IT_WATCHDOG_PID" 2>/dev/null; }
  IT_WATCHDOG_PID=
  [ -n "$IT_STEP_FILE" ] && rm -f "$IT_STEP_FILE"
  return 0
}
it_on_timeout() {
  trap - USR1
  it_fail "$(basename "$0") finishes within ${IT_WATCHDOG_SECS}s" "stopped while $(cat "$IT_STEP_FILE" 2>/dev/null)"
  it_summary
  exit 1
}

it_setup() { # it_setup BUILD_DIR
  IT_BUILD=$1
  IT_BIN="$IT_ROOT/$IT_BUILD/bin"
  IT_TMP=$(mktemp -d /tmp/chat-it.XXXXXX)
  mkdir -p "$IT_TMP/logs"
  [ -n "${IT_REGISTRY:-}" ] && echo "$IT_TMP" >> "$IT_REGISTRY"
  trap it_teardown EXIT
  it_bound "${IT_TIMEOUT:-900}"
  it_step "starting Postgres"
  IT_PG_PORT=$("$IT_ROOT/scripts/free-port.sh")
  export DATABASE_URL
  DATABASE_URL=$("$IT_ROOT/deploy/local/pg.sh" start "$IT_TMP/pg" "$IT_PG_PORT" --fast)
  export SESSION_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 10000 11999)"
  export RETRIEVAL_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 12000 13999)"
  export LLM_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 14000 15999)"
  export INDEXER_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 16000 17999)"
  export HTTP_PORT
  HTTP_PORT=$("$IT_ROOT/scripts/free-port.sh" 18000 19999)
  export LOG_LEVEL=info
}

it_teardown() {
  local p
  it_unbound
  for p in "${IT_PIDS[@]}"; do { kill -KILL "$p" && wait "$p"; } 2>/dev/null || true; done
  "$IT_ROOT/deploy/local/pg.sh" stop "$IT_TMP/pg" >/dev/null 2>&1 || true
  if [ "$IT_FAILED" -gt 0 ]; then
    echo "logs kept in $IT_TMP/logs"
  else
    rm -rf "$IT_TMP"
  fi
}

# it_start NAME: starts a program in the background, pid in IT_PID_<name>.
it_start() {
  local name=$1
  "$IT_BIN/$name" >>"$IT_TMP/logs/$name.log" 2>&1 &
  local pid=$!
  IT_PIDS+=("$pid")
  printf -v "IT_PID_${name//-/_}" '%s' "$pid"
}
it_pid() { local v="IT_PID_${1//-/_}"; echo "${!v}"; }

# it_wait_http CODE PATH [SECONDS]: waits until GET PATH answers CODE.
it_wait_http() {
  local want=$1 path=$2 secs=${3:-10} code
  it_step "waiting up to ${secs}s for GET $path to answer $want"
  for _ in $(seq 1 $((secs * 20))); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT$path" || true)
    [ "$code" = "$want" ] && return 0
    sleep 0.05
  done
  echo "     GET $path answered $code, wanted $want" >&2
  return 1
}

it_summary() {
  # A sanitizer build reports into the programs' logs: any report fails.
  local san
  san=$(grep -l -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer' "$IT_TMP"/logs/*.log 2>/dev/null | head -3)
  if [ -n "$san" ]; then it_fail "no sanitizer reports in the logs" "$san"; else it_ok "no sanitizer reports in the logs"; fi
  echo "integration: $IT_PASSED passed, $IT_FAILED failed"
  [ "$IT_FAILED" -eq 0 ]
}
