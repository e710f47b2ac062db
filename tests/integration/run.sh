#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.sh) against a build
# directory and prints one summary line.
#
#   tests/integration/run.sh [BUILD_DIR] [TEST_NAME...]
#
# Each script runs in a process group of its own, bounded twice: its own
# watchdog (IT_TIMEOUT, default 900 s, lib.sh) says what it was doing when
# it stopped; `timeout` here (IT_TIMEOUT + 60 s) is the backstop. After a
# script ends, whatever it left running in its group is killed and any
# Postgres it started (lib.sh registers its folder) is stopped. Each suite's
# duration is printed, and a table of them at the end.
set -uo pipefail
build=${1:-build/release}
shift || true
cd "$(dirname "$0")/../.."
root=$(pwd)
export IT_TIMEOUT=${IT_TIMEOUT:-900}
export IT_REGISTRY
IT_REGISTRY=$(mktemp /tmp/chat-it-registry.XXXXXX)
outf=$(mktemp /tmp/chat-it-out.XXXXXX)
trap 'rm -f "$IT_REGISTRY" "$outf"' EXIT

tests=()
if [ "$#" -gt 0 ]; then
  for n in "$@"; do tests+=("tests/integration/${n%.sh}.sh"); done
else
  tests=(tests/integration/test_*.sh)
fi

passed=0; failed=0; status=0; times=()
for t in "${tests[@]}"; do
  echo "== $t"
  start=$(date +%s)
  # setsid: the script leads a process group of its own (its pid is the
  # group id), so what it leaves behind can be found and killed.
  setsid timeout -k 15 $((IT_TIMEOUT + 60)) bash "$t" "$build" > "$outf" 2>&1 < /dev/null &
  pid=$!
  wait "$pid"; rc=$?
  secs=$(( $(date +%s) - start ))
  # Leftovers: the script's process group, and its Postgres clusters.
  kill -KILL -- "-$pid" 2>/dev/null
  while read -r d; do
    [ -d "$d/pg" ] && "$root/deploy/local/pg.sh" stop "$d/pg" >/dev/null 2>&1
  done < "$IT_REGISTRY"
  : > "$IT_REGISTRY"
  out=$(cat "$outf")
  echo "$out"
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "$t: killed by the backstop after $((IT_TIMEOUT + 60))s"
  line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -1)
  times+=("$(printf '%-40s %5ss  rc=%s' "$t" "$secs" "$rc")")
  echo "-- $t: ${secs}s"
  if [ -z "$line" ]; then
    echo "$t: crashed (no summary line)"; failed=$((failed + 1)); status=1; continue
  fi
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" -ne 0 ] && status=1
done
echo "== durations"
printf '%s\n' "${times[@]}"
echo "integration: $passed passed, $failed failed"
exit $status
