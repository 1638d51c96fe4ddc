#!/usr/bin/env bash
# install-browser-deps.sh -- install playwright-core, which the dashboard's
# browser tests drive Debian's Chromium with, into test/browser/node_modules,
# exactly as test/browser/package-lock.json pins it (npm ci). Does nothing
# when that lock is already installed. It never downloads a browser: the
# tests use /usr/bin/chromium (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../test/browser"
installed=node_modules/.package-lock.json
if [ -f "$installed" ] && [ ! package-lock.json -nt "$installed" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "install-browser-deps: npm not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
echo "install-browser-deps: npm ci in test/browser" >&2
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts >&2
