import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { Secret } from '../../src/core/secret.ts';
import { EVENT, type EventCode } from '../../src/core/events.ts';
import { sha256Hex } from '../support/connectors/memory/index.ts';
import { importSystem } from '../../src/sync/importer.ts';
import { submitChange, submitChanges, type ChangeRequest } from '../../src/sync/submit-change.ts';
import type { Store } from '../../src/store/port.ts';
import { eventually, startEngine, type Engine, type TestSystem } from '../support/engine.ts';

const PEOPLE = {
  '1': { login: 'alice', mail: 'alice@example.org', name: 'Alice' },
  '2': { login: 'bob', mail: 'bob@example.org', name: 'Bob' },
  '3': { login: 'zoe', mail: 'zoe@example.org', name: 'Zoë' },
};

function systems(overrides: Partial<Record<'apps' | 'legacy' | 'hr', Partial<TestSystem>>> = {}): TestSystem[] {
  return [
    { name: 'hr', source: { accountAttribute: 'login' }, import: { anchor: 'id' }, memory: { accounts: PEOPLE }, ...overrides.hr },
    {
      name: 'apps',
      import: { anchor: 'id' },
      join: [{ person: 'mail', account: 'email', match: 'caseInsensitive' }],
      password: { sync: true, retry: { count: 2, interval: '60s' } },
      memory: { accounts: { a1: { email: 'ALICE@example.org' }, a2: { email: 'bob@example.org' }, a3: { email: 'zoe@example.org' } } },
      ...overrides.apps,
    },
    {
      name: 'legacy',
      import: { anchor: 'id' },
      join: [{ person: 'login', account: 'user', match: 'normalized' }],
      password: { sync: true },
      memory: { accounts: { l1: { user: 'Alice' }, l3: { user: 'Zoe' }, l9: { user: 'svc-backup' } } },
      ...overrides.legacy,
    },
  ];
}

async function imported(list: TestSystem[] = systems()): Promise<Engine> {
  const engine = await startEngine(list);
  for (const s of ['hr', 'apps', 'legacy']) if (list.some((x) => x.name === s)) await importSystem(engine.ctx, s);
  return engine;
}

function change(account: string, password: string, changedAt: number, extra: Partial<ChangeRequest> = {}): ChangeRequest {
  return { sourceSystem: 'hr', account: { name: account }, secret: Secret.fromString(password), changedAt, origin: 'source', actor: 'test', ...extra };
}

async function codes(engine: Engine, filter: { changeId?: string } = {}): Promise<EventCode[]> {
  return (await engine.store.listEvents({ limit: 1000, ...filter })).map((e) => e.code);
}

async function settled(engine: Engine, changeId: string): Promise<void> {
  await eventually(async () => (await engine.store.listJobs({ changeId, states: ['pending', 'in_progress'], limit: 100 })).length === 0, 5000, `jobs of ${changeId}`);
}

