import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Job } from '../../core/model.ts';
import type { Store } from '../port.ts';
import { change, one, rejectsWithCode, sealed, withStore, world, type OpenStore } from './fixtures.ts';
import { EVENT } from '../../core/events.ts';

async function jobOf(store: Store, changeId: string, accountId: number): Promise<Job> {
  return one((await store.listJobs({ changeId, limit: 100 })).filter((j) => j.accountId === accountId));
}

async function secretIds(store: Store): Promise<string[]> {
  return (await store.sealedSecrets()).map((s) => s.changeId).sort();
}

/** Changes and jobs: commit with the ordering rules, claim, finish, retry, recover. */
export function jobTests(open: OpenStore): void {
  describe('changes and jobs', () => {
    test('commitChange creates one pending job per target and writes the given events with it', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const result = await store.commitChange(
          change('c1', w.personId, 1000),
          sealed('c1'),
          [{ accountId: w.apps.id }, { accountId: w.mail.id }, { accountId: w.apps.id }],
          [{ code: EVENT.CHANGE_ACCEPTED, message: 'accepted' }, { code: EVENT.SYNC_NOT_ENABLED, system: 'ldap', anchor: 'x', message: 'not enabled' }],
        );
        assert.deepEqual(result.jobs.map((j) => j.accountId), [w.apps.id, w.mail.id], 'one job per distinct target');
        assert.deepEqual(result.outOfDate, []);
        assert.deepEqual(result.superseded, []);
        const job = await jobOf(store, 'c1', w.apps.id);
        assert.equal(job.id, result.jobs[0]?.jobId);
        assert.deepEqual(job.state, { kind: 'pending' });
        assert.equal(job.system, 'apps');
        assert.equal(job.anchor, 'apps-1');
        assert.equal(job.personId, w.personId);
        assert.equal(job.changedAt, 1000);
        assert.equal(job.attempts, 0);
        const events = await store.listEvents({ changeId: 'c1', limit: 10 });
        assert.deepEqual(events.map((e) => e.code).sort(), [EVENT.SYNC_NOT_ENABLED, EVENT.CHANGE_ACCEPTED]);
        const notEnabled = one(events.filter((e) => e.code === EVENT.SYNC_NOT_ENABLED));
        assert.equal(notEnabled.severity, 'error');
        assert.equal(notEnabled.system, 'ldap');
        assert.equal(notEnabled.personId, w.personId, 'an event of a change is filed under its person');
        assert.deepEqual(await secretIds(store), ['c1']);
      }));

    test('commitChanges commits a batch in order, skips a replayed notification only, and remembers ids with the jobs', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const notification = (id: string) => ({ id, at: 500, forgetBefore: 0 });
        const results = await store.commitChanges([
          { notification: notification('n1'), change: { change: change('c1', w.personId, 1000), secret: sealed('c1'), targets: [{ accountId: w.apps.id }] }, events: [{ code: EVENT.CHANGE_ACCEPTED, message: 'one' }] },
          { notification: notification('n1'), change: { change: change('c1-again', w.personId, 1000), secret: sealed('c1-again'), targets: [{ accountId: w.mail.id }] }, events: [] },
          { notification: notification('n2'), change: { change: change('c2', w.personId, 2000), secret: sealed('c2'), targets: [{ accountId: w.apps.id }] }, events: [] },
          { notification: notification('n3'), events: [{ code: EVENT.NO_TARGETS, message: 'nowhere to go' }] },
        ]);
        assert.deepEqual(results.map((r) => r.kind), ['committed', 'replay', 'committed', 'committed']);
        const second = results[2];
        assert.ok(second?.kind === 'committed');
        assert.deepEqual(second.result.superseded, [(await jobOf(store, 'c1', w.apps.id)).id], 'a later unit of the batch supersedes an earlier one');
        assert.deepEqual(await secretIds(store), ['c2'], 'the replayed unit left no secret; the superseded one was wiped');
        assert.deepEqual((await store.listEvents({ limit: 10 })).map((e) => e.code).sort(), [EVENT.CHANGE_ACCEPTED, EVENT.SUPERSEDED, EVENT.NO_TARGETS]);
        assert.equal(await store.rememberNotification('n3', 600, 0), false, 'an id is remembered even when its unit made no job');
        assert.deepEqual((await store.commitChanges([{ notification: notification('n2'), events: [] }])).map((r) => r.kind), ['replay']);
      }));

    test('commitChanges writes a replayed unit\'s onReplay events and nothing else of it, and a unit of events alone in its place', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const notification = { id: 'n1', at: 500, forgetBefore: 0 };
        const replayed = { code: EVENT.CHANGE_REJECTED, system: 'corp', anchor: 'corp-1', changeId: 'n1', message: 'replay refused' };
        const first = await store.commitChanges([
          { events: [{ code: EVENT.UNKNOWN_SOURCE_ACCOUNT, system: 'corp', message: 'no such account' }] },
          { notification, change: { change: change('n1', w.personId, 1000), secret: sealed('n1'), targets: [{ accountId: w.apps.id }] }, events: [{ code: EVENT.CHANGE_ACCEPTED, message: 'one' }], onReplay: [replayed] },
          { events: [{ code: EVENT.CHANGE_REJECTED, system: 'corp', message: 'invalid input' }] },
        ]);
        assert.deepEqual(first.map((r) => r.kind), ['committed', 'committed', 'committed']);
        assert.deepEqual(first[0], { kind: 'committed', result: { jobs: [], outOfDate: [], superseded: [] } }, 'a unit of events alone makes no job');
        const codes = async () => (await store.listEvents({ limit: 20 })).map((e) => [e.code, e.message]);
        assert.deepEqual(await codes(), [[EVENT.UNKNOWN_SOURCE_ACCOUNT, 'no such account'], [EVENT.CHANGE_ACCEPTED, 'one'], [EVENT.CHANGE_REJECTED, 'invalid input']], 'in the order of the units; no onReplay event for a unit committed');

        const again = await store.commitChanges([
          { notification, change: { change: change('n1-again', w.personId, 2000), secret: sealed('n1-again'), targets: [{ accountId: w.mail.id }] }, events: [{ code: EVENT.CHANGE_ACCEPTED, message: 'again' }], onReplay: [replayed] },
          { notification: { id: 'n2', at: 500, forgetBefore: 0 }, events: [{ code: EVENT.NO_TARGETS, message: 'nowhere' }], onReplay: [{ ...replayed, changeId: 'n2' }] },
        ]);
        assert.deepEqual(again.map((r) => r.kind), ['replay', 'committed']);
        const written = (await store.listEvents({ limit: 20 })).slice(3);
        assert.deepEqual(written.map((e) => [e.code, e.message]), [[EVENT.CHANGE_REJECTED, 'replay refused'], [EVENT.NO_TARGETS, 'nowhere']], 'the replay\'s own event instead of its unit');
        const refusal = one(written.filter((e) => e.code === EVENT.CHANGE_REJECTED));
        assert.deepEqual([refusal.system, refusal.anchor, refusal.changeId], ['corp', 'corp-1', 'n1']);
        assert.equal((await store.listJobs({ changeId: 'n1-again', limit: 10 })).length, 0);
        assert.deepEqual(await secretIds(store), ['n1']);
      }));

    test('commitChanges is atomic as a batch: one bad unit writes nothing of the others, not even their notification ids', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await rejectsWithCode(
          store.commitChanges([
            { events: [{ code: EVENT.UNKNOWN_SOURCE_ACCOUNT, system: 'corp', message: 'a refusal of the batch' }] },
            { notification: { id: 'n1', at: 1, forgetBefore: 0 }, change: { change: change('c1', w.personId, 1000), secret: sealed('c1'), targets: [{ accountId: w.apps.id }] }, events: [{ code: EVENT.CHANGE_ACCEPTED, message: 'one' }] },
            { notification: { id: 'n2', at: 1, forgetBefore: 0 }, change: { change: change('c2', w.personId, 1000), secret: sealed('c2'), targets: [{ accountId: 999_999 }] }, events: [] },
          ]),
          'ERR_INVALID_INPUT',
        );
        assert.deepEqual(await store.listJobs({ limit: 10 }), []);
        assert.deepEqual(await store.listEvents({ limit: 10 }), [], 'not even the events of the batch');
        assert.deepEqual(await store.sealedSecrets(), []);
        assert.equal(await store.rememberNotification('n1', 2, 0), true, 'n1 was not remembered');
      }));

    test('commitChange is atomic: an unknown target or a change committed twice writes nothing', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await rejectsWithCode(
          store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }, { accountId: 999_999 }], [{ code: EVENT.CHANGE_ACCEPTED, message: 'accepted' }]),
          'ERR_INVALID_INPUT',
        );
        assert.deepEqual(await store.listJobs({ limit: 10 }), []);
        assert.deepEqual(await store.listEvents({ limit: 10 }), []);
        assert.deepEqual(await store.sealedSecrets(), []);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }], []);
        await rejectsWithCode(store.commitChange(change('c1', w.personId, 2000), sealed('c1b'), [{ accountId: w.mail.id }], []), 'ERR_INVALID_INPUT');
        assert.equal((await store.listJobs({ limit: 10 })).length, 1);
      }));

    test('a change without any job keeps no secret', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const result = await store.commitChange(change('c0', w.personId, 1000), sealed('c0'), [], [{ code: EVENT.NO_TARGETS, message: 'no targets' }]);
        assert.deepEqual(result, { jobs: [], outOfDate: [], superseded: [] });
        assert.deepEqual(await store.sealedSecrets(), []);
      }));

    test('a newer change supersedes pending and retry-scheduled jobs of the same account (7008)', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('old', w.personId, 1000), sealed('old'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        // Make the mail job retry-scheduled and put the apps job back to pending.
        const mailJob = one((await store.claimJobs('w1', 1100, 10)).filter((j) => j.accountId === w.mail.id));
        await store.finishJob(mailJob.id, { kind: 'retry', at: 1150, nextAt: 9000, error: 'busy' }, { code: EVENT.RETRY_SCHEDULED, message: 'retry' });
        await store.recoverInProgress(1160);
        assert.equal((await jobOf(store, 'old', w.mail.id)).state.kind, 'retry_scheduled');
        assert.equal((await jobOf(store, 'old', w.apps.id)).state.kind, 'pending');

        const result = await store.commitChange(change('new', w.personId, 2000), sealed('new'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        const oldApps = await jobOf(store, 'old', w.apps.id);
        const oldMail = await jobOf(store, 'old', w.mail.id);
        assert.deepEqual([...result.superseded].sort(), [oldApps.id, oldMail.id].sort());
        assert.equal(result.jobs.length, 2);
        for (const job of [oldApps, oldMail]) {
          assert.deepEqual(job.state, { kind: 'superseded', at: job.updatedAt, by: 'new' });
        }
        const events = await store.listEvents({ codes: [EVENT.SUPERSEDED], limit: 10 });
        assert.deepEqual(events.map((e) => e.jobId).sort(), [oldApps.id, oldMail.id].sort());
        assert.ok(events.every((e) => e.changeId === 'old' && e.severity === 'info'));
        assert.deepEqual(await secretIds(store), ['new'], 'the superseded change keeps no secret');
        assert.equal(await store.nextRetryAt(), undefined);
      }));

    test('an older change than a pending one is not queued (6919), nor one older than the last applied', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('newer', w.personId, 2000), sealed('newer'), [{ accountId: w.apps.id }], []);
        const older = await store.commitChange(change('older', w.personId, 1000), sealed('older'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        assert.deepEqual(older.outOfDate, [w.apps.id]);
        assert.deepEqual(older.jobs.map((j) => j.accountId), [w.mail.id]);
        assert.deepEqual(older.superseded, []);
        assert.equal((await jobOf(store, 'newer', w.apps.id)).state.kind, 'pending', 'the newer job is untouched');
        const outOfDate = one(await store.listEvents({ codes: [EVENT.TIMESTAMP_OUT_OF_DATE], limit: 10 }));
        assert.equal(outOfDate.changeId, 'older');
        assert.equal(outOfDate.system, 'apps');
        assert.equal(outOfDate.anchor, 'apps-1');
        assert.equal(outOfDate.severity, 'info');

        // Apply the mail job (change time 1000), then a change older than that is out of date too.
        const job = one(await store.claimJobs('w1', 3000, 10).then((jobs) => jobs.filter((j) => j.accountId === w.mail.id)));
        await store.finishJob(job.id, { kind: 'done', at: 3001 }, { code: EVENT.PASSWORD_SET, message: 'set' });
        assert.equal((await store.getAccount('mail', 'mail-1'))?.lastAppliedAt, 1000);
        const stale = await store.commitChange(change('stale', w.personId, 999), sealed('stale'), [{ accountId: w.mail.id }], []);
        assert.deepEqual(stale.outOfDate, [w.mail.id]);
        assert.deepEqual(stale.jobs, []);
        assert.ok(!(await secretIds(store)).includes('stale'), 'a change with no job keeps no secret');
        const same = await store.commitChange(change('same-time', w.personId, 1000), sealed('same'), [{ accountId: w.mail.id }], []);
        assert.equal(same.jobs.length, 1, 'a change as old as the last applied one is still delivered');
      }));

    test('an older change than one in progress is out of date; a newer one waits behind it', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c2', w.personId, 2000), sealed('c2'), [{ accountId: w.apps.id }], []);
        const running = one(await store.claimJobs('w1', 2100, 10));
        const older = await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }], []);
        assert.deepEqual(older.outOfDate, [w.apps.id]);
        const newer = await store.commitChange(change('c3', w.personId, 3000), sealed('c3'), [{ accountId: w.apps.id }], []);
        assert.equal(newer.jobs.length, 1);
        assert.deepEqual(newer.superseded, [], 'a job in progress is never superseded');
        assert.equal((await jobOf(store, 'c2', w.apps.id)).state.kind, 'in_progress');
        assert.deepEqual(await store.claimJobs('w2', 3100, 10), [], 'the account is busy');
        await store.finishJob(running.id, { kind: 'done', at: 3200 }, { code: EVENT.PASSWORD_SET, message: 'set' });
        const next = one(await store.claimJobs('w2', 3300, 10));
        assert.equal(next.changeId, 'c3');
        assert.equal(next.lastAppliedAt, 2000);
      }));
  });
}
