#!/usr/bin/env bash
# Puts the two rulesets into a zone through the Rulesets API (the same rules
# as main.tf, for those not using Terraform).
#   CLOUDFLARE_API_TOKEN=… CLOUDFLARE_ZONE_ID=… deploy/cloudflare/apply.sh
# The token needs Zone > Zone WAF: Edit and Zone > Cache Rules: Edit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${CLOUDFLARE_API_TOKEN:?set CLOUDFLARE_API_TOKEN}" "${CLOUDFLARE_ZONE_ID:?set CLOUDFLARE_ZONE_ID}"
api=https://api.cloudflare.com/client/v4/zones/$CLOUDFLARE_ZONE_ID/rulesets/phases
for pair in http_ratelimit:ratelimit-ruleset.json http_request_cache_settings:cache-ruleset.json; do
  phase=${pair%%:*}; file=${pair#*:}
  out=$(curl -sS --max-time 30 -X PUT "$api/$phase/entrypoint" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
        -H 'Content-Type: application/json' --data @"$here/$file")
  if jq -e .success >/dev/null <<<"$out"; then echo "$phase: $(jq -r '.result.rules|length' <<<"$out") rules"; else
    echo "$phase: failed: $(jq -c .errors <<<"$out")" >&2; exit 1; fi
done
