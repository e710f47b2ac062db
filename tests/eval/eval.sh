#!/usr/bin/env bash
# make eval [TARGET=url] [FLOOR=0.xx] [EVAL_CONCURRENCY=4] [EVAL_ONLY=ids,tags]
#
# Without TARGET: brings up the local eval stack (tests/eval/stack.sh: its
# own Postgres on a free port, the offline provider, the local embedder,
# kb/ and tests/conversations/kb-planted/ indexed), runs every conversation
# against it, and tears it down. The floor defaults to tests/eval/offline-floor.
# With TARGET: runs against that deployment's public API; conversations that
# need a local profile are reported as skipped; the retrieval part runs when
# DATABASE_URL (of that deployment's knowledge base) is set; no floor unless
# FLOOR is given.
# The report: build/eval/report.md and build/eval/report.json.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build/release}
out=${EVAL_OUT:-$root/build/eval}
target=${TARGET:-}
floor=${FLOOR:-}
mkdir -p "$out"
if [ -n "$target" ]; then
  exec timeout -k 10 1800 python3 "$root/tests/eval/run.py" --target "$target" --out "$out" ${floor:+--floor "$floor"}
fi
[ -z "$floor" ] && [ "${EVAL_LLM_PROVIDER:-offline}" = offline ] && floor=$(cat "$root/tests/eval/offline-floor")
stack="$out/stack"
rm -rf "$stack"
trap '"$root/tests/eval/stack.sh" stop "$stack"' EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)
json=$(timeout -k 10 300 "$root/tests/eval/stack.sh" start "$stack" "$build") || { echo "eval: the local stack did not start (logs in $stack/logs)" >&2; exit 2; }
echo "eval: local stack up in $(( $(date +%s) - t0 )) s"
timeout -k 10 1800 python3 "$root/tests/eval/run.py" --stack "$json" --out "$out" ${floor:+--floor "$floor"}
