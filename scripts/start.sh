#!/usr/bin/env bash
# The main job: pwsync on its embedded default (a demo in ./demo, created on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-deps.sh
ensure_npm
exec node bin/pwsync.js demo "$@"
