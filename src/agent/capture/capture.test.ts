import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { connect as tcpConnect, createConnection, Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Secret } from '../../core/secret.ts';
import { createLogger } from '../../log/logger.ts';
import type { AgentConfig } from '../config.ts';
import { QueueWriter, type AgentStore } from '../queue/index.ts';
import { withStore } from '../queue/test-support.ts';
import type { Scope } from '../scope/types.ts';
import { TransientError } from '../../core/errors.ts';
import { CaptureAcceptor } from './accept.ts';
import { sendCapture } from './client.ts';
import { CAPTURE_PATH, HOOK_TIMEOUTS, listenCaptureHttp } from './http.ts';
import { CAPTURE_FRAME_TIMEOUT_MS, listenCaptureSocket } from './socket.ts';
import { EVENT } from '../../core/events.ts';
import { rawCapture } from '../../../test/support/capture-socket.ts';

const log = createLogger({ level: 'silent' });
const TOKEN = 'capture-test-token-0123456789abcdef-xyz';

/** Only what the acceptor reads of the configuration. */
const config = { sources: ['corp', 'hr'] } as Pick<AgentConfig, 'sources'> as AgentConfig;

const scopeOf = (decide: Scope['decide']): Scope => ({ decide, describe: () => 'test', close: () => Promise.resolve() });

async function withCapture(fn: (ctx: { store: AgentStore; socket: string; root: string; acceptor: CaptureAcceptor }) => Promise<void>, scope?: Scope): Promise<void> {
  await withStore(async (store, dir) => {
    const writer = new QueueWriter(store, { thread: false });
    const acceptor = new CaptureAcceptor({ config, store, writer, scope, log, now: Date.now, queued: () => undefined });
    const socket = await listenCaptureSocket(join(dir.root, 'capture.sock'), { acceptor }, log);
    try {
      await fn({ store, socket: socket.path, root: dir.root, acceptor });
    } finally {
      await socket.close();
      await writer.close();
    }
  });
}

