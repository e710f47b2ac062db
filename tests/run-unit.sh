#!/usr/bin/env bash
# run-unit.sh: runs Criterion unit test binaries and sums their results.
#
#   tests/run-unit.sh build/release/tests/test_rpc build/release/tests/test_config ...
#
# Each binary runs with a timeout (UNIT_TIMEOUT seconds, default 300), and
# each test in it with Criterion's own (UNIT_TEST_TIMEOUT, default 60; a
# suite's .timeout wins), which names the test that ran over; suites that
# block on threads or sockets also arm tests/unit/watchdog.h, which prints
# the test's last step. For each binary its Criterion summary line and
# duration are printed (the whole output too when it failed); at the end
# exactly one line:
#
#   unit: <passing> passed, <failing + crashing> failed
#
# counting Criterion tests, from each binary's final line
#   [====] Synthesis: Tested: X | Passing: Y | Failing: Z | Crashing: W
# Exits non-zero when any binary failed, crashed, timed out, exited non-zero
# or printed no synthesis line.
set -u

timeout_s=${UNIT_TIMEOUT:-300}
test_timeout_s=${UNIT_TEST_TIMEOUT:-60}
passed=0
failed=0
status=0

if [ "$#" -eq 0 ]; then
    echo "usage: $0 TEST_BINARY..." >&2
    echo "unit: 0 passed, 0 failed"
    exit 2
fi

out=$(mktemp "${TMPDIR:-/tmp}/run-unit.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT

for bin in "$@"; do
    name=$(basename "$bin")
    if [ ! -x "$bin" ]; then
        echo "$name: not found or not executable: $bin"
        status=1
        continue
    fi

    start=$(date +%s)
    timeout -k 10 "$timeout_s" "$bin" --timeout "$test_timeout_s" >"$out" 2>&1
    rc=$?
    # Criterion's sandbox (BoxFort) sometimes fails to start a test's child
    # on a loaded machine ("Could not spawn test instance: Protocol error":
    # the forked child was not seen stopped) and aborts the whole binary
    # before any test ran. That is the runner failing, not a test: run the
    # binary once more, and say so.
    if grep -q 'Could not spawn test instance' "$out"; then
        echo "$name: Criterion could not start a test ($(grep -m1 -o 'Could not spawn test instance.*' "$out")); running it again"
        timeout -k 10 "$timeout_s" "$bin" --timeout "$test_timeout_s" >"$out" 2>&1
        rc=$?
    fi
    secs=$(( $(date +%s) - start ))

    # Criterion colours its output on a terminal only, but strip escapes anyway.
    synth=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -a 'Synthesis: Tested:' | tail -n 1 | sed 's/[[:space:]]*$//')
    problem=""
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        problem="timed out after ${timeout_s}s"
    fi

    if [ -z "$synth" ]; then
        [ -n "$problem" ] || problem="no Criterion synthesis line (exit $rc)"
        echo "$name: $problem"
    else
        # "[====] Synthesis: Tested: X | Passing: Y | Failing: Z | Crashing: W"
        read -r t p f c < <(printf '%s\n' "$synth" | sed -n \
            's/.*Tested: *\([0-9]*\).*Passing: *\([0-9]*\).*Failing: *\([0-9]*\).*Crashing: *\([0-9]*\).*/\1 \2 \3 \4/p')
        if [ -z "${c:-}" ]; then
            echo "$name: cannot parse: $synth"
            problem="unparsable synthesis line"
        else
            echo "$name: $synth (${secs}s)"
            passed=$((passed + p))
            failed=$((failed + f + c))
            if [ "$f" -ne 0 ] || [ "$c" -ne 0 ]; then
                problem="failing tests"
            elif [ -z "$problem" ] && [ "$rc" -ne 0 ]; then
                problem="exit status $rc"
            fi
        fi
        [ -z "$problem" ] || [ "$problem" = "failing tests" ] || echo "$name: $problem"
    fi

    if [ -n "$problem" ]; then
        status=1
        echo "---- $name output ----"
        sed 's/\x1b\[[0-9;]*m//g' "$out" | tail -n 60
        echo "---- end of $name ----"
    fi
    unset t p f c
done

echo "unit: $passed passed, $failed failed"
exit "$status"
