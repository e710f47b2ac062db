#!/usr/bin/env bash
# What the gateway's abuse protection costs, and what a flood of addresses
# does to its memory: the whole chat stack as real processes (tests/bench/
# stack.sh: Postgres with kb/ indexed, svc-session, svc-retrieval, svc-llm,
# gateway), driven by BUILD_DIR/bench/bench_chat and BUILD_DIR/bench/bench_limits.
#
#   tests/bench/bench_limits.sh BUILD_DIR [--quick] [--summary FILE]
#
# 1. Cost of the limits, same run: turns/s at saturation (200 conversations,
#    closed loop) and TTFT p50/p99 at 1 and 50 conversations
#    (bench_chat turns, LLM_PROVIDER=offline, OFFLINE_TOKENS_PER_SECOND=0),
#    with every limit on and with every limit off, alternately, twice, in
#    the order off, on, on, off: the database grows with every turn, and
#    each load runs a little slower than the one before (seen: Postgres CPU
#    per turn 5.6, 6.1, 6.2, 7.0 ms over off, on, off, on), so the second
#    round is reversed and a steady drift cancels in the sums. The gateway
#    is restarted before each load (an empty table), svc-session before
#    each of the four runs.
#      on:  TRUSTED_PROXIES=127.0.0.1/32 and bench_chat --client-ips: each
#           session of the pool (a visitor) is created and chats from its
#           own CF-Connecting-IP (10.a.b.c), so every request resolves the
#           client from the header, takes a token from the per-IP table
#           (thousands of keys) and is counted per client by the connection
#           guard. RATE_SESSIONS, RATE_CHAT, RATE_LEADS and
#           HTTP_MAX_CONNECTIONS_PER_IP keep their defaults: a visitor
#           creates one session and sends its 10 turns (--per-session 10)
#           within RATE_CHAT's burst of 30. svc-session keeps its defaults too
#           (SESSION_MAX_TURNS 100, SESSION_TURNS_PER_MINUTE 10,
#           SESSION_DAILY_TOKENS, SESSION_MAX_TOKENS, the cost caps: the
#           offline model is priced 0) except GLOBAL_DAILY_TOKENS=1e12 (the
#           default 5,000,000 is all of the machine's visitors' tokens for a
#           day; this run spends that in under a minute). The pools are large
#           enough that no session is used twice, so nothing is refused; the
#           refusals are counted (errors) and should stay 0.
#      off: RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off,
#           HTTP_MAX_CONNECTIONS_PER_IP=0, no trusted proxy and no header
#           (every visitor is 127.0.0.1, as in bench_chat.sh), and
#           svc-session's limits out of reach (SESSION_MAX_TURNS=1000000,
#           SESSION_TURNS_PER_MINUTE=10000, SESSION_DAILY_TOKENS=1e12,
#           GLOBAL_DAILY_TOKENS=1e15, as bench_chat.sh sets them).
#    svc-session's checks are one SQL statement either way (the values
#    differ, not the code), and the JSON shape caps cannot be turned off:
#    both modes run them. Bot score and Turnstile are off in both.
#    The cost is 1 - (on turns/s) / (off turns/s), both rounds summed
#    (goal <= 5 %); each round's ratio is printed so the noise shows.
#    Turns/s on 2 shared cores move by more than 5 % with the other load of
#    the machine (seen: -17 % to +9 % between two runs), so the limit code
#    is also timed alone, in CPU rather than wall time:
# 1b. bench_limits flood, FLOOD_N requests (200,000; --quick 20,000) of the
#    cheapest limited route (POST /v1/leads, refused 415 right after the
#    limit) on a fresh gateway with the limits off, on, on, off: the
#    gateway's CPU time (utime + stime) per request. On minus off is what
#    the limits cost a request (the client from CF-Connecting-IP, a token
#    from the table for a new key, the per-client connection count); a turn
#    passes them once (POST /v1/chat) and once more every 10 turns (its
#    session), so 1.1 x that, over the whole stack's CPU per turn at 200
#    conversations with the limits off (above), is the cost per turn.
# 2. The per-IP table under 1,000,000 distinct addresses (--quick: 20,000):
#    a gateway with TRUSTED_PROXIES=127.0.0.1/32 and the default rates,
#    bench_limits flood: POST /v1/leads with an empty body, no Content-Type
#    and CF-Connecting-IP from its own address (half IPv4, half IPv6 each
#    in its own /64). The route takes a RATE_LEADS token first thing (the
#    key is written into the table), then answers 415 before any RPC: no
#    database row. VmRSS is sampled before, during and after; the anonymous
#    mapping that grew most is the table (calloc'd at start, untouched until
#    used), compared with RATE_TABLE_SIZE x 48 bytes (docs/configuration.md).
#    Afterwards: /healthz answers 200, the limiter still refuses the 6th lead
#    from one address (RATE_LEADS 5/10m), and 5 normal turns complete.
# --summary FILE appends key=value lines (for run.sh).
set -uo pipefail