describe('import and join', () => {
  test('the source projects persons; targets join by ordered rules; unmatched accounts stay unlinked', async () => {
    const engine = await imported();
    try {
      const counts = await engine.store.counts();
      assert.equal(counts.persons, 3);
      assert.equal(counts.accounts, 9);
      assert.equal(counts.links, 8); // svc-backup joins no one and legacy does not project
      const [alice] = await engine.store.searchPersons({ text: 'alice@example.org', limit: 5 });
      assert.deepEqual(alice?.accounts.map((a) => `${a.system}/${a.anchor}`).sort(), ['apps/a1', 'hr/1', 'legacy/l1']);
      const zoe = (await engine.store.getAccount('legacy', 'l3'))?.personId;
      assert.equal(zoe, (await engine.store.getAccount('hr', '3'))?.personId);
    } finally {
      await engine.close();
    }
  });

  test('an ambiguous match links nothing and warns (7020)', async () => {
    const engine = await imported(
      systems({ legacy: { join: [{ person: 'name', account: 'user', match: 'exact' }], memory: { accounts: { l1: { user: 'Alice' } } } }, hr: { memory: { accounts: { ...PEOPLE, '4': { login: 'alice2', mail: 'a2@example.org', name: 'Alice' } } } } }),
    );
    try {
      assert.equal((await engine.store.getAccount('legacy', 'l1'))?.personId, null);
      const warnings = await engine.store.listEvents({ codes: [EVENT.AMBIGUOUS_JOIN], limit: 10 });
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.anchor, 'l1');
    } finally {
      await engine.close();
    }
  });

  test('an account removed from its system is unlinked (7021); re-import is stable', async () => {
    const engine = await imported();
    try {
      engine.connector('apps').removeAccount('a2');
      const report = await importSystem(engine.ctx, 'apps');
      assert.equal(report.removed, 1);
      assert.equal(await engine.store.getAccount('apps', 'a2'), undefined);
      assert.deepEqual(await codes(engine).then((c) => c.filter((x) => x === EVENT.ACCOUNT_UNLINKED)), [EVENT.ACCOUNT_UNLINKED]);
      const again = await importSystem(engine.ctx, 'apps');
      assert.equal(again.joined + again.projected + again.removed, 0);
      assert.equal((await engine.store.counts()).links, 7);
    } finally {
      await engine.close();
    }
  });
});

