/*
 * The PAM tests run in a private host (test/support/private-host.ts): a run killed with SIGKILL
 * midway — no exit handler runs — leaves this host's users, groups, PAM stack and libpam's module
 * directory byte for byte as they were. The run is a fixture that changes them as the PAM tests do
 * (useradd, chpasswd, the real install-pam) and then waits to be killed. Runs as root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { findModuleDir } from '../../src/agent/pam/install.ts';

interface Inside {
  readonly user: string;
  readonly passwd: string;
  readonly shadow: string;
  readonly pam: string;
  readonly module: boolean;
  readonly devSocket: string;
  readonly devSocketThere: boolean;
}

const FIXTURE = fileURLToPath(new URL('../support/private-host-fixture.ts', import.meta.url));

/** Every byte that matters of the files the PAM tests change, and the module directory's listing. */
function snapshot(): Map<string, string> {
  const files = ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow', '/etc/passwd-', '/etc/shadow-', '/etc/group-', '/etc/gshadow-', '/var/log/lastlog', '/var/log/faillog'];
  for (const name of readdirSync('/etc/pam.d')) files.push(join('/etc/pam.d', name));
  const shot = new Map<string, string>();
  for (const file of files) {
    if (!existsSync(file)) continue;
    const st = statSync(file);
    shot.set(file, `${createHash('sha256').update(readFileSync(file)).digest('hex')} ${(st.mode & 0o7777).toString(8)} ${String(st.uid)}:${String(st.gid)} ${String(st.size)}`);
  }
  const moduleDir = findModuleDir();
  shot.set(moduleDir, readdirSync(moduleDir).sort().join(' '));
  shot.set('/etc/pam.d (entries)', readdirSync('/etc/pam.d').sort().join(' '));
  shot.set(`${tmpdir()} (private host stages)`, readdirSync(tmpdir()).filter((n) => n.startsWith('pwsync-private-host.')).join(' '));
  return shot;
}

void describe('the PAM tests\' private host', () => {
  assert.equal(process.getuid?.(), 0, 'mounts in namespaces of its own: run as root');

  void test('a run killed with SIGKILL midway leaves the host\'s /etc/passwd, shadow, group, pam.d and module directory byte-identical', async () => {
    const before = snapshot();
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // Every process of the run holds its standard output: it closes when the last one is gone.
    const closed = new Promise<void>((resolve) => child.stdout.once('close', () => resolve()));
    const inside = await new Promise<Inside>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] ?? '') as Inside);
      });
      child.once('exit', (code) => reject(new Error(`the fixture exited (${String(code)}): ${stderr}`)));
    });
    // Inside, everything was changed ...
    const now = snapshot();
    assert.notEqual(inside.passwd, now.get('/etc/passwd')?.split(' ')[0], 'the fixture added a user inside');
    assert.notEqual(inside.shadow, now.get('/etc/shadow')?.split(' ')[0]);
    assert.notEqual(inside.pam, now.get('/etc/pam.d/common-password')?.split(' ')[0], 'install-pam changed the PAM file inside');
    assert.equal(inside.module, true, 'install-pam installed the module inside');
    assert.equal(inside.devSocketThere, true, 'the socket in /dev is there inside');
    assert.equal(existsSync(inside.devSocket), false, '/dev out here has no socket of the run');
    // ... and out here nothing, even while it runs.
    assert.deepEqual(now, before);
    assert.equal(readFileSync('/etc/passwd', 'utf8').includes(`${inside.user}:`), false);

    child.kill('SIGKILL');
    await closed;
    assert.deepEqual(snapshot(), before, 'byte-identical after the killed run');
    assert.equal(readFileSync('/etc/passwd', 'utf8').includes(`${inside.user}:`), false);
    assert.equal(existsSync(inside.devSocket), false);
  });
});