/** How long a connection stayed open after `write` ran on it, and what it was answered. */
function heldFor(open: () => Socket, write: (socket: Socket) => void, limitMs: number): Promise<{ ms: number; text: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = open();
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${limitMs} ms`));
    }, limitMs);
    socket.on('connect', () => write(socket));
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - started, text });
    });
  });
}

/** The second of slack a bound is measured with. */
const SLACK_MS = 1_000;

const frame = (account: string, password: string, extra: Record<string, unknown> = {}): Buffer => {
  const bytes = Buffer.from(password, 'utf8');
  return Buffer.concat([Buffer.from(`${JSON.stringify({ v: 1, account, length: bytes.length, ...extra })}\n`), bytes]);
};

describe('capture socket', () => {
  test('is mode 0600 and queues a change, answering only after the commit', () =>
    withCapture(async ({ store, socket }) => {
      assert.equal((await stat(socket)).mode & 0o777, 0o600);
      const secret = Secret.fromString('Sock-Pässwörd-1');
      const answer = await sendCapture(socket, { account: 'alice', secret, changedAt: 1_000 });
      assert.ok(answer.ok && answer.status === 'queued');
      const [item] = await store.peek(10);
      assert.equal(item?.id, answer.id);
      assert.equal(item.account, 'alice');
      assert.equal(item.source, 'corp', "the agent's first source by default");
      assert.equal(item.changedAt, 1_000);
      const opened = await store.openSecret(item);
      assert.equal(opened.equals(secret), true);
    }));

  test('reads frames split anywhere and several frames on one connection, in order', () =>
    withCapture(async ({ store, socket }) => {
      const bytes = Buffer.concat([frame('bob', 'first-pw-1', { source: 'hr' }), frame('bob', 'second-pw-2')]);
      // One byte at a time across the header, the newline and the password.
      const chunks = [...bytes].map((b) => Buffer.from([b]));
      const answers = (await rawCapture(socket, chunks, 2)).map((l) => JSON.parse(l) as { ok: boolean; status?: string });
      assert.deepEqual(answers.map((a) => a.status), ['queued', 'queued']);
      const items = await store.peek(10);
      assert.deepEqual(items.map((i) => [i.account, i.source]), [['bob', 'hr'], ['bob', 'corp']]);
      assert.equal((await store.openSecret(items[1] ?? { id: '' })).equals(Secret.fromString('second-pw-2')), true);
    }));

  test('refuses a malformed header, an oversized header, an unknown source and an empty account; nothing is queued', () =>
    withCapture(async ({ store, socket }) => {
      const answer = async (bytes: Buffer) => JSON.parse((await rawCapture(socket, [bytes], 1))[0] ?? '{}') as { ok: boolean; error?: string; message?: string };
      const notJson = await answer(Buffer.from('hello\n'));
      assert.deepEqual([notJson.ok, notJson.error], [false, 'malformed']);
      const badLength = await answer(Buffer.from(`${JSON.stringify({ v: 1, account: 'a', length: 5000 })}\n`));
      assert.match(badLength.message ?? '', /length/);
      const huge = await answer(Buffer.from('x'.repeat(5000)));
      assert.match(huge.message ?? '', /longer than 4096 bytes/);
      const source = await answer(frame('alice', 'pw-123', { source: 'nope' }));
      assert.deepEqual([source.ok, source.error], [false, 'unknown-source']);
      assert.match(source.message ?? '', /corp, hr/);
      const control = await answer(frame('ali\nce', 'pw-123'));
      assert.equal(control.error, 'malformed');
      assert.deepEqual(await store.peek(10), []);
    }));

  test('a header that is not UTF-8, or holds a lone surrogate, is refused with a reason; never forwarded as a U+FFFD account', () =>
    withCapture(async ({ store, socket }) => {
      const answer = async (bytes: Buffer) => JSON.parse((await rawCapture(socket, [bytes], 1))[0] ?? '{}') as { ok: boolean; error?: string; message?: string };
      // "café" in Latin-1: the JSON is fine once decoded leniently, which is the bug.
      const latin1 = Buffer.concat([Buffer.from('{"v":1,"account":"caf', 'latin1'), Buffer.from([0xe9]), Buffer.from('","length":6}\npw-123', 'latin1')]);
      const refused = await answer(latin1);
      assert.deepEqual([refused.ok, refused.error], [false, 'malformed']);
      assert.match(refused.message ?? '', /not valid UTF-8/);
      const surrogate = await answer(Buffer.from('{"v":1,"account":"ab\\ud800","length":6}\npw-123'));
      assert.deepEqual([surrogate.ok, surrogate.error], [false, 'malformed']);
      assert.match(surrogate.message ?? '', /lone surrogate/);
      // A surrogate pair is a character like any other.
      const pair = await answer(frame('emoji-\u{1F600}', 'pw-123'));
      assert.deepEqual([pair.ok, (pair as { status?: string }).status], [true, 'queued']);
      assert.deepEqual((await store.peek(10)).map((i) => i.account), ['emoji-\u{1F600}']);
    }));

  test('a refused header never leaves the password after it in the chunk that carried it', () =>
    withCapture(async ({ socket }) => {
      // The agent wipes each chunk it reads, also when the header before the password is refused.
      // Seen from here through the socket's 'data' listener: the chunk handed to it is zeros after it.
      const chunks: Buffer[] = [];
      // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with each socket as `this`, and put back
      const emit = Socket.prototype.emit;
      Socket.prototype.emit = function (this: Socket, event: string | symbol, ...args: unknown[]): boolean {
        const result = Reflect.apply(emit, this, [event, ...args]) as boolean;
        // The hook's side reads text (setEncoding): every Buffer seen here is one the agent read.
        if (event === 'data' && Buffer.isBuffer(args[0])) chunks.push(args[0]);
        return result;
      } as typeof emit;
      try {
        const password = 'Refused-Header-Pw-5e1c';
        const frames = [
          Buffer.concat([Buffer.from(`${JSON.stringify({ v: 1, account: 'a', source: 'nope!', length: password.length })}\n`), Buffer.from(password)]),
          Buffer.concat([Buffer.from(`${JSON.stringify({ v: 2, account: 'a', length: password.length })}\n`), Buffer.from(password)]),
          Buffer.concat([Buffer.from('not json\n'), Buffer.from(password)]),
        ];
        for (const f of frames) {
          const [line] = await rawCapture(socket, [f], 1);
          assert.equal((JSON.parse(line ?? '{}') as { ok: boolean }).ok, false);
        }
        const read = chunks.filter((c) => c.length > 0);
        assert.ok(read.length >= frames.length, `the agent read ${read.length} chunks`);
        for (const c of read) assert.equal(c.includes(Buffer.from(password)), false, 'a chunk still holds the password after the agent read it');
      } finally {
        Socket.prototype.emit = emit;
      }
    }));

  test('what the notification schema refuses is refused at capture ("malformed"), never acknowledged: 1970, beyond the Date range, an overlong anchor', () =>
    withCapture(async ({ store, acceptor }) => {
      const secret = Secret.fromString('schema-pw-1');
      try {
        for (const [changedAt, anchor] of [[0, undefined], [-1, undefined], [8_640_000_000_000_001, undefined], [1e300, undefined], [Number.NaN, undefined], [1.5, undefined], [undefined, ''], [undefined, 'g'.repeat(257)]] as const) {
          const answer = await acceptor.accept({ account: 'alice', source: 'corp', changedAt, ...(anchor === undefined ? {} : { anchor }), secret, via: 'test' });
          assert.deepEqual(answer.ok ? answer : [answer.ok, answer.error], [false, 'malformed'], `changedAt ${changedAt}, anchor ${anchor}`);
        }
        const long = Secret.fromString('p'.repeat(1025));
        try {
          const answer = await acceptor.accept({ account: 'alice', source: 'corp', changedAt: undefined, secret: long, via: 'test' });
          assert.deepEqual(answer.ok ? answer : [answer.ok, answer.error], [false, 'malformed']);
        } finally {
          long.dispose();
        }
        assert.deepEqual(await store.peek(10), []);
      } finally {
        secret.dispose();
      }
    }));

  test('a hook that shuts down its sending side after writing still gets its answer', () =>
    withCapture(async ({ store, socket }) => {
      const answers = await rawCapture(socket, [frame('erin', 'half-closed-pw-1')], 1, true);
      assert.equal((JSON.parse(answers[0] ?? '{}') as { status?: string }).status, 'queued');
      assert.deepEqual((await store.peek(10)).map((i) => i.account), ['erin']);
    }));

  test('a hook that dies in the middle of a password queues nothing', () =>
    withCapture(async ({ store, socket }) => {
      const half = frame('carol', 'a-long-password-here').subarray(0, 40);
      assert.deepEqual(await rawCapture(socket, [half], 1, true), [], 'no answer: nothing was taken');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await store.peek(10), []);
    }));

  test('out of scope: answered so, not queued, event 7040; a directory that cannot answer queues the change as pending with 7046', () =>
    withCapture(
      async ({ store, socket }) => {
        const out = await sendCapture(socket, { account: 'admin', secret: Secret.fromString('pw-admin-1') });
        assert.ok(out.ok && out.status === 'out-of-scope');
        assert.match(out.reason, /Domain Admins/);
        const pending = await sendCapture(socket, { account: 'offline', secret: Secret.fromString('pw-offline-1') });
        assert.ok(pending.ok && pending.status === 'queued');
        assert.deepEqual((await store.peek(10)).map((i) => [i.account, i.scope]), [['offline', 'pending']]);
        assert.deepEqual((await store.listEvents({ limit: 10 })).map((e) => e.code), [EVENT.OUT_OF_SCOPE, EVENT.SCOPE_UNRESOLVED]);
      },
      scopeOf((account) => {
        if (account === 'admin') return Promise.resolve({ inScope: false, reason: 'member of exclude group "Domain Admins"' });
        if (account === 'offline') return Promise.reject(new TransientError('ldap://dc1 unreachable'));
        return Promise.resolve({ inScope: true });
      }),
    ));

  test('replaces a stale socket file, refuses a live one and a path that is not a socket', () =>
    withCapture(async ({ acceptor, root }) => {
      await assert.rejects(listenCaptureSocket(join(root, 'capture.sock'), { acceptor }, log), /another agent is listening/);
      // What a crashed agent leaves: a socket file nobody listens on (bound, never listening).
      const stale = join(root, 'stale.sock');
      execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
      assert.equal((await stat(stale)).isSocket(), true);
      const replaced = await listenCaptureSocket(stale, { acceptor }, log);
      await replaced.close();
      const plain = join(root, 'plain');
      await writeFile(plain, 'x');
      await assert.rejects(listenCaptureSocket(plain, { acceptor }, log), /is not a socket/);
      await assert.rejects(listenCaptureSocket(`/tmp/${'x'.repeat(120)}.sock`, { acceptor }, log), /longer than 107 bytes/);
    }));
});

describe('capture socket: idle connections', () => {
  test('a client holding half a header, one trickling a byte a second, and one sending nothing are closed within the bound; nothing is queued', () =>
    withCapture(async ({ store, socket }) => {
      const limit = CAPTURE_FRAME_TIMEOUT_MS + 10_000;
      let trickle: NodeJS.Timeout | undefined;
      const [half, slow, silent] = await Promise.all([
        heldFor(() => createConnection(socket), (s) => s.write('{"v":1,"account":"alice","len'), limit),
        heldFor(
          () => createConnection(socket),
          (s) => {
            const bytes = Buffer.from('{"v":1,"account":"bob","length":4}\n');
            let i = 0;
            trickle = setInterval(() => (s.destroyed || i >= bytes.length ? clearInterval(trickle) : s.write(bytes.subarray(i, ++i))), 1000);
          },
          limit,
        ),
        heldFor(() => createConnection(socket), () => undefined, limit),
      ]);
      clearInterval(trickle);
      for (const [what, held] of Object.entries({ half, slow, silent })) assert.ok(held.ms <= CAPTURE_FRAME_TIMEOUT_MS + SLACK_MS, `${what}: closed after ${held.ms} ms`);
      assert.match(half.text, /"error":"malformed".*whole within 10 s/);
      assert.equal((await store.stats()).length, 0);
    }));

  test('a connection waiting for its answer is not cut, and is bounded again once answered', () =>
    withCapture(async ({ socket }) => {
      const held = await heldFor(() => createConnection(socket), (s) => s.write(frame('carol', 'Idle-Then-Answered-1')), CAPTURE_FRAME_TIMEOUT_MS + 10_000);
      assert.match(held.text, /"status":"queued"/);
      assert.ok(held.ms >= CAPTURE_FRAME_TIMEOUT_MS - SLACK_MS && held.ms <= CAPTURE_FRAME_TIMEOUT_MS + 2 * SLACK_MS, `closed after ${held.ms} ms`);
    }));
});

describe('capture HTTP hook: slow requests', () => {
  test('headers that never end, a body that never ends, and a connection that sends nothing get 408 or a close within the configured time', () =>
    withCapture(async ({ acceptor }) => {
      const http = await listenCaptureHttp('127.0.0.1:0', Secret.fromString(TOKEN), acceptor, log);
      try {
        const { port } = new URL(http.url);
        const open = () => tcpConnect(Number(port), '127.0.0.1');
        const limit = HOOK_TIMEOUTS.requestMs + 25_000;
        const [headers, body, silent] = await Promise.all([
          heldFor(open, (s) => s.write(`POST ${CAPTURE_PATH} HTTP/1.1\r\nHost: x\r\n`), limit),
          heldFor(open, (s) => s.write(`POST ${CAPTURE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"acc`), limit),
          heldFor(open, () => undefined, limit),
        ]);
        for (const [what, held, bound] of [['headers', headers, HOOK_TIMEOUTS.headersMs], ['body', body, HOOK_TIMEOUTS.requestMs], ['silent', silent, HOOK_TIMEOUTS.headersMs]] as const) {
          assert.ok(Math.abs(held.ms - bound) <= SLACK_MS, `${what}: closed after ${held.ms} ms, configured ${bound} ms`);
        }
        assert.match(headers.text, /^HTTP\/1\.1 408/);
        assert.match(body.text, /^HTTP\/1\.1 408/);
      } finally {
        await http.close();
      }
    }));
});

