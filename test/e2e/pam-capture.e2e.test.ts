/*
 * Capture at a Linux host through PAM, with real processes only: pam_pwsync built by make,
 * installed into libpam's module directory by `pwsync agent install-pam` on the real
 * /etc/pam.d/common-password of this host's configuration, throwaway users made by useradd, their
 * passwords changed by chpasswd and passwd (by root, and by the user through the setuid passwd), a
 * server and an agent run through the CLI, and the file target checked for the new password; and
 * the module's defences: an impostor at the socket gets nothing, a missed file already there is
 * never handed over.
 *
 * Runs as root, in a private host (test/support/private-host.ts): /etc, the module directory and
 * /dev are copies in namespaces of the test's own, so the host's files are never written, even
 * when the run is killed. Within it, the PAM file, the module directory, the users and groups and
 * the /etc/*- backups are given back at the end (test/support/pam-host.ts), and the PAM file is
 * checked to be byte-identical.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { findModuleDir } from '../../src/agent/pam/install.ts';
import { CliProcess } from '../support/cli.ts';
import { assertNoPasswords, createAgentWorld, eventually, type AgentWorld } from '../support/agent-world.ts';
import { startImpostor, type Impostor } from '../support/impostor.ts';
import { PAM_FILE, PamHost, run } from '../support/pam-host.ts';
import { runInPrivateHost } from '../support/private-host.ts';
import { EVENT } from '../../src/core/events.ts';

const NATIVE = fileURLToPath(new URL('../../native', import.meta.url));
/** The module's timeout in this test: the longest a change may wait for a slow agent. */
const TIMEOUT_MS = 1000;
const NOBODY = 65534;

// Everything below changes /etc and libpam's module directory: in copies of them only.
await runInPrivateHost(import.meta.url);