describe('the path of a change', () => {
  test('one job per target account is committed before the entry point answers, then delivered', async () => {
    const engine = await imported();
    try {
      const receipt = await submitChange(engine.ctx, change('ALICE', 'N3w-Pässwörd', engine.clock.now()));
      assert.deepEqual(receipt.jobs.map((j) => `${j.system}/${j.anchor}`).sort(), ['apps/a1', 'legacy/l1']);
      const pending = await engine.store.listJobs({ changeId: receipt.changeId, limit: 10 });
      assert.deepEqual(pending.map((j) => j.state.kind), ['pending', 'pending']);
      await engine.workers().start();
      await settled(engine, receipt.changeId);
      for (const [system, anchor] of [['apps', 'a1'], ['legacy', 'l1']] as const) {
        assert.deepEqual(engine.connector(system).deliveries.map((d) => [d.anchor, d.sha256]), [[anchor, sha256Hex('N3w-Pässwörd')]]);
      }
      assert.equal(engine.connector('hr').setCalls, 0, 'never written back to the source');
      const states = (await engine.store.listJobs({ changeId: receipt.changeId, limit: 10 })).map((j) => j.state.kind);
      assert.deepEqual(states, ['done', 'done']);
      assert.deepEqual((await codes(engine, { changeId: receipt.changeId })).sort(), [EVENT.CHANGE_ACCEPTED, EVENT.PASSWORD_SET, EVENT.PASSWORD_SET]);
      assert.deepEqual(await engine.store.sealedSecrets(), [], 'the secret is wiped when the last job ends');
      assert.ok((await engine.store.getAccount('apps', 'a1'))?.lastAppliedAt !== null);
    } finally {
      await engine.close();
    }
  });

  test('a system without password sync gets no job and event 6921', async () => {
    const engine = await imported(systems({ legacy: { password: { sync: false } } }));
    try {
      const receipt = await submitChange(engine.ctx, change('alice', 'pw-123456', engine.clock.now()));
      assert.deepEqual(receipt.jobs.map((j) => j.system), ['apps']);
      assert.deepEqual(receipt.notEnabled, [{ system: 'legacy', anchor: 'l1' }]);
      assert.ok((await codes(engine, { changeId: receipt.changeId })).includes(EVENT.SYNC_NOT_ENABLED));
    } finally {
      await engine.close();
    }
  });

  test('unknown source account and unknown system are clear errors', async () => {
    const engine = await imported();
    try {
      await assert.rejects(submitChange(engine.ctx, change('mallory', 'x-123456', engine.clock.now())), { code: 'ERR_UNKNOWN_ACCOUNT' });
      assert.ok((await codes(engine)).includes(EVENT.UNKNOWN_SOURCE_ACCOUNT));
      await assert.rejects(submitChange(engine.ctx, change('alice', 'x', engine.clock.now(), { sourceSystem: 'nope' })), { code: 'ERR_UNKNOWN_SYSTEM' });
      await assert.rejects(submitChange(engine.ctx, change('alice', 'x', engine.clock.now(), { sourceSystem: 'apps' })), { code: 'ERR_INVALID_INPUT' });
      await assert.rejects(submitChange(engine.ctx, change('alice', '', engine.clock.now())), { code: 'ERR_INVALID_INPUT' });
      await assert.rejects(submitChange(engine.ctx, change('alice', 'x', engine.clock.now() + 3_600_000)), { code: 'ERR_INVALID_INPUT' });
    } finally {
      await engine.close();
    }
  });

  test('named by anchor and name (an AD capture: objectGUID and sAMAccountName), the anchor wins and the name is the fallback', async () => {
    const engine = await imported();
    try {
      // The anchor of alice with the name of bob: a renamed account is still itself.
      const byAnchor = await submitChange(engine.ctx, change('bob', 'pw-anchor-1234', engine.clock.now(), { account: { anchor: '1', name: 'bob' } }));
      assert.equal(byAnchor.sourceAnchor, '1');
      // No account has this anchor (the source imported with another anchor): found by name.
      const byName = await submitChange(engine.ctx, change('zoe', 'pw-name-1234', engine.clock.now(), { account: { anchor: '0b9c1f4e-unknown', name: 'zoe' } }));
      assert.equal(byName.sourceAnchor, '3');
      // Neither: unknown (7007), and the message names both.
      await assert.rejects(
        submitChange(engine.ctx, change('x', 'pw-none-1234', engine.clock.now(), { account: { anchor: 'nope', name: 'mallory' } })),
        (e: unknown) => e instanceof Error && /anchor "nope" or login "mallory"/.test(e.message),
      );
    } finally {
      await engine.close();
    }
  });

  test('a change made here gets a time-ordered id (UUIDv7), as the agent gives its notifications', async () => {
    const engine = await imported();
    try {
      const ids: string[] = [];
      for (const who of ['alice', 'bob', 'zoe', 'alice']) ids.push((await submitChange(engine.ctx, change(who, `pw-${who}-1234`, engine.clock.now()))).changeId);
      for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      // Each id sorts after the one before: new rows land at the end of every index on change id.
      assert.deepEqual([...ids].sort(), ids);
    } finally {
      await engine.close();
    }
  });

  test('a replayed notification id is refused (7006)', async () => {
    const engine = await imported();
    try {
      await submitChange(engine.ctx, change('alice', 'pw-1234567', engine.clock.now(), { notificationId: 'n-1' }));
      await assert.rejects(submitChange(engine.ctx, change('alice', 'pw-1234567', engine.clock.now(), { notificationId: 'n-1' })), { code: 'ERR_REPLAY' });
      assert.ok((await codes(engine)).includes(EVENT.CHANGE_REJECTED));
    } finally {
      await engine.close();
    }
  });
});

