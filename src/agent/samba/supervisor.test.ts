/*
 * The supervisor runs the hook and the syncpasswords command as root: what anyone but root can
 * write is refused before anything runs. Real files and modes, as root, under /var/lib (every
 * directory above is root's and 0755 on Debian, unlike /tmp).
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isPwsyncError } from '../../core/errors.ts';
import { createLogger } from '../../log/logger.ts';
import { resolveSambaCapture, sambaCaptureSchema } from './config.ts';
import { SambaSupervisor } from './supervisor.ts';
import { makeRootOnlyDir, removeRootOnlyDir } from '../../../test/support/root-only-dir.ts';

const log = createLogger({ level: 'silent' });

void describe('the Samba supervisor runs only what is root\'s alone', () => {
  assert.equal(process.getuid?.(), 0, 'root-owned files are made: run as root');
  let root = '';
  let smbConf = '';
  before(async () => {
    root = await makeRootOnlyDir('samba-supervisor-');
    smbConf = join(root, 'smb.conf');
    await writeFile(smbConf, '[global]\n');
  });
  after(() => removeRootOnlyDir(root));

  const program = async (path: string, mode: number, text = '#!/bin/sh\nexit 0\n'): Promise<string> => {
    await writeFile(path, text, { mode });
    await chmod(path, mode);
    return path;
  };

  /** start() then stop(): undefined when it started, else the refusal's code and message. */
  const attempt = async (hook: string, command: readonly string[]): Promise<{ code: string; message: string } | undefined> => {
    const config = resolveSambaCapture(sambaCaptureSchema.parse({ smbConf, hook, command, wake: 'poll', cursor: join(root, 'cursor.ldb') }), { baseDir: root, dataDir: root, defaultSource: 'corp' });
    const supervisor = new SambaSupervisor({
      config,
      socketPath: join(root, 'capture.sock'),
      capture: { beginFirstPass: () => undefined, endFirstPass: () => undefined },
      store: { appendEvents: () => Promise.resolve() },
      log,
      now: Date.now,
    });
    try {
      await supervisor.start();
    } catch (e) {
      assert.ok(isPwsyncError(e), `expected a PwsyncError, got ${String(e)}`);
      return { code: e.code, message: e.message };
    } finally {
      await supervisor.stop();
    }
    return undefined;
  };

  void test('a group- or world-writable hook, or one owned by another user, is refused, naming it', async () => {
    const command = await program(join(root, 'syncpasswords'), 0o755);
    const hook = await program(join(root, 'hook'), 0o775);
    const group = await attempt(hook, [command]);
    assert.equal(group?.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(group.message.includes(hook) && group.message.includes('capture.samba.hook'), group.message);
    await chmod(hook, 0o757);
    assert.equal((await attempt(hook, [command]))?.code, 'ERR_NOT_ROOT_ONLY');
    await chmod(hook, 0o755);
    await chown(hook, 65534, 0);
    assert.equal((await attempt(hook, [command]))?.code, 'ERR_NOT_ROOT_ONLY');
    await chown(hook, 0, 0);
  });

  void test('a hook in a world-writable directory is refused', async () => {
    const command = await program(join(root, 'syncpasswords'), 0o755);
    const open = join(root, 'open');
    await mkdir(open, { recursive: true });
    await chmod(open, 0o777);
    const hook = await program(join(open, 'hook'), 0o755);
    const r = await attempt(hook, [command]);
    assert.equal(r?.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(r.message.includes(open), r.message);
  });

  void test('a writable syncpasswords command, its interpreter, or one found first on PATH in a writable directory, is refused', async () => {
    const hook = await program(join(root, 'hook'), 0o755);
    const command = await program(join(root, 'writable-command'), 0o775);
    const r = await attempt(hook, [command]);
    assert.equal(r?.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(r.message.includes(command) && r.message.includes('capture.samba.command'), r.message);
    const interpreter = await program(join(root, 'writable-python'), 0o777, '#!/bin/sh\n');
    const script = await program(join(root, 'script-command'), 0o755, `#!${interpreter}\n`);
    assert.equal((await attempt(hook, [script]))?.code, 'ERR_NOT_ROOT_ONLY');
    const open = join(root, 'open-path');
    await mkdir(open, { recursive: true });
    await chmod(open, 0o777);
    await program(join(open, 'samba-tool'), 0o755);
    const path = process.env['PATH'];
    process.env['PATH'] = `${open}:/usr/bin:/bin`;
    try {
      assert.equal((await attempt(hook, ['samba-tool', 'user']))?.code, 'ERR_NOT_ROOT_ONLY');
    } finally {
      process.env['PATH'] = path;
    }
  });

  void test('a root-owned 0755 hook and command in root-only directories are taken', async () => {
    const hook = await program(join(root, 'hook'), 0o755);
    const command = await program(join(root, 'syncpasswords'), 0o755);
    assert.equal(await attempt(hook, [command]), undefined);
  });
});
