# Shared helpers for integration tests: a private Postgres, the programs on
# free ports, assertions that count. Source it; call it_setup first.
# shellcheck shell=bash
IT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IT_PASSED=0
IT_FAILED=0
IT_PIDS=()

it_ok()   { IT_PASSED=$((IT_PASSED + 1)); printf 'ok   %s\n' "$1"; }
it_fail() { IT_FAILED=$((IT_FAILED + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '     %s\n' "$2"; return 0; }
it_check() { # it_check NAME CMD...
  local name=$1; shift
  if "$@"; then it_ok "$name"; else it_fail "$name" "command failed: $*"; fi
}

it_setup() { # it_setup BUILD_DIR
  IT_BUILD=$1
  IT_BIN="$IT_ROOT/$IT_BUILD/bin"
  IT_TMP=$(mktemp -d /tmp/chat-it.XXXXXX)
  IT_PG_PORT=$("$IT_ROOT/scripts/free-port.sh")
  export DATABASE_URL
  DATABASE_URL=$("$IT_ROOT/deploy/local/pg.sh" start "$IT_TMP/pg" "$IT_PG_PORT" --fast)
  export SESSION_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 30000 32999)"
  export RETRIEVAL_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 33000 35999)"
  export LLM_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 36000 38999)"
  export INDEXER_URL="tcp://127.0.0.1:$("$IT_ROOT/scripts/free-port.sh" 39000 41999)"
  export HTTP_PORT
  HTTP_PORT=$("$IT_ROOT/scripts/free-port.sh" 42000 44999)
  export LOG_LEVEL=info
  mkdir -p "$IT_TMP/logs"
  trap it_teardown EXIT
}

it_teardown() {
  local p
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
  san=$(grep -l -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$IT_TMP"/logs/*.log 2>/dev/null | head -3)
  if [ -n "$san" ]; then it_fail "no sanitizer reports in the logs" "$san"; else it_ok "no sanitizer reports in the logs"; fi
  echo "integration: $IT_PASSED passed, $IT_FAILED failed"
  [ "$IT_FAILED" -eq 0 ]
}