describe('a batch and the store', () => {
  /** The store with every call it is asked counted by name: one call is one round trip to its thread. */
  function counted(store: Store): { store: Store; calls: string[] } {
    const calls: string[] = [];
    const proxy = new Proxy(store, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(name));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return { store: proxy, calls };
  }

  test('costs one lookup and one commit, with every event it owes in that commit', async () => {
    const engine = await imported();
    try {
      const now = engine.clock.now();
      await submitChange(engine.ctx, change('bob', 'pw-first-1234', now - 10, { notificationId: 'n-seen' }));
      const before = (await engine.store.listEvents({ limit: 1000 })).length;
      const { store, calls } = counted(engine.store);
      const stale = { code: EVENT.CHANGE_REJECTED, system: 'hr', changeId: 'n-stale', message: 'the caller refused it (stale)' };
      const outcomes = await submitChanges(
        { ...engine.ctx, store },
        [
          change('alice', 'pw-alice-1234', now, { notificationId: 'n-alice' }),
          change('mallory', 'pw-nobody-1234', now, { notificationId: 'n-mallory' }),
          change('zoe', 'pw-zoe-1234', now, { account: { anchor: 'objectGUID-not-imported', name: 'zoe' }, notificationId: 'n-zoe' }),
          change('bob', 'pw-first-1234', now - 10, { notificationId: 'n-seen' }),
          change('alice', '', now, { notificationId: 'n-empty' }),
        ],
        { refused: [stale], invalid: (r, e) => ({ code: EVENT.CHANGE_REJECTED, system: r.sourceSystem, changeId: r.notificationId ?? '', message: `refused (invalid): ${e.message}` }) },
      );
      assert.deepEqual(outcomes.map((o) => o.kind), ['accepted', 'rejected', 'accepted', 'replay', 'rejected']);
      assert.deepEqual(calls, ['lookupSources', 'commitChanges']);
      const written = (await engine.store.listEvents({ limit: 1000 })).slice(before);
      const refusals = written.filter((e) => e.code !== EVENT.CHANGE_ACCEPTED).map((e) => [e.code, e.changeId]);
      assert.deepEqual(refusals, [
        [EVENT.CHANGE_REJECTED, 'n-stale'],
        [EVENT.UNKNOWN_SOURCE_ACCOUNT, null],
        [EVENT.CHANGE_REJECTED, 'n-seen'],
        [EVENT.CHANGE_REJECTED, 'n-empty'],
      ]);
      assert.deepEqual(written.filter((e) => e.code === EVENT.CHANGE_ACCEPTED).map((e) => e.changeId), ['n-alice', 'n-zoe']);
    } finally {
      await engine.close();
    }
  });

  test('a batch refused entirely before the store still records the caller\'s refusals, in one commit', async () => {
    const engine = await imported();
    try {
      const { store, calls } = counted(engine.store);
      const stale = { code: EVENT.CHANGE_REJECTED, system: 'hr', changeId: 'n-stale', message: 'stale' };
      assert.deepEqual(await submitChanges({ ...engine.ctx, store }, [], { refused: [stale] }), []);
      assert.deepEqual(await submitChanges({ ...engine.ctx, store }, []), []);
      assert.deepEqual(calls, ['commitChanges'], 'nothing owed, nothing asked');
      assert.deepEqual((await engine.store.listEvents({ codes: [EVENT.CHANGE_REJECTED], limit: 10 })).map((e) => e.changeId), ['n-stale']);
    } finally {
      await engine.close();
    }
  });
});

