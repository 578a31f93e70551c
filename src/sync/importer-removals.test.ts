import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPwsyncError } from '../core/errors.ts';
import { EVENT } from '../core/events.ts';
import type { MemoryCapability } from '../../test/support/connectors/memory/index.ts';
import { startEngine, type Engine, type TestSystem } from '../../test/support/engine.ts';
import { importSystem } from './importer.ts';

// Issue 17, item 2: a truncated or empty export must not unlink everyone, and an account that comes
// back must find its person again instead of projecting a duplicate.

const DELTA: readonly MemoryCapability[] = ['import', 'deltaImport', 'setPassword'];
const DAY = 86_400_000;

/** `n` accounts of the projecting source `hr`: anchors `1`…`n`, logins `user1`…. */
function people(n: number): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (let i = 1; i <= n; i++) out[String(i)] = { login: `user${i}`, mail: `user${i}@example.org` };
  return out;
}

function systems(n: number, hrImport: Partial<TestSystem['import']> = {}): TestSystem[] {
  return [
    { name: 'hr', source: { accountAttribute: 'login' }, import: { anchor: 'id', ...hrImport }, memory: { capabilities: DELTA, accounts: people(n) } },
    {
      name: 'apps',
      import: { anchor: 'id' },
      join: [{ person: 'mail', account: 'email' }],
      password: { sync: true },
      memory: { capabilities: ['import', 'setPassword'], accounts: { a1: { email: 'user1@example.org' } } },
    },
  ];
}

async function withEngine(list: TestSystem[], fn: (engine: Engine) => Promise<void>): Promise<void> {
  const engine = await startEngine(list);
  try {
    for (const name of ['hr', 'apps']) await importSystem(engine.ctx, name);
    await fn(engine);
  } finally {
    await engine.close();
  }
}

function removeAll(engine: Engine, n: number): void {
  for (let i = 1; i <= n; i++) engine.connector('hr').removeAccount(String(i));
}

const isThreshold = (e: unknown): boolean => isPwsyncError(e) && e.code === 'ERR_REMOVAL_THRESHOLD';

describe('importSystem: the removal threshold', () => {
  test('a truncated export (15 of 20 gone) stops the import: nothing removed, 7026 names the system, the count, the limit and the flag', () =>
    withEngine(systems(20), async (engine) => {
      const before = await engine.store.counts();
      const watermark = await engine.store.getImportWatermark('hr');
      for (let i = 6; i <= 20; i++) engine.connector('hr').removeAccount(String(i));
      engine.clock.advance(1000);
      await assert.rejects(importSystem(engine.ctx, 'hr'), (e: unknown) => {
        assert.ok(isThreshold(e));
        const message = (e as Error).message;
        for (const part of ['"hr"', '15 of its 20', 'at least 10 and more than 10 %', '--allow-removals']) assert.ok(message.includes(part), `${message} names ${part}`);
        return true;
      });
      const after = await engine.store.counts();
      assert.deepEqual([after.accounts, after.links, after.persons], [before.accounts, before.links, before.persons], 'nothing removed or unlinked');
      assert.deepEqual(await engine.store.getImportWatermark('hr'), watermark, 'the old watermark is kept');
      const stopped = await engine.store.listEvents({ codes: [EVENT.IMPORT_STOPPED], limit: 10 });
      assert.deepEqual(stopped.map((e) => [e.system, e.severity]), [['hr', 'error']]);
      assert.equal((await engine.store.listEvents({ codes: [EVENT.ACCOUNT_UNLINKED], limit: 10 })).length, 0);
      assert.equal((await engine.store.listEvents({ codes: [EVENT.IMPORT_COMPLETED], system: 'hr', limit: 10 })).length, 1, 'only the first import completed');
    }));

  test('an empty export (header only) stops even below the count: 5 accounts, the issue\'s case', () =>
    withEngine(systems(5), async (engine) => {
      removeAll(engine, 5);
      await assert.rejects(importSystem(engine.ctx, 'hr'), (e: unknown) => isThreshold(e) && /5 of its 5 .*read no account/.test((e as Error).message));
      assert.equal((await engine.store.counts()).links, 6, 'every link kept');
      const delta = await importSystem(engine.ctx, 'hr', undefined, { mode: 'delta' });
      assert.deepEqual([delta.mode, delta.read, delta.removed], ['delta', 0, 5], 'a delta of removals only is no empty export: 5 is under the count');
    }));

  test('1 of 20 removed passes (under the count); allowRemovals passes an empty export', () =>
    withEngine(systems(20), async (engine) => {
      engine.connector('hr').removeAccount('7');
      const one = await importSystem(engine.ctx, 'hr');
      assert.deepEqual([one.read, one.removed, one.unlinked], [19, 1, 1]);

      removeAll(engine, 20);
      await assert.rejects(importSystem(engine.ctx, 'hr'), isThreshold);
      const all = await importSystem(engine.ctx, 'hr', undefined, { allowRemovals: true });
      assert.deepEqual([all.read, all.removed, all.unlinked], [0, 19, 19]);
      assert.equal((await engine.store.counts()).persons, 20, 'persons stay');
    }));

  test('count and percent are the system\'s own: 2 of 5 (40 %) pass under 50 %, 3 of 5 do not', () =>
    withEngine(systems(5, { removalThreshold: { count: 2, percent: 50 } }), async (engine) => {
      engine.connector('hr').removeAccount('1');
      engine.connector('hr').removeAccount('2');
      engine.connector('hr').removeAccount('3');
      await assert.rejects(importSystem(engine.ctx, 'hr'), (e: unknown) => isThreshold(e) && (e as Error).message.includes('3 of its 5'));
      engine.connector('hr').putAccount('3', { login: 'user3', mail: 'user3@example.org' });
      assert.equal((await importSystem(engine.ctx, 'hr')).removed, 2);
    }));

  test('a delta import that reports too many removals stops the same way and keeps its watermark', () =>
    withEngine(systems(12), async (engine) => {
      const watermark = await engine.store.getImportWatermark('hr');
      removeAll(engine, 12);
      engine.connector('hr').putAccount('13', { login: 'user13', mail: 'user13@example.org' });
      await assert.rejects(importSystem(engine.ctx, 'hr', undefined, { mode: 'delta' }), isThreshold);
      assert.deepEqual(await engine.store.getImportWatermark('hr'), watermark);
      assert.ok(await engine.store.getAccount('hr', '1'), 'nothing removed');
      const passed = await importSystem(engine.ctx, 'hr', undefined, { mode: 'delta', allowRemovals: true });
      assert.deepEqual([passed.mode, passed.removed], ['delta', 12]);
    }));
});

