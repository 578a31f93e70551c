import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPwsyncError } from '../core/errors.ts';
import type { MemoryCapability } from '../../test/support/connectors/memory/index.ts';
import { startEngine, type Engine, type TestSystem } from '../../test/support/engine.ts';
import { importSystem, type ImportProgress } from './importer.ts';
import { EVENT } from '../core/events.ts';

const DELTA: readonly MemoryCapability[] = ['import', 'deltaImport', 'setPassword', 'verifyPassword'];

const PEOPLE = {
  '1': { login: 'alice', mail: 'alice@example.org' },
  '2': { login: 'bob', mail: 'bob@example.org' },
};

/** A projecting source and a joining target, both with delta import unless told otherwise. */
function systems(apps: Partial<TestSystem> = {}): TestSystem[] {
  return [
    { name: 'hr', source: { accountAttribute: 'login' }, import: { anchor: 'id' }, memory: { capabilities: DELTA, accounts: PEOPLE } },
    {
      name: 'apps',
      // One account per batch: changed and removed items interleave across many batches.
      import: { anchor: 'id', batchSize: 1 },
      join: [{ person: 'mail', account: 'email', match: 'caseInsensitive' }],
      password: { sync: true },
      memory: { capabilities: DELTA, accounts: { a1: { email: 'ALICE@example.org' }, a2: { email: 'bob@example.org' }, a3: { email: 'nobody@example.org' } } },
      ...apps,
    },
  ];
}