void describe('Linux PAM capture (pam_pwsync)', { timeout: 120_000 }, () => {
  assert.equal(process.getuid?.(), 0, 'this test edits /etc/pam.d and adds users: run it as root');
  const moduleDir = findModuleDir();
  let host: PamHost;
  let world: AgentWorld;
  let agent: CliProcess | undefined;
  let missedFile = '';
  let syslogFile = '';
  let syslogHere = false;
  let worldMade = false;
  const passwords: string[] = [];
  const outputs: Buffer[] = [];
  const users = { a: '', b: '', excluded: '', outside: '' };

  /** A program's run, its output kept for the leak check. */
  const exec = (file: string, args: readonly string[], input: string): SpawnSyncReturns<Buffer> & { ms: number } => {
    const started = performance.now();
    const r = run(file, args, input);
    const ms = performance.now() - started;
    outputs.push(r.stdout, r.stderr);
    return Object.assign(r, { ms });
  };
  const chpasswd = (user: string, password: string) => {
    passwords.push(password);
    return exec('chpasswd', [], `${user}:${password}\n`);
  };
  const startAgent = async (): Promise<CliProcess> => {
    const p = await world.startAgent();
    host.track(p.child);
    agent = p;
    return p;
  };
  const agentLog = (): { msg: string; account?: string }[] =>
    readFileSync(join(world.dir, 'agent.log'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { msg: string; account?: string });
  const captured = (user: string): number => agentLog().filter((l) => l.msg === 'change captured' && l.account === user).length;
  /**
   * The commands that edit the PAM configuration, run as processes the host kills (and waits for)
   * before it restores anything: none may write the PAM file after it was given back.
   */
  const pamCli = async (args: readonly string[]): Promise<number | null> => {
    const p = new CliProcess([...args, '--config', world.agentConfig]);
    host.track(p.child);
    const code = await p.wait();
    outputs.push(p.outputBytes);
    if (code !== 0) assert.fail(`pwsync ${args.join(' ')}: ${p.output}`);
    return code;
  };
  const syslog = (): string => (syslogHere && existsSync(syslogFile) ? readFileSync(syslogFile, 'utf8') : '');
  const readMissed = (): { account: string; at: number; reason: string }[] =>
    readFileSync(missedFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { account: string; at: number; reason: string });
  /** An impostor at the agent's socket path, listening as `uid` (undefined: root). */
  const impostor = async (uid: number | undefined): Promise<Impostor> => {
    const p = await startImpostor(join(world.dir, 'agent-data', 'capture.sock'), join(world.dir, `impostor-${String(uid ?? 0)}`), uid);
    host.track(p.child);
    return p;
  };

  before(async () => {
    const make = spawnSync('make', ['-C', NATIVE], { encoding: 'utf8' });
    assert.equal(make.status, 0, `make -C native: ${make.stdout}${make.stderr}`);
    host = new PamHost(moduleDir);
    const include = host.group('in');
    const exclude = host.group('ex');
    users.a = host.user('a', [include]);
    users.b = host.user('b', [include]);
    users.excluded = host.user('x', [include, exclude]);
    users.outside = host.user('o');
    const parentDir = mkdtempSync(join(tmpdir(), 'pwsync-pam-'));
    host.removeLater(parentDir);
    world = await createAgentWorld({
      parentDir,
      logins: [users.a, users.b, users.excluded, users.outside],
      agentYaml: ['capture:', '  pam: { missedFile: ./missed/pam-missed.jsonl }', 'scope:', `  include: [${include}]`, `  exclude: [${exclude}]`, '  directory: { unix: {} }'],
    });
    worldMade = true;
    // As on a real host, the missed file's directory is the agent's user's (here: nobody's).
    const missedDir = join(world.dir, 'missed');
    mkdirSync(missedDir, { mode: 0o700 });
    chownSync(missedDir, NOBODY, NOBODY);
    missedFile = join(missedDir, 'pam-missed.jsonl');
    syslogFile = join(world.dir, 'syslog');
    syslogHere = await host.listenSyslog(syslogFile);
    host.track((await world.startServer()).child);
    await startAgent();
    // The socket and the missed file come from the agent's configuration.
    assert.equal(await pamCli(['agent', 'install-pam', '--timeout', String(TIMEOUT_MS)]), 0);
    // The agent's user: the owner of the socket's directory (root here, as the agent runs as root).
    const line = `password optional pam_pwsync.so socket=${join(world.dir, 'agent-data', 'capture.sock')} user=root timeout=${String(TIMEOUT_MS)} missed=${missedFile}`;
    assert.equal(readFileSync(PAM_FILE, 'utf8'), `${host.originalPam.toString('utf8')}# pwsync capture: added by "pwsync agent install-pam"; remove with "pwsync agent uninstall-pam"\n${line}\n`);
    // Again: the same file, no second line.
    assert.equal(await pamCli(['agent', 'install-pam', '--timeout', String(TIMEOUT_MS)]), 0);
    assert.equal(readFileSync(PAM_FILE, 'utf8').split('pam_pwsync.so').length, 2);
  });

  after(async () => {
    try {
      if (worldMade) {
        try {
          assert.equal(await pamCli(['agent', 'uninstall-pam', '--remove-module']), 0);
          assert.ok(readFileSync(PAM_FILE).equals(host.originalPam), 'uninstall-pam gives back the PAM file byte for byte');
          assert.equal(existsSync(join(moduleDir, 'pam_pwsync.so')), false);
          await assertNoPasswords(world.dir, passwords, [...world.outputs, ...outputs], 'after the PAM test');
        } finally {
          await world.close();
        }
      }
    } finally {
      host.restore();
      assert.ok(readFileSync(PAM_FILE).equals(host.originalPam), 'common-password is byte-identical to before the test');
    }
  });

  void test('(a) chpasswd by root: captured, delivered, and the target holds the new password', async () => {
    const password = 'Pam-Chpasswd-1a';
    const r = chpasswd(users.a, password);
    assert.equal(r.status, 0, r.stderr.toString());
    await eventually(() => world.holds(users.a, password), 15_000, 'the target to hold the chpasswd password');
    assert.equal(captured(users.a), 1);
    if (syslogHere) assert.match(syslog(), new RegExp(`pwsync: password change of ${users.a} queued by the agent`));
  });

  void test('(b) passwd by root, then the user\'s own change through the setuid passwd', async () => {
    const byRoot = 'Pam-Passwd-Root-2b';
    passwords.push(byRoot);
    const r = exec('passwd', [users.b], `${byRoot}\n${byRoot}\n`);
    assert.equal(r.status, 0, r.stderr.toString());
    await eventually(() => world.holds(users.b, byRoot), 15_000, 'the target to hold the password root set with passwd');
    // The user's own change: passwd (setuid root) run with the user's uid; it reads stdin without a tty.
    const own = 'Own-Choice-Zq7-Wx';
    passwords.push(own);
    const self = exec('setpriv', [`--reuid=${users.b}`, `--regid=${users.b}`, '--init-groups', '--', 'passwd'], `${byRoot}\n${own}\n${own}\n`);
    assert.equal(self.status, 0, `${self.stdout.toString()}${self.stderr.toString()}`);
    await eventually(() => world.holds(users.b, own), 15_000, "the target to hold the user's own new password");
    assert.equal(captured(users.b), 2);
  });

  void test('(c) a non-ASCII password arrives as the same UTF-8 bytes', async () => {
    const password = 'Grüße-密码-Ünïcødé-3c';
    const r = chpasswd(users.a, password);
    assert.equal(r.status, 0, r.stderr.toString());
    await eventually(() => world.holds(users.a, password), 15_000, 'the target to hold the non-ASCII password');
  });

  void test('(d) scope: a member of the exclude group, and a user outside the include group, are not forwarded', async () => {
    const before = await world.targetHash(users.excluded);
    for (const user of [users.excluded, users.outside]) {
      const r = chpasswd(user, `Out-Of-Scope-4d-${user.slice(-1)}`);
      assert.equal(r.status, 0, r.stderr.toString());
    }
    const events = (await world.agentStatus()).events as { code: number; anchor?: string | null }[];
    assert.deepEqual(events.filter((e) => e.code === EVENT.OUT_OF_SCOPE).map((e) => e.anchor).sort(), [users.excluded, users.outside].sort());
    assert.equal(captured(users.excluded) + captured(users.outside), 0);
    assert.equal(await world.targetHash(users.excluded), before);
    assert.equal(await world.targetHash(users.outside), '');
    if (syslogHere) assert.match(syslog(), new RegExp(`pwsync: password change of ${users.outside} not forwarded, out of the agent's scope`));
  });

  void test('(e) the agent down or stuck: the change is made at once and reported as missed (7050) when the agent is back', async (t) => {
    const kept = 'Grüße-密码-Ünïcødé-3c';
    assert.equal(await world.holds(users.a, kept), true);
    // Stopped: no socket.
    assert.equal(await agent?.stop(), 0);
    const down = chpasswd(users.a, 'Agent-Down-5e-one');
    assert.equal(down.status, 0, down.stderr.toString());
    assert.ok(down.ms < TIMEOUT_MS + 1000, `chpasswd took ${down.ms.toFixed(0)} ms with the agent down`);
    const created = statSync(missedFile);
    assert.deepEqual([created.uid, created.gid, created.mode & 0o777], [NOBODY, NOBODY, 0o600], "the missed file is the directory owner's, 0600");
    const [downLine, ...more] = readMissed();
    assert.deepEqual([downLine?.account, more.length], [users.a, 0]);
    assert.match(downLine?.reason ?? '', /not reachable/);
    assert.ok(Math.abs((downLine?.at ?? 0) - Date.now()) < 60_000);

    // Stuck: the socket is there and takes the bytes, but nobody answers; the module's timeout ends it.
    // (The agent reports the line above as it starts, before it is stopped.)
    const stuck = await startAgent();
    assert.equal(existsSync(missedFile), false, 'taken by the agent at its start');
    stuck.child.kill('SIGSTOP');
    const slow = chpasswd(users.a, 'Agent-Stuck-5e-two');
    stuck.child.kill('SIGKILL');
    assert.equal(slow.status, 0, slow.stderr.toString());
    assert.ok(slow.ms >= TIMEOUT_MS - 50 && slow.ms < TIMEOUT_MS + 1000, `chpasswd took ${slow.ms.toFixed(0)} ms with the agent stuck`);
    t.diagnostic(`chpasswd with the agent down: ${down.ms.toFixed(0)} ms; with the agent stuck: ${slow.ms.toFixed(0)} ms (timeout ${String(TIMEOUT_MS)} ms)`);
    const [slowLine, ...rest] = readMissed();
    assert.deepEqual([slowLine?.account, rest.length], [users.a, 0]);
    assert.match(slowLine?.reason ?? '', /did not answer in time/);
    if (syslogHere) assert.equal(syslog().split(`pwsync: password change of ${users.a} NOT forwarded`).length, 3);

    await startAgent();
    const missed = (await world.agentStatus()).events.filter((e) => e.code === EVENT.CAPTURE_MISSED) as { code: number; anchor?: string | null; severity?: string }[];
    assert.deepEqual(missed.map((e) => [e.anchor, e.severity]), [[users.a, 'error'], [users.a, 'error']]);
    assert.equal(existsSync(missedFile), false, 'the missed file is emptied once reported');
    // Neither change reached the target: it still holds the one before (the limit, made visible).
    assert.equal(await world.holds(users.a, kept), true);
  });

  void test('(f) a password pam_unix refuses never reaches the agent', async () => {
    const current = 'Own-Choice-Zq7-Wx';
    const before = captured(users.b);
    const r = exec('setpriv', [`--reuid=${users.b}`, `--regid=${users.b}`, '--init-groups', '--', 'passwd'], `${current}\nab\nab\n`);
    assert.notEqual(r.status, 0, 'pam_unix refuses a two-character password');
    // A refused change and an accepted one after it: only the accepted one is captured.
    const next = chpasswd(users.b, 'After-Refusal-6f');
    assert.equal(next.status, 0);
    await eventually(() => world.holds(users.b, 'After-Refusal-6f'), 15_000, 'the change after the refused one');
    assert.equal(captured(users.b), before + 1);
    assert.equal(existsSync(missedFile), false, 'nothing was missed either');
  });
  void test('(g) an impostor at the socket path gets nothing: another user listening, or a directory others can write; both recorded as missed (7050)', async () => {
    const missedBefore = (await world.agentStatus()).events.filter((e) => e.code === EVENT.CAPTURE_MISSED).length;
    assert.equal(await agent?.stop(), 0);
    const agentData = join(world.dir, 'agent-data');

    // Another user listens at the path, in the agent's own directory: connected to, checked, given nothing.
    const other = await impostor(NOBODY);
    const toOther = 'Impostor-Nobody-7g-one';
    assert.equal(chpasswd(users.a, toOther).status, 0);
    assert.equal(other.connections(), 1, 'the module connected and asked who listens');
    assert.deepEqual(other.received(), Buffer.alloc(0), 'not one byte, neither the header nor the password');
    await other.stop();

    // Root listens, but in a directory everyone can write (anyone could have put the socket there).
    chmodSync(agentData, 0o777);
    try {
      const planted = await impostor(undefined);
      assert.equal(chpasswd(users.a, 'Impostor-Dir-7g-two').status, 0);
      assert.equal(planted.connections(), 0, 'not even connected to');
      assert.deepEqual(planted.received(), Buffer.alloc(0));
      await planted.stop();
    } finally {
      chmodSync(agentData, 0o700);
    }
    const lines = readMissed();
    assert.deepEqual(lines.map((l) => l.account), [users.a, users.a]);
    assert.match(lines[0]?.reason ?? '', /not the agent: the process listening at .* runs as uid 65534/);
    assert.match(lines[1]?.reason ?? '', /writable by others.*nothing sent/);

    await startAgent();
    const missed = (await world.agentStatus()).events.filter((e) => e.code === EVENT.CAPTURE_MISSED);
    assert.equal(missed.length, missedBefore + 2, 'both reported as missed (7050) once the agent is back');
    assert.equal(await world.holds(users.a, toOther), false);
  });

  void test('(h) a missed file already there is never handed to the agent\'s user: root\'s, or a hard link to root\'s', async () => {
    assert.equal(await agent?.stop(), 0);
    assert.equal(existsSync(missedFile), false, 'taken by the agent at its start');
    // A root file linked into the agent's directory whose first name went away (as /etc/shadow's
    // old inode does when shadow-utils replaces the file): one link, owned by root.
    const secret = "root's secret\n";
    const original = join(world.dir, 'root-only');
    writeFileSync(original, secret, { mode: 0o600 });
    linkSync(original, missedFile);
    unlinkSync(original);
    assert.equal(chpasswd(users.a, 'Missed-Root-File-8h').status, 0);
    const kept = statSync(missedFile);
    assert.deepEqual([kept.uid, kept.gid, kept.nlink], [0, 0, 1], 'still root\'s: not chowned to the directory\'s owner');
    assert.ok(readFileSync(missedFile, 'utf8').startsWith(secret));
    unlinkSync(missedFile);

    // A hard link to a root file that still has its name: refused, neither chowned nor written.
    writeFileSync(original, secret, { mode: 0o600 });
    linkSync(original, missedFile);
    assert.equal(chpasswd(users.a, 'Missed-Hard-Link-8h').status, 0);
    const target = statSync(original);
    assert.deepEqual([target.uid, target.gid, target.nlink], [0, 0, 2]);
    assert.equal(readFileSync(original, 'utf8'), secret);
    rmSync(missedFile);
    rmSync(original);
  });
});