describe('capture HTTP hook', () => {
  test('needs the token and JSON; queues with 202; refuses what is wrong with a reason', () =>
    withCapture(async ({ store, acceptor }) => {
      const http = await listenCaptureHttp('127.0.0.1:0', Secret.fromString(TOKEN), acceptor, log);
      try {
        assert.ok(http.url.endsWith(CAPTURE_PATH));
        const post = (body: string, headers: Record<string, string> = {}) =>
          fetch(http.url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers }, body });
        assert.equal((await post('{}', { authorization: 'Bearer nope' })).status, 401);
        assert.equal((await post('{}', { authorization: '' })).status, 401);
        assert.equal((await post('account=a', { 'content-type': 'text/plain' })).status, 415);
        assert.equal((await post('{"account": "a"')).status, 400);
        const missing = await post(JSON.stringify({ account: 'a' }));
        assert.equal(missing.status, 400);
        assert.match(((await missing.json()) as { message: string }).message, /password/);
        assert.equal((await post(JSON.stringify({ account: 'a', password: 'x'.repeat(9000) }))).status, 413);
        assert.equal((await post(JSON.stringify({ account: 'a', password: 'pw', source: 'nope' }))).status, 422);
        const ok = await post(JSON.stringify({ account: 'dave', password: 'Http-Pw-Ω-1', changedAt: '2026-01-02T03:04:05Z' }));
        assert.equal(ok.status, 202);
        const [item] = await store.peek(10);
        assert.equal(item?.account, 'dave');
        assert.equal(item.changedAt, Date.parse('2026-01-02T03:04:05Z'));
        assert.equal((await store.openSecret(item)).equals(Secret.fromString('Http-Pw-Ω-1')), true);
        const wrong = await fetch(http.url.replace(CAPTURE_PATH, '/other'), { method: 'POST' });
        assert.equal(wrong.status, 404);
      } finally {
        await http.close();
      }
    }));

  test('a password that is not UTF-8 (Latin-1), or holds a lone surrogate, is refused 400 and nothing is queued', () =>
    withCapture(async ({ store, acceptor }) => {
      const http = await listenCaptureHttp('127.0.0.1:0', Secret.fromString(TOKEN), acceptor, log);
      try {
        const post = (body: Buffer | string) => fetch(http.url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
        // caf\xE9-Secret1: what an application with a Latin-1 form sends. Decoded leniently it was
        // caf\uFFFD-Secret1, and that is what the targets were set to.
        const latin1 = await post(Buffer.from('{"account":"dave","password":"caf\xE9-Secret1"}', 'latin1'));
        assert.equal(latin1.status, 400);
        const body = (await latin1.json()) as { ok: boolean; error: string; message: string };
        assert.deepEqual([body.ok, body.error], [false, 'malformed']);
        assert.match(body.message, /not valid UTF-8/);
        for (const json of ['{"account":"dave","password":"caf\\ud800-Secret1"}', '{"account":"dave","password":"\\udc00x"}', '{"account":"d\\ud800","password":"Secret1"}']) {
          const surrogate = await post(json);
          assert.equal(surrogate.status, 400, json);
          assert.match(((await surrogate.json()) as { message: string }).message, /lone surrogate/);
        }
        assert.deepEqual(await store.peek(10), [], 'nothing queued');
        // The same password in UTF-8, and a pair escaped in JSON, are passwords like any other.
        assert.equal((await post(Buffer.from('{"account":"dave","password":"café-Secret1"}', 'utf8'))).status, 202);
        assert.equal((await post('{"account":"erin","password":"\\ud83d\\ude00-Secret1"}')).status, 202);
        const items = await store.peek(10);
        assert.equal((await store.openSecret(items[0] ?? { id: '' })).equals(Secret.adopt(Buffer.from('café-Secret1', 'utf8'))), true);
        assert.equal((await store.openSecret(items[1] ?? { id: '' })).equals(Secret.adopt(Buffer.from('\u{1F600}-Secret1', 'utf8'))), true);
      } finally {
        await http.close();
      }
    }));
});
