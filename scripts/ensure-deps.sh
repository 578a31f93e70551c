#!/usr/bin/env bash
# Installs what pwsync needs to run or be tested, when it is missing: npm packages (with the native
# builds) and, for tests, Debian packages. Sourced by start.sh, test.sh and bench.sh.
set -euo pipefail

ensure_npm() {
  # `npm ls` fails when node_modules is missing or differs from the lockfile.
  if ! npm ls --depth=0 >/dev/null 2>&1; then
    echo "pwsync: installing npm packages (npm ci; the SQLite native build takes about a minute)" >&2
    npm ci --no-audit --no-fund >&2
  fi
  if ! node -e "new (require('better-sqlite3'))(':memory:').close()" >/dev/null 2>&1; then
    echo "pwsync: building better-sqlite3 for this Node" >&2
    npm rebuild better-sqlite3 >&2
  fi
}

# ensure_debian WHAT:PACKAGE ... — installs each package whose WHAT is missing: a command, an
# absolute path for packages that install no command (slapd-contrib's modules), or `-` to ask dpkg
# whether the package itself is installed (metapackages, modules under an architecture's path).
ensure_debian() {
  local missing=()
  for pair in "$@"; do
    local what="${pair%%:*}" pkg="${pair#*:}"
    if [[ "$what" == - ]]; then
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    elif [[ "$what" == /* ]]; then
      [ -e "$what" ] || missing+=("$pkg")
    else
      command -v "$what" >/dev/null 2>&1 || [ -x "/usr/sbin/$what" ] || missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "pwsync: missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "pwsync: installing Debian packages: ${missing[*]}" >&2
  # In a subshell: its traps are its own, so those of the script that sourced this file stay.
  (
    # Installing must not start system services (slapd would start on port 389): a policy-rc.d
    # that says no, for the install only. It is removed however the install ends (done, failed,
    # interrupted), so that later upgrades of this host restart the services they patch. One that
    # was there before is left as it is, unless it is ours (its marker line: a run killed with
    # SIGKILL leaves it, and the next install takes it away).
    policy=/usr/sbin/policy-rc.d
    marker='# pwsync: installing packages; removed when the install ends'
    if { [ ! -e "$policy" ] && [ ! -L "$policy" ]; } || { [ -f "$policy" ] && [ ! -L "$policy" ] && grep -qxF "$marker" "$policy"; }; then
      # Removes only a file with our marker: never one that someone else put there meanwhile.
      trap 'if [ -f "$policy" ] && [ ! -L "$policy" ] && grep -qxF "$marker" "$policy"; then rm -f "$policy"; fi' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      trap 'exit 129' HUP
      if [ ! -e "$policy" ]; then
        # noclobber: created here (O_EXCL), never written over one that appeared meanwhile.
        (set -o noclobber; printf '#!/bin/sh\n%s\nexit 101\n' "$marker" > "$policy") && chmod 0755 "$policy"
      fi
    fi
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  )
}

# ensure_native — builds pwsync's native parts (native/build/: the Samba syncpasswords hook and
# the PAM capture module) when a source is newer than what was built; needs gcc, make and
# libpam0g-dev.
ensure_native() {
  make -s -C native >&2
}
