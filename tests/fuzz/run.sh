#!/usr/bin/env bash
# run.sh: runs every libFuzzer target of a fuzz build for a bounded time and
# prints one table.
#
#   tests/fuzz/run.sh build/fuzz 60        # make fuzz (FUZZ_SECONDS)
#   tests/fuzz/run.sh build/fuzz 5         # make fuzz-smoke
#   FUZZ_TARGETS="chat_body rpc_envelope" tests/fuzz/run.sh build/fuzz 60
#
# Each target BUILD/fuzz/fuzz_<name> starts from its committed seeds
# (tests/fuzz/corpus/<name>/) plus what earlier runs found
# (BUILD/corpus/<name>/, where new inputs go), with tests/fuzz/dict/<name>.dict
# when there is one, and inputs of at most FUZZ_MAX_LEN bytes (default 4096:
# longer seeds are cut; small inputs keep the executions per second high). A crash, leak, timeout or out-of-memory is written to
# BUILD/crashes/<name>/ and named in the table; the log of each run is
# BUILD/logs/<name>.log. At the end, exactly one line:
#
#   fuzz: <clean targets> passed, <crashed targets> failed
#
# Exits 1 when any target crashed (or did not run), 2 on bad usage.
set -u

build=${1:-}
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$build" ] || ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    echo "fuzz: 0 passed, 0 failed"
    exit 2
fi

targets=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
    for t in $FUZZ_TARGETS; do targets+=("$t"); done
else
    for src in "$here"/fuzz_*.c; do
        t=$(basename "$src" .c)
        targets+=("${t#fuzz_}")
    done
fi

mkdir -p "$build/logs"
rows=()
passed=0
failed=0
bad=()
for t in "${targets[@]}"; do
    bin="$build/fuzz/fuzz_$t"
    log="$build/logs/$t.log"
    if [ ! -x "$bin" ]; then
        rows+=("$(printf '%-15s %12s %9s %7s %8s %6s  %s' "$t" - - - - - "not built: $bin")")
        failed=$((failed + 1))
        bad+=("$t: not built ($bin)")
        continue
    fi
    mkdir -p "$build/corpus/$t" "$build/crashes/$t"
    args=(-max_total_time="$secs" -max_len="${FUZZ_MAX_LEN:-4096}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$build/crashes/$t/")
    [ -f "$here/dict/$t.dict" ] && args+=(-dict="$here/dict/$t.dict")
    seeds=()
    [ -d "$here/corpus/$t" ] && seeds+=("$here/corpus/$t")
    start=$(date +%s)
    # The hard stop is a backstop for a hang libFuzzer's own -timeout misses.
    timeout -k 10 $((secs + 120)) "$bin" "${args[@]}" "$build/corpus/$t" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))

    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    status_line=$(grep -a -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(printf '%s\n' "$status_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$status_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    units=$(printf '%s\n' "$status_line" | sed -n 's/.*corp: \([0-9]*\)\/.*/\1/p')
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    per_s="-"
    if [ -n "$runs" ] && [ "$took" -gt 0 ]; then per_s=$((runs / took)); fi

    result="ok"
    if [ "$rc" -ne 0 ] || [ -n "$artifact" ]; then
        what=$(grep -a -m1 -o -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^(]*|runtime error: .*|fuzz check failed.*' "$log" | head -c 160)
        [ -n "$what" ] || what="exit status $rc"
        result="CRASH: ${artifact:-no input saved} ($what)"
        failed=$((failed + 1))
        bad+=("$t: ${artifact:-exit $rc, no input saved}; log $log")
    else
        passed=$((passed + 1))
    fi
    rows+=("$(printf '%-15s %12s %9s %7s %8s %6s  %s' "$t" "${runs:--}" "$per_s" "${cov:--}" "${ft:--}" "${units:--}" "$result")")
done

echo
echo "fuzz: ${secs} s per target, build $build"
printf '%-15s %12s %9s %7s %8s %6s  %s\n' target runs exec/s cov ft corpus result
for r in "${rows[@]}"; do echo "$r"; done
if [ "${#bad[@]}" -gt 0 ]; then
    echo
    for b in "${bad[@]}"; do echo "fuzz: crashed: $b"; done
    echo "fuzz: reproduce with: $build/fuzz/fuzz_<target> <input>"
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
