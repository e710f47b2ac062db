#!/usr/bin/env bash
# install.sh: what widget/test/run.mjs needs, idempotently.
#   - widget/node_modules from widget/package-lock.json (npm ci), only when it
#     is missing or older than the lock file;
#   - Debian's Chromium at /usr/bin/chromium (checked, not installed: say how).
# Playwright never downloads a browser here: run.mjs drives /usr/bin/chromium.
set -euo pipefail

WIDGET_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
status=0

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "widget/install: node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
    status=1
else
    stamp="$WIDGET_DIR/node_modules/.package-lock.json"  # written by npm ci
    if [ ! -f "$stamp" ] || [ "$WIDGET_DIR/package-lock.json" -nt "$stamp" ] ||
       [ ! -d "$WIDGET_DIR/node_modules/playwright-core" ] || [ ! -d "$WIDGET_DIR/node_modules/axe-core" ]; then
        echo "widget/install: npm ci in $WIDGET_DIR"
        (cd "$WIDGET_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    else
        echo "widget/install: node_modules is up to date"
    fi
fi

if [ -x "$CHROMIUM" ]; then
    echo "widget/install: $("$CHROMIUM" --version 2>/dev/null | head -n 1 || echo "$CHROMIUM")"
else
    echo "widget/install: $CHROMIUM not found; install Debian's Chromium with:" >&2
    echo "    apt-get update && apt-get install -y chromium" >&2
    status=1
fi
exit "$status"
