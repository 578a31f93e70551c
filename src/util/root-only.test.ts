/*
 * The root-only check on real files and modes, as root (the files must be root's to be taken),
 * under /var/lib: every directory above is root's and 0755 on Debian, unlike /tmp.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isPwsyncError } from '../core/errors.ts';
import { checkRootOnly, findProgram } from './root-only.ts';
import { makeRootOnlyDir, removeRootOnlyDir } from '../../test/support/root-only-dir.ts';


function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(isPwsyncError(e), `expected a PwsyncError, got ${String(e)}`);
    return { code: e.code, message: e.message };
  }
  assert.fail('expected a refusal');
}

void describe('checkRootOnly and findProgram on real files', () => {
  assert.equal(process.getuid?.(), 0, 'root-owned files are made: run as root');
  let root = '';
  before(async () => {
    root = await makeRootOnlyDir('root-only-');
  });
  after(() => removeRootOnlyDir(root));

  const file = async (name: string, mode: number, text = '\x7fELF not really a program'): Promise<string> => {
    const path = join(root, name);
    await writeFile(path, text, { mode });
    await chmod(path, mode);
    return path;
  };

  void test('a root-owned 0755 file under root-only directories is taken', async () => {
    const path = await file('hook', 0o755);
    checkRootOnly(path, 'the hook');
    assert.equal(findProgram(path, 'the hook'), path);
  });

  void test('a group- or world-writable file is refused, naming the file and who can write it', async () => {
    const group = await file('group-writable', 0o775);
    const r = refusal(() => checkRootOnly(group, 'the hook'));
    assert.equal(r.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(r.message.includes(group) && r.message.includes('its group root (gid 0)'), r.message);
    const world = await file('world-writable', 0o757);
    const w = refusal(() => findProgram(world, 'the hook'));
    assert.equal(w.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(w.message.includes(world) && w.message.includes('everyone'), w.message);
  });

  void test('a file owned by another user is refused, naming the user', async () => {
    const path = await file('nobodys', 0o755);
    await chown(path, 65534, 65534);
    const r = refusal(() => checkRootOnly(path, 'the hook'));
    assert.equal(r.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(r.message.includes('uid 65534'), r.message);
  });

  void test('a root-only file in a world-writable directory is refused, naming the directory', async () => {
    const dir = join(root, 'open');
    await mkdir(dir);
    await chmod(dir, 0o777);
    const path = join(dir, 'hook');
    await writeFile(path, 'x', { mode: 0o755 });
    const r = refusal(() => checkRootOnly(path, 'the hook'));
    assert.equal(r.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(r.message.includes(`${path}: ${dir} is writable by`) && r.message.includes('everyone'), r.message);
    // The sticky bit does not make /tmp safe: anyone can create a name there before root does.
    assert.equal(refusal(() => checkRootOnly('/tmp', 'a directory')).code, 'ERR_NOT_ROOT_ONLY');
  });

  void test('symbolic links: the directory a link is in and the directories of its target both count', async () => {
    const good = await file('target', 0o755);
    const open = join(root, 'open-links');
    await mkdir(open);
    await chmod(open, 0o777);
    await symlink(good, join(open, 'link'));
    assert.equal(refusal(() => checkRootOnly(join(open, 'link'), 'the hook')).code, 'ERR_NOT_ROOT_ONLY');
    const bad = join(open, 'bad-target');
    await writeFile(bad, 'x', { mode: 0o755 });
    await symlink(bad, join(root, 'link-to-open'));
    assert.equal(refusal(() => checkRootOnly(join(root, 'link-to-open'), 'the hook')).code, 'ERR_NOT_ROOT_ONLY');
    await symlink(good, join(root, 'good-link'));
    checkRootOnly(join(root, 'good-link'), 'the hook');
  });

  void test('findProgram finds a bare name on PATH, checks it and the interpreter of its #! line', async () => {
    assert.match(findProgram('sh', 'the shell', '/usr/bin:/bin'), /^\/(usr\/)?bin\/sh$/);
    const interpreter = await file('interpreter', 0o775, '\x7fELF');
    const script = await file('script', 0o755, `#!${interpreter} -u\nprint("hello")\n`);
    const r = refusal(() => findProgram(script, 'the command'));
    assert.equal(r.code, 'ERR_NOT_ROOT_ONLY');
    assert.ok(r.message.includes(interpreter) && r.message.includes('#!'), r.message);
    await chmod(interpreter, 0o755);
    assert.equal(findProgram(script, 'the command'), script);
    assert.equal(findProgram('script', 'the command', `/nonexistent:${root}`), script);
    assert.equal(refusal(() => findProgram('no-such-program-here', 'the command', root)).code, 'ERR_INVALID_INPUT');
  });
});
