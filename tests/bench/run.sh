#!/usr/bin/env bash
# The benchmarks (`make bench` runs ./tests/bench/run.sh build/release).
#
#   tests/bench/run.sh BUILD_DIR [--quick]
#
# Runs BUILD_DIR/bench/bench_rpc (RPC layer against raw nng, same run), then
# tests/bench/services.sh (start-to-ready and idle RSS of the programs), and
# ends with a summary of the key figures and ratios next to their goals.
# Goals are reported, not enforced: the exit status is 0 when the benchmarks
# ran, non-zero when one of them crashed or a call failed.
# --quick: small counts (bench_rpc --quick, 2 start-up runs per program).
set -uo pipefail

BUILD=${1:-build/release}
QUICK=0
[ "${2:-}" = "--quick" ] && QUICK=1
HERE=$(cd "$(dirname "$0")" && pwd)

for f in "$BUILD/bench/bench_rpc" "$BUILD/bench/health_probe"; do
  [ -x "$f" ] || { echo "run.sh: $f is missing (make bench builds it)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/chat-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

nng_version=$(dpkg-query -W -f='${Version}' libnng1 2>/dev/null || echo "?")
echo "=================================================================================="
echo "chat benchmarks   $(date '+%Y-%m-%d %H:%M:%S %Z')"
echo "host: $(uname -srm), nproc $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "build: $BUILD ($(git -C "$HERE" describe --always --dirty 2>/dev/null || echo "?")), nng $nng_version$([ $QUICK = 1 ] && echo ", --quick")"
echo "=================================================================================="
echo

rpc_args=(--summary "$tmp/rpc.txt")
svc_args=(--summary "$tmp/svc.txt")
if [ $QUICK = 1 ]; then rpc_args+=(--quick); svc_args+=(--runs 2); fi

"$BUILD/bench/bench_rpc" "${rpc_args[@]}"
rc_rpc=$?
echo
"$HERE/services.sh" "$BUILD" "${svc_args[@]}"
rc_svc=$?

# --- summary ---------------------------------------------------------------------
get() { # file key -> value ("n/a" when absent)
  local v
  v=$(sed -n "s/^$2=//p" "$tmp/$1" 2>/dev/null | tail -1)
  echo "${v:-n/a}"
}
verdict() { # value op goal -> met / NOT met / n/a
  awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN {
    if (v == "n/a" || v == "" || v + 0 < 0) { print "n/a"; exit }
    ok = (op == "<=") ? (v + 0 <= g + 0) : (v + 0 == g + 0)
    print ok ? "met" : "NOT met" }'
}

echo
echo "=================================== summary ======================================"
printf '%-62s %-14s %s\n' "figure" "value" "goal"
if [ -s "$tmp/rpc.txt" ]; then
  r=$(get rpc.txt tcp_ratio)
  lat_row() { # label, "mean M p50 P p99 Q"
    local f
    read -r -a f <<<"$2"
    printf '%-62s %-14s %s\n' "$1" "${f[1]:-n/a}" "p50 ${f[3]:-n/a}, p99 ${f[5]:-n/a}"
  }
  lat_row "RPC latency tcp, 1 caller, raw nng REQ/REP (us, mean)" "$(get rpc.txt tcp_raw)"
  lat_row "RPC latency tcp, 1 caller, rpc_call_sync (us, mean)" "$(get rpc.txt tcp_rpc)"
  printf '%-62s %-14s %s\n' "  ratio ours/raw (mean)  [p50 ratio $(get rpc.txt tcp_ratio_p50)]" "$r" "<= 1.20  $(verdict "$r" "<=" 1.2)"
  r=$(get rpc.txt ipc_ratio)
  printf '%-62s %-14s %s\n' "RPC latency ipc: ratio ours/raw (mean; raw $(get rpc.txt ipc_raw | cut -d' ' -f2) us)" "$r" "info"
  printf '%-62s %-14s %s\n' "Throughput, raw nng, 64 threads (calls/s)" "$(get rpc.txt tput_raw)" "baseline"
  printf '%-62s %-14s %s\n' "Throughput, 64 threads x rpc_call_sync (calls/s)" "$(get rpc.txt tput_sync64)" "x$(get rpc.txt tput_sync64_ratio) of raw"
  printf '%-62s %-14s %s\n' "Throughput, 64 rpc_call_async in flight (calls/s)" "$(get rpc.txt tput_async64)" "x$(get rpc.txt tput_async64_ratio) of raw"
  e=$(get rpc.txt flood_errors)
  printf '%-62s %-14s %s\n' "$(get rpc.txt flood_calls) calls in flight: total time (ms)" "$(get rpc.txt flood_total_ms)" "$(get rpc.txt flood_calls_per_s) calls/s, p99 $(get rpc.txt flood_p99_ms) ms"
  printf '%-62s %-14s %s\n' "$(get rpc.txt flood_calls) calls in flight: errors" "$e" "0  $(verdict "$e" "==" 0)"
else
  echo "bench_rpc: no figures (it failed before writing them)"
fi
if [ -s "$tmp/svc.txt" ]; then
  for p in svc-session svc-retrieval svc-llm svc-indexer; do
    printf '%-62s %-14s %s\n' "Start-to-ready $p, median (ms, exec -> Health OK)" "$(get svc.txt "start_ms_$p")" "info"
  done
  printf '%-62s %-14s %s\n' "Start-to-ready gateway, median (ms, exec -> /healthz 200)" "$(get svc.txt start_ms_gateway)" "info"
  for p in svc-session svc-retrieval svc-llm svc-indexer gateway; do
    v=$(get svc.txt "rss_mb_$p")
    printf '%-62s %-14s %s\n' "Idle RSS $p (MB; anon $(get svc.txt "rss_anon_mb_$p"), PSS $(get svc.txt "pss_mb_$p"))" "$v" "<= 10  $(verdict "$v" "<=" 10)"
  done
else
  echo "services.sh: no figures (it failed before writing them)"
fi
echo "=================================================================================="

status=0
if [ $rc_rpc -ne 0 ]; then echo "run.sh: bench_rpc failed (status $rc_rpc)" >&2; status=1; fi
if [ $rc_svc -ne 0 ]; then echo "run.sh: services.sh failed (status $rc_svc)" >&2; status=1; fi
[ $status -eq 0 ] && echo "run.sh: benchmarks ran (goals above are reported, not enforced)"
exit $status
