#!/usr/bin/env bash
# Installs the JavaScript msgpack library that client.mjs uses (pinned by package-lock.json)
# into tests/tools/node_client/node_modules, once per lock file. Without node and npm it says
# so and does nothing: the test that needs them then skips.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node_client: node and npm not found (apt-get install -y nodejs npm): skipped" >&2
    exit 0
fi
if ! cmp -s package-lock.json node_modules/.ring-lock 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    cp package-lock.json node_modules/.ring-lock
fi
