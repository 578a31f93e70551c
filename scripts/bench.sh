#!/usr/bin/env bash
# The benchmarks of docs/benchmarks.md: import and join of 100,000 accounts, then the latency of
# 10,000 changes at 200/s through the engine and done directly. Not part of `npm test`.
# Three to five minutes. Figures go to .tmp/bench/*.json (or $BENCH_OUT) and a summary at the end.
#
#   npm run bench                 # everything
#   npm run bench -- import       # only import-join
#   npm run bench -- latency      # only the change-latency runs
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-deps.sh
ensure_npm

which=${1:-all}
case "$which" in all|import|latency) ;; *) echo "usage: scripts/bench.sh [all|import|latency]" >&2; exit 2 ;; esac
out=${BENCH_OUT:-.tmp/bench}
mkdir -p "$out"
rm -f "$out"/*.json

# A run that stops making progress (a hang) is killed rather than waited for forever.
run() {
  local limit=$1 name=$2; shift 2
  echo
  echo "== $name ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg); at most ${limit} s)"
  local status=0
  timeout -k 10 "$limit" node --import tsx "$@" || status=$?
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then echo "$name: killed after ${limit} s" >&2; fi
  return "$status"
}

failed=0
if [ "$which" != latency ]; then
  run 240 "import-join: 100,000 people and 100,000 accounts" bench/import-join.ts --people 100000 --breakdown --json "$out/import-join.json" || failed=1
fi
if [ "$which" != import ]; then
  # The issue's case: 10,000 changes, each for a different row of a 10,000-row file.
  run 300 "change-latency: 10,000 changes at 200/s, 10,000 rows" bench/change-latency.ts \
    --rows 10000 --changes 10000 --rate 200 --hash ssha512 --breakdown --json "$out/change-latency-10k.json" || failed=1
  # The same with server.workers at its former default of 8: smaller write groups (docs/benchmarks.md).
  run 120 "change-latency: 4,000 changes at 200/s, 10,000 rows, 8 workers (engine only)" bench/change-latency.ts \
    --rows 10000 --changes 4000 --rate 200 --hash ssha512 --workers 8 --mode engine --breakdown --json "$out/change-latency-10k-w8.json" || failed=1
  # Fewer rows: a smaller file to rewrite, and each row changed several times.
  run 150 "change-latency: 3,000 changes at 200/s, 1,000 rows" bench/change-latency.ts \
    --rows 1000 --changes 3000 --rate 200 --hash ssha512 --breakdown --json "$out/change-latency-1k.json" || failed=1
fi

echo
echo "== summary"
node --import tsx bench/summary.ts "$out" || failed=1
exit "$failed"
