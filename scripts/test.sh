#!/usr/bin/env bash
# The whole test suite: install what is missing, type-check, lint, run every test file.
# Fails when any step fails or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-deps.sh
ensure_npm
# The hash formats are checked against independent implementations: OpenSSL, OpenLDAP (slappasswd
# and a private slapd with its password modules), mkpasswd, htpasswd and the argon2 reference tool.
ensure_debian openssl:openssl slappasswd:slapd /usr/lib/ldap/pw-pbkdf2.so:slapd-contrib ldapsearch:ldap-utils \
  mkpasswd:whois htpasswd:apache2-utils argon2:argon2 python3:python3
# The ldap connector is proved against private directory servers: 389 DS (and its NSS tools) and a
# Samba AD domain controller (without the recommended winbind PAM/NSS modules, which would change
# this machine's logins).
ensure_debian ns-slapd:389-ds-base dscreate:python3-lib389 certutil:libnss3-tools \
  samba:samba samba-tool:samba-common-bin -:samba-ad-dc -:samba-ad-provision -:samba-dsdb-modules \
  -:samba-vfs-modules ntlm_auth:winbind -:python3-gpg ldbadd:ldb-tools gpg:gpg
# The sql connector and the PostgreSQL store are proved against private PostgreSQL and MariaDB
# servers (test/support/postgres.ts, mariadb.ts). The packages' own clusters are created but not
# started: invoke-rc.d and deb-systemd-invoke obey policy-rc.d.
ensure_debian /usr/lib/postgresql/15/bin/initdb:postgresql-15 mariadbd:mariadb-server mariadb:mariadb-client
# The capture hooks are C (native/): the Samba syncpasswords hook and the PAM module, built here.
ensure_debian gcc:gcc make:make /usr/include/security/pam_modules.h:libpam0g-dev
ensure_native

echo "== type-check"; npx tsc --noEmit -p tsconfig.json
echo "== lint"; npx eslint --max-warnings 0 --no-error-on-unmatched-pattern src test bench

mapfile -t files < <(find src test -name '*.test.ts' | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
echo "== tests (${#files[@]} files)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
node --import tsx --test --test-force-exit --test-reporter=spec --test-timeout=300000 "${files[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
tests=$(grep -Eo '^ℹ tests [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
passed=$(grep -Eo '^ℹ pass [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Eo '^ℹ fail [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
if [ "$tests" -eq 0 ]; then echo "the test runner ran no test" >&2; exit 1; fi
echo "$passed passed, $failed failed"
exit "$status"