usage() { echo "usage: bench_limits.sh BUILD_DIR [--quick] [--summary FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$1; shift
SUMMARY=
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --summary) SUMMARY=${2:?}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) usage ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
STACK_NAME=bench_limits.sh
# shellcheck source=tests/bench/stack.sh
. "$ROOT/tests/bench/stack.sh"
FLOOD=$BUILD/bench/bench_limits
RL_ENTRY_BYTES=48      # sizeof(rl_entry), gateway/ratelimit.c; "48 bytes each" in docs/configuration.md
RATE_TABLE_SIZE=65536  # the default (docs/configuration.md)

for f in "$BENCH" "$FLOOD" "$PROBE" "$BIN/gateway" "$BIN/svc-session" "$BIN/svc-retrieval" "$BIN/svc-llm" "$BIN/svc-indexer"; do
  [ -x "$f" ] || { echo "bench_limits.sh: $f is missing (make bench builds it)" >&2; exit 1; }
done

if [ $QUICK = 1 ]; then
  T1=200; D50=3; D200=4; P1=100; P50=600; P200=1500; ADDRS=20000; FLOOD_N=20000
else
  T1=2000; D50=10; D200=15; P1=400; P50=2500; P200=5000; ADDRS=1000000; FLOOD_N=200000
fi

stack_begin chat-bench-limits
stack_postgres
stack_env
export LLM_PROVIDER=offline OFFLINE_TOKENS_PER_SECOND=0
start_rpc retrieval RETRIEVAL_URL RPC_CONTEXTS=1024
restart_llm
echo "limits: Postgres 127.0.0.1:$pg_port (kb/: $chunks chunks), gateway :$HTTP_PORT; every service RPC_WORKERS=4;"
echo "        load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; 2 cores shared with other runs: absolute figures are"
echo "        pessimistic, the on/off ratios of the same run are what counts)"
summ load_start "$(cut -d' ' -f1 /proc/loadavg)"

SESSION_OFF=(SESSION_MAX_TURNS=1000000 SESSION_TURNS_PER_MINUTE=10000 SESSION_DAILY_TOKENS=1000000000000
  GLOBAL_DAILY_TOKENS=1000000000000000 GLOBAL_DAILY_COST=1000000000 GLOBAL_MONTHLY_COST=1000000000 SESSION_MAX_TOKENS=1000000000000)
SESSION_ON=(GLOBAL_DAILY_TOKENS=1000000000000 GLOBAL_DAILY_COST=1000000000 GLOBAL_MONTHLY_COST=1000000000)
GW_OFF=(RATE_SESSIONS=off RATE_CHAT=off RATE_LEADS=off HTTP_MAX_CONNECTIONS_PER_IP=0 TRUSTED_PROXIES=)
GW_ON=(TRUSTED_PROXIES=127.0.0.1/32)

# --- 1. cost of the limits ------------------------------------------------------------
mode_session() { # off|on
  if [ "$1" = on ]; then restart_rpc session SESSION_URL RPC_CONTEXTS=1024 "${SESSION_ON[@]}"
  else restart_rpc session SESSION_URL RPC_CONTEXTS=1024 "${SESSION_OFF[@]}"; fi
}
load() { # mode tag conc pool (--turns N | --duration S) [args]: a fresh gateway, then bench_chat turns
  local mode=$1 tag=$2 conc=$3 pool=$4; shift 4
  local ips=()
  if [ "$mode" = on ]; then restart_gateway "${GW_ON[@]}"; ips=(--client-ips "$pool")
  else restart_gateway "${GW_OFF[@]}"; fi
  bench turns --port "$HTTP_PORT" --conc "$conc" --pool "$pool" --per-session 10 --tag "$tag" --summary "$S" \
    --cpu "$(cpu_args)" "${ips[@]}" "$@" || fail "bench_chat turns ($tag) failed"
}
echo
echo "1. Cost of the limits: the same loads with every limit off and on, alternately (see the header for both)"
for run in off1 on1 on2 off2; do
  mode=${run%?} round=${run#"$mode"}
  echo "-- limits $mode, round $round"
  mode_session "$mode"
  echo "   1 conversation, $T1 turns"
  load "$mode" "${run}_c1" 1 "$P1" --turns "$T1" --warmup 1
  echo "   50 conversations, $D50 s"
  load "$mode" "${run}_c50" 50 "$P50" --duration "$D50" --warmup 2
  echo "   200 conversations (saturation), $D200 s"
  load "$mode" "${run}_c200" 200 "$P200" --duration "$D200" --warmup 3
done

v() { sed -n "s/^$1=//p" "$S" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b + 0 > 0 ? "%.3f" : "n/a"), a / b}'; }
echo
echo "   limits on vs off                     round 1 off / on       round 2 off / on       on/off (both rounds)"
row() { # label key
  local a1 b1 a2 b2
  a1=$(v "off1_$2"); b1=$(v "on1_$2"); a2=$(v "off2_$2"); b2=$(v "on2_$2")
  printf '   %-36s %9s / %-9s    %9s / %-9s    %s\n' "$1" "$a1" "$b1" "$a2" "$b2" \
    "$(ratio "$(awk -v x="$b1" -v y="$b2" 'BEGIN {print x + y}')" "$(awk -v x="$a1" -v y="$a2" 'BEGIN {print x + y}')")"
}
row "turns/s, 200 conversations" c200_turns_per_s
row "TTFT p50 ms, 1 conversation" c1_ttft_p50_ms
row "TTFT p99 ms, 1 conversation" c1_ttft_p99_ms
row "TTFT p50 ms, 50 conversations" c50_ttft_p50_ms
row "TTFT p99 ms, 50 conversations" c50_ttft_p99_ms
row "TTFT p50 ms, 200 conversations" c200_ttft_p50_ms
row "gateway CPU ms per turn, 200 conv." c200_cpu_ms_turn_gateway
for r in 1 2; do
  summ "round${r}_tps_ratio" "$(ratio "$(v "on${r}_c200_turns_per_s")" "$(v "off${r}_c200_turns_per_s")")"
