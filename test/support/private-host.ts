/*
 * A private copy of this host's configuration for the tests that change it (PAM stack, users and
 * groups, libpam's module directory): the test file runs itself again inside new mount and PID
 * namespaces where /etc, libpam's module directory and the files useradd writes in place
 * (/var/log/lastlog, faillog, the mail spool) are copies in a tmpfs, bound over the originals,
 * and /dev is an overlay whose changes stay in the namespace.
 *
 * Whatever the test does to them, and however it ends — a failure, SIGINT, or SIGKILL of the test
 * runner, when no exit handler runs — the host's own files are never written: the copies vanish
 * with the namespace. The whole /etc is copied, not single files: shadow-utils and pam_unix
 * replace /etc/passwd, /etc/shadow and the PAM files by rename, which fails across a file bound
 * alone. The PID namespace ends every process the test started (agent, server, listeners) when
 * the test process ends, and a parent-death signal ends the namespace when the process that
 * started it is killed.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findModuleDir } from '../../src/agent/pam/install.ts';

const INSIDE = 'PWSYNC_PRIVATE_HOST';

/** Written in place by useradd and login (not replaced by rename): bound one by one. */
const WRITTEN_IN_PLACE = ['/var/log/lastlog', '/var/log/faillog', '/var/log/tallylog', '/var/mail'];

/**
 * The commands, run by bash as the namespace's first process: copies into a tmpfs, each bound
 * over its original; /dev under an overlay whose upper layer is in that tmpfs (what a test makes
 * there, the syslog socket /dev/log of a host without syslog, stays in the namespace; the host's
 * /dev/log is hidden, so that the test listens itself and the host's log gets no test lines), the
 * mounts below /dev moved back on top; the tmpfs's own mount taken away again (the binds keep it
 * alive) so that nothing of it is left on the host; then the test, as a child (bash reaps what it
 * leaves).
 */
const SETUP = `
set -eu
stage=$(mktemp -d "\${TMPDIR:-/tmp}/pwsync-private-host.XXXXXX")
mount -t tmpfs -o mode=0700 pwsync-private-host "$stage"
i=0
for path in "$@"; do
  [ "$path" = -- ] && break
  i=$((i + 1))
  if [ -e "$path" ]; then cp -a "$path" "$stage/$i"; mount --bind "$stage/$i" "$path"; fi
done
mkdir "$stage/dev" "$stage/dev/upper" "$stage/dev/work" "$stage/dev/sub"
subs=$(findmnt -rn -o TARGET -R /dev | grep '^/dev/' | sort -u | awk '{ for (k in top) if (index($0, top[k] "/") == 1) next; top[NR] = $0; print }')
n=0
for sub in $subs; do n=$((n + 1)); mkdir "$stage/dev/sub/$n"; mount --rbind "$sub" "$stage/dev/sub/$n"; done
mount -t overlay pwsync-private-dev -o "lowerdir=/dev,upperdir=$stage/dev/upper,workdir=$stage/dev/work" /dev
n=0
for sub in $subs; do n=$((n + 1)); mount --move "$stage/dev/sub/$n" "$sub"; done
rm -f /dev/log
umount -l "$stage"
rmdir "$stage"
while [ "$1" != -- ]; do shift; done
shift
set +e
"$@"
exit $?
`;

/** Whether this process is the test inside its private host. */
export function insidePrivateHost(): boolean {
  // /etc bound from a tmpfs: its device differs from the root file system's.
  return process.env[INSIDE] === '1' && statSync('/etc').dev !== statSync('/').dev;
}

/** The host paths a private host gives copies of: /etc, libpam's module directory, and WRITTEN_IN_PLACE. */
export function privatePaths(): string[] {
  return ['/etc', findModuleDir(), ...WRITTEN_IN_PLACE];
}

/**
 * Call at the top of a test file (top-level await) before any test: inside the private host it
 * returns and the file's tests run; outside, it runs this file again inside one, with the same
 * Node options and the test runner's reporting passed through (stdout and environment), and
 * exits with its status: it never returns there.
 */
export async function runInPrivateHost(moduleUrl: string): Promise<void> {
  if (insidePrivateHost()) return;
  if (process.getuid?.() !== 0) throw new Error('a private host needs mount namespaces: run as root');
  const file = fileURLToPath(moduleUrl);
  const child = spawn(
    'setpriv',
    [
      // Killed with this process, whatever kills it; --kill-child passes it on to the namespace's
      // first process, whose end ends every process in the PID namespace.
      '--pdeathsig',
      'SIGKILL',
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--pid',
      '--kill-child=SIGKILL',
      '--mount-proc',
      '--',
      'bash',
      '-c',
      SETUP,
      'pwsync-private-host',
      ...privatePaths(),
      '--',
      process.execPath,
      ...process.execArgv,
      file,
    ],
    { stdio: 'inherit', env: { ...process.env, [INSIDE]: '1' } },
  );
  const code = await new Promise<number>((resolve) => {
    child.on('exit', (status, signal) => resolve(status ?? (signal === null ? 1 : 128)));
    child.on('error', () => resolve(1));
  });
  process.exit(code);
}