async function withEngine(fn: (engine: Engine) => Promise<void>, list: TestSystem[] = systems()): Promise<void> {
  const engine = await startEngine(list);
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

async function fullImports(engine: Engine): Promise<void> {
  for (const name of ['hr', 'apps']) assert.equal((await importSystem(engine.ctx, name)).mode, 'full');
}

async function personOf(engine: Engine, system: string, anchor: string): Promise<string | null | undefined> {
  return (await engine.store.getAccount(system, anchor))?.personId;
}

async function watermarkOf(engine: Engine, system: string): Promise<string | undefined> {
  return (await engine.store.getImportWatermark(system))?.watermark;
}

async function currentWatermark(engine: Engine, system: string): Promise<string> {
  const c = engine.connector(system);
  assert.ok(c.watermark);
  return c.watermark();
}

describe('importSystem: full and delta', () => {
  test('a full import stores the watermark taken before reading, so a delta reads what changed meanwhile', () =>
    withEngine(async (engine) => {
      await importSystem(engine.ctx, 'hr');
      assert.equal(await watermarkOf(engine, 'hr'), await currentWatermark(engine, 'hr'));
      const apps = engine.connector('apps');
      const before = await currentWatermark(engine, 'apps');
      let added = false;
      // Once the first batch is in, an account appears in the system: the running import misses it.
      const report = await importSystem(engine.ctx, 'apps', () => {
        if (!added) apps.putAccount('a9', { email: 'bob@example.org' });
        added = true;
      });
      assert.equal(report.read, 3);
      assert.equal(await engine.store.getAccount('apps', 'a9'), undefined);
      assert.deepEqual(await engine.store.getImportWatermark('apps'), { watermark: before, at: engine.clock.now() });
      const delta = await importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' });
      assert.deepEqual([delta.mode, delta.read, delta.joined], ['delta', 1, 1]);
      assert.equal(await personOf(engine, 'apps', 'a9'), await personOf(engine, 'hr', '2'));
    }));

  test('a full import without deltaImport stores no watermark', () =>
    withEngine(
      async (engine) => {
        const report = await importSystem(engine.ctx, 'apps');
        assert.equal(report.mode, 'full');
        assert.equal(await engine.store.getImportWatermark('apps'), undefined);
      },
      systems({ memory: { capabilities: ['import'], accounts: { a1: { email: 'x@example.org' } } } }),
    ));

  test('a delta import joins changed and new accounts, projects new persons, unlinks removed ones (7021)', () =>
    withEngine(async (engine) => {
      await fullImports(engine);
      const alice = await personOf(engine, 'hr', '1');
      const bob = await personOf(engine, 'hr', '2');
      assert.equal(await personOf(engine, 'apps', 'a3'), null, 'unmatched at first');

      engine.connector('hr').putAccount('3', { login: 'carol', mail: 'carol@example.org' });
      engine.clock.advance(1000);
      const hr = await importSystem(engine.ctx, 'hr', undefined, { mode: 'delta' });
      assert.deepEqual([hr.mode, hr.read, hr.projected, hr.removed], ['delta', 1, 1, 0]);
      const carol = await personOf(engine, 'hr', '3');
      assert.ok(typeof carol === 'string');

      const apps = engine.connector('apps');
      apps.putAccount('a3', { email: 'Carol@example.org' });
      apps.putAccount('a4', { email: 'bob@example.org' });
      apps.removeAccount('a2');
      apps.removeAccount('never-imported');
      const progress: ImportProgress[] = [];
      const report = await importSystem(engine.ctx, 'apps', (p) => progress.push(p), { mode: 'delta' });
      assert.equal(report.mode, 'delta');
      assert.equal(report.fallback, undefined);
      assert.deepEqual([report.read, report.joined, report.projected, report.removed, report.unlinked], [2, 2, 0, 1, 1]);
      assert.ok(progress.length > 0 && progress.every((p) => p.mode === 'delta'));
      assert.deepEqual(progress.at(-1), { system: 'apps', mode: 'delta', read: 2, removed: 1 });

      assert.equal(await personOf(engine, 'apps', 'a3'), carol, 'the changed account joined');
      assert.equal(await personOf(engine, 'apps', 'a4'), bob, 'the new account joined');
      assert.equal(await engine.store.getAccount('apps', 'a2'), undefined);
      assert.equal(await personOf(engine, 'apps', 'a1'), alice, 'accounts the delta did not name stay (no removal of missing ones)');
      const unlinked = await engine.store.listEvents({ codes: [EVENT.ACCOUNT_UNLINKED], limit: 10 });
      assert.deepEqual(unlinked.map((e) => [e.anchor, e.personId]), [['a2', bob]]);
      const completed = await engine.store.listEvents({ codes: [EVENT.IMPORT_COMPLETED], system: 'apps', limit: 10 });
      assert.match(completed.at(-1)?.message ?? '', /^delta import: /);
      assert.match(completed.at(0)?.message ?? '', /^full import: /);
      assert.equal(await watermarkOf(engine, 'apps'), await currentWatermark(engine, 'apps'));

      const quiet = await importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' });
      assert.deepEqual([quiet.mode, quiet.read, quiet.removed], ['delta', 0, 0]);
      assert.equal((await engine.store.counts()).accounts, 6);
    }));

  test('a delta import without a stored watermark runs a full import and says why', () =>
    withEngine(async (engine) => {
      await importSystem(engine.ctx, 'hr');
      await engine.store.upsertAccounts('apps', 'old-run', [{ anchor: 'gone', attributes: {} }]);
      const report = await importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' });
      assert.equal(report.mode, 'full');
      assert.match(report.fallback ?? '', /watermark/);
      assert.deepEqual([report.read, report.joined, report.removed], [3, 2, 1], 'a full import removes what it did not see');
      const completed = await engine.store.listEvents({ codes: [EVENT.IMPORT_COMPLETED], system: 'apps', limit: 10 });
      assert.match(completed.at(-1)?.message ?? '', /^full import \(delta not possible: /);
      assert.equal(await watermarkOf(engine, 'apps'), await currentWatermark(engine, 'apps'));
      assert.equal((await importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' })).mode, 'delta');
    }));

  test('a watermark the connector refuses (WatermarkError) makes it a full import', () =>
    withEngine(async (engine) => {
      await fullImports(engine);
      const apps = engine.connector('apps');
      apps.resetHistory();
      apps.removeAccount('a2');
      const report = await importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' });
      assert.equal(report.mode, 'full');
      assert.match(report.fallback ?? '', /watermark/);
      assert.deepEqual([report.read, report.removed, report.unlinked], [2, 1, 1]);
      assert.equal(await watermarkOf(engine, 'apps'), await currentWatermark(engine, 'apps'), 'the new history\'s watermark is kept');
      assert.equal((await importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' })).mode, 'delta');
    }));

  test('an import that fails part-way keeps the old watermark; the next delta reads the changes again', () =>
    withEngine(async (engine) => {
      await fullImports(engine);
      const kept = await engine.store.getImportWatermark('apps');
      assert.ok(kept);
      const apps = engine.connector('apps');
      apps.putAccount('a5', { email: 'alice@example.org' });
      apps.putAccount('a6', { email: 'bob@example.org' });

      engine.clock.advance(1000);
      apps.breakNextImport(2);
      await assert.rejects(importSystem(engine.ctx, 'apps'), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_TRANSIENT');
      assert.deepEqual(await engine.store.getImportWatermark('apps'), kept, 'a failed full import');
      apps.breakNextImport(1);
      await assert.rejects(importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' }), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_TRANSIENT');
      assert.deepEqual(await engine.store.getImportWatermark('apps'), kept, 'a failed delta import');
      assert.ok(await engine.store.getAccount('apps', 'a1'), 'the failed full import removed nothing');

      const report = await importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' });
      assert.deepEqual([report.mode, report.read], ['delta', 2]);
      assert.equal(await personOf(engine, 'apps', 'a6'), await personOf(engine, 'hr', '2'));
      assert.deepEqual(await engine.store.getImportWatermark('apps'), { watermark: await currentWatermark(engine, 'apps'), at: engine.clock.now() });
    }));

  test('a delta import of a system whose connector cannot do one is refused, naming the system', () =>
    withEngine(
      async (engine) => {
        await assert.rejects(importSystem(engine.ctx, 'apps', undefined, { mode: 'delta' }), (e: unknown) => {
          assert.ok(isPwsyncError(e));
          assert.equal(e.code, 'ERR_INVALID_INPUT');
          assert.ok(e.message.includes('"apps"'));
          return true;
        });
        assert.equal((await engine.store.counts()).accounts, 0, 'nothing was read');
      },
      systems({ memory: { capabilities: ['import', 'setPassword'] } }),
    ));
});
