import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Secret } from '../../src/core/secret.ts';
import { sha256Hex } from '../support/connectors/memory/index.ts';
import { createLogger } from '../../src/log/logger.ts';
import { importSystem } from '../../src/sync/importer.ts';
import { submitChange } from '../../src/sync/submit-change.ts';
import { Workers } from '../../src/sync/workers.ts';
import { eventually, startEngine, type Engine, type TestSystem } from '../support/engine.ts';
import { EVENT } from '../../src/core/events.ts';

// A source and two targets: `apps` has a password policy, `legacy` none. The change reaches both,
// so each test also shows that one system's policy holds back no other system.

const PEOPLE = { '1': { login: 'alice', mail: 'alice@example.org' } };

function systems(policy: NonNullable<TestSystem['password']>['policy']): TestSystem[] {
  return [
    { name: 'hr', source: { accountAttribute: 'login' }, import: { anchor: 'id' }, memory: { accounts: PEOPLE } },
    {
      name: 'apps',
      import: { anchor: 'id' },
      join: [{ person: 'mail', account: 'email', match: 'caseInsensitive' }],
      password: { sync: true, retry: { count: 3, interval: '60s' }, policy },
      memory: { accounts: { a1: { email: 'alice@example.org' } } },
    },
    {
      name: 'legacy',
      import: { anchor: 'id' },
      join: [{ person: 'login', account: 'user' }],
      password: { sync: true },
      memory: { accounts: { l1: { user: 'alice' } } },
    },
  ];
}

async function imported(list: TestSystem[]): Promise<Engine> {
  const engine = await startEngine(list);
  for (const s of list) await importSystem(engine.ctx, s.name);
  return engine;
}

/** Submits a change for alice, runs `workers` until both of its jobs have ended, and returns its id. */
async function deliverChange(engine: Engine, password: string, workers: Workers = engine.workers()): Promise<string> {
  const receipt = await submitChange(engine.ctx, {
    sourceSystem: 'hr',
    account: { name: 'alice' },
    secret: Secret.fromString(password),
    changedAt: engine.clock.now(),
    origin: 'source',
    actor: 'test',
  });
  assert.equal(receipt.jobs.length, 2, 'one job for apps, one for legacy');
  await workers.start();
  const { changeId } = receipt;
  await eventually(async () => (await engine.store.listJobs({ changeId, states: ['pending', 'in_progress', 'retry_scheduled'], limit: 10 })).length === 0, 5000, 'jobs ended');
  return changeId;
}

describe('a system password policy, checked before delivery', () => {
  test('a refusal ends the job failed with 6927 at the first attempt, and the connector is never called', async () => {
    const engine = await imported(systems({ minLength: 12, classes: { require: ['digit'] } }));
    try {
      const changeId = await deliverChange(engine, 'short-pw');
      const [apps] = await engine.store.listJobs({ changeId, system: 'apps', limit: 1 });
      assert.ok(apps?.state.kind === 'failed', 'the apps job failed');
      assert.equal(apps.state.event, EVENT.POLICY_REFUSED);
      assert.equal(apps.attempts, 1, 'not retried');
      assert.equal(engine.connector('apps').setCalls, 0, 'the connector was never asked');
      assert.deepEqual(engine.connector('apps').deliveries, []);

      const events = await engine.store.listEvents({ changeId, limit: 100 });
      const refusals = events.filter((e) => e.code === EVENT.POLICY_REFUSED);
      assert.equal(refusals.length, 1);
      const [refusal] = refusals;
      assert.ok(refusal, 'a 6927 event');
      assert.equal(refusal.system, 'apps');
      assert.equal(refusal.anchor, 'a1');
      // The message names the system and each failed rule (read by people; the code is what tools match).
      assert.match(refusal.message, /^ERR_POLICY: .*system "apps".*\(minLength\).*\(classes\.require\)/);
      assert.equal(events.filter((e) => e.code === EVENT.RETRY_SCHEDULED || e.code === EVENT.RETRIES_EXHAUSTED).length, 0, 'no retry was scheduled');

      // The system without a policy got the password; then the secret was wiped.
      assert.deepEqual(engine.connector('legacy').deliveries.map((d) => [d.anchor, d.sha256]), [['l1', sha256Hex('short-pw')]]);
      assert.deepEqual(await engine.store.sealedSecrets(), [], 'the secret is wiped when the last job ends');
    } finally {
      await engine.close();
    }
  });

  test('a password within the policy is delivered', async () => {
    const engine = await imported(systems({ minLength: 12, maxBytes: 72, classes: { min: 3, require: ['digit'] }, forbiddenCharacters: '\'";:' }));
    try {
      const changeId = await deliverChange(engine, 'Long-enough-pw-1');
      const states = (await engine.store.listJobs({ changeId, limit: 10 })).map((j) => `${j.system}:${j.state.kind}`).sort();
      assert.deepEqual(states, ['apps:done', 'legacy:done']);
      assert.deepEqual(engine.connector('apps').deliveries.map((d) => d.sha256), [sha256Hex('Long-enough-pw-1')]);
    } finally {
      await engine.close();
    }
  });

  test('no event, job error or log line carries the password', async () => {
    const engine = await imported(systems({ minLength: 40, asciiOnly: true, forbiddenCharacters: '#', classes: { min: 4, of: ['lower', 'upper', 'digit', 'symbol'] } }));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    // Workers of their own, logging at the most detailed level into `lines`.
    const workers = new Workers({ ...engine.ctx, log: createLogger({ level: 'trace', destination: sink }) });
    const password = 'Zqé漢Xk#wv';
    try {
      const changeId = await deliverChange(engine, password, workers);
      await workers.stop(1000);
      const [apps] = await engine.store.listJobs({ changeId, system: 'apps', limit: 1 });
      assert.ok(apps?.state.kind === 'failed' && apps.state.event === EVENT.POLICY_REFUSED, 'refused by the policy');
      const texts = [
        ...(await engine.store.listEvents({ limit: 1000 })).map((e) => e.message),
        ...(await engine.store.listJobs({ changeId, limit: 10 })).map((j) => JSON.stringify(j.state)),
        ...lines,
      ];
      assert.ok(lines.some((l) => l.includes('delivery failed')), 'the refusal was logged');
      assert.ok(texts.some((t) => ['(minLength)', '(asciiOnly)', '(forbiddenCharacters: #)', '(classes.min)'].every((rule) => t.includes(rule))), 'the rules are named');
      const chars = Array.from(password);
      for (const text of texts) {
        assert.ok(!text.includes(password) && !text.includes(JSON.stringify(password).slice(1, -1)), `the password in: ${text}`);
        for (let i = 0; i + 3 <= chars.length; i++) assert.ok(!text.includes(chars.slice(i, i + 3).join('')), `part of the password in: ${text}`);
        for (const ch of ['é', '漢']) assert.ok(!text.includes(ch), `a character of the password in: ${text}`);
      }
    } finally {
      await workers.stop(1000);
      await engine.close();
    }
  });
});
