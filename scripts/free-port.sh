#!/usr/bin/env bash
# Prints a TCP port on 127.0.0.1 that nothing listens on, from a range
# (default 20000-29999), starting at a pseudo-random point. Ports in the
# kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by
# default) are never handed out: any outgoing connection (curl, psql, an nng
# dialer) may take one as its local port at any moment, and a listener
# started on it later fails with "Address in use".
set -euo pipefail
lo=${1:-20000}; hi=${2:-29999}
read -r eph_lo eph_hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { eph_lo=32768; eph_hi=60999; }
used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
span=$((hi - lo + 1)); start=$(( (RANDOM * 32768 + RANDOM + $$) % span ))
for ((i = 0; i < span; i++)); do
  p=$((lo + (start + i) % span))
  [ "$p" -ge "$eph_lo" ] && [ "$p" -le "$eph_hi" ] && continue
  grep -qx "$p" <<<"$used" || { echo "$p"; exit 0; }
done
echo "free-port: no free port in $lo-$hi" >&2; exit 1
