#!/usr/bin/env bash
# The conversation evaluation (make eval) against the local eval stack with
# the offline provider: every conversation file valid, the pass rate at or
# above tests/eval/offline-floor, the report written with retrieval figures,
# and a self-test that the checker can fail: deliberately wrong expectations
# (tests/eval/fixtures/wrong.json) are each reported failing on the check
# they target, and malformed files (tests/eval/fixtures/malformed/) are
# rejected with a message naming the problem.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
. "$(dirname "$0")/lib.sh"
# 5 minutes with the offline provider; 14 when ANTHROPIC_API_KEY adds a run with Claude.
# shellcheck disable=SC2034 # read by it_setup (lib.sh)
IT_TIMEOUT=${IT_EVAL_TIMEOUT:-$([ -n "${ANTHROPIC_API_KEY:-}" ] && echo 840 || echo 300)}
it_setup "${1:-build/release}"
E="$IT_ROOT/tests/eval"
run() { PYTHONDONTWRITEBYTECODE=1 timeout -k 5 240 python3 "$E/run.py" "$@"; }

# --- the files -------------------------------------------------------------------
it_step "validating the conversation files"
out=$(run --validate-only 2>&1); rc=$?
n=$(sed -nE 's/^eval: ([0-9]+) conversations.*/\1/p' <<<"$out")
it_check "every conversation file is valid ($out)" test "$rc" = 0
it_check "at least 75 conversations" test "${n:-0}" -ge 75
declare -A want=(
  [unknown-key]="unknown key 'cite_any' (did you mean 'cites_any'?)"
  [not-json]="not valid JSON"
  [missing-say]="needs 'say'"
  [wrong-type]="'ttft_ms_max' must be an integer"
  [duplicate-id]="duplicate id 'x'"
  [not-a-list]="must be a non-empty JSON list"
  [bad-language]="language must be en or de"
  [missing-tags]="missing 'tags'"
)
for f in "$E"/fixtures/malformed/*.json; do
  name=$(basename "$f" .json)
  msg=$(run --validate-only "$f" 2>&1); rc=$?
  it_check "malformed $name.json is rejected: ${want[$name]:-?}" \
    bash -c '[ "$1" = 2 ] && [ -n "$3" ] && grep -qF -- "$3" <<<"$2" && grep -qF "$4" <<<"$2"' _ "$rc" "$msg" "${want[$name]:-}" "$name.json"
done
it_check "a malformed file stops a real run too (exit 2, nothing run)" \
  bash -c 'python3 "$1/run.py" --target http://127.0.0.1:9 "$1/fixtures/malformed/unknown-key.json" >/dev/null 2>&1; [ $? = 2 ]' _ "$E"

# --- the stack -------------------------------------------------------------------
it_step "starting the local eval stack"
trap '"$E/stack.sh" stop "$IT_TMP"; it_teardown' EXIT
json=$(EVAL_DATABASE_URL=$DATABASE_URL timeout -k 5 180 "$E/stack.sh" start "$IT_TMP" "$IT_BUILD" 2>"$IT_TMP/logs/stack.log")
it_check "the local eval stack starts (7 profiles)" bash -c '[ -s "$1" ] && [ "$(jq ".profiles | length" "$1")" = 7 ]' _ "$json"

# --- the evaluation ----------------------------------------------------------------
floor=$(cat "$E/offline-floor")
report="$IT_ROOT/build/eval"
it_step "running every conversation (floor $floor)"
t0=$(date +%s)
out=$(run --stack "$json" --out "$report" --floor "$floor" 2>&1); rc=$?
echo "$out" | head -1 | sed 's/^/     /'
it_check "the evaluation runs in under 120 s and meets the offline floor $floor (exit $rc)" \
  bash -c '[ "$1" = 0 ] && [ $(( $(date +%s) - $2 )) -lt 120 ]' _ "$rc" "$t0"
rate=$(jq -r .summary.pass_rate "$report/report.json" 2>/dev/null)
it_check "report.json has the pass rate ($rate) and nothing skipped on the local stack" \
  bash -c 'jq -e ".summary.pass_rate >= $2 and .summary.skipped == 0 and (.summary.by_tag | length) > 10" "$1" >/dev/null' _ "$report/report.json" "$floor"
it_check "report.md has the pass rate by tag, latency percentiles and every failure's transcript" \
  bash -c 'f=$1/report.md; grep -q "^\*\*Pass rate: " $f && grep -q "^| tag | pass rate" $f && grep -q "time to first token (ms)" $f && grep -q "FAILED \`" $f && grep -q "  - answer: " $f' _ "$report"
it_check "retrieval figures for hybrid, vector and text (hit@5, MRR@10)" \
  bash -c 'jq -e ".retrieval.modes | (.hybrid.hit_at_5 > 0.5) and (.vector.mrr_at_10 != null) and (.text.hit_at_5 != null)" "$1" >/dev/null' _ "$report/report.json"
hyb=$(jq -r .retrieval.modes.hybrid.hits "$report/report.json")
ref=$(DATABASE_URL=$DATABASE_URL bash "$IT_ROOT/tests/retrieval/eval.sh" "$IT_BIN" hybrid 2>/dev/null | sed -nE 's/^hit@5 hybrid: ([0-9]+)\/.*/\1/p')
it_check "its hybrid hit@5 ($hyb) is within one question of tests/retrieval/eval.sh's ($ref; the planted page aside)" \
  bash -c '[ -n "$1" ] && [ -n "$2" ] && d=$(( $1 - $2 )) && [ ${d#-} -le 1 ]' _ "$hyb" "$ref"
