/*
 * A change for a source account created after the last import (issue 17, item 1), with real file
 * connectors and a real store: the server looks the account up at its source (a re-read of the
 * file), imports and links it by the import's rules, and routes the change; an account the file
 * does not have either is refused (7007); a source that cannot be read now answers `retry` (7025).
 */
import assert from 'node:assert/strict';
import { appendFile, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { createConnector, type ConnectorFactory } from '../../src/connectors/registry.ts';
import { can, type AccountImport, type AccountLookup, type Connector } from '../../src/connectors/types.ts';
import { UnknownAccountError } from '../../src/core/errors.ts';
import { EVENT, type EventCode } from '../../src/core/events.ts';
import { Secret } from '../../src/core/secret.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { verifySecret } from '../../src/crypto/hash/index.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { Store } from '../../src/store/port.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { ConnectorPool } from '../../src/sync/connector-pool.ts';
import type { SyncContext } from '../../src/sync/context.ts';
import { importSystem } from '../../src/sync/importer.ts';
import { lookupsFor } from '../../src/sync/lookups.ts';
import { ARRIVAL_LOOKUP_TIMEOUT_MS } from '../../src/sync/arrivals.ts';
import { submitChanges, type ChangeRequest } from '../../src/sync/submit-change.ts';
import { Workers } from '../../src/sync/workers.ts';
import { eventually } from '../support/engine.ts';

interface World {
  readonly dir: string;
  readonly ctx: SyncContext;
  readonly store: Store;
  readonly workers: Workers;
}

async function world(dir: string, factory: ConnectorFactory = createConnector): Promise<World> {
  await writeFile(join(dir, 'hr.csv'), 'id,login,mail\n1,alice,alice@example.org\n');
  await writeFile(join(dir, 'apps.csv'), 'id,login,pw\na1,alice,\na2,bob,\n');
  const parsed = configSchema.parse({
    server: { workers: 2, pollInterval: 5 },
    systems: [
      { name: 'hr', connector: 'file', file: { path: join(dir, 'hr.csv') }, source: { accountAttribute: 'login' }, import: { anchor: 'id' } },
      {
        name: 'apps',
        connector: 'file',
        file: { path: join(dir, 'apps.csv'), passwordColumn: 'pw' },
        import: { anchor: 'id' },
        join: [{ person: 'login', account: 'login' }],
        password: { sync: true, hash: '{SSHA512}' },
      },
    ],
  });
  const config = { systems: parsed.systems, server: parsed.server };
  const keyring = await Keyring.create(join(dir, 'store.key'));
  const store = await openSqliteStore(join(dir, 'pwsync.db'));
  await store.declareLookups(lookupsFor(config));
  const ctx: SyncContext = { config, store, keyring, connectors: new ConnectorPool(factory, dir), log: silentLogger(), now: Date.now, wake: () => workers.wake() };
  const workers = new Workers(ctx);
  await importSystem(ctx, 'hr');
  await importSystem(ctx, 'apps');
  return { dir, ctx, store, workers };
}

function change(name: string, password: string, at = Date.now()): ChangeRequest {
  return { sourceSystem: 'hr', account: { name }, secret: Secret.fromString(password), changedAt: at, origin: 'source', actor: 'agent:test', notificationId: crypto.randomUUID() };
}

async function appsHold(dir: string, login: string, password: string): Promise<boolean> {
  const line = (await readFile(join(dir, 'apps.csv'), 'utf8')).split('\n').find((l) => l.split(',')[1] === login);
  const hash = line?.split(',')[2] ?? '';
  return hash !== '' && (await verifySecret(hash, Secret.fromString(password)));
}

/** Oldest first. */
async function codes(store: Store): Promise<EventCode[]> {
  return (await store.listEvents({ limit: 1000 })).map((e) => e.code);
}

describe('a change for a source account created after the import (file source)', () => {
  let w: World;
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-new-account-'));
    w = await world(dir);
    await w.workers.start();
  });

  afterEach(async () => {
    await w.workers.stop(1000);
    await w.ctx.connectors.closeAll();
    await w.store.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a row added after the import: looked up (7023), imported and joined (7024), the latest of its two changes delivered', async () => {
    assert.equal((await w.store.getAccount('apps', 'a2'))?.personId, null, 'bob of apps has no person before');
    await appendFile(join(dir, 'hr.csv'), '2,bob,bob@example.org\n');
    const t = Date.now();
    const outcomes = await submitChanges(w.ctx, [change('bob', 'First-Bob-Pw1', t - 10), change('bob', 'Second-Bob-Pw2', t)]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['accepted', 'accepted']);
    await eventually(() => appsHold(dir, 'bob', 'Second-Bob-Pw2'), 10_000, "bob's latest password in apps.csv");
    const bob = await w.store.getAccount('hr', '2');
    assert.ok(bob?.personId);
    assert.equal((await w.store.getAccount('apps', 'a2'))?.personId, bob.personId, "apps' bob joined the new person");
    const events = await w.store.listEvents({ limit: 1000 });
    // One lookup and one import for the two changes of the batch.
    assert.equal(events.filter((e) => e.code === EVENT.ARRIVAL_LOOKED_UP).length, 1);
    const imported = events.filter((e) => e.code === EVENT.ARRIVAL_IMPORTED);
    assert.equal(imported.length, 1);
    const [first] = imported;
    assert.equal(first?.anchor, '2');
    assert.match(first.message, /projected; 1 account/);
    // The file is written before its job's 7002 is.
    await eventually(async () => (await codes(w.store)).includes(EVENT.PASSWORD_SET), 10_000, 'a 7002');
    const order = await codes(w.store);
    assert.ok(order.indexOf(EVENT.ARRIVAL_IMPORTED) < order.indexOf(EVENT.CHANGE_ACCEPTED), order.join(' '));
    assert.equal(order.includes(EVENT.UNKNOWN_SOURCE_ACCOUNT), false);
    // A later change finds the account in the store: no lookup again.
    const [again] = await submitChanges(w.ctx, [change('bob', 'Third-Bob-Pw3')]);
    assert.equal(again?.kind, 'accepted');
    await eventually(() => appsHold(dir, 'bob', 'Third-Bob-Pw3'), 10_000, "bob's third password");
    assert.equal((await w.store.listEvents({ codes: [EVENT.ARRIVAL_LOOKED_UP], limit: 10 })).length, 1);
  });

  test('while an import runs (`pwsync import`: the source, then the target): accepted, one account, one person', async () => {
    await appendFile(join(dir, 'hr.csv'), '2,bob,bob@example.org\n');
    const before = (await w.store.counts()).persons;
    const importAll = async (): Promise<void> => {
      await importSystem(w.ctx, 'hr');
      await importSystem(w.ctx, 'apps');
    };
    const [, outcomes] = await Promise.all([importAll(), submitChanges(w.ctx, [change('bob', 'Racing-Bob-Pw1')])]);
    // Never refused, whichever came first. Delivered when the change met apps' bob joined (the
    // lookup's join, or the apps import before the routing); an import of the source alone that
    // wins the race projects bob without joining apps (as it does for any new account): 7009.
    assert.equal(outcomes[0]?.kind, 'accepted');
    assert.equal((await w.store.counts()).persons, before + 1, 'bob projected once');
    assert.equal((await w.store.getAccount('hr', '2'))?.personId, (await w.store.getAccount('apps', 'a2'))?.personId);
    assert.equal((await w.store.listEvents({ codes: [EVENT.UNKNOWN_SOURCE_ACCOUNT], limit: 10 })).length, 0);
  });

  test('an account the source does not have either is refused (7023 not found, then 7007); the rest of the batch is taken', async () => {
    const outcomes = await submitChanges(w.ctx, [change('mallory', 'Mallory-Pw-1'), change('alice', 'Alice-New-Pw1')]);
    const [refused] = outcomes;
    assert.ok(refused?.kind === 'rejected' && refused.error instanceof UnknownAccountError);
    assert.equal(outcomes[1]?.kind, 'accepted');
    const events = await w.store.listEvents({ limit: 100 });
    assert.match(events.find((e) => e.code === EVENT.ARRIVAL_LOOKED_UP)?.message ?? '', /not found/);
    assert.match(events.find((e) => e.code === EVENT.UNKNOWN_SOURCE_ACCOUNT)?.message ?? '', /nor at the source/);
    await eventually(() => appsHold(dir, 'alice', 'Alice-New-Pw1'), 10_000, "alice's password");
  });

  test('a source that cannot be read now: the change is answered retry (7025), nothing refused, and taken once it can', async () => {
    if (process.getuid?.() === 0) {
      // Root reads a file of mode 000: make the source unreadable by moving it away instead.
      await rm(join(dir, 'hr.csv'));
    } else {
      await chmod(join(dir, 'hr.csv'), 0o000);
    }
    const request = change('bob', 'Held-Bob-Pw1');
    const [held] = await submitChanges(w.ctx, [request]);
    assert.equal(held?.kind, 'retry');
    const events = await w.store.listEvents({ limit: 100 });
    assert.ok(events.some((e) => e.code === EVENT.ARRIVAL_LOOKUP_FAILED));
    assert.equal(events.some((e) => e.code === EVENT.UNKNOWN_SOURCE_ACCOUNT), false);
    // The agent sends it again once the source is back, with the new row.
    await writeFile(join(dir, 'hr.csv'), 'id,login,mail\n1,alice,alice@example.org\n2,bob,bob@example.org\n');
    await chmod(join(dir, 'hr.csv'), 0o644);
    const [taken] = await submitChanges(w.ctx, [request]);
    assert.equal(taken?.kind, 'accepted');
    await eventually(() => appsHold(dir, 'bob', 'Held-Bob-Pw1'), 10_000, "bob's password");
  });
});

