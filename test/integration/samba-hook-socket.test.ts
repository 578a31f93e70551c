/*
 * pwsync-samba-hook (native/samba-hook.c, built by make) gives an account's LDIF only to the agent:
 * an impostor at the socket path — another user listening in the agent's directory, or root
 * listening in a directory others can write — receives nothing, and the hook exits 1 (syncpasswords
 * then stops and offers the change again later). Runs as root (the impostor drops to another user).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_SAMBA_HOOK } from '../../src/agent/samba/config.ts';
import { startImpostor, type Impostor } from '../support/impostor.ts';

const NATIVE = fileURLToPath(new URL('../../native', import.meta.url));
const NOBODY = 65534;
const LDIF = 'dn: CN=jdoe,CN=Users,DC=corp,DC=example\nsAMAccountName: jdoe\nvirtualClearTextUTF16:: SABvAG8AawAtAEIAYQBpAHQALQAxAA==\n';

void describe('the Samba hook gives the LDIF only to the agent', () => {
  assert.equal(process.getuid?.(), 0, 'the impostor listens as another user: run as root');
  let root = '';
  const running: Impostor[] = [];
  before(() => {
    const make = spawnSync('make', ['-s', '-C', NATIVE], { encoding: 'utf8' });
    assert.equal(make.status, 0, `make -C native: ${make.stdout}${make.stderr}`);
    root = mkdtempSync(join(tmpdir(), 'pwsync-hook-socket-'));
  });
  after(async () => {
    for (const i of running) await i.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const hook = (socket: string) =>
    spawnSync(DEFAULT_SAMBA_HOOK, [], { input: LDIF, encoding: 'utf8', timeout: 10_000, env: { PWSYNC_CAPTURE_SOCKET: socket, PWSYNC_HOOK_TIMEOUT_MS: '500' } });
  const impostor = async (dir: string, uid: number | undefined): Promise<Impostor> => {
    const i = await startImpostor(join(dir, 'capture.sock'), join(root, `log-${String(running.length)}`), uid);
    running.push(i);
    return i;
  };

  void test("another user listening in the agent's directory: connected to, given nothing", async () => {
    const dir = join(root, 'agent');
    mkdirSync(dir, { mode: 0o700 });
    const other = await impostor(dir, NOBODY);
    const r = hook(join(dir, 'capture.sock'));
    assert.equal(r.status, 1);
    assert.doesNotMatch(r.stdout, /DONE-EXIT/);
    assert.equal(other.connections(), 1);
    assert.deepEqual(other.received(), Buffer.alloc(0));
    await other.stop();
  });

  void test('root listening in a directory others can write: not even connected to', async () => {
    const dir = join(root, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const planted = await impostor(dir, undefined);
    const r = hook(join(dir, 'capture.sock'));
    assert.equal(r.status, 1);
    assert.match(r.stdout, /writable by others/);
    assert.equal(planted.connections(), 0);
    assert.deepEqual(planted.received(), Buffer.alloc(0));
    await planted.stop();
  });

  void test("root listening in root's own directory is sent the LDIF (the checks let the agent through)", async () => {
    const dir = join(root, 'root');
    mkdirSync(dir, { mode: 0o700 });
    const agent = await impostor(dir, undefined);
    const r = hook(join(dir, 'capture.sock'));
    assert.equal(r.status, 1, 'no answer comes: the hook gives up after its timeout');
    assert.ok(agent.received().includes(Buffer.from('sAMAccountName: jdoe')));
    await agent.stop();
  });
});
