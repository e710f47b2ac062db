#!/usr/bin/env bash
# Refreshes ips.txt from Cloudflare's published lists
# (https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6)
# and says whether it changed. Every line must be a CIDR range and there must
# be some of each family, or the file is left alone. The gateway reads the
# file at start (CLOUDFLARE_IPS_FILE; the image carries a copy): after a
# change rebuild/redeploy the gateway and re-apply the origin lock
# (deploy/aws/alb-security-group.json on Fargate).
#   update-ips.sh        exit 0: current; 1: changed (rewritten) or failed
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
file=${1:-$here/ips.txt}
fetch() { curl -fsS --max-time 20 "$1" | tr -d '\r'; }
v4=$(fetch https://www.cloudflare.com/ips-v4) || { echo "update-ips: cannot fetch ips-v4" >&2; exit 1; }
v6=$(fetch https://www.cloudflare.com/ips-v6) || { echo "update-ips: cannot fetch ips-v6" >&2; exit 1; }
cidr4='^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$'
cidr6='^[0-9a-fA-F:]+:[0-9a-fA-F:]*/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$'
check() { # check REGEX LIST NAME
  local l n=0
  while IFS= read -r l; do
    [ -z "$l" ] && continue
    [[ $l =~ $1 ]] || { echo "update-ips: $3 has a line that is not a CIDR: $l" >&2; return 1; }
    n=$((n + 1))
  done <<<"$2"
  [ "$n" -gt 0 ] || { echo "update-ips: $3 is empty" >&2; return 1; }
}
check "$cidr4" "$v4" ips-v4 && check "$cidr6" "$v6" ips-v6 || exit 1
new=$( { sed -n '/^#/p' "$file"; grep -v '^$' <<<"$v4"; grep -v '^$' <<<"$v6"; } )
if [ "$new" = "$(cat "$file")" ]; then echo "ips.txt is current"; exit 0; fi
printf '%s\n' "$new" > "$file.tmp" && mv "$file.tmp" "$file"
echo "ips.txt changed: redeploy the gateway and re-apply the origin lock"; exit 1
