import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { decryptCompact } from '../../crypto/jwe.ts';
import { InvalidInputError, UnknownAccountError } from '../../core/errors.ts';
import type { NewEvent } from '../../core/model.ts';
import { Secret } from '../../core/secret.ts';
import type { Logger } from '../../log/logger.ts';
import {
  batchSchema, JWE_BINDING, MAX_PASSWORD_BYTES, NOTIFICATIONS_PATH,
  type ErrorBody, type Notification, type NotificationResult, type RejectReason,
} from '../../protocol/notifications.ts';
import type { SyncContext } from '../../sync/context.ts';
import { MAX_CLOCK_SKEW_MS, submitChanges, type ChangeRequest } from '../../sync/submit-change.ts';
import type { AgentRegistry, RegisteredAgent } from './agents.ts';
import { EVENT } from '../../core/events.ts';

export interface IntakeOptions {
  readonly ctx: SyncContext;
  readonly log: Logger;
  /** `host:port`. */
  readonly listen: string;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa: Buffer };
  readonly jwe: { readonly kid: string | undefined; readonly key: KeyObject };
  readonly agents: AgentRegistry;
  readonly replayWindowMs: number;
  readonly maxBodyBytes: number;
  readonly maxBatch: number;
}

export interface RunningIntake {
  /** `https://host:port` as bound (the port is the real one when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

/** An unauthenticated caller's same refusal is recorded at most once per this interval (a flood is not an audit trail). */
const UNAUTHENTICATED_EVENT_INTERVAL_MS = 10_000;

declare module 'fastify' {
  interface FastifyRequest {
    agent: RegisteredAgent | undefined;
  }
}

/**
 * The server's notification intake: HTTPS with mutual TLS. A caller is an agent when its client
 * certificate chains to `server.tls.clientCa` AND is one of the registered agents' certificates;
 * it may deliver only changes of the sources that list it. Each password arrives JWE-encrypted to
 * this server, bound to its notification, is decrypted straight into a `Secret` and sealed under
 * the store key in the same batch commit that records the notification id. The answer comes only
 * after that commit, so an agent deletes only what is durable.
 *
 * Every refusal is an HTTP 4xx whose body says why, and an event (7012 for authentication, 7006
 * for the rest) that carries no secret; a refused notification leaves nothing else behind.
 */
export async function startIntake(options: IntakeOptions): Promise<RunningIntake> {
  const { ctx, log } = options;
  const lastUnauthenticatedEvent = new Map<string, { at: number; suppressed: number }>();
  const app = Fastify({
    https: {
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.clientCa,
      // The client certificate is asked for and verified against `ca` by TLS as always; the
      // verdict (socket.authorized) is enforced in `authenticate`, before the body is read, on the
      // one route that takes notifications. Refusing at the handshake instead would give a client
      // without a certificate a reset rather than a 401 that says why, and no event to audit.
      // /healthz alone answers without a certificate. The intake never skips the verification.
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    logger: false,
    bodyLimit: options.maxBodyBytes,
    requestTimeout: 30_000,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
  });
  app.decorateRequest('agent', undefined);

  const refuse = async (reply: FastifyReply, status: number, body: ErrorBody, event: NewEvent | undefined): Promise<FastifyReply> => {
    if (event !== undefined) await ctx.store.appendEvents([event]);
    log.warn({ status, error: body.error, reason: body.message }, 'notification request refused');
    return reply.code(status).send(body);
  };

  const authenticate = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const socket = request.raw.socket;
    const address = socket.remoteAddress ?? 'unknown';
    const unauthenticatedEvent = (message: string): NewEvent | undefined => {
      // The same refusal from the same address is recorded once per interval; a different one at once.
      const key = `${address}\0${message}`;
      const now = ctx.now();
      const last = lastUnauthenticatedEvent.get(key) ?? { at: 0, suppressed: 0 };
      if (last.at + UNAUTHENTICATED_EVENT_INTERVAL_MS > now) {
        lastUnauthenticatedEvent.set(key, { at: last.at, suppressed: last.suppressed + 1 });
        return undefined;
      }
      if (lastUnauthenticatedEvent.size > 10_000) lastUnauthenticatedEvent.clear();
      lastUnauthenticatedEvent.set(key, { at: now, suppressed: 0 });
      const more = last.suppressed > 0 ? `; ${last.suppressed} more like it since ${new Date(last.at).toISOString()}` : '';
      return { code: EVENT.NOTIFICATION_UNAUTHORIZED, message: `${message} (from ${address}${more})` };
    };
    const peer = socket instanceof TLSSocket ? socket.getPeerCertificate() : undefined;
    if (!(socket instanceof TLSSocket) || peer === undefined || Object.keys(peer).length === 0) {
      const message = 'a client certificate is required: only registered agents may deliver notifications';
      return refuse(reply, 401, { error: 'unauthenticated', message }, unauthenticatedEvent(message));
    }
    if (!socket.authorized) {
      const message = `the client certificate (CN=${String(peer.subject.CN)}) is not trusted: ${String(socket.authorizationError)}`;
      return refuse(reply, 401, { error: 'unauthenticated', message }, unauthenticatedEvent(message));
    }
    const agent = options.agents.get(peer.fingerprint256);
    if (agent === undefined) {
      const message = `the client certificate (CN=${String(peer.subject.CN)}, SHA-256 ${peer.fingerprint256}) is not registered to any agent`;
      return refuse(reply, 403, { error: 'unregistered', message }, { code: EVENT.NOTIFICATION_UNAUTHORIZED, message: `${message} (from ${address})` });
    }
    request.agent = agent;
    return undefined;
  };

  app.setErrorHandler(async (error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      log.error({ err: error }, 'intake failed');
      return reply.code(503).send({ error: 'unavailable', message: 'the server could not commit the notifications; send them again later' });
    }
    const who = request.agent ? `agent "${request.agent.name}"` : 'a client';
    const message = status === 413 ? `the request body is larger than ${options.maxBodyBytes} bytes` : error.message;
    return refuse(reply, status, { error: status === 413 ? 'too-large' : 'malformed', message }, { code: EVENT.CHANGE_REJECTED, message: `notification request from ${who} refused: ${message}` });
  });

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));

  app.post(NOTIFICATIONS_PATH, { onRequest: authenticate }, async (request, reply) => {
    const agent = request.agent;
    if (agent === undefined) throw new Error('unreachable: onRequest authenticates');
    const started = performance.now();
    const parsed = batchSchema.safeParse(request.body);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const message = `malformed notification batch: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid'}`;
      return refuse(reply, 400, { error: 'malformed', message }, { code: EVENT.CHANGE_REJECTED, message: `notification request from agent "${agent.name}" refused: ${message}` });
    }
    const notifications = parsed.data.notifications;
    if (notifications.length > options.maxBatch) {
      const message = `${notifications.length} notifications in one request; at most ${options.maxBatch}`;
      return refuse(reply, 413, { error: 'too-large', message }, { code: EVENT.CHANGE_REJECTED, message: `notification request from agent "${agent.name}" refused: ${message}` });
    }
    const foreign = notifications.find((n) => !agent.sources.has(n.source));
    if (foreign !== undefined) {
      const speaksFor = [...agent.sources].join(', ') || 'no source';
      const message = `agent "${agent.name}" may not deliver changes of source "${foreign.source}" (it speaks for ${speaksFor})`;
      return refuse(reply, 403, { error: 'forbidden', message }, { code: EVENT.NOTIFICATION_UNAUTHORIZED, system: foreign.source, changeId: foreign.id, message });
    }

    const now = ctx.now();
    const results: NotificationResult[] = [];
    const rejections: NewEvent[] = [];
    const requests: { index: number; request: ChangeRequest }[] = [];
    const reject = (n: Notification, reason: RejectReason, message: string): void => {
      results.push({ id: n.id, status: 'rejected', reason, message });
      rejections.push({ code: EVENT.CHANGE_REJECTED, system: n.source, changeId: n.id, message: `notification from agent "${agent.name}" for account "${n.account}" refused (${reason}): ${message}` });
    };
    try {
      for (const n of notifications) {
        if (n.capturedAt < now - options.replayWindowMs) {
          reject(n, 'stale', `captured ${new Date(n.capturedAt).toISOString()}, older than the replay window (${options.replayWindowMs / 3_600_000} h)`);
          continue;
        }
        if (n.capturedAt > now + MAX_CLOCK_SKEW_MS) {
          reject(n, 'invalid', `captured ${new Date(n.capturedAt).toISOString()}, in the future; check the agent's clock`);
          continue;
        }
        const opened = openPassword(n, options.jwe);
        if (!(opened instanceof Secret)) {
          reject(n, opened.reason, opened.message);
          continue;
        }
        results.push({ id: n.id, status: 'retry' }); // replaced below
        requests.push({
          index: results.length - 1,
          request: { sourceSystem: n.source, account: n.anchor === undefined ? { name: n.account } : { anchor: n.anchor, name: n.account }, secret: opened, changedAt: n.changedAt, origin: 'source', actor: `agent:${agent.name}`, notificationId: n.id },
        });
      }
      if (rejections.length > 0) await ctx.store.appendEvents(rejections);
      if (requests.length > 0) {
        const outcomes = await submitChanges(ctx, requests.map((r) => r.request));
        outcomes.forEach((outcome, i) => {
          const entry = requests[i];
          if (entry === undefined) return;
          const id = results[entry.index]?.id ?? '';
          if (outcome.kind === 'accepted') results[entry.index] = { id, status: 'accepted' };
          else if (outcome.kind === 'replay') results[entry.index] = { id, status: 'duplicate', message: `notification ${id} was already received` };
          else {
            const reason: RejectReason = outcome.error instanceof UnknownAccountError ? 'unknown-account' : 'invalid';
            results[entry.index] = { id, status: 'rejected', reason, message: outcome.error.message };
          }
        });
        // Unknown accounts have their 7007 already; input the entry point refused gets its 7006 here.
        const invalid = outcomes.flatMap((o, i) => {
          const r = requests[i]?.request;
          return o.kind === 'rejected' && o.error instanceof InvalidInputError && r !== undefined ? [{ r, message: o.error.message }] : [];
        });
        if (invalid.length > 0) {
          await ctx.store.appendEvents(
            invalid.map(({ r, message }) => ({ code: EVENT.CHANGE_REJECTED, system: r.sourceSystem, ...(r.notificationId ? { changeId: r.notificationId } : {}), message: `notification from agent "${agent.name}" refused (invalid): ${message}` })),
          );
        }
      }
    } finally {
      for (const { request: r } of requests) r.secret.dispose();
    }

    const count = (status: string) => results.filter((r) => r.status === status).length;
    const status = count('rejected') > 0 ? 422 : count('duplicate') > 0 ? 409 : 202;
    log.info(
      { agent: agent.name, notifications: notifications.length, accepted: count('accepted'), duplicate: count('duplicate'), rejected: count('rejected'), ms: Math.round(performance.now() - started) },
      'notifications received',
    );
    return reply.code(status).send({ results });
  });

  const { host, port } = splitListen(options.listen);
  await app.listen({ host, port });
  const address = app.server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ listen: `${shownHost}:${address.port}`, agents: new Set([...options.agents.values()].map((a) => a.name)).size }, 'intake listening');
  return {
    url: `https://${shownHost}:${address.port}`,
    close: () => app.close(),
  };
}