test('a source that does not answer: the batch waits the lookup time limit at most, then the change is answered retry (7025)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-new-account-'));
  // The real file connector, whose one-account lookup never answers (a source that hangs).
  const w = await world(dir, (system, ctx) => {
    const real = createConnector(system, ctx);
    if (system.name !== 'hr' || !can(real, 'import')) return real;
    const hung: Connector & AccountImport & AccountLookup = {
      kind: real.kind,
      capabilities: real.capabilities,
      testConnection: () => real.testConnection(),
      isSecure: () => real.isSecure(),
      close: () => real.close(),
      importAccounts: () => real.importAccounts(),
      lookupAccount: () => new Promise<never>(() => undefined),
    };
    return hung;
  });
  try {
    const started = performance.now();
    const [held, alice] = await submitChanges(w.ctx, [change('bob', 'Hung-Bob-Pw1'), change('alice', 'Alice-Hung-Pw1')]);
    const ms = performance.now() - started;
    assert.equal(held?.kind, 'retry');
    assert.equal(alice?.kind, 'accepted', 'the rest of the batch is taken');
    assert.ok(ms >= ARRIVAL_LOOKUP_TIMEOUT_MS - 50 && ms < ARRIVAL_LOOKUP_TIMEOUT_MS + 2_000, `${ms} ms`);
    const failed = await w.store.listEvents({ codes: [EVENT.ARRIVAL_LOOKUP_FAILED], limit: 10 });
    assert.match(failed[0]?.message ?? '', /no answer within 5 s/);
  } finally {
    await w.ctx.connectors.closeAll();
    await w.store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