describe('event semantics', () => {
  const cases: { name: string; code: EventCode; apps: Partial<TestSystem> }[] = [
    { name: 'connector cannot set passwords', code: EVENT.SET_NOT_SUPPORTED, apps: { memory: { capabilities: ['import'], accounts: { a1: { email: 'alice@example.org' } } } } },
    { name: 'not configured on the target', code: EVENT.SYNC_NOT_CONFIGURED, apps: { memory: { failures: ['notConfigured'], accounts: { a1: { email: 'alice@example.org' } } } } },
    { name: 'account gone in the target', code: EVENT.ACCOUNT_NOT_FOUND, apps: { memory: { failures: ['notFound'], accounts: { a1: { email: 'alice@example.org' } } } } },
    { name: 'target policy refused it', code: EVENT.POLICY_REFUSED, apps: { memory: { minPasswordLength: 20, accounts: { a1: { email: 'alice@example.org' } } } } },
    { name: 'secure connection required but absent', code: EVENT.INSECURE_CONNECTION, apps: { memory: { secure: false, accounts: { a1: { email: 'alice@example.org' } } } } },
  ];
  for (const c of cases) {
    test(`${c.code}: ${c.name}, never retried`, async () => {
      const engine = await imported(systems({ apps: c.apps }));
      try {
        const receipt = await submitChange(engine.ctx, change('alice', 'short-pw', engine.clock.now()));
        await engine.workers().start();
        await settled(engine, receipt.changeId);
        const [job] = await engine.store.listJobs({ changeId: receipt.changeId, system: 'apps', limit: 1 });
        assert.ok(job?.state.kind === 'failed');
        assert.equal(job.state.event, c.code);
        assert.equal(job.attempts, 1);
        assert.ok((await codes(engine, { changeId: receipt.changeId })).includes(c.code));
        assert.equal((await engine.store.listEvents({ codes: [EVENT.RETRY_SCHEDULED], limit: 10 })).length, 0);
      } finally {
        await engine.close();
      }
    });
  }

  test('requireSecure: false delivers over an insecure connection', async () => {
    const engine = await imported(systems({ apps: { password: { sync: true, requireSecure: false }, memory: { secure: false, accounts: { a1: { email: 'alice@example.org' } } } } }));
    try {
      const receipt = await submitChange(engine.ctx, change('alice', 'pw-1234567', engine.clock.now()));
      await engine.workers().start();
      await settled(engine, receipt.changeId);
      assert.equal(engine.connector('apps').deliveries.length, 1);
    } finally {
      await engine.close();
    }
  });

  test('transient failures are retried per the system policy, then end in 7004', async () => {
    const engine = await imported(systems({ apps: { memory: { failures: ['transient', 'transient', 'transient'], accounts: { a1: { email: 'alice@example.org' } } } } }));
    try {
      const receipt = await submitChange(engine.ctx, change('alice', 'pw-1234567', engine.clock.now()));
      await engine.workers().start();
      const appsJob = async () => (await engine.store.listJobs({ changeId: receipt.changeId, system: 'apps', limit: 1 }))[0];
      for (let attempt = 1; attempt <= 2; attempt++) {
        await eventually(async () => (await appsJob())?.state.kind === 'retry_scheduled' && (await appsJob())?.attempts === attempt, 5000, `retry ${attempt}`);
        const job = await appsJob();
        assert.equal(job?.state.kind === 'retry_scheduled' ? job.state.nextAt : 0, engine.clock.now() + 60_000);
        assert.equal(await engine.store.nextRetryAt(), engine.clock.now() + 60_000);
        engine.clock.advance(60_000);
        engine.workers().wake();
      }
      await eventually(async () => (await appsJob())?.state.kind === 'failed', 5000, 'final failure');
      const job = await appsJob();
      assert.equal(job?.state.kind === 'failed' ? job.state.event : 0, EVENT.RETRIES_EXHAUSTED);
      assert.equal(job?.attempts, 3);
      assert.equal(engine.connector('apps').setCalls, 3);
      assert.deepEqual((await codes(engine, { changeId: receipt.changeId })).filter((c) => c === EVENT.RETRY_SCHEDULED || c === EVENT.RETRIES_EXHAUSTED), [EVENT.RETRY_SCHEDULED, EVENT.RETRY_SCHEDULED, EVENT.RETRIES_EXHAUSTED]);
    } finally {
      await engine.close();
    }
  });

  test('a transient failure followed by success ends done', async () => {
    const engine = await imported(systems({ apps: { memory: { failures: ['transient'], accounts: { a1: { email: 'alice@example.org' } } } } }));
    try {
      const receipt = await submitChange(engine.ctx, change('alice', 'pw-1234567', engine.clock.now()));
      await engine.workers().start();
      await eventually(async () => (await engine.store.listJobs({ changeId: receipt.changeId, states: ['retry_scheduled'], limit: 1 })).length === 1);
      engine.clock.advance(60_000);
      engine.workers().wake();
      await eventually(async () => (await engine.store.listJobs({ changeId: receipt.changeId, states: ['done'], limit: 5 })).length === 2);
      assert.deepEqual(await engine.store.sealedSecrets(), []);
    } finally {
      await engine.close();
    }
  });
});

