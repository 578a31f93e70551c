import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPwsyncError } from '../../core/errors.ts';
import { Secret } from '../../core/secret.ts';
import { DEFAULT_MAX_QUEUE_AGE_MS, QueueFullError, type EnqueueOutcome, type QueuedCapture } from './index.ts';
import { capture, withStore } from './test-support.ts';
import { EVENT, type EventCode } from '../../core/events.ts';

function queued(outcomes: readonly EnqueueOutcome[]): QueuedCapture[] {
  return outcomes.map((o) => {
    assert.ok(o.ok, 'queued');
    return o.item;
  });
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u;

void describe('agent queue', () => {
  void test('enqueue → peek → openSecret gives back the password; the caller keeps its Secret', () =>
    withStore(async (store) => {
      const a = capture('alice', 'Pässwörd-Ω-12345', { changedAt: 10, capturedAt: 20 });
      const b = capture('bob', 'second-😀-pw', { changedAt: 11, capturedAt: 21 });
      const items = queued(await store.enqueue([a, b]));
      assert.equal(a.secret.disposed, false, 'the queue does not dispose the caller’s secret');
      const [first, second] = items;
      assert.ok(first && second);
      assert.match(first.id, UUID_V7);
      assert.ok(second.seq > first.seq);
      assert.deepEqual(first, {
        seq: first.seq, id: first.id, source: 'corp', account: 'alice', anchor: null, changedAt: 10, capturedAt: 20, scope: 'in', attempts: 0, lastAttemptAt: null, lastError: null,
      });
      assert.deepEqual(await store.peek(10), items);
      assert.deepEqual(await store.peek(1), [first]);
      assert.deepEqual(await store.peek(10, first.seq), [second]);
      const opened = await store.openSecret(first);
      assert.ok(opened.equals(a.secret));
      assert.equal(opened.useSync((c) => c.toString('utf8')), 'Pässwörd-Ω-12345');
      opened.dispose();
      const other = await store.openSecret(second);
      assert.ok(other.equals(b.secret));
      other.dispose();
      a.secret.dispose();
      b.secret.dispose();
    }));

  void test('peek keeps the commit order across calls, also for one account', () =>
    withStore(async (store) => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const [item] = queued(await store.enqueue([capture('alice', `pw-${i}`, { changedAt: 100 - i }), capture('bob', `pw-b-${i}`)]));
        assert.ok(item);
        ids.push(item.id);
      }
      const alice = (await store.peek(100)).filter((c) => c.account === 'alice');
      assert.deepEqual(alice.map((c) => c.id), ids);
      const seqs = (await store.peek(100)).map((c) => c.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    }));

  void test('a malformed capture rejects the whole call and writes nothing', () =>
    withStore(async (store) => {
      const disposed = Secret.fromString('x');
      disposed.dispose();
      for (const bad of [
        { ...capture('a', 'pw'), account: '' },
        { ...capture('a', 'pw'), changedAt: 1.5 },
        { ...capture('a', 'pw'), secret: Secret.fromString('') },
        { ...capture('a', 'pw'), secret: disposed },
      ]) {
        await assert.rejects(store.enqueue([capture('ok', 'pw'), bad]), { code: 'ERR_INVALID_INPUT' });
      }
      assert.equal((await store.stats()).length, 0);
    }));

  void test('a sealed batch sent again (its answer lost) is not queued twice', () =>
    withStore(async (store) => {
      const c = capture('alice', 'pw-a');
      const sealed = [store.seal(c), store.seal(capture('bob', 'pw-b'))];
      c.secret.dispose();
      const first = queued(await store.enqueueSealed(sealed));
      assert.deepEqual(queued(await store.enqueueSealed(sealed)), first);
      assert.equal((await store.stats()).length, 2);
    }));

  void test('remove deletes delivered changes; openSecret of a removed change is a typed error', () =>
    withStore(async (store) => {
      const [a, b, c] = queued(await store.enqueue([capture('a', 'pw-a'), capture('b', 'pw-b'), capture('c', 'pw-c')]));
      assert.ok(a && b && c);
      assert.equal(await store.remove([a.id, c.id, a.id, 'unknown']), 2);
      assert.deepEqual((await store.peek(10)).map((x) => x.id), [b.id]);
      await assert.rejects(store.openSecret(a), { code: 'ERR_CAPTURE_NOT_FOUND' });
      assert.equal(await store.remove([]), 0);
      assert.equal((await store.stats()).length, 1);
    }));

  void test('the length limit refuses the captures beyond it with QueueFullError and 7042; the rest commit', () =>
    withStore(
      async (store) => {
        queued(await store.enqueue([capture('a', 'pw-1')]));
        const outcomes = await store.enqueue([capture('b', 'pw-2'), capture('c', 'pw-3'), capture('d', 'pw-4')]);
        assert.deepEqual(outcomes.map((o) => o.ok), [true, true, false]);
        const refused = outcomes[2];
        assert.ok(refused && !refused.ok);
        assert.ok(refused.error instanceof QueueFullError);
        assert.ok(isPwsyncError(refused.error));
        assert.equal(refused.error.code, 'ERR_QUEUE_FULL');
        assert.equal(refused.error.limit, 3);
        assert.equal(refused.error.event, EVENT.QUEUE_FULL);
        assert.equal((await store.stats()).length, 3);
        const events = await store.listEvents({ limit: 10 });
        assert.deepEqual(events.map((e) => [e.code, e.severity, e.system, e.anchor]), [[EVENT.QUEUE_FULL, 'error', 'corp', 'd']]);
        assert.match(events[0]?.changeId ?? '', UUID_V7);
        // Room again after a delivery.
        const [first] = await store.peek(1);
        assert.ok(first);
        await store.remove([first.id]);
        assert.deepEqual((await store.enqueue([capture('e', 'pw-5')])).map((o) => o.ok), [true]);
      },
      { maxLength: 3 },
    ));

  void test('expire drops the changes older than the age limit, one 7041 event each, without secrets', () =>
    withStore(async (store) => {
      const now = 10 * DEFAULT_MAX_QUEUE_AGE_MS;
      const [old, edge, young] = queued(
        await store.enqueue([
          capture('old', 'old-pw-secret', { capturedAt: now - DEFAULT_MAX_QUEUE_AGE_MS - 1 }),
          capture('edge', 'edge-pw', { capturedAt: now - DEFAULT_MAX_QUEUE_AGE_MS }),
          capture('young', 'young-pw', { capturedAt: now - 1 }),
        ]),
      );
      assert.ok(old && edge && young);
      await store.recordAttempt([old.id], { at: now - 5, error: 'connect ECONNREFUSED 10.0.0.1:8443' });
      const dropped = await store.expire(now);
      assert.deepEqual(dropped.map((c) => c.id), [old.id]);
      assert.deepEqual((await store.peek(10)).map((c) => c.id), [edge.id, young.id]);
      const events = await store.listEvents({ limit: 10, codes: [EVENT.QUEUE_AGE_LIMIT] });
      assert.equal(events.length, 1);
      const [event] = events;
      assert.ok(event);
      assert.deepEqual([event.code, event.severity, event.system, event.anchor, event.changeId, event.at], [EVENT.QUEUE_AGE_LIMIT, 'error', 'corp', 'old', old.id, now]);
      assert.match(event.message, /1 attempts.*ECONNREFUSED/u);
      assert.doesNotMatch(event.message, /old-pw-secret/u);
      assert.deepEqual(await store.expire(now), []);
      assert.equal((await store.stats()).oldestCapturedAt, now - DEFAULT_MAX_QUEUE_AGE_MS);
    }));

  void test('a pending scope is kept until settled: in keeps the change, out removes it with 7040', () =>
    withStore(async (store) => {
      const [p1, p2, plain] = queued(
        await store.enqueue([{ ...capture('p1', 'pw-1'), scope: 'pending' }, { ...capture('p2', 'pw-2'), scope: 'pending' }, capture('plain', 'pw-3')]),
      );
      assert.ok(p1 && p2 && plain);
      assert.deepEqual((await store.peek(10)).map((c) => c.scope), ['pending', 'pending', 'in']);
      assert.equal((await store.stats()).pendingScope, 2);
      assert.equal(await store.setScope(p1.id, 'in'), true);
      assert.equal(await store.setScope(p2.id, 'out', 'cannot decide: the filter cannot be built'), true);
      assert.equal(await store.setScope(p2.id, 'out'), false);
      assert.deepEqual((await store.peek(10)).map((c) => [c.account, c.scope]), [['p1', 'in'], ['plain', 'in']]);
      const events = await store.listEvents({ limit: 10 });
      assert.deepEqual(events.map((e) => [e.code, e.severity, e.system, e.anchor, e.changeId]), [[EVENT.OUT_OF_SCOPE, 'info', 'corp', 'p2', p2.id]]);
      assert.equal(events[0]?.message, 'change of "p2" not delivered: cannot decide: the filter cannot be built');
      await assert.rejects(store.setScope(p1.id, 'pending' as 'in'), { code: 'ERR_INVALID_INPUT' });
    }));

  void test('recordAttempt counts attempts and keeps the last error', () =>
    withStore(async (store) => {
      const [a, b] = queued(await store.enqueue([capture('a', 'pw-a'), capture('b', 'pw-b')]));
      assert.ok(a && b);
      assert.equal(await store.recordAttempt([a.id, b.id], { at: 50, error: 'server 503' }), 2);
      assert.equal(await store.recordAttempt([a.id], { at: 60, error: 'x'.repeat(5000) }), 1);
      const [ra, rb] = await store.peek(10);
      assert.deepEqual([ra?.attempts, ra?.lastAttemptAt, ra?.lastError?.length], [2, 60, 1000]);
      assert.deepEqual([rb?.attempts, rb?.lastAttemptAt, rb?.lastError], [1, 50, 'server 503']);
    }));

  void test('stats reports length, the oldest capture and the file size', () =>
    withStore(async (store) => {
      assert.deepEqual(await store.stats(), { length: 0, oldestCapturedAt: null, pendingScope: 0, bytes: (await store.stats()).bytes });
      await store.enqueue([capture('a', 'pw', { capturedAt: 500 }), capture('b', 'pw', { capturedAt: 300 })]);
      const stats = await store.stats();
      assert.equal(stats.length, 2);
      assert.equal(stats.oldestCapturedAt, 300);
      assert.ok(stats.bytes > 0);
    }));

  void test('events: newest N in chronological order, filtered by code; unknown codes refused; pruned by age', () =>
    withStore(
      async (store) => {
        await store.appendEvents([
          { code: EVENT.TARGET_UNAVAILABLE, at: 1, system: 'corp', message: 'server a down' },
          { code: EVENT.TARGET_AVAILABLE, at: 2 },
          { code: EVENT.TARGET_UNAVAILABLE, at: 3, message: 'server b down' },
        ]);
        assert.deepEqual((await store.listEvents({ limit: 2 })).map((e) => e.at), [2, 3]);
        const down = await store.listEvents({ limit: 10, codes: [EVENT.TARGET_UNAVAILABLE] });
        assert.deepEqual(down.map((e) => [e.at, e.severity, e.message]), [[1, 'warning', 'server a down'], [3, 'warning', 'server b down']]);
        const [recovered] = await store.listEvents({ limit: 1, codes: [EVENT.TARGET_AVAILABLE] });
        assert.match(recovered?.message ?? '', /accepts deliveries again/u);
        assert.deepEqual(await store.listEvents({ limit: 10, codes: [] }), []);
        await assert.rejects(store.appendEvents([{ code: 1234 as EventCode }]), { code: 'ERR_INVALID_INPUT' });
        await assert.rejects(store.listEvents({ limit: -1 }), { code: 'ERR_INVALID_INPUT' });
        assert.equal(await store.pruneEvents(3), 2);
        assert.deepEqual((await store.listEvents({ limit: 10 })).map((e) => e.at), [3]);
      },
      { now: () => 42 },
    ));

  void test('a closed store fails with StoreError', () =>
    withStore(async (store) => {
      await store.close();
      await assert.rejects(store.peek(1), { code: 'ERR_STORE' });
      await assert.rejects(store.enqueue([capture('a', 'pw')]), { code: 'ERR_STORE' });
      await assert.rejects(store.openSecret({ id: 'x' }), { code: 'ERR_STORE' });
    }));
});
