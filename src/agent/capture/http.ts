import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.ts';
import { clearBuffer, Secret } from '../../core/secret.ts';
import type { Logger } from '../../log/logger.ts';
import { holdsLoneSurrogate } from '../../util/text.ts';
import { notificationFields } from '../../protocol/notifications.ts';
import type { CaptureAcceptor } from './accept.ts';
import { MAX_PASSWORD_BYTES, type CaptureAnswer } from './protocol.ts';

export const CAPTURE_PATH = '/v1/capture';
const MAX_BODY_BYTES = 8 * 1024;

/**
 * A request's headers must arrive within `headersMs` of its first byte (or of the connection, for
 * one that sends nothing), the whole request within `requestMs`, or it gets 408 and is closed. Node
 * checks both only every `connectionsCheckingInterval`, 30 s by default: that is why a slow request
 * got its 408 after about 28 s instead of 5 or 10. Checked every half second, they hold to half a second.
 */
export const HOOK_TIMEOUTS = { headersMs: 5_000, requestMs: 10_000, checkEveryMs: 500 } as const;

/** The fields the notification carries use its schema; the acceptor checks them again once the time is parsed. */
const bodySchema = z.strictObject({
  account: notificationFields.account,
  password: z.string().min(1),
  source: z.string().min(1).max(63).optional(),
  /** ISO 8601 or epoch milliseconds. */
  changedAt: z.union([notificationFields.changedAt, z.iso.datetime({ offset: true })]).optional(),
});

export interface CaptureHttp {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The HTTP capture hook, for applications that report their own password changes: loopback only
 * (the configuration refuses anything else), `Authorization: Bearer <token>`, JSON
 * `{ account, password, source?, changedAt? }`. 202 once the change is in the queue, 200 when
 * it is out of scope, 4xx with a reason otherwise. The JSON password is a string for as long as
 * the parser needs it; it is copied into a wiped buffer at once and the body bytes are wiped.
 */
export async function listenCaptureHttp(listen: string, token: Secret, acceptor: CaptureAcceptor, log: Logger): Promise<CaptureHttp> {
  const expected = token.useSync((clear) => createHash('sha256').update(clear).digest());
  const timeouts = { headersTimeout: HOOK_TIMEOUTS.headersMs, requestTimeout: HOOK_TIMEOUTS.requestMs, connectionsCheckingInterval: HOOK_TIMEOUTS.checkEveryMs };
  const server = createServer(timeouts, (req, res) => {
    handle(req, res, expected, acceptor, log).catch((e: unknown) => {
      log.error({ err: e }, 'capture hook failed');
      answer(res, 500, { ok: false, error: 'unavailable', message: 'the agent failed to take the change' });
    });
  });
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  const host = m?.[1] ?? m?.[2] ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m?.[3]), host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}${CAPTURE_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, expected: Buffer, acceptor: CaptureAcceptor, log: Logger): Promise<void> {
  if (req.url !== CAPTURE_PATH) return answer(res, 404, { ok: false, error: 'malformed', message: `POST ${CAPTURE_PATH}` });
  if (req.method !== 'POST') return answer(res, 405, { ok: false, error: 'malformed', message: `POST ${CAPTURE_PATH}` });
  const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const given = createHash('sha256').update(auth ?? '').digest();
  if (auth === undefined || !timingSafeEqual(given, expected)) {
    log.warn({ from: req.socket.remoteAddress }, 'capture hook: bad or missing token');
    return answer(res, 401, { ok: false, error: 'unauthorized', message: 'a valid "Authorization: Bearer <token>" header is required' });
  }
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
    return answer(res, 415, { ok: false, error: 'malformed', message: 'the body must be application/json' });
  }
  const body = await readBody(req);
  if (body === undefined) return answer(res, 413, { ok: false, error: 'malformed', message: `the body is larger than ${MAX_BODY_BYTES} bytes` });
  let parsed: z.infer<typeof bodySchema> | undefined;
  let problem = 'the body is not JSON';
  try {
    // A password is the exact bytes sent: never decoded leniently, which would put U+FFFD in place
    // of each byte that is not UTF-8 (a Latin-1 "é") and set a password the person never chose.
    if (!isUtf8(body)) throw new InvalidInputError('the body is not valid UTF-8 (send JSON in UTF-8; a Latin-1 or other legacy encoding is refused, never guessed)');
    const json: unknown = JSON.parse(body.toString('utf8'));
    // JSON may still escape half of a surrogate pair ("\ud800"), which has no UTF-8 form either.
    if (holdsLoneSurrogate(json)) throw new InvalidInputError('a string in the body holds a lone surrogate (a \\uD800-\\uDFFF escape that is not half of a pair): it is not text');
    const result = bodySchema.safeParse(json);
    if (result.success) parsed = result.data;
    else {
      const issue = result.error.issues[0];
      problem = issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid';
    }
  } catch (e) {
    if (e instanceof InvalidInputError) problem = e.message;
  } finally {
    body.fill(0);
  }
  if (parsed === undefined) return answer(res, 400, { ok: false, error: 'malformed', message: problem });
  const secret = Secret.fromString(parsed.password);
  try {
    if (secret.length > MAX_PASSWORD_BYTES) return answer(res, 400, { ok: false, error: 'malformed', message: `the password is longer than ${MAX_PASSWORD_BYTES} bytes` });
    const changedAt = typeof parsed.changedAt === 'string' ? Date.parse(parsed.changedAt) : parsed.changedAt;
    const result = await acceptor.accept({ account: parsed.account, source: parsed.source, changedAt, secret, via: 'http' });
    const status = result.ok ? (result.status === 'queued' ? 202 : 200) : result.error === 'queue-full' || result.error === 'unavailable' ? 503 : result.error === 'unknown-source' ? 422 : 400;
    answer(res, status, result);
  } finally {
    secret.dispose();
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      for (const c of [...chunks, chunk]) c.fill(0);
      return undefined;
    }
    chunks.push(chunk);
  }
  // Memory of its own (clearBuffer says why): Buffer.concat would take a slice of Node's shared pool.
  const body = clearBuffer(size);
  let at = 0;
  for (const c of chunks) {
    c.copy(body, at);
    at += c.length;
    c.fill(0);
  }
  return body;
}

function answer(res: ServerResponse, status: number, body: CaptureAnswer): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
