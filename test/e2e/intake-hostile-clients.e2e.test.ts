import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { webcrypto } from 'node:crypto';
import { EVENT } from '../../src/core/events.ts';
import { hasInvisible } from '../../src/core/untrusted-text.ts';
import { certificatePem, commonNameOnly, generateSigningKeys, privateKeyPem, randomSerial, SIGNING_ALGORITHM, validityPeriod, x509 } from '../../src/pki/x509.ts';
import { CompactEncrypt } from 'jose';
import { loadJwePublicKey } from '../../src/pki/jwe-key.ts';
import { JWE_ALG, JWE_ENC, NOTIFICATIONS_PATH, jweBinding } from '../../src/protocol/notifications.ts';
import { INTAKE_TIMEOUTS } from '../../src/server/intake/intake.ts';
import { createAgentWorld, eventually, type AgentWorld } from '../support/agent-world.ts';
import type { CliProcess } from '../support/cli.ts';

/** What the intake promises an idle client: closed within its limit and one check after it. */
const IDLE_BOUND_MS = Math.max(INTAKE_TIMEOUTS.handshakeMs, INTAKE_TIMEOUTS.headersMs) + INTAKE_TIMEOUTS.checkEveryMs;
/** Slack for a loaded test machine. */
const SLACK_MS = 1_000;

interface Identity {
  readonly cert: string;
  readonly key: string;
}

/** A self-signed certificate whose subject is whatever an attacker likes. */
async function selfSigned(cn: string, keys: webcrypto.CryptoKeyPair): Promise<Identity> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: commonNameOnly(cn),
    ...validityPeriod(1),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return { cert: certificatePem(cert), key: await privateKeyPem(keys.privateKey) };
}

