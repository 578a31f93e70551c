#!/usr/bin/env bash
# The main job: pwsync on its embedded default (a demo in ./demo, created on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-deps.sh
ensure_npm
# The server switches core dumps off and makes itself non-dumpable through a small native helper
# (native/no-dump.c); where it cannot be built (no gcc) it falls back to prlimit and says so in its log.
if ! make -s -C native build/pwsync-no-dump.node >/dev/null 2>&1; then
  echo "pwsync: the core-dump helper native/build/pwsync-no-dump.node is not built (needs gcc and Node's headers); core dumps are switched off with prlimit instead" >&2
fi
exec node bin/pwsync.js demo "$@"
