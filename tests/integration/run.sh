#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.sh) against a build
# directory and prints one summary line.
set -uo pipefail
build=${1:-build/release}
cd "$(dirname "$0")/../.."
passed=0; failed=0; status=0
for t in tests/integration/test_*.sh; do
  echo "== $t"
  out=$(bash "$t" "$build" 2>&1); rc=$?
  echo "$out"
  line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -1)
  if [ -z "$line" ]; then
    echo "$t: crashed (no summary line)"; failed=$((failed + 1)); status=1; continue
  fi
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" -ne 0 ] && status=1
done
echo "integration: $passed passed, $failed failed"
exit $status
