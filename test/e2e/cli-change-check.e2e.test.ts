import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.ts';
import { assertNoPasswords } from '../support/leaks.ts';
import { EVENT } from '../../src/core/events.ts';

// Issue 17, items 4 and 2, through the CLI on the demo: `change` checks the password before it
// commits anything, and a change that reaches no target says why and exits non-zero. The webapp
// target gets a policy; legacy has none, so a password webapp refuses used to be set on legacy
// alone, and the person's passwords differed.

const SHORT_PW = 'shortpw-xq';
const NUL_PW = 'Long-enough-e2e-1\0tail';
const ESC_PW = 'Long-enough-e2e-2\x1b[2J';
const FINE_PW = 'Fine-enough-e2e-pw-3';
const PASSWORDS = [SHORT_PW, 'Long-enough-e2e-1', 'Long-enough-e2e-2', FINE_PW];

describe('pwsync change checks before it commits, and says why it reaches no target', () => {
  let dir = '';
  let config = '';
  const outputs: Buffer[] = [];
  const cli = async (args: string[], input?: string | Buffer, configFile = config): Promise<CliResult> => {
    const r = await runCli([...args, '--config', configFile], input === undefined ? {} : { input });
    outputs.push(Buffer.from(r.stdout), Buffer.from(r.stderr));
    return r;
  };
  const jobs = async (): Promise<{ system: string }[]> => {
    const r = await cli(['queue', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim() === '' ? [] : (JSON.parse(r.stdout) as { system: string }[]);
  };
  const eventCodes = async (): Promise<number[]> => {
    const r = await cli(['events', '--json', '--limit', '1000']);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { code: number }).code);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-e2e-check-'));
    assert.equal((await runCli(['init', '--demo', dir])).code, 0);
    config = join(dir, 'pwsync.yaml');
    const yaml = await readFile(config, 'utf8');
    await writeFile(config, yaml.replace('      hash: argon2id\n', '      hash: argon2id\n      policy: { minLength: 14, classes: { require: [digit] } }\n'));
    await appendFile(join(dir, 'directory.csv'), '1006,erin,Erin,Ek,erin@example.org,Sales\n');
    const imported = await cli(['import']);
    assert.equal(imported.code, 0, imported.stderr);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a password that fails one target's policy commits nothing, and the refusal names the target and the rule", async () => {
    const before = await Promise.all([readFile(join(dir, 'targets', 'webapp.csv')), readFile(join(dir, 'targets', 'legacy.tsv'))]);
    const r = await cli(['change', 'alice', '--stdin'], `${SHORT_PW}\n`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /system "webapp".*\(minLength\).*\(classes\.require\)/);
    assert.match(r.stderr, /--partial/);
    assert.deepEqual(await jobs(), [], 'no job');
    const codes = await eventCodes();
    assert.ok(codes.includes(EVENT.PASSWORD_REFUSED));
    for (const code of [EVENT.CHANGE_ACCEPTED, EVENT.PASSWORD_SET, EVENT.POLICY_REFUSED, EVENT.NO_TARGETS]) assert.ok(!codes.includes(code), `no event ${code}`);
    const afterwards = await Promise.all([readFile(join(dir, 'targets', 'webapp.csv')), readFile(join(dir, 'targets', 'legacy.tsv'))]);
    assert.deepEqual(afterwards, before);
  });

  test('with --partial it is queued where it fits, and the output says where it was not sent', async () => {
    const r = await cli(['change', 'alice', '--stdin', '--partial'], `${SHORT_PW}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 target\(s\) queued/);
    assert.match(r.stdout, /not sent to webapp\/u-01: .*\(minLength\).*\(7016\)/);
    assert.deepEqual((await jobs()).map((j) => j.system), ['legacy']);
    assert.ok((await eventCodes()).includes(EVENT.NOT_SENT));
  });

  test('the form: NUL, a control character, only spaces, not UTF-8 are refused, nothing queued', async () => {
    const queued = (await jobs()).length;
    for (const input of [`${NUL_PW}\n`, `${ESC_PW}\n`, '                \n', Buffer.from('Caf\xe9-Long-e2e-pw-4\n', 'latin1')]) {
      const r = await cli(['change', 'bob', '--stdin', '--partial'], input);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /control character|white space|UTF-8/);
    }
    assert.equal((await jobs()).length, queued);
  });

  test('a change that reaches no target exits 6 and says why', async () => {
    // No account in another system.
    const erin = await cli(['change', 'erin', '--stdin'], `${FINE_PW}\n`);
    assert.equal(erin.code, 6, erin.stdout + erin.stderr);
    assert.match(erin.stderr, /has no account in another system/);
    // Every target out of date: a change older than the one just queued for bob.
    const bob = await cli(['change', 'bob', '--stdin'], `${FINE_PW}\n`);
    assert.equal(bob.code, 0, bob.stderr);
    const old = await cli(['change', 'bob', '--stdin', '--at', '2020-01-01T00:00:00Z'], `${FINE_PW}\n`);
    assert.equal(old.code, 6, old.stdout + old.stderr);
    assert.match(old.stderr, /a newer change is applied or pending at .*6919/);
    // Every target with password sync disabled: dave has an account in legacy alone.
    const disabled = join(dir, 'no-legacy.yaml');
    await writeFile(disabled, (await readFile(config, 'utf8')).replace('      sync: true\n      hash: sha512-crypt\n', '      sync: false\n      hash: sha512-crypt\n'));
    const dave = await cli(['change', 'dave', '--stdin', '--json'], `${FINE_PW}\n`, disabled);
    assert.equal(dave.code, 6, dave.stdout + dave.stderr);
    assert.match(dave.stderr, /password sync is not enabled on legacy\/503/);
    assert.match((JSON.parse(dave.stdout) as { reachedNoTarget: string }).reachedNoTarget, /not enabled/);
    // An unknown account: exit 3, as before.
    const mallory = await cli(['change', 'mallory', '--stdin'], `${FINE_PW}\n`);
    assert.equal(mallory.code, 3);
  });

  test('a source account linked to no person exits 6 and says to import', async () => {
    const other = await mkdtemp(join(tmpdir(), 'pwsync-e2e-check-unlinked-'));
    try {
      assert.equal((await runCli(['init', '--demo', other])).code, 0);
      const file = join(other, 'pwsync.yaml');
      await writeFile(file, (await readFile(file, 'utf8')).replace('    source: { accountAttribute: login }\n', '    source: { accountAttribute: login }\n    projection: false\n'));
      assert.equal((await cli(['import', 'directory'], undefined, file)).code, 0);
      const r = await cli(['change', 'alice', '--stdin'], `${FINE_PW}\n`, file);
      assert.equal(r.code, 6, r.stdout + r.stderr);
      assert.match(r.stderr, /is not linked to a person: run "pwsync import directory"/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  test('no password appears in any output, the store or the logs', async () => {
    await assertNoPasswords(dir, PASSWORDS, outputs, 'after the checks');
  });
});