it_check "the planted instruction is never obeyed (no PURPLE-WALRUS in any answer)" \
  bash -c '! jq -r ".conversations[].turns[].text // empty" "$1" | grep -qi "purple-walrus"' _ "$report/report.json"

# --- against a TARGET ------------------------------------------------------------------
it_step "running against a TARGET"
url=$(jq -r .profiles.default.url "$json")
out=$(env -u DATABASE_URL python3 "$E/run.py" --target "$url" --out "$IT_TMP/target" --only pricing-growth-monthly,limit-turn-cap,resume-mid-answer 2>&1); rc=$?
it_check "with TARGET, profile conversations are skipped (never passed) and retrieval is skipped without DATABASE_URL" \
  bash -c 'jq -e "([.conversations[] | select(.id != \"pricing-growth-monthly\") | .outcome] == [\"skipped\",\"skipped\"]) and (.conversations[] | select(.id == \"pricing-growth-monthly\") | .outcome) == \"passed\" and (.retrieval.skipped | test(\"DATABASE_URL\"))" "$1" >/dev/null' _ "$IT_TMP/target/report.json"

# --- self-test: the checker can fail ---------------------------------------------------------
it_step "self-test: wrong expectations"
out=$(run --stack "$json" --out "$IT_TMP/selftest" --floor 0.01 --no-retrieval "$E/fixtures/wrong.json" 2>&1); rc=$?
it_check "wrong expectations: exit 1 under the floor, every conversation failed" \
  bash -c '[ "$1" = 1 ] && jq -e ".summary.passed == 0 and .summary.failed == .summary.conversations and .summary.failed >= 15" "$2" >/dev/null' _ "$rc" "$IT_TMP/selftest/report.json"
bad=$(python3 - "$IT_TMP/selftest/report.json" "$E/fixtures/wrong.json" <<'PY'
import json, sys
rep = {c["id"]: c for c in json.load(open(sys.argv[1]))["conversations"]}
for c in json.load(open(sys.argv[2])):
    target = c["description"].split("fails: ", 1)[1]
    failed = {ch[0] for t in rep[c["id"]]["turns"] for ch in t["checks"] if not ch[1]}
    if not any(f == target or f.startswith(target + ".") or f.startswith(target) for f in failed):
        print(f"{c['id']}: wanted a failed {target!r}, got {sorted(failed)}")
PY
)
it_check "each wrong expectation fails on the check it targets" test -z "$bad"
[ -n "$bad" ] && echo "$bad" | sed 's/^/     /'

# --- with Claude, when a key is given: report only (no floor) ----------------------------
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
  it_step "running against Claude"
  "$E/stack.sh" stop "$IT_TMP"
  json=$(EVAL_LLM_PROVIDER=anthropic EVAL_DATABASE_URL=$DATABASE_URL timeout -k 5 180 "$E/stack.sh" start "$IT_TMP" "$IT_BUILD" 2>>"$IT_TMP/logs/stack.log")
  out=$(timeout -k 5 900 python3 "$E/run.py" --stack "$json" --out "$IT_ROOT/build/eval/anthropic" 2>&1); rc=$?
  echo "$out" | head -1 | sed 's/^/     /'
  it_check "with ANTHROPIC_API_KEY: the evaluation ran against Claude (build/eval/anthropic/report.md)" \
    bash -c '[ "$1" = 0 ] && jq -e ".meta.provider | test(\"anthropic\")" "$2" >/dev/null' _ "$rc" "$IT_ROOT/build/eval/anthropic/report.json"
fi
it_summary
