import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { change, one, sealed, withStore, world, type OpenStore } from './fixtures.ts';
import { EVENT } from '../../core/events.ts';

/** What delta imports need: removal by anchor, and one import watermark per system. */
export function deltaTests(open: OpenStore): void {
  describe('delta imports', () => {
    test('removeAccounts removes the named accounts, unlinked, returns them in id order and ignores unknown anchors', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const [two, three] = await store.upsertAccounts('apps', 'run-1', [
          { anchor: 'apps-2', attributes: { login: 'two' } },
          { anchor: 'apps-3', attributes: { login: 'three' } },
        ]);
        assert.ok(two && three);

        const removed = await store.removeAccounts('apps', ['apps-2', 'nobody', 'apps-1', 'apps-2', 'mail-1'], 5000);
        assert.deepEqual(removed.map((a) => a.id), [w.apps.id, two.id]);
        assert.equal(removed[0]?.personId, w.personId);
        assert.equal(removed[1]?.personId, null);
        assert.equal(await store.getAccount('apps', 'apps-1'), undefined);
        assert.equal(await store.getAccount('apps', 'apps-2'), undefined);
        assert.deepEqual(await store.findAccountsByKey('apps', 'login', 'exact', 'user1'), []);
        assert.ok(await store.getAccount('apps', 'apps-3'), 'accounts not named stay');
        assert.ok(await store.getAccount('mail', 'mail-1'), 'an anchor of another system is not this one');
        const person = await store.getPerson(w.personId);
        assert.deepEqual(person?.accounts.map((a) => a.id).sort(), [w.source.id, w.mail.id].sort());
        assert.equal((await store.counts()).links, 2);

        assert.deepEqual(await store.removeAccounts('apps', ['apps-1', 'apps-2'], 5001), [], 'removed before: ignored');
        assert.deepEqual(await store.removeAccounts('apps', [], 5002), []);
        assert.deepEqual(await store.removeAccounts('unknown-system', ['apps-3'], 5003), []);
      }));

    test('removeAccounts fails the open jobs of removed accounts with 6923 and wipes their secret', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 100), sealed('c1'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        const claimed = one(await store.claimJobs('w1', 300, 1));
        await store.finishJob(claimed.id, { kind: 'retry', at: 300, nextAt: 10_000, error: 'busy' }, { code: EVENT.RETRY_SCHEDULED, message: 'retry' });

        const removed = await store.removeAccounts('apps', ['apps-1'], 5000);
        assert.equal(one(removed).id, w.apps.id);
        const open6923 = await store.listEvents({ codes: [EVENT.ACCOUNT_NOT_FOUND], limit: 10 });
        assert.equal(one(open6923).anchor, 'apps-1');
        assert.equal(one(open6923).personId, w.personId);
        assert.equal(one(open6923).changeId, 'c1');
        assert.equal(one(open6923).severity, 'warning');
        assert.equal(one(await store.sealedSecrets()).changeId, 'c1', 'the mail job is still open');

        await store.removeAccounts('mail', ['mail-1'], 5000);
        const jobs = await store.listJobs({ changeId: 'c1', limit: 10 });
        assert.deepEqual(jobs.map((j) => [j.state.kind, j.state.kind === 'failed' ? j.state.event : 0]), [
          ['failed', EVENT.ACCOUNT_NOT_FOUND],
          ['failed', EVENT.ACCOUNT_NOT_FOUND],
        ]);
        assert.deepEqual(await store.sealedSecrets(), []);
        assert.equal(await store.nextRetryAt(), undefined);
      }));

    test('a person projected from an account removed by anchor keeps its attributes and stays findable', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.removeAccounts('corp', ['corp-1'], 5000);
        const person = await store.getPerson(w.personId);
        assert.deepEqual(person?.attributes, { login: 'User1', mail: 'user1@corp.test' });
        assert.deepEqual(await store.findPersonsByKey('login', 'exact', 'User1', 10), [w.personId]);
      }));

    test('one import watermark per system: absent at first, replaced by a later one, kept apart per system', () =>
      withStore(open, async (store) => {
        assert.equal(await store.getImportWatermark('corp'), undefined);
        await store.setImportWatermark('corp', 'usn:100@dc1', 1000);
        await store.setImportWatermark('apps', '', 1001);
        assert.deepEqual(await store.getImportWatermark('corp'), { watermark: 'usn:100@dc1', at: 1000 });
        assert.deepEqual(await store.getImportWatermark('apps'), { watermark: '', at: 1001 }, 'the watermark is opaque, even empty');
        await store.setImportWatermark('corp', 'usn:250@dc1', 2000);
        assert.deepEqual(await store.getImportWatermark('corp'), { watermark: 'usn:250@dc1', at: 2000 });
        assert.deepEqual(await store.getImportWatermark('apps'), { watermark: '', at: 1001 });
        assert.equal(await store.getImportWatermark('mail'), undefined);
      }));

    test('a watermark is not tied to accounts: removing them all, or a system without any, keeps it', () =>
      withStore(open, async (store) => {
        await world(store);
        await store.setImportWatermark('apps', 'w-apps', 1000);
        await store.setImportWatermark('retired', 'w-retired', 1000);
        await store.removeAccountsNotIn('apps', 'run-2', 2000);
        await store.removeAccounts('apps', ['apps-1'], 2000);
        assert.deepEqual(await store.getImportWatermark('apps'), { watermark: 'w-apps', at: 1000 });
        assert.deepEqual(await store.getImportWatermark('retired'), { watermark: 'w-retired', at: 1000 });
        assert.equal((await store.counts()).accounts, 2);
      }));
  });
}