describe('ordering by change time', () => {
  test('a newer change supersedes a pending older one; only the newest is delivered', async () => {
    const engine = await imported();
    try {
      const t = engine.clock.now();
      const older = await submitChange(engine.ctx, change('alice', 'older-pw-1', t - 2000));
      const newer = await submitChange(engine.ctx, change('alice', 'newer-pw-2', t - 1000));
      assert.equal(newer.superseded.length, 2);
      const olderJobs = await engine.store.listJobs({ changeId: older.changeId, limit: 10 });
      assert.deepEqual(olderJobs.map((j) => j.state.kind), ['superseded', 'superseded']);
      await engine.workers().start();
      await settled(engine, newer.changeId);
      assert.deepEqual(engine.connector('apps').deliveries.map((d) => d.sha256), [sha256Hex('newer-pw-2')]);
      assert.ok((await codes(engine)).includes(EVENT.SUPERSEDED));
      assert.deepEqual(await engine.store.sealedSecrets(), []);
    } finally {
      await engine.close();
    }
  });

  test('a change older than what was applied is dropped with 6919', async () => {
    const engine = await imported();
    try {
      const t = engine.clock.now();
      await engine.workers().start();
      const newer = await submitChange(engine.ctx, change('alice', 'newer-pw-2', t - 1000));
      await settled(engine, newer.changeId);
      const older = await submitChange(engine.ctx, change('alice', 'older-pw-1', t - 5000));
      assert.equal(older.jobs.length, 0);
      assert.equal(older.outOfDate.length, 2);
      assert.deepEqual((await codes(engine, { changeId: older.changeId })).filter((c) => c === EVENT.TIMESTAMP_OUT_OF_DATE), [EVENT.TIMESTAMP_OUT_OF_DATE, EVENT.TIMESTAMP_OUT_OF_DATE]);
      assert.deepEqual(engine.connector('apps').deliveries.map((d) => d.sha256), [sha256Hex('newer-pw-2')]);
    } finally {
      await engine.close();
    }
  });
});

describe('crash recovery', () => {
  test('a job in progress when the process died is delivered after restart (7011)', async () => {
    const first = await imported();
    let engine = first;
    try {
      const receipt = await submitChange(engine.ctx, change('alice', 'pw-after-crash', engine.clock.now()));
      // A worker claims the jobs and dies before finishing them.
      const claimed = await engine.store.claimJobs('dead-worker', engine.clock.now(), 10);
      assert.equal(claimed.length, 2);
      engine = await engine.restart();
      await engine.workers().start();
      await settled(engine, receipt.changeId);
      assert.deepEqual((await engine.store.listJobs({ changeId: receipt.changeId, limit: 10 })).map((j) => j.state.kind), ['done', 'done']);
      assert.equal((await engine.store.listEvents({ codes: [EVENT.JOB_RECOVERED], limit: 10 })).length, 2);
      assert.equal(engine.connector('legacy').deliveries.length, 1);
    } finally {
      await engine.close();
      await rm(first.dir, { recursive: true, force: true });
    }
  });
});

describe('the worker loop', () => {
  test('with every worker busy it sleeps instead of spinning', async () => {
    const engine = await imported();
    try {
      const apps = engine.connector('apps');
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const set = apps.setPassword?.bind(apps);
      assert.ok(set);
      apps.setPassword = async (anchor, secret, options) => {
        await gate;
        return set(anchor, secret, options);
      };
      // Two workers, two deliveries that hang: every slot busy, and more jobs waiting.
      const workers = engine.workers();
      (engine.config.server as { workers: number }).workers = 2;
      let polls = 0;
      const dataVersion = engine.store.dataVersion.bind(engine.store);
      engine.store.dataVersion = () => {
        polls++;
        return dataVersion();
      };
      for (const who of ['alice', 'bob', 'zoe']) await submitChange(engine.ctx, change(who, `pw-${who}-123`, engine.clock.now()));
      await workers.start();
      await eventually(async () => (await engine.store.listJobs({ states: ['in_progress'], limit: 10 })).length === 2);
      polls = 0;
      await new Promise((r) => setTimeout(r, 300));
      // pollInterval is 5 ms: about 60 looks in 300 ms; a spinning loop makes thousands.
      assert.ok(polls < 150, `${polls} polls in 300 ms`);
      release();
      await eventually(async () => (await engine.store.listJobs({ states: ['pending', 'in_progress'], limit: 10 })).length === 0);
    } finally {
      await engine.close();
    }
  });
});
