import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { change, one, rejectsWithCode, sealed, withStore, world, type OpenStore } from './fixtures.ts';
import { EVENT } from '../../core/events.ts';

/** The delivery queue: claiming, finishing, retrying, recovering, listing. */
export function queueTests(open: OpenStore): void {
  describe('delivery queue', () => {
    test('claimJobs hands out the oldest change first, up to the limit, and marks them in progress', () =>
      withStore(open, async (store) => {
        const w1 = await world(store, 1);
        const w2 = await world(store, 2);
        await store.commitChange(change('late', w1.personId, 3000, { origin: 'admin' }), sealed('late'), [{ accountId: w1.apps.id }], []);
        await store.commitChange(change('early', w2.personId, 1000), sealed('early'), [{ accountId: w2.apps.id }], []);
        await store.commitChange(change('mid', w2.personId, 2000), sealed('mid'), [{ accountId: w2.mail.id }], []);

        const first = await store.claimJobs('worker-a', 5000, 2);
        assert.deepEqual(first.map((j) => j.changeId), ['early', 'mid']);
        const job = first[0];
        assert.ok(job);
        assert.deepEqual(job.state, { kind: 'in_progress', worker: 'worker-a', since: 5000 });
        assert.equal(job.attempts, 1);
        assert.equal(job.updatedAt, 5000);
        assert.equal(job.origin, 'source');
        assert.equal(job.lastAppliedAt, null);
        assert.equal(job.secret.keyId, 'k1');
        assert.deepEqual(job.secret.blob, sealed('early').blob);

        const rest = one(await store.claimJobs('worker-b', 5001, 10));
        assert.equal(rest.changeId, 'late');
        assert.equal(rest.origin, 'admin');
        assert.deepEqual(await store.claimJobs('worker-b', 5002, 10), []);
        assert.deepEqual(await store.claimJobs('worker-b', 5002, 0), []);
        assert.equal((await store.counts()).jobsByState.in_progress, 3);
      }));

    test('claimJobs never hands out two jobs of one account at once', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }], []);
        one(await store.claimJobs('w1', 1100, 10));
        await store.commitChange(change('c2', w.personId, 2000), sealed('c2'), [{ accountId: w.apps.id }], []);
        assert.deepEqual(await store.claimJobs('w2', 2100, 10), [], 'the account has a job in progress');
        // Both back to pending (a crash): only the older may go, then the newer after it.
        assert.equal(await store.recoverInProgress(2200), 1);
        const first = one(await store.claimJobs('w3', 2300, 10));
        assert.equal(first.changeId, 'c1');
        assert.equal(first.attempts, 2, 'attempts survive a recovery');
        await store.finishJob(first.id, { kind: 'done', at: 2400 }, { code: EVENT.PASSWORD_SET, message: 'set' });
        const second = one(await store.claimJobs('w3', 2500, 10));
        assert.equal(second.changeId, 'c2');
        assert.equal(second.lastAppliedAt, 1000);
      }));

    test('a retry is scheduled, reported by nextRetryAt, and claimed again only when due', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        assert.equal(await store.nextRetryAt(), undefined);
        const [a, b] = await store.claimJobs('w1', 1100, 10);
        assert.ok(a && b);
        await store.finishJob(a.id, { kind: 'retry', at: 1200, nextAt: 9000, error: 'ERR_TRANSIENT: busy' }, { code: EVENT.RETRY_SCHEDULED, message: 'retry 1' });
        await store.finishJob(b.id, { kind: 'retry', at: 1200, nextAt: 7000, error: 'ERR_TRANSIENT: busy' }, { code: EVENT.RETRY_SCHEDULED, message: 'retry 1' });
        assert.equal(await store.nextRetryAt(), 7000);
        const listed = one((await store.listJobs({ limit: 10 })).filter((j) => j.id === a.id));
        assert.deepEqual(listed.state, { kind: 'retry_scheduled', nextAt: 9000, lastError: 'ERR_TRANSIENT: busy' });
        assert.equal(listed.updatedAt, 1200);
        assert.deepEqual(await secretIds(store), ['c1'], 'a retry keeps the secret');

        assert.deepEqual(await store.claimJobs('w1', 6999, 10), []);
        const due = one(await store.claimJobs('w1', 7000, 10));
        assert.equal(due.id, b.id);
        assert.equal(due.attempts, 2);
        assert.equal(await store.nextRetryAt(), 9000);
        const later = one(await store.claimJobs('w1', 20_000, 10));
        assert.equal(later.id, a.id);
        assert.equal(await store.nextRetryAt(), undefined);
        const events = await store.listEvents({ codes: [EVENT.RETRY_SCHEDULED], limit: 10 });
        assert.equal(events.length, 2);
        assert.ok(events.every((e) => e.changeId === 'c1' && e.personId === w.personId && e.jobId !== null && e.system !== null));
      }));

    test('finishJob done records the change time on the account; the secret goes with the last open job', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        const [a, b] = await store.claimJobs('w1', 1100, 10);
        assert.ok(a && b);
        await store.finishJob(a.id, { kind: 'done', at: 1200 }, { code: EVENT.PASSWORD_SET, message: 'set' });
        assert.deepEqual(await secretIds(store), ['c1'], 'one job is still open');
        const done = one((await store.listJobs({ states: ['done'], limit: 10 })));
        assert.deepEqual(done.state, { kind: 'done', at: 1200 });
        assert.equal((await store.getAccount(done.system, done.anchor))?.lastAppliedAt, 1000);

        await store.finishJob(b.id, { kind: 'failed', at: 1300, event: EVENT.POLICY_REFUSED, error: 'ERR_POLICY: too short' }, { code: EVENT.POLICY_REFUSED, message: 'policy' });
        assert.deepEqual(await store.sealedSecrets(), []);
        const failed = one(await store.listJobs({ states: ['failed'], limit: 10 }));
        assert.deepEqual(failed.state, { kind: 'failed', at: 1300, event: EVENT.POLICY_REFUSED, lastError: 'ERR_POLICY: too short' });
        assert.equal((await store.getAccount(failed.system, failed.anchor))?.lastAppliedAt, null, 'a failure applies nothing');

        const set = one(await store.listEvents({ codes: [EVENT.PASSWORD_SET], limit: 10 }));
        assert.equal(set.jobId, a.id);
        assert.equal(set.changeId, 'c1');
        assert.equal(one(await store.listEvents({ codes: [EVENT.POLICY_REFUSED], limit: 10 })).severity, 'error');
      }));

    test('finishJob refuses a job that is unknown or not in progress, and changes nothing then', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const { jobs } = await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }], []);
        const id = one(jobs).jobId;
        await rejectsWithCode(store.finishJob(id, { kind: 'done', at: 1 }, { code: EVENT.PASSWORD_SET, message: 'set' }), 'ERR_INVALID_INPUT');
        await rejectsWithCode(store.finishJob(999_999, { kind: 'done', at: 1 }, { code: EVENT.PASSWORD_SET, message: 'set' }), 'ERR_INVALID_INPUT');
        one(await store.claimJobs('w', 2, 1));
        await store.finishJob(id, { kind: 'done', at: 3 }, { code: EVENT.PASSWORD_SET, message: 'set' });
        await rejectsWithCode(store.finishJob(id, { kind: 'failed', at: 4, event: EVENT.DELIVERY_FAILED, error: 'x' }, { code: EVENT.DELIVERY_FAILED, message: 'late' }), 'ERR_INVALID_INPUT');
        assert.deepEqual(one(await store.listJobs({ limit: 10 })).state, { kind: 'done', at: 3 });
        assert.deepEqual((await store.listEvents({ limit: 10 })).map((e) => e.code), [EVENT.PASSWORD_SET]);
      }));

    test('finishJobs finishes several jobs in one call; one that cannot be finished is answered in its place', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        const [a, b] = await store.claimJobs('w1', 1100, 10);
        assert.ok(a && b);
        const outcomes = await store.finishJobs([
          { jobId: a.id, outcome: { kind: 'done', at: 1200 }, event: { code: EVENT.PASSWORD_SET, message: 'set' } },
          { jobId: 999_999, outcome: { kind: 'done', at: 1200 }, event: { code: EVENT.PASSWORD_SET, message: 'ghost' } },
          { jobId: b.id, outcome: { kind: 'retry', at: 1200, nextAt: 5000, error: 'ERR_TRANSIENT: busy' }, event: { code: EVENT.RETRY_SCHEDULED, message: 'retry' } },
        ]);
        assert.deepEqual(outcomes.map((o) => (o === undefined ? 'ok' : (o as Error & { code?: string }).code)), ['ok', 'ERR_INVALID_INPUT', 'ok']);
        assert.deepEqual((await store.listJobs({ limit: 10 })).map((j) => j.state.kind).sort(), ['done', 'retry_scheduled']);
        assert.deepEqual((await store.listEvents({ limit: 10 })).map((e) => e.message), ['set', 'retry'], 'nothing of the refused one');
        assert.deepEqual(await secretIds(store), ['c1'], 'the retried job keeps the secret');
      }));

    test('finishAndClaim finishes, then claims in the same call: the next job of a finished account included', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        const first = await store.claimJobs('w1', 1100, 10);
        assert.deepEqual(first.map((j) => j.changeId), ['c1', 'c1']);
        // A newer change while c1 is being delivered: its job waits for c1's on apps.
        await store.commitChange(change('c2', w.personId, 2000), sealed('c2'), [{ accountId: w.apps.id }], []);
        assert.deepEqual(await store.claimJobs('w1', 2100, 10), [], 'one job per account at a time');
        const onApps = first.find((j) => j.anchor === w.apps.anchor);
        assert.ok(onApps);
        const { finished, claimed } = await store.finishAndClaim(
          [
            { jobId: onApps.id, outcome: { kind: 'done', at: 2200 }, event: { code: EVENT.PASSWORD_SET, message: 'set' } },
            { jobId: 999_999, outcome: { kind: 'done', at: 2200 }, event: { code: EVENT.PASSWORD_SET, message: 'ghost' } },
          ],
          'w1',
          2200,
          10,
        );
        assert.deepEqual(finished.map((o) => (o === undefined ? 'ok' : (o as Error & { code?: string }).code)), ['ok', 'ERR_INVALID_INPUT']);
        assert.deepEqual(claimed.map((j) => [j.changeId, j.anchor]), [['c2', w.apps.anchor]], 'apps is free again, mail is still busy');
        assert.deepEqual(claimed[0]?.secret, sealed('c2'), 'the claimed job carries its sealed secret across');
        // Nothing to finish and nothing free: an empty answer, nothing written.
        assert.deepEqual(await store.finishAndClaim([], 'w1', 2300, 0), { finished: [], claimed: [] });
        assert.deepEqual((await store.listEvents({ limit: 10 })).map((e) => e.message), ['set']);
      }));

    test('recoverInProgress queues jobs left in progress again, with event 7011 each', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        assert.equal(await store.recoverInProgress(1050), 0);
        assert.equal((await store.claimJobs('dead', 1100, 10)).length, 2);
        assert.equal(await store.recoverInProgress(1200), 2);
        const jobs = await store.listJobs({ limit: 10 });
        assert.ok(jobs.every((j) => j.state.kind === 'pending' && j.attempts === 1 && j.updatedAt === 1200));
        const events = await store.listEvents({ codes: [EVENT.JOB_RECOVERED], limit: 10 });
        assert.deepEqual(events.map((e) => e.jobId).sort(), jobs.map((j) => j.id).sort());
        assert.ok(events.every((e) => e.at === 1200 && e.severity === 'warning' && e.changeId === 'c1'));
        assert.deepEqual(await secretIds(store), ['c1']);
        assert.equal(await store.recoverInProgress(1300), 0);
      }));

    test('abandonSealedUnder fails the open jobs of changes sealed under lost keys (7031) and wipes their secrets, nothing else', () =>
      withStore(open, async (store) => {
        const w = await world(store, 1);
        const other = await world(store, 2);
        await store.commitChange(change('c1', w.personId, 1000), sealed('c1', 'lost'), [{ accountId: w.apps.id }, { accountId: w.mail.id }], []);
        await store.commitChange(change('c2', other.personId, 2000), sealed('c2', 'kept'), [{ accountId: other.apps.id }], []);
        assert.equal(await store.abandonSealedUnder([], 2500), 0);
        assert.equal(await store.abandonSealedUnder(['lost', 'unknown'], 3000), 2);
        const jobs = await store.listJobs({ changeId: 'c1', limit: 10 });
        assert.ok(jobs.every((j) => j.state.kind === 'failed' && j.updatedAt === 3000), JSON.stringify(jobs));
        const events = await store.listEvents({ codes: [EVENT.KEY_LOST], limit: 10 });
        assert.deepEqual(events.map((e) => e.jobId).sort(), jobs.map((j) => j.id).sort());
        assert.ok(events.every((e) => e.severity === 'error' && e.changeId === 'c1'));
        assert.deepEqual(await secretIds(store), ['c2']);
        assert.equal((await store.listJobs({ changeId: 'c2', limit: 10 }))[0]?.state.kind, 'pending');
        assert.equal(await store.abandonSealedUnder(['lost'], 4000), 0);
      }));

    test('listJobs filters by state, system, person and change, newest first, up to the limit', () =>
      withStore(open, async (store) => {
        const w1 = await world(store, 1);
        const w2 = await world(store, 2);
        await store.commitChange(change('c1', w1.personId, 1000), sealed('c1'), [{ accountId: w1.apps.id }, { accountId: w1.mail.id }], []);
        await store.commitChange(change('c2', w2.personId, 2000), sealed('c2'), [{ accountId: w2.apps.id }], []);
        one(await store.claimJobs('w', 3000, 1));

        const all = await store.listJobs({ limit: 10 });
        assert.equal(all.length, 3);
        assert.deepEqual(all.map((j) => j.id), [...all.map((j) => j.id)].sort((x, y) => y - x), 'newest first');
        assert.deepEqual((await store.listJobs({ limit: 2 })).map((j) => j.id), all.slice(0, 2).map((j) => j.id));
        assert.deepEqual((await store.listJobs({ states: ['in_progress'], limit: 10 })).map((j) => j.changeId), ['c1']);
        assert.equal((await store.listJobs({ states: ['pending', 'in_progress'], limit: 10 })).length, 3);
        assert.deepEqual(await store.listJobs({ states: [], limit: 10 }), []);
        assert.deepEqual((await store.listJobs({ system: 'apps', limit: 10 })).map((j) => j.changeId).sort(), ['c1', 'c2']);
        assert.deepEqual((await store.listJobs({ personId: w2.personId, limit: 10 })).map((j) => j.changeId), ['c2']);
        assert.equal((await store.listJobs({ changeId: 'c1', limit: 10 })).length, 2);
        assert.equal((await store.listJobs({ changeId: 'c1', system: 'mail', personId: w1.personId, states: ['pending'], limit: 10 })).length, 1);
        await rejectsWithCode(store.listJobs({ limit: -1 }), 'ERR_INVALID_INPUT');
      }));
  });
}

async function secretIds(store: { sealedSecrets(): Promise<readonly { changeId: string }[]> }): Promise<string[]> {
  return (await store.sealedSecrets()).map((s) => s.changeId).sort();
}
