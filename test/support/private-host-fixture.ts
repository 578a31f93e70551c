/*
 * For test/e2e/private-host.e2e.test.ts: changes this host the way the PAM tests do — a user and a
 * group by useradd, a password by chpasswd (pam_unix), pam_pwsync installed by the real
 * `pwsync agent install-pam`, a socket in /dev — inside its private host, prints what it sees
 * there, and waits to be killed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { findModuleDir } from '../../src/agent/pam/install.ts';
import { runCli } from './cli.ts';
import { PAM_FILE, PamHost, run } from './pam-host.ts';
import { runInPrivateHost } from './private-host.ts';

await runInPrivateHost(import.meta.url);

const host = new PamHost(findModuleDir());
const user = host.user('k');
const changed = run('chpasswd', [], `${user}:Private-Host-Kill-1\n`);
if (changed.status !== 0) throw new Error(`chpasswd: ${changed.stderr.toString()}`);
const installed = await runCli(['agent', 'install-pam', '--socket', '/run/pwsync-private-host-test.sock', '--agent-user', 'root', '--pam-file', PAM_FILE]);
if (installed.code !== 0) throw new Error(`install-pam: ${installed.stdout}${installed.stderr}`);
// A socket in /dev, as the syslog listener of a host without syslog makes one (/dev/log).
const devSocket = `/dev/pwsync-private-host-test-${host.prefix}`;
await new Promise<void>((resolve) => createServer().listen(devSocket, resolve));
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
process.stdout.write(
  `${JSON.stringify({
    user,
    passwd: sha('/etc/passwd'),
    shadow: sha('/etc/shadow'),
    pam: sha(PAM_FILE),
    module: existsSync(join(findModuleDir(), 'pam_pwsync.so')),
    devSocket,
    devSocketThere: existsSync(devSocket),
  })}\n`,
);
// Until killed.
setInterval(() => undefined, 60_000);
