import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchKey } from '../../core/join.ts';
import { at, change, one, sealed, withStore, world, type OpenStore } from './fixtures.ts';
import { EVENT } from '../../core/events.ts';

/** Accounts: upsert, removal, lookups under every match mode. */
export function accountTests(open: OpenStore): void {
  describe('accounts', () => {
    test('upsert inserts accounts unlinked and returns them as stored', () =>
      withStore(open, async (store) => {
        const stored = await store.upsertAccounts('corp', 'run-1', [
          { anchor: 'a-1', attributes: { login: 'alice', mail: 'alice@corp.test' } },
          { anchor: 'a-2', attributes: {} },
        ]);
        assert.equal(stored.length, 2);
        const [alice, empty] = [at(stored, 0), at(stored, 1)];
        assert.notEqual(alice.id, empty.id);
        assert.deepEqual(alice.attributes, { login: 'alice', mail: 'alice@corp.test' });
        assert.equal(alice.system, 'corp');
        assert.equal(alice.anchor, 'a-1');
        assert.equal(alice.personId, null);
        assert.equal(alice.lastAppliedAt, null);
        assert.equal(typeof alice.importedAt, 'number');
        assert.deepEqual(await store.getAccount('corp', 'a-1'), alice);
        assert.deepEqual((await store.getAccount('corp', 'a-2'))?.attributes, {});
        assert.equal(await store.getAccount('corp', 'nobody'), undefined);
        assert.equal(await store.getAccount('other', 'a-1'), undefined);
      }));

    test('the same anchor in two systems is two accounts', () =>
      withStore(open, async (store) => {
        const [a] = await store.upsertAccounts('corp', 'r', [{ anchor: 'x', attributes: { login: 'x' } }]);
        const [b] = await store.upsertAccounts('apps', 'r', [{ anchor: 'x', attributes: { login: 'x' } }]);
        assert.ok(a && b);
        assert.notEqual(a.id, b.id);
        assert.equal(one(await store.findAccountsByKey('corp', 'login', 'exact', 'x')).id, a.id);
        assert.equal(one(await store.findAccountsByKey('apps', 'login', 'exact', 'x')).id, b.id);
      }));

    test('a second upsert keeps the id and link and replaces the attributes whole', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const [again] = await store.upsertAccounts('apps', 'run-2', [{ anchor: 'apps-1', attributes: { uid: 'U-1' } }]);
        assert.ok(again);
        assert.equal(again.id, w.apps.id);
        assert.equal(again.personId, w.personId);
        assert.deepEqual(again.attributes, { uid: 'U-1' });
        assert.deepEqual((await store.getAccount('apps', 'apps-1'))?.attributes, { uid: 'U-1' });
        // The dropped attribute is no longer indexed under any mode; the new one is.
        for (const mode of ['exact', 'caseInsensitive', 'normalized'] as const) {
          assert.deepEqual(await store.findAccountsByKey('apps', 'login', mode, 'user1'), []);
          assert.equal(one(await store.findAccountsByKey('apps', 'uid', mode, matchKey('U-1', mode))).id, w.apps.id);
        }
      }));

    test('an upsert with unchanged attributes stamps the run without changing anything else', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const again = one(await store.upsertAccounts('apps', 'run-2', [{ anchor: 'apps-1', attributes: { login: 'user1' } }]));
        assert.deepEqual(again, { ...w.apps, importedAt: again.importedAt });
        assert.deepEqual(await store.removeAccountsNotIn('apps', 'run-2', 2000), []);
      }));

    test('a person projected from an account follows its attributes; a joined account does not lead', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        assert.deepEqual((await store.getPerson(w.personId))?.attributes, { login: 'User1', mail: 'user1@corp.test' });
        await store.upsertAccounts('corp', 'run-2', [{ anchor: 'corp-1', attributes: { login: 'Renamed', mail: 'user1@corp.test' } }]);
        assert.deepEqual((await store.getPerson(w.personId))?.attributes, { login: 'Renamed', mail: 'user1@corp.test' });
        assert.deepEqual(await store.findPersonsByKey('login', 'exact', 'User1', 10), []);
        assert.deepEqual(await store.findPersonsByKey('login', 'caseInsensitive', 'renamed', 10), [w.personId]);
        await store.upsertAccounts('apps', 'run-2', [{ anchor: 'apps-1', attributes: { login: 'elsewise' } }]);
        assert.deepEqual((await store.getPerson(w.personId))?.attributes, { login: 'Renamed', mail: 'user1@corp.test' });
      }));

    test('findAccountsByKey matches under each mode, non-ASCII included, within one system and attribute', () =>
      withStore(open, async (store) => {
        const [zoe, arger, plain] = await store.upsertAccounts('corp', 'r', [
          { anchor: 'z', attributes: { login: 'Zoë-Ann Smith', given: 'Zoë' } },
          { anchor: 'g', attributes: { login: 'ÄRGER' } },
          { anchor: 'p', attributes: { login: 'arger' } },
        ]);
        await store.upsertAccounts('apps', 'r', [{ anchor: 'z', attributes: { login: 'Zoë-Ann Smith' } }]);
        assert.ok(zoe && arger && plain);
        const ids = async (name: string, mode: 'exact' | 'caseInsensitive' | 'normalized', key: string): Promise<number[]> =>
          (await store.findAccountsByKey('corp', name, mode, key)).map((a) => a.id);

        assert.deepEqual(await ids('given', 'normalized', 'zoe'), [zoe.id]);
        assert.deepEqual(await ids('given', 'caseInsensitive', 'zoe'), []);
        assert.deepEqual(await ids('given', 'caseInsensitive', 'zoë'), [zoe.id]);
        assert.deepEqual(await ids('given', 'exact', 'zoë'), []);
        assert.deepEqual(await ids('given', 'exact', 'Zoë'), [zoe.id]);
        assert.deepEqual(await ids('login', 'normalized', matchKey('zoeann.smith', 'normalized')), [zoe.id]);
        assert.deepEqual(await ids('given', 'normalized', 'zoeannsmith'), [], 'the attribute name scopes the match');

        assert.deepEqual(await ids('login', 'caseInsensitive', 'ärger'), [arger.id]);
        assert.deepEqual(await ids('login', 'exact', 'ärger'), []);
        assert.deepEqual(await ids('login', 'caseInsensitive', 'arger'), [plain.id], 'case folding keeps the umlaut');
        assert.deepEqual(await ids('login', 'normalized', 'arger'), [arger.id, plain.id]);
        // The key given is compared as it is: it is the caller's matchKey.
        assert.deepEqual(await ids('login', 'caseInsensitive', 'ÄRGER'), []);
      }));

    test('removeAccountsNotIn removes the accounts the run did not see, unlinked, and returns them', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const [other] = await store.upsertAccounts('apps', 'run-1', [{ anchor: 'apps-2', attributes: { login: 'two' } }]);
        assert.ok(other);
        await store.upsertAccounts('apps', 'run-2', [{ anchor: 'apps-2', attributes: { login: 'two' } }]);

        const removed = await store.removeAccountsNotIn('apps', 'run-2', 5000);
        const gone = one(removed);
        assert.equal(gone.id, w.apps.id);
        assert.equal(gone.personId, w.personId);
        assert.equal(await store.getAccount('apps', 'apps-1'), undefined);
        assert.deepEqual(await store.findAccountsByKey('apps', 'login', 'exact', 'user1'), []);
        assert.ok(await store.getAccount('apps', 'apps-2'));
        assert.ok(await store.getAccount('corp', 'corp-1'), 'other systems are untouched');
        const person = await store.getPerson(w.personId);
        assert.deepEqual(person?.accounts.map((a) => a.id).sort(), [w.source.id, w.mail.id].sort());
        assert.equal((await store.counts()).links, 2);
        assert.deepEqual(await store.removeAccountsNotIn('apps', 'run-2', 5001), []);
      }));

    test('countAccounts counts a system\'s accounts and those a run did not stamp', () =>
      withStore(open, async (store) => {
        await world(store);
        await store.upsertAccounts('apps', 'run-2', [{ anchor: 'apps-2', attributes: {} }, { anchor: 'apps-3', attributes: {} }]);
        assert.deepEqual(await store.countAccounts('apps', 'run-2'), { stored: 3, notInRun: 1 });
        assert.deepEqual(await store.countAccounts('nowhere', 'run-2'), { stored: 0, notInRun: 0 });
      }));

    test('a removed account\'s link is remembered; a restore decision links it again as it was and forgets it', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.removeAccounts('corp', ['corp-1'], 5000);
        await store.removeAccountsNotIn('apps', 'run-2', 6000);
        assert.deepEqual(await store.rememberedLinks('corp', ['corp-1', 'corp-1', 'nobody'], 0), [
          { anchor: 'corp-1', personId: w.personId, reason: { kind: 'projection' }, removedAt: 5000 },
        ]);
        assert.deepEqual(await store.rememberedLinks('apps', ['apps-1'], 0), [{ anchor: 'apps-1', personId: w.personId, reason: { kind: 'join', rule: 0 }, removedAt: 6000 }]);

        const [back] = await store.upsertAccounts('corp', 'run-3', [{ anchor: 'corp-1', attributes: { login: 'User1', mail: 'new@corp.test' } }]);
        assert.ok(back && back.personId === null);
        await store.applyLinks([{ kind: 'restore', accountId: back.id, system: 'corp', anchor: 'corp-1', personId: w.personId, reason: { kind: 'projection' } }], 7000);
        const person = await store.getPerson(w.personId);
        assert.ok(person);
        assert.equal(person.attributes['mail'], 'new@corp.test', 'the person follows its source again');
        assert.deepEqual(await store.findPersonsByKey('mail', 'exact', 'new@corp.test', 2), [w.personId]);
        assert.equal(person.accounts.find((a) => a.id === back.id)?.link.reason.kind, 'projection');
        assert.deepEqual(await store.rememberedLinks('corp', ['corp-1'], 0), [], 'used once');
      }));

    test('remembered links removed before forgetBefore are forgotten; a restored projection onto a person with a source is manual', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.removeAccounts('corp', ['corp-1'], 5000);
        assert.deepEqual(await store.rememberedLinks('corp', ['corp-1'], 5001), []);
        assert.deepEqual(await store.rememberedLinks('corp', ['corp-1'], 0), [], 'forgotten for good');

        const [other] = await store.upsertAccounts('corp', 'run-2', [{ anchor: 'corp-9', attributes: { login: 'nine' } }]);
        const [back] = await store.upsertAccounts('corp', 'run-2', [{ anchor: 'corp-1', attributes: { login: 'User1' } }]);
        assert.ok(other && back);
        await store.link(other.id, w.personId, { kind: 'projection' }, 6000);
        await store.applyLinks([{ kind: 'restore', accountId: back.id, system: 'corp', anchor: 'corp-1', personId: w.personId, reason: { kind: 'projection' } }], 7000);
        assert.deepEqual((await store.getAccount('corp', 'corp-1'))?.personId, w.personId);
        const person = await store.getPerson(w.personId);
        assert.ok(person);
        assert.equal(person.accounts.find((a) => a.id === back.id)?.link.reason.kind, 'manual');
        assert.deepEqual(person.attributes, { login: 'nine' }, 'the person keeps its new source');
      }));

    test('removeAccountsNotIn fails the open jobs of removed accounts with 6923 and wipes their secret', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const retried = await store.commitChange(change('c2', w.personId, 200), sealed('c2'), [{ accountId: w.mail.id }], []);
        const claimed = one(await store.claimJobs('w1', 300, 10));
        await store.finishJob(claimed.id, { kind: 'retry', at: 300, nextAt: 10_000, error: 'busy' }, { code: EVENT.RETRY_SCHEDULED, message: 'retry' });
        await store.commitChange(change('c1', w.personId, 100), sealed('c1'), [{ accountId: w.apps.id }], []);

        await store.upsertAccounts('corp', 'run-2', [{ anchor: 'corp-1', attributes: { login: 'User1', mail: 'user1@corp.test' } }]);
        await store.removeAccountsNotIn('apps', 'run-2', 5000);
        await store.removeAccountsNotIn('mail', 'run-2', 5000);

        for (const changeId of ['c1', 'c2']) {
          const job = one(await store.listJobs({ changeId, limit: 10 }));
          assert.deepEqual(job.state, { kind: 'failed', at: 5000, event: EVENT.ACCOUNT_NOT_FOUND, lastError: job.state.kind === 'failed' ? job.state.lastError : '' });
        }
        assert.equal(one(retried.jobs).jobId, claimed.id);
        const events = await store.listEvents({ codes: [EVENT.ACCOUNT_NOT_FOUND], limit: 10 });
        assert.equal(events.length, 2);
        assert.ok(events.every((e) => e.severity === 'warning' && e.personId === w.personId && e.jobId !== null));
        assert.deepEqual(await store.sealedSecrets(), []);
        assert.equal(await store.nextRetryAt(), undefined);
      }));
  });
}
