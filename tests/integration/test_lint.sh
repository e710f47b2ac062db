#!/usr/bin/env bash
# Checks the test scripts themselves for patterns that let a check pass
# when it should not (regressions of flakes found before):
#  - `curl ... | jq -e FILTER`: with no input (the server not up yet, or
#    gone) jq -e exits 0, so a readiness wait or a check passes against a
#    closed port. Read the input with `jq -ne 'input | FILTER'` (fails on
#    none) or use it_jqe (lib.sh).
#  - a fixed port inside the kernel's ephemeral range handed to
#    free-port.sh: an outgoing connection may hold it (see free-port.sh).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
IT_TMP=$(mktemp -d /tmp/chat-lint.XXXXXX); trap 'it_unbound; rm -rf "$IT_TMP"' EXIT
it_bound 60
cd "$IT_ROOT" || exit 1
scripts=$(git ls-files 'tests/*.sh' 'deploy/*.sh' 'scripts/*.sh' 2>/dev/null)
# (comment lines, like this file's own header, do not count)
bad=$(grep -nE 'curl[^|]*\|[[:space:]]*jq -e[[:space:]]' $scripts | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' | grep -v 'jq -ne' || true)
it_check "no 'curl | jq -e' check that an empty answer would pass" test -z "$bad"
[ -z "$bad" ] || printf '     %s\n' "$bad" | head -10
read -r eph_lo eph_hi < /proc/sys/net/ipv4/ip_local_port_range
inside=$(grep -noE 'free-port\.sh"? [0-9]+ [0-9]+' $scripts | awk -v lo="$eph_lo" -v hi="$eph_hi" '{ if (($(NF-1) >= lo && $(NF-1) <= hi) || ($NF >= lo && $NF <= hi)) print }' || true)
it_check "no free-port.sh range inside the ephemeral range ($eph_lo-$eph_hi)" test -z "$inside"
[ -z "$inside" ] || printf '     %s\n' "$inside" | head -10
it_summary
