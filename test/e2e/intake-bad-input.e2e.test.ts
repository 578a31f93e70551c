import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { CompactEncrypt } from 'jose';
import { Agent, request } from 'undici';
import { runCli } from '../support/cli.ts';
import { loadJwePublicKey, type JweKey } from '../../src/pki/jwe-key.ts';
import { JWE_ALG, JWE_BINDING, JWE_ENC, NOTIFICATIONS_PATH } from '../../src/protocol/notifications.ts';
import { assertNoPasswords, createAgentWorld, type AgentWorld } from '../support/agent-world.ts';
import type { CliProcess } from '../support/cli.ts';
import { EVENT } from '../../src/core/events.ts';

const GOOD_PW = 'Intake-Good-Pw-e2e-51c7';
const BAD_PW = 'Intake-Refused-Pw-e2e-51c7';

interface Sent {
  readonly status: number;
  readonly body: { results?: { id: string; status: string; reason?: string; message?: string }[]; error?: string; message?: string };
}

/**
 * The intake refuses what it must, each with a 4xx that says why and an event, and keeps nothing
 * of what it refused. Requests are made here, from outside, as an attacker or a broken agent
 * would: with and without certificates, replayed, stale, malformed, oversized, wrongly encrypted.
 */
describe('the server intake refuses bad input with its reason, an event, and nothing stored', () => {
  let world: AgentWorld;
  let server: CliProcess;
  let serverKey: JweKey;
  let strangerKey: JweKey;
  const clients: Agent[] = [];

  const client = async (who: 'dc1' | 'rogue' | 'stranger' | 'none'): Promise<Agent> => {
    const ca = await readFile(join(world.pki, 'ca.crt'));
    const base = who === 'stranger' ? join(world.dir, 'pki2', 'agents', 'stranger') : join(world.pki, 'agents', who);
    const identity = who === 'none' ? {} : { cert: await readFile(join(base, `${who}.crt`)), key: await readFile(join(base, `${who}.key`)) };
    // Refusals of clients that did not authenticate are recorded once per address per 10 s: the
    // stranger calls from an address of its own, so that its refusal is recorded too.
    const agent = new Agent({ connect: { ca, ...identity }, ...(who === 'stranger' ? { localAddress: '127.0.0.2' } : {}) });
    clients.push(agent);
    return agent;
  };
  const post = async (dispatcher: Agent, body: Buffer | string | object): Promise<Sent> => {
    const r = await request(new URL(NOTIFICATIONS_PATH, world.url), {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    return { status: r.statusCode, body: (await r.body.json()) as Sent['body'] };
  };
  const notification = async (options: { account?: string; password?: string; key?: JweKey; capturedAt?: number; changedAt?: number; source?: string; bindId?: string } = {}) => {
    const id = randomUUID();
    const account = options.account ?? 'u001';
    const source = options.source ?? 'directory';
    const key = options.key ?? serverKey;
    const now = Date.now();
    const changedAt = options.changedAt ?? now - 1000;
    const capturedAt = options.capturedAt ?? now;
    const password = await new CompactEncrypt(Buffer.from(options.password ?? GOOD_PW))
      .setProtectedHeader({
        alg: JWE_ALG, enc: JWE_ENC, kid: key.kid,
        [JWE_BINDING.id]: options.bindId ?? id, [JWE_BINDING.source]: source, [JWE_BINDING.account]: account,
        [JWE_BINDING.changedAt]: changedAt, [JWE_BINDING.capturedAt]: capturedAt,
      })
      .encrypt(key.key);
    return { id, source, account, changedAt, capturedAt, password };
  };
  const store = (): Database.Database => new Database(join(world.dir, 'data', 'pwsync.db'), { readonly: true });
  const counts = (): { changes: number; jobs: number; notifications: number } => {
    const db = store();
    try {
      const count = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
      return { changes: count('changes'), jobs: count('jobs'), notifications: count('notifications') };
    } finally {
      db.close();
    }
  };

  before(async () => {
    world = await createAgentWorld({ accounts: 5, otherAgents: { rogue: 'hr2' } });
    for (const args of [['pki', 'init', '--dir', join(world.dir, 'pki2'), '--host', '127.0.0.1'], ['pki', 'agent', 'stranger', '--dir', join(world.dir, 'pki2')]]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, r.stderr);
    }
    serverKey = await loadJwePublicKey(join(world.pki, 'server-jwe.pub.json'));
    strangerKey = await loadJwePublicKey(join(world.dir, 'pki2', 'server-jwe.pub.json'));
    server = await world.startServer();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
    await world.close();
  });

  test('a client without a certificate: 401, and event 7012', async () => {
    const r = await post(await client('none'), { notifications: [await notification({ password: BAD_PW })] });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'unauthenticated');
    assert.match(r.body.message ?? '', /client certificate is required/);
  });

  test('a certificate from another CA: 401 naming why it is not trusted', async () => {
    const r = await post(await client('stranger'), { notifications: [await notification({ password: BAD_PW })] });
    assert.equal(r.status, 401);
    assert.match(r.body.message ?? '', /CN="stranger".*not trusted/);
  });

  test('a registered agent delivering for a source it does not speak for: that notification rejected (unknown-source), 422', async () => {
    const r = await post(await client('rogue'), { notifications: [await notification({ password: BAD_PW })] });
    assert.equal(r.status, 422);
    assert.deepEqual([r.body.results?.[0]?.status, r.body.results?.[0]?.reason], ['rejected', 'unknown-source']);
    assert.match(r.body.results?.[0]?.message ?? '', /agent "rogue" may not deliver changes of source "directory" \(it speaks for hr2\)/);
  });

  test('a malformed member, a body that is not a batch, not JSON, an oversized one: 422 for that member, 400, 400, 413', async () => {
    const dc1 = await client('dc1');
    const shape = await post(dc1, { notifications: [{ id: 'not-a-uuid' }] });
    assert.equal(shape.status, 422);
    assert.deepEqual(shape.body.results?.map((r) => [r.id, r.status, r.reason]), [['not-a-uuid', 'rejected', 'malformed']]);
    assert.match((shape.body.results ?? [])[0]?.message ?? '', /^id: /);
    const envelope = await post(dc1, { notifications: {} });
    assert.equal(envelope.status, 400);
    assert.match(envelope.body.message ?? '', /malformed notification batch: notifications/);
    const notJson = await post(dc1, '{"notifications": [');
    assert.equal(notJson.status, 400);
    const huge = await post(dc1, { notifications: [await notification({ password: BAD_PW })], padding: 'x'.repeat(2 * 1024 * 1024) });
    assert.equal(huge.status, 413);
    assert.match(huge.body.message ?? '', /larger than 1048576 bytes/);
  });

  test('a body that is not UTF-8, or holds a lone surrogate, is 400 malformed; never read with U+FFFD (another account)', async () => {
    const dc1 = await client('dc1');
    const before = counts();
    const good = JSON.stringify({ notifications: [await notification({ account: 'u001', password: BAD_PW })] });
    // The account u001 with a Latin-1 byte in it ("u00\xe9"), and then with an escaped lone surrogate.
    const latin1 = Buffer.from(good.replace('"account":"u001"', '"account":"u00\xe9"'), 'latin1');
    const notUtf8 = await post(dc1, latin1);
    assert.equal(notUtf8.status, 400);
    assert.equal(notUtf8.body.error, 'malformed');
    assert.match(notUtf8.body.message ?? '', /not valid UTF-8/);
    const surrogate = await post(dc1, good.replace('"account":"u001"', '"account":"u001\\ud800"'));
    assert.equal(surrogate.status, 400);
    assert.match(surrogate.body.message ?? '', /lone surrogate/);
    assert.deepEqual(counts(), before, 'nothing stored');
  });

  test('a password encrypted to another key, or bound to another notification: 422, each with its reason', async () => {
    const dc1 = await client('dc1');
    const wrongKey = await post(dc1, { notifications: [await notification({ key: strangerKey, password: BAD_PW })] });
    assert.equal(wrongKey.status, 422);
    const [undecryptable] = wrongKey.body.results ?? [];
    assert.ok(undecryptable);
    assert.equal(undecryptable.reason, 'undecryptable');
    assert.match(undecryptable.message ?? '', /encrypted to key .* this server's key is/);
    const moved = await post(dc1, { notifications: [await notification({ bindId: randomUUID(), password: BAD_PW })] });
    assert.equal(moved.status, 422);
    const [invalid] = moved.body.results ?? [];
    assert.ok(invalid);
    assert.equal(invalid.reason, 'invalid');
    assert.match(invalid.message ?? '', /belongs to another notification/);
  });

  test('a notification whose times were changed after sealing (changedAt=1, or a replay with a fresh capturedAt): 422 invalid', async () => {
    const dc1 = await client('dc1');
    const aged = { ...(await notification({ password: BAD_PW })), changedAt: 1 };
    const old = Date.now() - 30 * 86_400_000;
    const replayed = { ...(await notification({ password: BAD_PW, changedAt: old, capturedAt: old })), capturedAt: Date.now() };
    const r = await post(dc1, { notifications: [aged, replayed] });
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.results?.map((x) => [x.status, x.reason]), [['rejected', 'invalid'], ['rejected', 'invalid']]);
    assert.match(r.body.results[0]?.message ?? '', /does not bind this notification's changedAt/);
    assert.match(r.body.results[1]?.message ?? '', /does not bind this notification's capturedAt/);
  });

  test('a stale notification: 422 stale', async () => {
    const r = await post(await client('dc1'), { notifications: [await notification({ capturedAt: Date.now() - 8 * 86_400_000, password: BAD_PW })] });
    assert.equal(r.status, 422);
    assert.equal(r.body.results?.[0]?.reason, 'stale');
  });

  test('nothing of the refused requests is stored; a good notification is; its replay is refused with 409', async () => {
    assert.deepEqual(counts(), { changes: 0, jobs: 0, notifications: 0 }, 'the refusals left nothing behind');
    const dc1 = await client('dc1');
    const body = { notifications: [await notification()] };
    const first = await post(dc1, body);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.results?.[0]?.status, 'accepted');
    const replay = await post(dc1, body);
    assert.equal(replay.status, 409);
    assert.equal(replay.body.results?.[0]?.status, 'duplicate');
    assert.deepEqual(counts(), { changes: 1, jobs: 1, notifications: 1 });
  });

  test('every refusal is in the event log, with no secret in it', async () => {
    const events = await world.serverEvents();
    const messages = (code: number) => events.filter((e) => e.code === code).map((e) => e.message).join('\n');
    assert.match(messages(EVENT.NOTIFICATION_UNAUTHORIZED), /client certificate is required/);
    assert.match(messages(EVENT.NOTIFICATION_UNAUTHORIZED), /not trusted/);
    assert.match(messages(EVENT.NOTIFICATION_UNAUTHORIZED), /may not deliver changes of source "directory"/);
    assert.match(messages(EVENT.CHANGE_REJECTED), /malformed notification batch/);
    assert.match(messages(EVENT.CHANGE_REJECTED), /refused \(malformed\): id: /);
    assert.match(messages(EVENT.CHANGE_REJECTED), /larger than 1048576 bytes/);
    assert.match(messages(EVENT.CHANGE_REJECTED), /undecryptable/);
    assert.match(messages(EVENT.CHANGE_REJECTED), /stale/);
    assert.match(messages(EVENT.CHANGE_REJECTED), /does not bind this notification's changedAt/);
    assert.match(messages(EVENT.CHANGE_REJECTED), /already received \(replay refused\)/);
  });

  test('the test passwords appear in no file, log or output', async () => {
    await assertNoPasswords(world.dir, [GOOD_PW, BAD_PW], [...world.outputs, server.outputBytes], 'after the refusals');
  });
});
