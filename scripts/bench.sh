#!/usr/bin/env bash
# The benchmarks of docs/benchmarks.md: import and join of 100,000 accounts; the latency of
# 10,000 changes at 200/s through the engine and done directly; and the agent and the server's
# intake as processes: changes accepted per second at the intake, and the latency from the capture
# hook to the target file at 200/s, each beside the core entry point; password sets against a private
# slapd; and the sql connector: a million rows imported from a private PostgreSQL, password sets
# through pwsync beside the same UPDATEs in a loop. Not part of `npm test`.
# Ten to twelve minutes, and about 13 more for sql. Figures go to .tmp/bench/*.json (or $BENCH_OUT) and a summary at the end.
#
#   npm run bench                 # everything
#   npm run bench -- import       # only import-join
#   npm run bench -- latency      # only the change-latency runs
#   npm run bench -- intake       # only the agent and intake runs (also: npm run bench:intake)
#   npm run bench -- ldap         # only password sets against a private slapd (also: npm run bench:ldap)
#   npm run bench -- sql          # only the sql connector: a million rows imported, password sets (also: npm run bench:sql)
#   npm run bench -- capture      # only capture on a private Samba AD DC beside the syncpasswords+ldappasswd glue (also: npm run bench:capture)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-deps.sh
ensure_npm

which=${1:-all}
case "$which" in all|import|latency|intake|ldap|sql|capture) ;; *) echo "usage: scripts/bench.sh [all|import|latency|intake|ldap|sql|capture]" >&2; exit 2 ;; esac
if [ "$which" = all ] || [ "$which" = ldap ]; then
  # A private OpenLDAP (slapd with ppolicy and the SHA-2 password module) and openssl for its certificates.
  ensure_debian openssl:openssl slapd:slapd /usr/lib/ldap/pw-sha2.so:slapd-contrib
fi
if [ "$which" = all ] || [ "$which" = sql ]; then
  # A private PostgreSQL (test/support/postgres.ts; the package's own cluster is never used).
  ensure_debian openssl:openssl /usr/lib/postgresql/15/bin/initdb:postgresql-15
fi
if [ "$which" = all ] || [ "$which" = capture ]; then
  # A private Samba AD DC with GPG capture, a private slapd, ldappasswd for the glue, the C hook.
  ensure_debian openssl:openssl slapd:slapd /usr/lib/ldap/pw-sha2.so:slapd-contrib ldappasswd:ldap-utils \
    samba:samba samba-tool:samba-common-bin -:samba-ad-dc -:samba-ad-provision -:samba-dsdb-modules \
    -:samba-vfs-modules -:python3-gpg gpg:gpg gcc:gcc make:make /usr/include/security/pam_modules.h:libpam0g-dev
  ensure_native
fi
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
if [ "$which" = all ] || [ "$which" = import ]; then
  run 240 "import-join: 100,000 people and 100,000 accounts" bench/import-join.ts --people 100000 --breakdown --json "$out/import-join.json" || failed=1
fi
if [ "$which" = all ] || [ "$which" = latency ]; then
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
if [ "$which" = all ] || [ "$which" = intake ]; then
  # Issue 3: the server's intake as a process (mTLS, JWE, batches of 200) against the core entry point in-process.
  run 480 "intake-throughput: 20,000 notifications over 2,000 accounts, batches of 200, 4 in flight" bench/intake-throughput.ts \
    --accounts 2000 --notifications 20000 --batch 200 --concurrency 4 --json "$out/intake-throughput.json" || failed=1
  # Hook → agent → intake → server → file at 200/s, then the core entry point on the same case, one after the other.
  run 300 "capture-latency: 6,000 captures at 200/s, 10,000 accounts, through the agent and the server" bench/capture-latency.ts \
    --accounts 10000 --changes 6000 --rate 200 --json "$out/capture-latency.json" || failed=1
  run 180 "change-latency: 6,000 changes at 200/s, 10,000 rows (engine only: the core entry point beside capture-latency)" bench/change-latency.ts \
    --rows 10000 --changes 6000 --rate 200 --hash ssha512 --mode engine --json "$out/change-latency-core-6k.json" || failed=1
fi

if [ "$which" = all ] || [ "$which" = ldap ]; then
  # Issue 4: Password Modify sets per second through pwsync against the same sets done directly with ldapts.
  run 300 "ldap-sets: 2,000 users, Password Modify over StartTLS, through pwsync and directly" bench/ldap-sets.ts \
    --users 2000 --json "$out/ldap-sets.json" || failed=1
fi
if [ "$which" = all ] || [ "$which" = sql ]; then
  # Issue 5: 1,000,000 rows imported from PostgreSQL and joined; UPDATE password sets through pwsync against
  # the same statements in a loop, {SSHA512} (the engine's own cost) and argon2id (the hash's).
  run 1500 "sql: 1,000,000 rows imported from PostgreSQL; password sets, {SSHA512}, argon2id, bcrypt and PBKDF2, through pwsync and directly" bench/sql.ts \
    --rows 1000000 --hash '{SSHA512},argon2id,bcrypt=100,pbkdf2-sha512=100' --json "$out/sql.json" || failed=1
fi
if [ "$which" = all ] || [ "$which" = capture ]; then
  # Issue 6: latency from a reset on the DC to the password binding on OpenLDAP, and a burst, for
  # pwsync and for the plain glue, under Samba's -M single and its default prefork model.
  run 900 "capture-samba: Samba AD DC → OpenLDAP, pwsync beside syncpasswords + ldappasswd, -M single and prefork" bench/capture-samba.ts \
    --models single,prefork --latency 40 --burst 80 --json "$out/capture-samba.json" || failed=1
fi

echo
echo "== summary"
node --import tsx bench/summary.ts "$out" || failed=1
exit "$failed"
