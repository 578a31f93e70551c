/*
 * The native hooks hold a password while they wait for the agent: pwsync-samba-hook makes itself
 * non-dumpable with a core limit of 0 for its whole (short) life; pam_pwsync does so in its host
 * process for the time of its call, then puts back what the host had. Seen from outside, through
 * /proc, while each waits for an answer at a socket this test holds: the hook and the PAM host run
 * as nobody (a dumpable process's /proc/PID entries belong to its user, a non-dumpable one's to
 * root), started by prlimit with core dumps allowed, so that a 0 can only come from the code.
 *
 * The PAM host is a tiny program built here with pam_start_confdir (a private PAM directory: the
 * host's /etc/pam.d is not touched), whose stack is a test module that sets PAM_AUTHTOK (as
 * pam_unix does) and then pam_pwsync.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { makeRootOnlyDir, removeRootOnlyDir } from '../support/root-only-dir.ts';

const BUILD = fileURLToPath(new URL('../../native/build/', import.meta.url));
const NOBODY = 65534;
const run = promisify(execFile);

const HOST_C = `
#include <security/pam_appl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
static int conv(int n, const struct pam_message **m, struct pam_response **r, void *d) { (void)n, (void)m, (void)r, (void)d; return PAM_CONV_ERR; }
static void show(const char *when) {
  struct rlimit l;
  getrlimit(RLIMIT_CORE, &l);
  printf("%s dumpable=%d core=%s/%s\\n", when, prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L),
         l.rlim_cur == RLIM_INFINITY ? "unlimited" : "limited", l.rlim_max == RLIM_INFINITY ? "unlimited" : "limited");
  fflush(stdout);
}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  struct pam_conv c = {conv, NULL};
  pam_handle_t *h = NULL;
  if (pam_start_confdir("pwsync-test", argv[2], &c, argv[1], &h) != PAM_SUCCESS) return 3;
  show("before");
  int rc = pam_chauthtok(h, 0);
  show("after");
  printf("rc=%d\\n", rc);
  pam_end(h, rc);
  return 0;
}
`;

/** Stands for pam_unix: sets the new password as PAM_AUTHTOK in the update pass. */
const SET_AUTHTOK_C = `
#include <security/pam_modules.h>
int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)argc, (void)argv;
  if (flags & PAM_UPDATE_AUTHTOK) return pam_set_item(pamh, PAM_AUTHTOK, "Marker-Secret-1");
  return PAM_SUCCESS;
}
`;

/** A capture socket that holds its first connection until `answer` is called. */
interface Held {
  readonly connected: Promise<{ answer(): void }>;
  close(): Promise<void>;
}

function hold(path: string): Promise<Held> {
  let resolveConnected: (c: { answer(): void }) => void = () => undefined;
  const connected = new Promise<{ answer(): void }>((resolve) => (resolveConnected = resolve));
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    resolveConnected({ answer: () => socket.write('{"ok":true,"status":"skipped","reason":"test"}\n') });
  });
  const close = (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve({ connected, close }));
  });
}

/** Owner of /proc/PID/status and "Max core file size" soft/hard. */
async function seen(pid: number): Promise<{ owner: number; core: string }> {
  const owner = (await stat(`/proc/${String(pid)}/status`)).uid;
  const limits = await readFile(`/proc/${String(pid)}/limits`, 'utf8');
  const row = limits.split('\n').find((l) => l.startsWith('Max core file size')) ?? '';
  return { owner, core: row.slice('Max core file size'.length).trim().split(/\s+/).slice(0, 2).join('/') };
}

/** `file args` as nobody, core dumps allowed (unlimited) to begin with. */
function asNobody(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): { pid: number; stdin: NodeJS.WritableStream; output: () => string; exited: Promise<number | null> } {
  const child = spawn('prlimit', ['--core=unlimited:unlimited', '--', 'setpriv', `--reuid=${String(NOBODY)}`, `--regid=${String(NOBODY)}`, '--clear-groups', '--', file, ...args], { env: { PATH: '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  assert.ok(child.pid !== undefined);
  return { pid: child.pid, stdin: child.stdin, output: () => out, exited };
}

void describe('the native hooks are not dumpable while they hold a password', () => {
  assert.equal(process.getuid?.(), 0, 'the hooks are run as nobody: run as root');
  let dir = '';
  let socket = '';
  before(async () => {
    dir = await makeRootOnlyDir('native-no-dump-');
    socket = join(dir, 'capture.sock');
  });
  after(() => removeRootOnlyDir(dir));

  void test('pwsync-samba-hook: not dumpable, core limit 0/0, while it waits for the agent', async () => {
    const held = await hold(socket);
    try {
      await chmod(socket, 0o666);
      const hook = asNobody(join(BUILD, 'pwsync-samba-hook'), [], { PWSYNC_CAPTURE_SOCKET: socket, PWSYNC_HOOK_TIMEOUT_MS: '20000' });
      hook.stdin.end('dn: CN=x,DC=pwsync,DC=test\nvirtualSambaGPG:: c2VjcmV0\n\n');
      const connection = await held.connected;
      assert.deepEqual(await seen(hook.pid), { owner: 0, core: '0/0' });
      connection.answer();
      assert.equal(await hook.exited, 0, hook.output());
      assert.match(hook.output(), /^DONE-EXIT: /m);
    } finally {
      await held.close();
    }
  });

  void test('pam_pwsync: not dumpable, soft core limit 0, during its call; the host\'s own settings back afterwards', async () => {
    const host = join(dir, 'pam-host');
    const setAuthtok = join(dir, 'pam_set_authtok.so');
    await writeFile(join(dir, 'host.c'), HOST_C);
    await writeFile(join(dir, 'set-authtok.c'), SET_AUTHTOK_C);
    await run('gcc', ['-o', host, join(dir, 'host.c'), '-lpam']);
    await run('gcc', ['-shared', '-fPIC', '-o', setAuthtok, join(dir, 'set-authtok.c'), '-lpam']);
    const confdir = join(dir, 'pam.d');
    await mkdir(confdir, { mode: 0o755 });
    await writeFile(join(confdir, 'pwsync-test'), `password required ${setAuthtok}\npassword optional ${join(BUILD, 'pam_pwsync.so')} socket=${socket} timeout=10000 missed=\n`, { mode: 0o644 });
    const held = await hold(socket);
    try {
      await chmod(socket, 0o666);
      const p = asNobody(host, [confdir, 'nobody']);
      const connection = await held.connected;
      // Hard limit untouched: a process that is not root could never raise it again.
      assert.deepEqual(await seen(p.pid), { owner: 0, core: '0/unlimited' });
      connection.answer();
      assert.equal(await p.exited, 0, p.output());
      assert.match(p.output(), /^before dumpable=1 core=unlimited\/unlimited$/m);
      assert.match(p.output(), /^after dumpable=1 core=unlimited\/unlimited$/m);
      assert.match(p.output(), /^rc=0$/m);
    } finally {
      await held.close();
    }
  });
});