describe('importSystem: remembered links of removed accounts', () => {
  test('accounts removed and restored are linked to their persons again: no duplicate person', () =>
    withEngine(systems(20), async (engine) => {
      const personOf = async (system: string, anchor: string): Promise<string | null | undefined> => (await engine.store.getAccount(system, anchor))?.personId;
      const before = new Map<string, string | null | undefined>();
      for (let i = 1; i <= 20; i++) before.set(String(i), await personOf('hr', String(i)));
      const appsPerson = await personOf('apps', 'a1');
      assert.equal(appsPerson, before.get('1'));

      removeAll(engine, 20);
      await importSystem(engine.ctx, 'hr', undefined, { allowRemovals: true });
      engine.connector('apps').removeAccount('a1');
      await importSystem(engine.ctx, 'apps', undefined, { allowRemovals: true });
      engine.clock.advance(29 * DAY);

      for (const [anchor, account] of Object.entries(people(20))) engine.connector('hr').putAccount(anchor, { ...account, mail: `${account.login}@new.example.org` });
      // The join rule would now find no one: only the remembered link brings a1 back to its person.
      engine.connector('apps').putAccount('a1', { email: 'someone-else@example.org' });
      const hr = await importSystem(engine.ctx, 'hr');
      assert.deepEqual([hr.read, hr.projected, hr.relinked], [20, 0, 20]);
      const apps = await importSystem(engine.ctx, 'apps');
      assert.deepEqual([apps.joined, apps.relinked, apps.unmatched], [0, 1, 0]);

      for (let i = 1; i <= 20; i++) assert.equal(await personOf('hr', String(i)), before.get(String(i)));
      assert.equal(await personOf('apps', 'a1'), appsPerson);
      assert.equal((await engine.store.counts()).persons, 20, 'no duplicate person');
      const person = await engine.store.getPerson(before.get('1') ?? '');
      assert.ok(person);
      assert.equal(person.attributes['mail'], 'user1@new.example.org', 'the person follows its source account again');
      assert.deepEqual(person.accounts.map((a) => [a.system, a.link.reason.kind]), [['hr', 'projection'], ['apps', 'join']]);
      const relinked = await engine.store.listEvents({ codes: [EVENT.ACCOUNT_RELINKED], limit: 100 });
      assert.equal(relinked.length, 21);

      // A remembered link is used once.
      engine.connector('hr').removeAccount('5');
      await importSystem(engine.ctx, 'hr');
      engine.connector('hr').putAccount('5', { login: 'user5', mail: 'user5@example.org' });
      assert.equal((await importSystem(engine.ctx, 'hr')).relinked, 1);
    }));

  test('a link is forgotten after import.rememberRemovedLinks: the account then projects anew', () =>
    withEngine(systems(3, { rememberRemovedLinks: '1d' }), async (engine) => {
      const first = (await engine.store.getAccount('hr', '2'))?.personId;
      engine.connector('hr').removeAccount('2');
      await importSystem(engine.ctx, 'hr');
      engine.clock.advance(DAY + 1);
      engine.connector('hr').putAccount('2', { login: 'user2', mail: 'user2@example.org' });
      const report = await importSystem(engine.ctx, 'hr');
      assert.deepEqual([report.relinked, report.projected], [0, 1]);
      assert.notEqual((await engine.store.getAccount('hr', '2'))?.personId, first);
    }));
});
