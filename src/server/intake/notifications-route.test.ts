import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { InvalidInputError, UnknownAccountError } from '../../core/errors.ts';
import { EVENT } from '../../core/events.ts';
import type { NewEvent } from '../../core/model.ts';
import { encryptCompact } from '../../crypto/jwe.ts';
import { silentLogger } from '../../log/logger.ts';
import { JWE_BINDING, type Notification } from '../../protocol/notifications.ts';
import type { BatchEvents, ChangeOutcome, ChangeRequest } from '../../sync/submit-change.ts';
import { NotificationsRoute, type IntakeEngine } from './notifications-route.ts';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const HOUR = 3_600_000;
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const agent = { name: 'dc1', sources: new Set(['directory']) };

function notification(account: string, options: { capturedAt?: number; changedAt?: number; password?: string; unboundTimes?: boolean } = {}): Notification {
  const id = randomUUID();
  const changedAt = options.changedAt ?? NOW - 1000;
  const capturedAt = options.capturedAt ?? NOW;
  const times = options.unboundTimes === true ? {} : { [JWE_BINDING.changedAt]: changedAt, [JWE_BINDING.capturedAt]: capturedAt };
  const header = { [JWE_BINDING.id]: id, [JWE_BINDING.source]: 'directory', [JWE_BINDING.account]: account, ...times };
  const password = encryptCompact(Buffer.from(options.password ?? `pw-${account}-1234`), { kid: 'k1', key: keys.publicKey }, header);
  return { id, source: 'directory', account, changedAt, capturedAt, password };
}

/** An engine that answers each request by its account's name and remembers what it was given. */
function fakeEngine(): IntakeEngine & { batches: { requests: ChangeRequest[]; owed: BatchEvents; passwords: string[] }[]; appended: NewEvent[] } {
  const batches: { requests: ChangeRequest[]; owed: BatchEvents; passwords: string[] }[] = [];
  const appended: NewEvent[] = [];
  return {
    batches,
    appended,
    now: () => NOW,
    appendEvents: (events) => {
      appended.push(...events);
      return Promise.resolve();
    },
    submitChanges: (requests, owed) => {
      batches.push({ requests: [...requests], owed, passwords: requests.map((r) => r.secret.useSync((b) => b.toString('utf8'))) });
      return Promise.resolve(
        requests.map((r): ChangeOutcome => {
          const name = r.account.name ?? '';
          if (name === 'seen') return { kind: 'replay', changeId: r.notificationId ?? '' };
          if (name === 'nobody') return { kind: 'rejected', error: new UnknownAccountError('no account with login "nobody"') };
          if (name === 'odd') return { kind: 'rejected', error: new InvalidInputError('odd input') };
          if (name === 'newcomer') return { kind: 'retry', message: 'its source could not be asked for it now' };
          return { kind: 'accepted', receipt: { changeId: r.notificationId ?? '', personId: 'p', sourceAnchor: name, jobs: [], outOfDate: [], notEnabled: [], withheld: [], superseded: [] } };
        }),
      );
    },
  };
}

function route(engine: IntakeEngine, maxBatch = 10): NotificationsRoute {
  return new NotificationsRoute({ engine, log: silentLogger(), jwe: { kid: 'k1', key: keys.privateKey }, replayWindowMs: 24 * HOUR, maxBatch });
}

