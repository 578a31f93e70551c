/*
 * install-pam's file handling on files of its own, in a directory tree that is root's alone, under
 * /var/lib: not under /tmp, which is writable by everyone (the checks refuse it, rightly), nor under
 * the checkout, which may itself lie below /tmp (a CI clone). Runs as root, as the module must be
 * installed root:root.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { isPwsyncError, type ErrorCode } from '../../core/errors.ts';
import { PAM_MARKER } from './config-edit.ts';
import { findModuleDir, installPam, uninstallPam } from './install.ts';
import { runInPrivateHost } from '../../../test/support/private-host.ts';
import { makeRootOnlyDir, removeRootOnlyDir } from '../../../test/support/root-only-dir.ts';

/** Every directory above it is root's and 0755 on Debian. */

// It touches only files of its own, but it runs as root next to libpam's module directory: in a
// private copy of that directory and of /etc, so that a mistake here cannot reach the host's.
await runInPrivateHost(import.meta.url);

const STACK = 'password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\npassword\trequisite\t\t\tpam_deny.so\npassword\trequired\t\t\tpam_permit.so\n# end of pam-auth-update config\n';

async function refusal(p: Promise<unknown>): Promise<ErrorCode> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(isPwsyncError(e), `expected a PwsyncError, got ${inspect(e)}`);
  return e.code;
}

