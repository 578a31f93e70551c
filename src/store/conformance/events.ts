import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { change, one, rejectsWithCode, sealed, withStore, world, type OpenStore } from './fixtures.ts';
import { EVENT } from '../../core/events.ts';

/** The event log, replay detection, sealed secrets and the store's life cycle. */
export function eventTests(open: OpenStore): void {
  describe('events', () => {
    test('appendEvents takes the severity from the code and fills what is left out with null', () =>
      withStore(open, async (store) => {
        await store.appendEvents([]);
        await store.appendEvents([
          { code: EVENT.IMPORT_COMPLETED, message: 'import completed', at: 100, system: 'corp' },
          { code: EVENT.CHANGE_REJECTED, message: 'rejected', personId: 'p1', changeId: 'c1', anchor: 'a1', jobId: 5 },
        ]);
        const [first, second] = await store.listEvents({ limit: 10 });
        assert.ok(first && second);
        assert.deepEqual({ ...first, id: 0 }, {
          id: 0, at: 100, code: EVENT.IMPORT_COMPLETED, severity: 'info', system: 'corp', anchor: null, personId: null, changeId: null, jobId: null, message: 'import completed',
        });
        assert.equal(second.severity, 'warning');
        assert.equal(typeof second.at, 'number');
        assert.deepEqual([second.personId, second.changeId, second.anchor, second.jobId, second.system], ['p1', 'c1', 'a1', 5, null]);
        assert.ok(second.id > first.id);
      }));

    test('listEvents filters and returns the newest in the order they happened, or follows after an id', () =>
      withStore(open, async (store) => {
        await store.appendEvents([
          { code: EVENT.CHANGE_ACCEPTED, at: 10, system: 'corp', personId: 'p1', changeId: 'c1', message: 'a' },
          { code: EVENT.ACCOUNT_NOT_FOUND, at: 20, system: 'apps', personId: 'p1', changeId: 'c1', message: 'b' },
          { code: EVENT.DELIVERY_FAILED, at: 30, system: 'apps', personId: 'p2', changeId: 'c2', message: 'c' },
          { code: EVENT.PASSWORD_SET, at: 40, system: 'mail', personId: 'p2', changeId: 'c2', message: 'd' },
        ]);
        const messages = async (filter: Parameters<typeof store.listEvents>[0]): Promise<string[]> => (await store.listEvents(filter)).map((e) => e.message);
        assert.deepEqual(await messages({ limit: 10 }), ['a', 'b', 'c', 'd']);
        assert.deepEqual(await messages({ limit: 2 }), ['c', 'd'], 'the newest two');
        assert.deepEqual(await messages({ codes: [EVENT.CHANGE_ACCEPTED, EVENT.PASSWORD_SET], limit: 10 }), ['a', 'd']);
        assert.deepEqual(await messages({ codes: [], limit: 10 }), []);
        assert.deepEqual(await messages({ severities: ['warning', 'error'], limit: 10 }), ['b', 'c']);
        assert.deepEqual(await messages({ system: 'apps', limit: 10 }), ['b', 'c']);
        assert.deepEqual(await messages({ personId: 'p2', limit: 10 }), ['c', 'd']);
        assert.deepEqual(await messages({ changeId: 'c1', limit: 10 }), ['a', 'b']);
        assert.deepEqual(await messages({ since: 30, limit: 10 }), ['c', 'd']);
        assert.deepEqual(await messages({ system: 'apps', severities: ['error'], since: 0, limit: 10 }), ['c']);

        const ids = (await store.listEvents({ limit: 10 })).map((e) => e.id);
        assert.deepEqual(await messages({ afterId: 0, limit: 10 }), ['a', 'b', 'c', 'd']);
        assert.deepEqual(await messages({ afterId: ids[1] ?? -1, limit: 1 }), ['c']);
        assert.deepEqual(await messages({ afterId: ids[3] ?? -1, limit: 10 }), []);
        await rejectsWithCode(store.listEvents({ limit: 1.5 }), 'ERR_INVALID_INPUT');
      }));

    test('rememberNotification detects a replay and forgets ids older than the window', () =>
      withStore(open, async (store) => {
        assert.equal(await store.rememberNotification('n1', 1000, 0), true);
        assert.equal(await store.rememberNotification('n1', 1500, 0), false);
        assert.equal(await store.rememberNotification('n2', 1600, 0), true);
        assert.equal(await store.rememberNotification('n1', 2000, 1001), true, 'n1 fell out of the window');
        assert.equal(await store.rememberNotification('n2', 2100, 1001), false, 'n2 is still inside it');
      }));
  });

  describe('sealed secrets', () => {
    test('sealedSecrets lists the secrets of open changes and resealSecrets replaces them atomically', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }], []);
        await store.commitChange(change('c2', w.personId, 1000), sealed('c2'), [{ accountId: w.mail.id }], []);
        const held = await store.sealedSecrets();
        assert.deepEqual(held.map((s) => s.changeId).sort(), ['c1', 'c2']);
        assert.deepEqual(held.find((s) => s.changeId === 'c1')?.secret, sealed('c1'));

        await store.resealSecrets(held.map(({ changeId }) => ({ changeId, secret: sealed(`${changeId}-v2`, 'k2') })));
        const resealed = await store.sealedSecrets();
        assert.ok(resealed.every((s) => s.secret.keyId === 'k2'));
        const claimed = await store.claimJobs('w', 2000, 10);
        assert.deepEqual(claimed.find((j) => j.changeId === 'c1')?.secret, sealed('c1-v2', 'k2'));
      }));

    test('resealing never brings back a secret wiped meanwhile', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }], []);
        const held = await store.sealedSecrets();
        const job = one(await store.claimJobs('w', 2000, 10));
        await store.finishJob(job.id, { kind: 'done', at: 2100 }, { code: EVENT.PASSWORD_SET, message: 'set' });
        await store.resealSecrets(held.map(({ changeId }) => ({ changeId, secret: sealed('again', 'k2') })));
        await store.resealSecrets([{ changeId: 'unknown', secret: sealed('x') }]);
        assert.deepEqual(await store.sealedSecrets(), []);
      }));
  });

  describe('life cycle', () => {
    test('dataVersion is a number that stays put while nobody else writes', () =>
      withStore(open, async (store) => {
        const first = await store.dataVersion();
        assert.equal(typeof first, 'number');
        assert.equal(await store.dataVersion(), first);
      }));

    test('a caller awaiting store calls in a loop still lets timers and I/O run', () =>
      withStore(open, async (store) => {
        const loop = { turned: false };
        setImmediate(() => (loop.turned = true));
        for (let i = 0; i < 100 && !loop.turned; i++) await store.nextRetryAt();
        assert.ok(loop.turned, 'a store call must not settle before the event loop turns');
      }));

    test('describes itself and, once closed, refuses every call with a store error', () =>
      withStore(open, async (store) => {
        assert.ok(store.description.length > 0);
        await store.close();
        await store.close();
        await rejectsWithCode(store.getAccount('corp', 'x'), 'ERR_STORE');
        await rejectsWithCode(store.upsertAccounts('corp', 'r', []), 'ERR_STORE');
        await rejectsWithCode(store.claimJobs('w', 1, 1), 'ERR_STORE');
        await rejectsWithCode(store.counts(), 'ERR_STORE');
        await rejectsWithCode(store.dataVersion(), 'ERR_STORE');
      }));
  });
}