describe('the notifications route', () => {
  test("a change the entry point holds (its new account's source cannot be asked now) is answered retry, not rejected: the agent keeps it", async () => {
    const engine = fakeEngine();
    const batch = [notification('newcomer'), notification('alice')];
    const answer = await route(engine).receive(agent, { notifications: batch });
    assert.ok(!answer.refused);
    assert.equal(answer.status, 202);
    assert.deepEqual(answer.results.map((r) => [r.id, r.status]), [[batch[0]?.id, 'retry'], [batch[1]?.id, 'accepted']]);
    assert.match(answer.results[0]?.message ?? '', /could not be asked/);
  });

  test('one call to the entry point per batch, carrying the refusals of single notifications; one result per notification, in order', async () => {
    const engine = fakeEngine();
    const batch = [notification('alice'), notification('old', { capturedAt: NOW - 25 * HOUR }), notification('nobody'), notification('seen'), notification('odd'), notification('ahead', { capturedAt: NOW + HOUR })];
    const answer = await route(engine).receive(agent, { notifications: batch });
    assert.ok(!answer.refused);
    assert.equal(answer.status, 422);
    assert.deepEqual(answer.results.map((r) => [r.status, r.reason]), [
      ['accepted', undefined],
      ['rejected', 'stale'],
      ['rejected', 'unknown-account'],
      ['duplicate', undefined],
      ['rejected', 'invalid'],
      ['rejected', 'invalid'],
    ]);
    assert.deepEqual(answer.results.map((r) => r.id), batch.map((n) => n.id));
    assert.equal(engine.batches.length, 1);
    assert.deepEqual(engine.appended, [], 'nothing written apart from the batch');
    const [{ requests, owed, passwords }] = engine.batches as [(typeof engine.batches)[number]];
    assert.deepEqual(requests.map((r) => r.account.name), ['alice', 'nobody', 'seen', 'odd']);
    assert.deepEqual(passwords, ['pw-alice-1234', 'pw-nobody-1234', 'pw-seen-1234', 'pw-odd-1234']);
    assert.deepEqual(owed.refused?.map((e) => [e.code, e.changeId]), [[EVENT.CHANGE_REJECTED, batch[1]?.id], [EVENT.CHANGE_REJECTED, batch[5]?.id]]);
    const odd = requests[3];
    assert.ok(odd && owed.invalid);
    const invalid = owed.invalid(odd, new InvalidInputError('odd input'));
    assert.deepEqual([invalid.code, invalid.system, invalid.changeId], [EVENT.CHANGE_REJECTED, 'directory', batch[4]?.id]);
    for (const r of requests) assert.ok(r.secret.disposed, 'each password is wiped once the batch is answered');
  });

  test('a batch with only refusals still reaches the entry point, for its refusals to be committed', async () => {
    const engine = fakeEngine();
    const answer = await route(engine).receive(agent, { notifications: [notification('old', { capturedAt: NOW - 25 * HOUR })] });
    assert.ok(!answer.refused);
    assert.equal(answer.status, 422);
    assert.deepEqual(engine.batches.map((b) => [b.requests.length, b.owed.refused?.length]), [[0, 1]]);
  });

  test('duplicates alone answer 409, acceptances alone 202', async () => {
    assert.deepEqual(await route(fakeEngine()).receive(agent, { notifications: [notification('seen'), notification('alice')] }).then((a) => (a.refused ? 0 : a.status)), 409);
    assert.deepEqual(await route(fakeEngine()).receive(agent, { notifications: [notification('alice')] }).then((a) => (a.refused ? 0 : a.status)), 202);
  });

  test('a batch with malformed members: each gets its own result (with its id when it has one), the others are taken', async () => {
    const engine = fakeEngine();
    const alice = notification('alice');
    const epoch = { ...notification('u002'), changedAt: 0 };
    const beyond = { ...notification('u003'), changedAt: 8_640_000_000_000_001 };
    const bob = notification('bob');
    const batch: unknown[] = [alice, epoch, { id: 'not-a-uuid' }, 42, beyond, { ...notification('x'), extra: 1 }, bob];
    const answer = await route(engine).receive(agent, { notifications: batch });
    assert.ok(!answer.refused, 'one malformed member never refuses the batch');
    assert.equal(answer.status, 422);
    assert.deepEqual(answer.results.map((r) => [r.status, r.reason]), [
      ['accepted', undefined],
      ['rejected', 'malformed'],
      ['rejected', 'malformed'],
      ['rejected', 'malformed'],
      ['rejected', 'malformed'],
      ['rejected', 'malformed'],
      ['accepted', undefined],
    ]);
    assert.deepEqual(answer.results.map((r) => r.id), [alice.id, epoch.id, 'not-a-uuid', '', beyond.id, (batch[5] as Notification).id, bob.id]);
    assert.match(answer.results[1]?.message ?? '', /^changedAt: /);
    assert.equal(engine.batches.length, 1);
    const [{ requests, owed }] = engine.batches as [(typeof engine.batches)[number]];
    assert.deepEqual(requests.map((r) => r.account.name), ['alice', 'bob']);
    assert.deepEqual(owed.refused?.map((e) => [e.code, e.changeId ?? null]), [
      [EVENT.CHANGE_REJECTED, epoch.id],
      [EVENT.CHANGE_REJECTED, null],
      [EVENT.CHANGE_REJECTED, null],
      [EVENT.CHANGE_REJECTED, beyond.id],
      [EVENT.CHANGE_REJECTED, (batch[5] as Notification).id],
    ]);
    assert.deepEqual(engine.appended, []);
  });

  test('an envelope that is not a batch, or an oversized one, is refused as a whole, before the entry point', async () => {
    const engine = fakeEngine();
    for (const body of [undefined, [], {}, { notifications: [] }, { notifications: 'x' }, { notifications: [notification('a')], padding: 1 }]) {
      const malformed = await route(engine).receive(agent, body);
      assert.ok(malformed.refused, JSON.stringify(body));
      assert.deepEqual([malformed.refusal.status, malformed.refusal.body.error, malformed.refusal.event?.code], [400, 'malformed', EVENT.CHANGE_REJECTED]);
    }
    const large = await route(engine, 1).receive(agent, { notifications: [notification('a'), notification('b')] });
    assert.ok(large.refused);
    assert.deepEqual([large.refusal.status, large.refusal.body.error], [413, 'too-large']);
    assert.equal(engine.batches.length, 0);
  });

  test('a member of a source the agent may not deliver is refused alone (unknown-source, 7012); the others are taken', async () => {
    const engine = fakeEngine();
    const rogue = { name: 'rogue', sources: new Set(['directory', 'hr2']) };
    const foreign = { ...notification('alice'), source: 'hr-elsewhere' };
    const answer = await route(engine).receive(rogue, { notifications: [foreign, notification('bob')] });
    assert.ok(!answer.refused);
    assert.equal(answer.status, 422);
    assert.deepEqual(answer.results.map((r) => [r.id, r.status, r.reason]), [[foreign.id, 'rejected', 'unknown-source'], [answer.results[1]?.id, 'accepted', undefined]]);
    assert.match(answer.results[0]?.message ?? '', /agent "rogue" may not deliver changes of source "hr-elsewhere" \(it speaks for directory, hr2\)/);
    assert.deepEqual(engine.batches.map((b) => b.requests.map((r) => r.account.name)), [['bob']]);
    const events = engine.batches[0]?.owed.refused ?? [];
    assert.deepEqual(events.map((e) => [e.code, e.system, e.changeId]), [[EVENT.NOTIFICATION_UNAUTHORIZED, 'hr-elsewhere', foreign.id]]);
  });

  test('a notification whose times differ from the ones bound to its password is refused (invalid), and nothing of it is submitted', async () => {
    const engine = fakeEngine();
    // A proxy (or a fuzzer) makes an old password look like the newest: changedAt=1 is older than
    // anything, a future changedAt would win every ordering.
    const aged = { ...notification('alice'), changedAt: 1 };
    const ahead = { ...notification('alice'), changedAt: NOW + 60_000 };
    // A notification captured long ago, replayed after its id is forgotten with a fresh capturedAt.
    const replayed = { ...notification('bob', { capturedAt: NOW - 30 * 24 * HOUR, changedAt: NOW - 30 * 24 * HOUR }), capturedAt: NOW };
    // An agent of before the binding: nothing says what its times were.
    const unbound = notification('carol', { unboundTimes: true });
    const good = notification('dave');
    const answer = await route(engine).receive(agent, { notifications: [aged, ahead, replayed, unbound, good] });
    assert.ok(!answer.refused);
    assert.equal(answer.status, 422);
    assert.deepEqual(answer.results.map((r) => [r.status, r.reason]), [
      ['rejected', 'invalid'],
      ['rejected', 'invalid'],
      ['rejected', 'invalid'],
      ['rejected', 'invalid'],
      ['accepted', undefined],
    ]);
    assert.match(answer.results[0]?.message ?? '', /does not bind this notification's changedAt$/);
    assert.match(answer.results[2]?.message ?? '', /does not bind this notification's capturedAt$/);
    assert.match(answer.results[3]?.message ?? '', /changedAt, capturedAt$/);
    const [{ requests, owed }] = engine.batches as [(typeof engine.batches)[number]];
    assert.deepEqual(requests.map((r) => r.account.name), ['dave']);
    assert.deepEqual(owed.refused?.map((e) => [e.code, e.changeId]), [aged, ahead, replayed, unbound].map((n) => [EVENT.CHANGE_REJECTED, n.id]));
  });
});
