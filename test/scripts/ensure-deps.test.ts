/*
 * scripts/ensure-deps.sh's Debian install leaves the host as it found it: the policy-rc.d that
 * keeps services from starting during the install is gone when the install ends, however it ends,
 * one that was there before is left byte for byte, and the traps of the script that sourced it
 * stay. apt-get is a fake of our own on PATH (it records what it saw and fails or is interrupted
 * on demand), and everything runs in a private mount namespace with a tmpfs over /usr/sbin: the
 * host's own /usr/sbin/policy-rc.d is never touched. Runs as root (mounts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));
const OTHERS = '#!/bin/sh\n# the administrator\'s own\nexit 0\n';

/** What the fake apt-get saw, and the state after the caller ended, all inside the namespace. */
interface Outcome {
  readonly status: number | null;
  readonly during: string;
  readonly policyExit: string;
  readonly after: string;
  readonly mode: string;
  readonly callerTrap: string;
  readonly output: string;
}

void describe('scripts/ensure-deps.sh: the policy-rc.d of an install', () => {
  assert.equal(process.getuid?.(), 0, 'mounts a tmpfs over /usr/sbin in a namespace of its own: run as root');
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pwsync-ensure-deps-'));
    // The fake apt-get: `update` does nothing; `install` records policy-rc.d as the install sees
    // it (and asks it, as invoke-rc.d does), then succeeds, fails or is interrupted.
    writeFileSync(
      join(dir, 'apt-get'),
      [
        '#!/bin/bash',
        '[ "$1" = update ] && exit 0',
        'cat /usr/sbin/policy-rc.d > "$OUT/during" 2>/dev/null || echo ABSENT > "$OUT/during"',
        '/usr/sbin/policy-rc.d slapd start >/dev/null 2>&1; echo $? > "$OUT/policy-exit"',
        'case "$FAKE_APT" in',
        '  fail) exit 100 ;;',
        // Ctrl-C at the terminal: SIGINT to the whole foreground process group.
        '  interrupt) kill -INT 0; sleep 5; exit 0 ;;',
        '  *) exit 0 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    chmodSync(join(dir, 'apt-get'), 0o755);
    // The caller, like scripts/test.sh: errexit, a trap of its own, then the install.
    writeFileSync(
      join(dir, 'caller.sh'),
      [
        'set -euo pipefail',
        'cd "$CHECKOUT"',
        '. scripts/ensure-deps.sh',
        'trap "echo caller-trap-ran" EXIT',
        'ensure_debian /nonexistent/pwsync-test-thing:pwsync-test-package',
        'trap -p EXIT > "$OUT/caller-trap"',
        '',
      ].join('\n'),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** One install in a namespace of its own, with `existing` at /usr/sbin/policy-rc.d first (or none). */
  const install = (name: string, existing: string | undefined, apt: 'ok' | 'fail' | 'interrupt'): Outcome => {
    const out = join(dir, name);
    const setup = [
      'set -eu',
      'mount -t tmpfs -o mode=0755 pwsync-test /usr/sbin',
      existing === undefined ? '' : 'printf %s "$EXISTING" > /usr/sbin/policy-rc.d; chmod 0750 /usr/sbin/policy-rc.d',
      'mkdir -p "$OUT"',
      // A process group of its own, as a shell at a terminal gives the command it runs.
      'set +e; setsid -w bash "$DIR/caller.sh" > "$OUT/output" 2>&1; echo $? > "$OUT/status"; set -e',
      'cat /usr/sbin/policy-rc.d > "$OUT/after" 2>/dev/null || echo ABSENT > "$OUT/after"',
      'stat -c %a /usr/sbin/policy-rc.d > "$OUT/mode" 2>/dev/null || echo - > "$OUT/mode"',
    ].join('\n');
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'bash', '-c', setup], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: `${dir}:/usr/bin:/bin`, OUT: out, DIR: dir, CHECKOUT, FAKE_APT: apt, EXISTING: existing ?? '' },
    });
    assert.equal(r.status, 0, `the namespace: ${r.stderr}`);
    const read = (f: string): string => spawnSync('cat', [join(out, f)], { encoding: 'utf8' }).stdout;
    return {
      status: Number(read('status').trim()),
      during: read('during'),
      policyExit: read('policy-exit').trim(),
      after: read('after'),
      mode: read('mode').trim(),
      callerTrap: read('caller-trap'),
      output: read('output'),
    };
  };

  void test('none before: one that says no (101) during the install, none after; the caller\'s trap stays', () => {
    const r = install('absent', undefined, 'ok');
    assert.equal(r.status, 0, r.output);
    assert.equal(r.policyExit, '101', 'services do not start during the install');
    assert.notEqual(r.during, 'ABSENT\n');
    assert.equal(r.after, 'ABSENT\n', 'no policy-rc.d is left on the host');
    assert.match(r.callerTrap, /caller-trap-ran/, "the sourcing script's EXIT trap is still its own");
    assert.match(r.output, /caller-trap-ran/);
  });

  void test('one before: left byte for byte, mode kept, and used as it is during the install', () => {
    const r = install('existing', OTHERS, 'ok');
    assert.equal(r.status, 0, r.output);
    assert.equal(r.during, OTHERS);
    assert.equal(r.after, OTHERS);
    assert.equal(r.mode, '750');
  });

  void test('the install fails: the caller stops (errexit) and policy-rc.d is gone', () => {
    const r = install('failed', undefined, 'fail');
    assert.notEqual(r.status, 0);
    assert.equal(r.policyExit, '101');
    assert.equal(r.after, 'ABSENT\n');
  });

  void test('the install is interrupted (SIGINT to the process group): policy-rc.d is gone', () => {
    const r = install('interrupted', undefined, 'interrupt');
    assert.notEqual(r.status, 0);
    assert.equal(r.policyExit, '101');
    assert.equal(r.after, 'ABSENT\n');
  });

  void test('one of ours that a killed run left (its marker line) is taken away by the next install', () => {
    const leftover = '#!/bin/sh\n# pwsync: installing packages; removed when the install ends\nexit 101\n';
    const r = install('leftover', leftover, 'ok');
    assert.equal(r.status, 0, r.output);
    assert.equal(r.after, 'ABSENT\n');
  });
});
