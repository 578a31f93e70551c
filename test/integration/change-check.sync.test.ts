import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PasswordRefusedError } from '../../src/core/errors.ts';
import { EVENT } from '../../src/core/events.ts';
import { Secret } from '../../src/core/secret.ts';
import { checkChange, whyNoTarget } from '../../src/sync/check-password.ts';
import { importSystem } from '../../src/sync/importer.ts';
import { submitChange, type ChangeRequest } from '../../src/sync/submit-change.ts';
import { sha256Hex } from '../support/connectors/memory/index.ts';
import { eventually, startEngine, type Engine, type TestSystem } from '../support/engine.ts';

// Issue 17, item 4: a password pwsync is asked to set (`pwsync change`, later the helpdesk) is
// checked before anything is committed. Alice has an account in `apps` (a policy) and in `legacy`
// (none): a password `apps` refuses used to be committed, set on `legacy` and refused by `apps`
// (6927), and her two passwords differed.

const POLICY = { minLength: 12, classes: { require: ['digit' as const] } };

const SYSTEMS: TestSystem[] = [
  { name: 'hr', source: { accountAttribute: 'login' }, import: { anchor: 'id' }, memory: { accounts: { '1': { login: 'alice', mail: 'alice@example.org' } } } },
  {
    name: 'apps',
    import: { anchor: 'id' },
    join: [{ person: 'mail', account: 'email', match: 'caseInsensitive' }],
    password: { sync: true, policy: POLICY },
    memory: { accounts: { a1: { email: 'alice@example.org' } } },
  },
  { name: 'legacy', import: { anchor: 'id' }, join: [{ person: 'login', account: 'user' }], password: { sync: true }, memory: { accounts: { l1: { user: 'alice' } } } },
];

async function imported(): Promise<Engine> {
  const engine = await startEngine(SYSTEMS);
  for (const s of SYSTEMS) await importSystem(engine.ctx, s.name);
  return engine;
}

function request(engine: Engine, secret: Secret): ChangeRequest {
  return { sourceSystem: 'hr', account: { name: 'alice' }, secret, changedAt: engine.clock.now(), origin: 'admin', actor: 'cli:test' };
}

/** What the store holds besides the import: the events of the changes, the jobs, the sealed secrets. */
async function committed(engine: Engine): Promise<{ codes: number[]; jobs: number; secrets: number }> {
  const events = await engine.store.listEvents({ limit: 1000 });
  const codes = events.map((e) => e.code).filter((c) => c !== EVENT.IMPORT_COMPLETED);
  const jobs = (await engine.store.listJobs({ limit: 1000 })).length;
  return { codes, jobs, secrets: (await engine.store.sealedSecrets()).length };
}

