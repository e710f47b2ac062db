#!/usr/bin/env bash
# Refreshes ips.txt from Cloudflare's API (GET /client/v4/ips, no token
# needed) and says whether it changed. When it did: update the list in
# gateway/auth.c too (make deploy-check compares them), and re-apply the
# origin lock (deploy/aws/alb-security-group.json on Fargate).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
json=$(curl -fsS --max-time 20 https://api.cloudflare.com/client/v4/ips)
jq -e .success >/dev/null <<<"$json" || { echo "update-ips: the API did not answer success" >&2; exit 1; }
new=$( { sed -n '/^#/p' "$here/ips.txt"; jq -r '.result.ipv4_cidrs[], .result.ipv6_cidrs[]' <<<"$json"; } )
if [ "$new" = "$(cat "$here/ips.txt")" ]; then echo "ips.txt is current"; exit 0; fi
printf '%s\n' "$new" > "$here/ips.txt"
echo "ips.txt changed: update gateway/auth.c and the origin lock"; exit 1
