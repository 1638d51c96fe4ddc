#!/usr/bin/env bash
# install-otlp-deps.sh -- install the OpenTelemetry project's protocol
# definitions (@opentelemetry/otlp-transformer, whose generated protobufjs
# code e2e-drains decodes the OTLP drain's payloads with) into
# test/otlp/node_modules, exactly as test/otlp/package-lock.json pins them
# (npm ci). Does nothing when that lock is already installed.
set -euo pipefail
cd "$(dirname "$0")/../test/otlp"
installed=node_modules/.package-lock.json
if [ -f "$installed" ] && [ ! package-lock.json -nt "$installed" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "install-otlp-deps: npm not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
echo "install-otlp-deps: npm ci in test/otlp" >&2
npm ci --no-audit --no-fund --ignore-scripts >&2