describe('a change pwsync is asked to make is checked before it is committed', () => {
  test("a password one target's policy refuses commits nothing and names the target and the rule", async () => {
    const engine = await imported();
    const secret = Secret.fromString('short-pw');
    try {
      const refusal = await checkChange(engine.ctx, request(engine, secret), { partial: false }).then(
        () => assert.fail('the change was let through'),
        (e: unknown) => e,
      );
      assert.ok(refusal instanceof PasswordRefusedError, String(refusal));
      assert.equal(refusal.code, 'ERR_PASSWORD_REFUSED');
      assert.deepEqual(refusal.refusals, [{ system: 'apps', rules: ['minLength', 'classes.require'] }]);
      assert.match(refusal.message, /system "apps".*\(minLength\).*\(classes\.require\)/);
      // No change, no job, no delivery event: only the refusal itself, on the target it names.
      assert.deepEqual(await committed(engine), { codes: [EVENT.PASSWORD_REFUSED], jobs: 0, secrets: 0 });
      const [event] = await engine.store.listEvents({ codes: [EVENT.PASSWORD_REFUSED], limit: 10 });
      assert.equal(event?.system, 'apps');
      assert.equal(event.anchor, 'a1');
      assert.ok(!event.message.includes('short-pw'));
      assert.equal(engine.connector('legacy').setCalls, 0);
    } finally {
      secret.dispose();
      await engine.close();
    }
  });

  test('an account the store does not know yet (it may be imported on arrival) is checked against every system with password sync', async () => {
    const engine = await imported();
    const weak = Secret.fromString('short-pw');
    const strong = Secret.fromString('A-long-enough-pw-2026');
    try {
      const newcomer = (secret: Secret): ChangeRequest => ({ ...request(engine, secret), account: { name: 'newcomer' } });
      const refusal = await checkChange(engine.ctx, newcomer(weak), { partial: false }).then(
        () => assert.fail('the change was let through unchecked'),
        (e: unknown) => e,
      );
      assert.ok(refusal instanceof PasswordRefusedError, String(refusal));
      assert.deepEqual(refusal.refusals, [{ system: 'apps', rules: ['minLength', 'classes.require'] }]);
      const checked = await checkChange(engine.ctx, newcomer(strong), { partial: false });
      assert.deepEqual([...(checked.sendOnlyTo?.systems ?? [])].sort(), ['apps', 'legacy']);
    } finally {
      weak.dispose();
      strong.dispose();
      await engine.close();
    }
  });

  test('with partial it is sent where it fits, and where it was not sent is said (7016)', async () => {
    const engine = await imported();
    const secret = Secret.fromString('short-pw');
    try {
      const receipt = await submitChange(engine.ctx, await checkChange(engine.ctx, request(engine, secret), { partial: true }));
      assert.deepEqual(receipt.jobs.map((j) => j.system), ['legacy']);
      assert.deepEqual(receipt.withheld.map((w) => [w.system, w.anchor]), [['apps', 'a1']]);
      assert.match(receipt.withheld[0]?.reason ?? '', /\(minLength\)/);
      assert.equal(whyNoTarget(receipt, 'hr'), undefined);
      const events = await engine.store.listEvents({ changeId: receipt.changeId, limit: 100 });
      assert.deepEqual(events.filter((e) => e.code === EVENT.NOT_SENT).map((e) => e.system), ['apps']);
      const workers = engine.workers();
      await workers.start();
      await eventually(async () => (await engine.store.listJobs({ changeId: receipt.changeId, states: ['done'], limit: 10 })).length === 1, 5000, 'legacy done');
      assert.deepEqual(engine.connector('legacy').deliveries.map((d) => d.sha256), [sha256Hex('short-pw')]);
      assert.equal(engine.connector('apps').setCalls, 0);
    } finally {
      secret.dispose();
      await engine.close();
    }
  });

  test('with partial, a password that fits no target is refused as without it', async () => {
    const engine = await startEngine(SYSTEMS.filter((s) => s.name !== 'legacy'));
    for (const s of ['hr', 'apps']) await importSystem(engine.ctx, s);
    const secret = Secret.fromString('short-pw');
    try {
      await assert.rejects(checkChange(engine.ctx, request(engine, secret), { partial: true }), PasswordRefusedError);
      assert.deepEqual(await committed(engine), { codes: [EVENT.PASSWORD_REFUSED], jobs: 0, secrets: 0 });
    } finally {
      secret.dispose();
      await engine.close();
    }
  });

  test('the form: not UTF-8, NUL, a control character, only white space, each refused and nothing committed', async () => {
    const engine = await imported();
    const cases: [string, Buffer, string][] = [
      ['Latin-1 bytes', Buffer.from('Caf\xe9-Long-pw-123', 'latin1'), 'utf8'],
      ['a NUL', Buffer.from('Long-enough-1\0tail', 'utf8'), 'control'],
      ['an escape', Buffer.from('Long-enough-1\x1b[2J', 'utf8'), 'control'],
      ['a C1 control', Buffer.from('Long-enough-1\u0085', 'utf8'), 'control'],
      ['spaces only', Buffer.from('              ', 'utf8'), 'blank'],
      ['ideographic and no-break spaces only', Buffer.from('\u3000\u00a0\u3000\u00a0\u3000\u00a0\u3000\u00a0\u3000\u00a0\u3000\u00a0', 'utf8'), 'blank'],
    ];
    try {
      for (const [what, bytes, rule] of cases) {
        const secret = Secret.fromBytes(bytes);
        try {
          const refusal = await checkChange(engine.ctx, request(engine, secret), { partial: true }).then(
            () => assert.fail(`${what} was let through`),
            (e: unknown) => e,
          );
          assert.ok(refusal instanceof PasswordRefusedError, `${what}: ${String(refusal)}`);
          assert.deepEqual(refusal.refusals, [{ rules: [rule] }], what);
        } finally {
          secret.dispose();
        }
      }
      const state = await committed(engine);
      assert.equal(state.jobs, 0);
      assert.equal(state.secrets, 0);
      assert.deepEqual(new Set(state.codes), new Set([EVENT.PASSWORD_REFUSED]));
      // A space inside a password, and a letter with spaces around it, are fine.
      const fine = Secret.fromString(' Long enough 1 ');
      try {
        const receipt = await submitChange(engine.ctx, await checkChange(engine.ctx, request(engine, fine), { partial: false }));
        assert.deepEqual(receipt.jobs.map((j) => j.system).sort(), ['apps', 'legacy']);
      } finally {
        fine.dispose();
      }
    } finally {
      await engine.close();
    }
  });

  test('a target linked after the check is not sent a password never checked against its policy', async () => {
    const engine = await imported();
    const secret = Secret.fromString('Long-enough-pw-1');
    try {
      const checked = await checkChange(engine.ctx, request(engine, secret), { partial: false });
      // As if `apps` had been linked between the check and the commit.
      const stale = { ...checked, sendOnlyTo: { systems: new Set(['legacy']), withheld: new Map<string, string>() } };
      const receipt = await submitChange(engine.ctx, stale);
      assert.deepEqual(receipt.jobs.map((j) => j.system), ['legacy']);
      assert.match(receipt.withheld[0]?.reason ?? '', /not checked/);
    } finally {
      secret.dispose();
      await engine.close();
    }
  });
});