/** Decrypts a notification's password straight into a Secret, checking algorithms and binding. */
function openPassword(n: Notification, jwe: IntakeOptions['jwe']): Secret | { reason: RejectReason; message: string } {
  let result: ReturnType<typeof decryptCompact>;
  try {
    result = decryptCompact(n.password, jwe.key);
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'error';
    const kid = headerKid(n.password);
    const which = kid !== undefined && jwe.kid !== undefined && kid !== jwe.kid ? ` (encrypted to key ${kid}; this server's key is ${jwe.kid}: the agent holds another server key)` : '';
    return { reason: code === 'ERR_JWE_DECRYPTION_FAILED' ? 'undecryptable' : 'malformed', message: `the password cannot be decrypted with this server's key${which} [${code}]` };
  }
  const plain = result.plaintext;
  const header = result.header;
  const bound = header[JWE_BINDING.id] === n.id && header[JWE_BINDING.source] === n.source && header[JWE_BINDING.account] === n.account && header[JWE_BINDING.anchor] === n.anchor;
  if (!bound) {
    plain.fill(0);
    return { reason: 'invalid', message: 'the encrypted password belongs to another notification (its protected header names another id, source, account or anchor)' };
  }
  if (plain.length === 0 || plain.length > MAX_PASSWORD_BYTES) {
    const length = plain.length;
    plain.fill(0);
    return { reason: 'invalid', message: `the password is ${length} bytes; it must be 1 to ${MAX_PASSWORD_BYTES}` };
  }
  // The plaintext buffer becomes the secret itself: no other copy of ours is left to wipe.
  return Secret.adopt(plain);
}

function headerKid(compact: string): string | undefined {
  try {
    const header: unknown = JSON.parse(Buffer.from(compact.split('.')[0] ?? '', 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && 'kid' in header && typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

export function splitListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidInputError(`"${listen}" is not host:port`);
  return { host, port };
}