done
tps_off=$(awk -v x="$(v off1_c200_turns_per_s)" -v y="$(v off2_c200_turns_per_s)" 'BEGIN {print x + y}')
tps_on=$(awk -v x="$(v on1_c200_turns_per_s)" -v y="$(v on2_c200_turns_per_s)" 'BEGIN {print x + y}')
summ tps_ratio "$(ratio "$tps_on" "$tps_off")"
summ cost_pct "$(awk -v a="$tps_on" -v b="$tps_off" 'BEGIN {printf (b > 0 ? "%.1f" : "n/a"), (1 - a / b) * 100}')"
for k in c1_ttft_p50_ms c1_ttft_p99_ms c50_ttft_p50_ms c50_ttft_p99_ms; do
  summ "${k}_ratio" "$(ratio "$(awk -v x="$(v "on1_$k")" -v y="$(v "on2_$k")" 'BEGIN {print x + y}')" \
    "$(awk -v x="$(v "off1_$k")" -v y="$(v "off2_$k")" 'BEGIN {print x + y}')")"
done
refused=0
for t in on1 on2; do
  for c in c1 c50 c200; do
    f=$(v "${t}_${c}_failed"); refused=$((refused + ${f:-0}))
  done
done
summ on_failed "$refused"
echo "   cost at saturation: $(v cost_pct) % of turns/s (goal <= 5 %); turns that failed with the limits on: $refused"