/** One POST of notifications over a new connection from `localAddress`; resolves with the status and the Connection header. */
function postFrom(url: string, ca: Buffer, identity: Identity, localAddress: string, body = '{"notifications":[]}'): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(NOTIFICATIONS_PATH, url), { method: 'POST', agent: false, ca, cert: identity.cert, key: identity.key, localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves with how long the server took to close a connection `open` made and then left idle. */
function closedAfter(open: () => { on(event: 'close' | 'error', fn: () => void): unknown; resume(): unknown; destroy(): void }, limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = open();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the connection was still open after ${limitMs} ms`));
    }, limitMs);
    socket.on('error', () => undefined);
    // Read whatever the server says (a 408), so that its end is seen.
    socket.resume();
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

/** Runs `fns` at most `n` at a time. */
async function limited<T>(n: number, fns: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < fns.length) {
        const i = next++;
        const fn = fns[i];
        if (fn) results[i] = await fn();
      }
    }),
  );
  return results;
}

describe('clients that do not authenticate, and idle connections, at the intake', () => {
  let world: AgentWorld;
  let server: CliProcess | undefined;
  let ca: Buffer;

  before(async () => {
    world = await createAgentWorld({ accounts: 2 });
    ca = await readFile(join(world.pki, 'ca.crt'));
    server = await world.startServer();
  });
  after(async () => {
    await server?.stop();
    await world.close();
  });

  test('200 handshakes with self-signed certificates whose CNs hold escape sequences and newlines: at most one 7012 per address per 10 s, 100 a minute, the rest counted, no control character stored or printed', async () => {
    const keys = await generateSigningKeys();
    const nasty = (i: number): string => (i === 0 ? `\x1b[2J${'X'.repeat(12 * 1024)}` : `evil\x1b[2J\x1b]0;owned\x07\n2026-01-01T00:00:00.000Z  7002  info  apps  u000  password set\r\n${i}\u202e`);
    const identities = await Promise.all(Array.from({ length: 200 }, (_, i) => selfSigned(nasty(i), keys)));
    const url = server === undefined ? '' : world.url;
    // 100 from one address, then one each from 100 others (all of 127/8 is this host's loopback).
    const from = (i: number): string => (i < 100 ? '127.0.0.1' : `127.0.1.${i - 99}`);
    const started = Date.now();
    const statuses = await limited(8, identities.map((identity, i) => () => postFrom(url, ca, identity, from(i))));
    const floodMs = Date.now() - started;
    assert.deepEqual(new Set(statuses.map((r) => r.status)), new Set([401]));
    assert.deepEqual(new Set(statuses.map((r) => r.connection)), new Set(['close']), 'a refused stranger keeps no connection');
    assert.ok(floodMs < 10_000, `the flood took ${floodMs} ms; the per-address check below assumes under 10 s`);

    const refusals = (await world.serverEvents()).filter((e) => e.code === EVENT.NOTIFICATION_UNAUTHORIZED);
    const perAddress = new Map<string, number>();
    for (const e of refusals) {
      const address = /\(from ([0-9a-f.:]+)/.exec(e.message)?.[1] ?? 'none';
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      assert.equal(hasInvisible(e.message), false, `a control character in ${JSON.stringify(e.message.slice(0, 300))}`);
      assert.ok(e.message.length < 1000, `a message of ${e.message.length} characters`);
    }
    assert.ok(refusals.length >= 2 && refusals.length <= 100, `${refusals.length} events recorded`);
    for (const [address, n] of perAddress) assert.equal(n, 1, `${n} events for ${address}`);

    // The CLI prints what is stored without a control character, as a table and as JSON lines.
    const table = await world.cli(['events', '--code', String(EVENT.NOTIFICATION_UNAUTHORIZED), '--limit', '1000']);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(hasInvisible(table.stdout.replaceAll('\n', '')), false, 'pwsync events printed a control character');
    assert.equal(table.stdout.trim().split('\n').length, refusals.length + 1, 'one line per event and the header');
    assert.doesNotMatch(table.stdout, /^2026-01-01T00:00:00\.000Z {2}7002/m, 'a forged line');
    const json = await world.cli(['events', '--json', '--limit', '1000']);
    assert.equal(hasInvisible(json.stdout.replaceAll('\n', '')), false);
    for (const line of json.stdout.trim().split('\n')) JSON.parse(line);

    // What was left out is counted: once the server stops, recorded plus counted is every refusal.
    await server?.stop();
    server = undefined;
    const all = (await world.serverEvents()).filter((e) => e.code === EVENT.NOTIFICATION_UNAUTHORIZED);
    const counted = all.reduce((sum, e) => sum + Number(/(\d+) (?:more )?refusals? of unauthenticated clients (?:was|were) not recorded/.exec(e.message)?.[1] ?? 0), 0);
    const recorded = all.filter((e) => /\(from /.test(e.message)).length;
    assert.equal(recorded + counted, 200, all.map((e) => e.message).join('\n'));
    server = await world.startServer();
  });

  test('a client that connects and never starts the TLS handshake is closed within the bound', async () => {
    const { port } = new URL(world.url);
    const took = await closedAfter(() => netConnect(Number(port), '127.0.0.1'), IDLE_BOUND_MS + 20_000);
    assert.ok(took <= IDLE_BOUND_MS + SLACK_MS, `closed after ${took} ms`);
  });

  test('a TLS client that completes the handshake and never sends a request is closed within the bound', async () => {
    const { port } = new URL(world.url);
    const took = await closedAfter(() => tlsConnect({ host: '127.0.0.1', port: Number(port), ca }), IDLE_BOUND_MS + 20_000);
    assert.ok(took <= IDLE_BOUND_MS + SLACK_MS, `closed after ${took} ms`);
  });

  test('a TLS client that never finishes its request headers is closed within the bound', async () => {
    const { port } = new URL(world.url);
    const took = await closedAfter(() => {
      const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), ca }, () => socket.write(`POST ${NOTIFICATIONS_PATH} HTTP/1.1\r\nHost: x\r\n`));
      return socket;
    }, IDLE_BOUND_MS + 20_000);
    assert.ok(took <= IDLE_BOUND_MS + SLACK_MS, `closed after ${took} ms`);
  });

  test('an account name with a quote, a bidi override and a line separator from a hook: quoted in every message, shown escaped by every command, valid in JSON', async () => {
    // The agent refuses control characters in a name (accept.ts); the other invisible ones pass it.
    const account = 'evil"\u202eFAKE\u2028x';
    const shown = 'evil"\\u202eFAKE\\u2028x';
    const quoted = '"evil\\"\\u202eFAKE\\u2028x"';
    await server?.stop();
    server = undefined;
    const agent = await world.startAgent();
    try {
      const captured = await world.agentCli(['capture', '--account', account], 'Hostile-Name-Pw-1\n');
      assert.equal(captured.code, 0, captured.stderr);
      const queue = await world.agentCli(['agent', 'queue']);
      assert.equal(queue.code, 0, queue.stderr);
      assert.equal(hasInvisible(queue.stdout.replaceAll('\n', '')), false, queue.stdout);
      assert.ok(queue.stdout.includes(shown), queue.stdout);
      const queueJson = await world.agentCli(['agent', 'queue', '--json']);
      assert.deepEqual((JSON.parse(queueJson.stdout) as { account: string }[]).map((i) => i.account), [account]);

      // The server, back, refuses the unknown account (7007); the agent records the refusal.
      server = await world.startServer();
      await eventually(async () => (await world.agentStatus()).queue.length === 0, 30_000, 'the agent to deliver');
      const unknown = (await world.serverEvents()).filter((e) => e.code === EVENT.UNKNOWN_SOURCE_ACCOUNT);
      assert.ok(unknown.some((e) => e.message.includes(quoted)), unknown.map((e) => e.message).join('\n'));
      const status = await world.agentCli(['agent', 'status', '--events', '50']);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(hasInvisible(status.stdout.replaceAll('\n', '')), false, status.stdout);
      assert.ok(status.stdout.includes(quoted), status.stdout);
      for (const r of [status, await world.cli(['events', '--limit', '1000'])]) assert.doesNotMatch(r.stdout, /^FAKE/m, 'a forged line');
    } finally {
      await agent.stop();
    }
  });

  test('a registered agent sending account names with escape sequences and newlines: refused as malformed, and names with invisible characters quoted in 7006 and 7007, printed escaped', async () => {
    // Control characters are no login: the schema refuses them (7006, malformed), without repeating them.
    const control = 'evil\x1b[2J\nFAKE"';
    // A quote, a bidi override and a line separator pass the schema: they are quoted where they are shown.
    const account = 'evil"\u202eFAKE\u2028y';
    const quoted = '"evil\\"\\u202eFAKE\\u2028y"';
    const a = join(world.pki, 'agents', 'dc1');
    const dc1 = { cert: await readFile(join(a, 'dc1.crt'), 'utf8'), key: await readFile(join(a, 'dc1.key'), 'utf8') };
    const serverKey = await loadJwePublicKey(join(world.pki, 'server-jwe.pub.json'));
    const notification = async (sent: string, bound: string) => {
      const envelope = { id: randomUUID(), source: 'directory', account: sent, changedAt: Date.now() - 1000, capturedAt: Date.now() };
      const password = await new CompactEncrypt(Buffer.from('Hostile-Agent-Pw-1'))
        .setProtectedHeader({ alg: JWE_ALG, enc: JWE_ENC, kid: serverKey.kid, ...jweBinding({ ...envelope, account: bound }) })
        .encrypt(serverKey.key);
      return { ...envelope, password };
    };
    // One with control characters (malformed), one for an unknown account (7007), one whose binding names another account (7006).
    const sent = [await notification(control, control), await notification(account, account), await notification(account, 'u000')];
    const { status, body: answer } = await postFrom(world.url, ca, dc1, '127.0.0.1', JSON.stringify({ notifications: sent }));
    assert.equal(status, 422);
    const results = (JSON.parse(answer) as { results: { id: string; status: string; reason?: string; message?: string }[] }).results;
    assert.deepEqual(results.map((r) => [r.id, r.status, r.reason]), [[sent[0]?.id, 'rejected', 'malformed'], [sent[1]?.id, 'rejected', 'unknown-account'], [sent[2]?.id, 'rejected', 'invalid']]);
    assert.match(results[0]?.message ?? '', /account: must not contain control characters/);
    const events = await world.serverEvents();
    const malformed = events.filter((e) => e.code === EVENT.CHANGE_REJECTED && e.changeId === sent[0]?.id);
    assert.equal(malformed.length, 1);
    assert.match(malformed[0]?.message ?? '', /refused \(malformed\): account: must not contain control characters/);
    for (const code of [EVENT.UNKNOWN_SOURCE_ACCOUNT, EVENT.CHANGE_REJECTED]) {
      const messages = events.filter((e) => e.code === code).map((e) => e.message);
      assert.ok(messages.some((m) => m.includes(quoted)), `${code}: ${messages.join('\n')}`);
    }
    for (const e of events) assert.equal(hasInvisible(e.message), false, e.message);
    const printed = await world.cli(['events', '--limit', '1000']);
    assert.equal(hasInvisible(printed.stdout.replaceAll('\n', '')), false);
    assert.doesNotMatch(printed.stdout, /^FAKE/m, 'a forged line');
    // An error that repeats what was typed is printed escaped too.
    const refused = await world.cli(['events', '--code', '\x1b[2J\nFAKE']);
    assert.equal(refused.code, 2);
    assert.equal(hasInvisible(refused.stderr.replaceAll('\n', '')), false, refused.stderr);
    assert.match(refused.stderr, /unknown event code "\\x1b\[2J\\nFAKE"/);
  });
});