void describe('install-pam on files', () => {
  assert.equal(process.getuid?.(), 0, 'the module is installed root:root: run as root');
  let root = '';
  let pamDir = '';
  let pamFile = '';
  let moduleDir = '';
  let built = '';
  before(async () => {
    root = await makeRootOnlyDir('pam-install-');
    pamDir = join(root, 'pam.d');
    moduleDir = join(root, 'security');
    await mkdir(pamDir, { mode: 0o755 });
    await mkdir(moduleDir, { mode: 0o755 });
    pamFile = join(pamDir, 'common-password');
    await writeFile(pamFile, STACK, { mode: 0o640 });
    built = join(root, 'built.so');
    await writeFile(built, 'not really a module', { mode: 0o700 });
  });
  after(() => removeRootOnlyDir(root));

  void test('installs the module root:root 0644 and the line by full path, with a backup of the same mode', async () => {
    const report = await installPam({ pamFile, moduleDir, builtModule: built, socket: '/run/agent.sock', timeoutMs: 500 });
    const module = await stat(join(moduleDir, 'pam_pwsync.so'));
    assert.deepEqual([module.uid, module.gid, module.mode & 0o7777], [0, 0, 0o644]);
    assert.equal(await readFile(join(moduleDir, 'pam_pwsync.so'), 'utf8'), 'not really a module');
    const line = `password optional ${join(moduleDir, 'pam_pwsync.so')} socket=/run/agent.sock timeout=500`;
    assert.equal(report.line, line);
    assert.equal(await readFile(pamFile, 'utf8'), `${STACK}${PAM_MARKER}\n${line}\n`);
    assert.equal((await stat(pamFile)).mode & 0o7777, 0o640);
    assert.ok(report.backup !== undefined);
    assert.equal(await readFile(report.backup, 'utf8'), STACK);
    assert.equal((await stat(report.backup)).mode & 0o7777, 0o640);
    assert.deepEqual((await readdir(pamDir)).filter((n) => n.includes('pwsync-tmp')), [], 'no temporary file left');
  });

  void test('again: nothing changes and no backup is made; --dry-run shows a change and makes none', async () => {
    const before = await readdir(pamDir);
    const again = await installPam({ pamFile, moduleDir, builtModule: built, socket: '/run/agent.sock', timeoutMs: 500 });
    assert.equal(again.backup, undefined);
    assert.equal(again.diff, '');
    assert.deepEqual(await readdir(pamDir), before);
    const text = await readFile(pamFile, 'utf8');
    const dry = await installPam({ pamFile, moduleDir, builtModule: built, socket: '/run/agent.sock', timeoutMs: 900, dryRun: true });
    assert.match(dry.diff, /^\+ password optional .* timeout=900$/m);
    assert.match(dry.diff, /^- password optional .* timeout=500$/m);
    assert.equal(await readFile(pamFile, 'utf8'), text);
    assert.deepEqual(await readdir(pamDir), before);
  });

  void test('uninstall gives back the exact bytes; the module is not removed while another file names it', async () => {
    const other = join(pamDir, 'other-service');
    await writeFile(other, `password optional ${join(moduleDir, 'pam_pwsync.so')}\n`);
    assert.equal(await refusal(uninstallPam({ pamFile, moduleDir, removeModule: true })), 'ERR_PAM_MODULE_IN_USE');
    await rm(other);
    const report = await uninstallPam({ pamFile, moduleDir, removeModule: true });
    assert.equal(report.removedLines, 2);
    assert.equal(await readFile(pamFile, 'utf8'), STACK);
    assert.equal((await stat(pamFile)).mode & 0o7777, 0o640);
    assert.deepEqual(await readdir(moduleDir), []);
    const none = await uninstallPam({ pamFile, moduleDir });
    assert.deepEqual([none.removedLines, none.backup], [0, undefined]);
  });

  void test('refused: a module directory or PAM file that is not root\'s alone, an unbuilt module', async () => {
    await chmod(moduleDir, 0o775);
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: built })), 'ERR_NOT_ROOT_ONLY');
    await chmod(moduleDir, 0o757);
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: built })), 'ERR_NOT_ROOT_ONLY');
    await chmod(moduleDir, 0o755);
    await chown(moduleDir, 65534, 65534);
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: built })), 'ERR_NOT_ROOT_ONLY');
    await chown(moduleDir, 0, 0);
    await chown(pamFile, 65534, 0);
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: built })), 'ERR_NOT_ROOT_ONLY');
    await chown(pamFile, 0, 0);
    await chmod(pamDir, 0o775);
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: built })), 'ERR_NOT_ROOT_ONLY');
    assert.equal(await refusal(uninstallPam({ pamFile, moduleDir })), 'ERR_NOT_ROOT_ONLY');
    await chmod(pamDir, 0o755);
    // Everything under /tmp is below a directory everyone can write.
    assert.equal(await refusal(installPam({ pamFile, moduleDir: '/tmp', builtModule: built })), 'ERR_NOT_ROOT_ONLY');
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: join(root, 'missing.so') })), 'ERR_PAM_MODULE_NOT_BUILT');
    assert.equal(await readFile(pamFile, 'utf8'), STACK, 'nothing was changed by a refusal');
    assert.deepEqual(await readdir(moduleDir), []);
  });

  void test('refused: a module to copy that is not root\'s alone (group- or world-writable, another owner, in a world-writable directory); a root 0755 one is taken', async () => {
    const source = join(root, 'source.so');
    await writeFile(source, 'a module someone could swap', { mode: 0o755 });
    const attempt = (): Promise<unknown> => installPam({ pamFile, moduleDir, builtModule: source });
    for (const mode of [0o775, 0o757, 0o777]) {
      await chmod(source, mode);
      assert.equal(await refusal(attempt()), 'ERR_NOT_ROOT_ONLY', `mode ${mode.toString(8)}`);
    }
    await chmod(source, 0o755);
    await chown(source, 65534, 0);
    assert.equal(await refusal(attempt()), 'ERR_NOT_ROOT_ONLY');
    await chown(source, 0, 0);
    const open = join(root, 'open');
    await mkdir(open, { mode: 0o777 });
    await chmod(open, 0o777);
    const inOpen = join(open, 'pam_pwsync.so');
    await writeFile(inOpen, 'a module in a directory everyone can write', { mode: 0o755 });
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: inOpen })), 'ERR_NOT_ROOT_ONLY');
    assert.equal(await refusal(installPam({ pamFile, moduleDir, builtModule: inOpen, dryRun: true })), 'ERR_NOT_ROOT_ONLY', 'a dry run says so too');
    assert.equal(await readFile(pamFile, 'utf8'), STACK, 'nothing was changed by a refusal');
    assert.deepEqual(await readdir(moduleDir), []);
    await installPam({ pamFile, moduleDir, builtModule: source });
    assert.equal(await readFile(join(moduleDir, 'pam_pwsync.so'), 'utf8'), 'a module someone could swap');
    await uninstallPam({ pamFile, moduleDir, removeModule: true });
  });

  void test("libpam's module directory is the one with pam_unix.so, and a module there is named without its path", async () => {
    const dir = findModuleDir();
    await stat(join(dir, 'pam_unix.so'));
    const dry = await installPam({ pamFile, moduleDir: dir, builtModule: built, dryRun: true });
    assert.match(dry.line, /^password optional pam_pwsync\.so$/);
  });
});