# --- 1b. the limit code alone: gateway CPU per request ---------------------------
echo
echo "1b. The limit code alone: $FLOOD_N x POST /v1/leads (415 right after the limit), gateway CPU per request"
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for run in off1 on1 on2 off2; do
  mode=${run%?}
  if [ "$mode" = on ]; then restart_gateway "${GW_ON[@]}"; else restart_gateway "${GW_OFF[@]}"; fi
  c0=$(cpu_ticks "${PID[gateway]}")
  run_bg "$FLOOD" flood --port "$HTTP_PORT" --addrs "$FLOOD_N" --conc 64 --depth 8 --tag "cpu_$run" --summary "$S" \
    >"$work/cpu_$run.txt" || fail "bench_limits flood ($run) failed"
  c1=$(cpu_ticks "${PID[gateway]}")
  us=$(awk -v t="$((c1 - c0))" -v hz="$hz" -v n="$FLOOD_N" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  summ "${run}_us_per_req" "$us"
  printf '   limits %-3s  %s us of gateway CPU per request; %s requests/s; answers: %s\n' "$mode" "$us" \
    "$(v "cpu_${run}_req_per_s")" "$(sed -n 's/.*answers by status: //p' "$work/cpu_$run.txt")"
done
us_delta=$(awk -v a="$(v on1_us_per_req)" -v b="$(v on2_us_per_req)" -v c="$(v off1_us_per_req)" -v d="$(v off2_us_per_req)" \
  'BEGIN {printf "%.2f", (a + b - c - d) / 2}')
turn_ms=$(awk -v f="$S" 'BEGIN {while ((getline l < f) > 0) if (l ~ /^off[12]_c200_cpu_ms_turn_/ && l !~ /bench_chat/) {split(l, kv, "="); t += kv[2]}
  printf "%.3f", t / 2}')
gw_ms=$(awk -v a="$(v off1_c200_cpu_ms_turn_gateway)" -v b="$(v off2_c200_cpu_ms_turn_gateway)" 'BEGIN {printf "%.3f", (a + b) / 2}')
summ limit_us_per_req "$us_delta"
summ limit_gw_turn_pct "$(awk -v d="$us_delta" -v t="$gw_ms" 'BEGIN {printf (t > 0 ? "%.2f" : "n/a"), 1.1 * d / 1000 / t * 100}')"
summ turn_cpu_ms_off "$turn_ms"
summ limit_turn_pct "$(awk -v d="$us_delta" -v t="$turn_ms" 'BEGIN {printf (t > 0 ? "%.2f" : "n/a"), 1.1 * d / 1000 / t * 100}')"
echo "   the limits cost $us_delta us of gateway CPU per request (on - off, both rounds); a turn at 200 conversations"
echo "   costs $turn_ms ms of CPU in all processes (limits off): 1.1 x $us_delta us is $(v limit_turn_pct) % of it (goal <= 5 %);"
echo "   $(v limit_gw_turn_pct) % of the gateway's own $gw_ms ms per turn"

# --- 2. the per-IP table under a flood of addresses ---------------------------------
echo
echo "2. The per-IP table: $ADDRS distinct client addresses (CF-Connecting-IP from the trusted 127.0.0.1),"
echo "   RATE_TABLE_SIZE=$RATE_TABLE_SIZE (bound $RATE_TABLE_SIZE x $RL_ENTRY_BYTES = $((RATE_TABLE_SIZE * RL_ENTRY_BYTES)) bytes), default rates"
mode_session on
restart_gateway "${GW_ON[@]}"
GW=${PID[gateway]}
maps() { # pid -> "start rss_kb size_kb" of each anonymous private mapping
  awk '/^[0-9a-f]+-[0-9a-f]+ / {split($1, r, "-"); m = r[1]; anon = ((NF == 5 || $6 == "[heap]") && $2 ~ /^rw/)}
       /^Size:/ {s = $2} /^Rss:/ {if (anon) print m, $2, s}' "/proc/$1/smaps"
}
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
sleep 1
maps "$GW" >"$work/maps.before"
rss0=$(rss_kb "$GW"); anon0=$(anon_kb "$GW")
echo "   before: VmRSS $rss0 kB (anon $anon0 kB)"
run_bg "$FLOOD" flood --port "$HTTP_PORT" --addrs "$ADDRS" --conc 64 --depth 8 --rss-pid "$GW" --tag flood --summary "$S" \
  || fail "bench_limits flood failed"
sleep 1
maps "$GW" >"$work/maps.after"
rss1=$(rss_kb "$GW"); anon1=$(anon_kb "$GW")
# The mapping that grew most: the table, calloc'd at start (fresh zero pages, not resident until a key lands in them).
read -r tmap tgrow tsize < <(awk 'NR == FNR {b[$1] = $2; next} {g = $2 - b[$1]; if (g > best) {best = g; m = $1; s = $3}}
  END {print m, best + 0, s + 0}' "$work/maps.before" "$work/maps.after")
bound_kb=$((RATE_TABLE_SIZE * RL_ENTRY_BYTES / 1024))
echo "   after:  VmRSS $rss1 kB (anon $anon1 kB): +$((rss1 - rss0)) kB in all"
echo "   the anonymous mapping that grew most (at $tmap, $tsize kB): +$tgrow kB resident; bound $bound_kb kB"
echo "   VmRSS from a tenth of the addresses to the end: $(v flood_rss_tenth_kb) -> $(v flood_rss_end_kb) kB"
summ table_bound_kb "$bound_kb"
summ table_grow_kb "$tgrow"
summ table_map_kb "$tsize"
summ rss_before_kb "$rss0"
summ rss_after_kb "$rss1"
summ rss_grow_kb "$((rss1 - rss0))"
summ rss_late_grow_kb "$(( $(v flood_rss_end_kb) - $(v flood_rss_tenth_kb) ))"

healthz=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HTTP_PORT/healthz")
leads=""
for _ in 1 2 3 4 5 6; do
  leads="$leads $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H 'CF-Connecting-IP: 192.0.2.77' \
    "http://127.0.0.1:$HTTP_PORT/v1/leads")"
done
echo "   afterwards: /healthz $healthz; 6 leads from one new address:$leads (5 x 415, then 429 expected)"
summ healthz_after "$healthz"
summ limiter_after "$([ "$leads" = " 415 415 415 415 415 429" ] && echo ok || echo "NOT ok:$leads")"
echo "   5 normal turns (a session from the proxy itself, no header):"
bench turns --port "$HTTP_PORT" --conc 1 --pool 1 --turns 5 --warmup 0 --tag after --summary "$S" \
  || fail "bench_chat turns after the flood failed"
summ load_end "$(cut -d' ' -f1 /proc/loadavg)"
summ failed 0
echo
echo "bench_limits.sh: done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b-a}') s"
