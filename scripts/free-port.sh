#!/usr/bin/env bash
# Prints a TCP port on 127.0.0.1 that nothing listens on, from a range
# (default 20000-29999), starting at a pseudo-random point.
set -euo pipefail
lo=${1:-20000}; hi=${2:-29999}
used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
span=$((hi - lo + 1)); start=$(( (RANDOM * 32768 + RANDOM + $$) % span ))
for ((i = 0; i < span; i++)); do
  p=$((lo + (start + i) % span))
  grep -qx "$p" <<<"$used" || { echo "$p"; exit 0; }
done
echo "free-port: no free port in $lo-$hi" >&2; exit 1
