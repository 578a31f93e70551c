import { isUtf8 } from 'node:buffer';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { InvalidInputError } from '../../core/errors.ts';
import { EVENT } from '../../core/events.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';
import type { Logger } from '../../log/logger.ts';
import { NOTIFICATIONS_PATH } from '../../protocol/notifications.ts';
import { holdsLoneSurrogate } from '../../util/text.ts';
import type { AgentRegistry, RegisteredAgent } from './agents.ts';
import { Authenticator, suppressedRefusalsEvent, unauthenticatedEvent } from './authenticate.ts';
import { NotificationsRoute, type IntakeEngine } from './notifications-route.ts';
import type { JweDecryptionKey } from './password.ts';
import type { SourceProtection } from './protection.ts';
import { requestRefused, type Refusal } from './refusal.ts';
import { RefusalThrottle } from './refusal-throttle.ts';

/**
 * Every wait on a client is bounded, so that connections that do nothing cannot pile up: the TLS
 * handshake, then the request's headers (a connection that sends nothing after its handshake is
 * one whose headers never come), the whole request, and the idle time between two requests of a
 * kept-alive connection. Node checks the request and headers limits only every
 * `connectionsCheckingInterval` (30 s by default, which made a 10 s limit act after up to 40 s).
 */
export const INTAKE_TIMEOUTS = {
  handshakeMs: 10_000,
  headersMs: 10_000,
  requestMs: 30_000,
  keepAliveMs: 10_000,
  checkEveryMs: 500,
} as const;

/** How often refusals the throttle left out are summed up in an event (and once more at close). */
const SUPPRESSED_SUMMARY_EVERY_MS = 60_000;

export interface IntakeOptions {
  readonly engine: IntakeEngine;
  readonly log: Logger;
  /** `host:port`. */
  readonly listen: string;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa: Buffer };
  readonly jwe: JweDecryptionKey;
  readonly agents: AgentRegistry;
  readonly replayWindowMs: number;
  readonly maxBodyBytes: number;
  readonly maxBatch: number;
  /** The accounts sources protect from every agent (`source.protect`). */
  readonly protection?: SourceProtection | undefined;
}

export interface RunningIntake {
  /** `https://host:port` as bound (the port is the real one when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    agent: RegisteredAgent | undefined;
  }
}

/**
 * The server's notification intake: HTTPS with mutual TLS, in front of two parts — who is calling
 * (`authenticate.ts`: registered agents by certificate) and what they deliver
 * (`notifications-route.ts`: checks, decryption, the entry point, one result per notification).
 * Each password arrives JWE-encrypted to this server, bound to its notification, is decrypted
 * straight into a `Secret` and sealed under the store key in the same batch commit that records
 * the notification id. The answer comes only after that commit, so an agent deletes only what is
 * durable.
 *
 * Every refusal is an HTTP 4xx whose body says why, and an event (7012 for authentication, 7006
 * for the rest) that carries no secret; a refused notification leaves nothing else behind.
 */
export async function startIntake(options: IntakeOptions): Promise<RunningIntake> {
  const { engine, log } = options;
  const throttle = new RefusalThrottle(() => engine.now());
  const authenticator = new Authenticator(options.agents, throttle);
  const route = new NotificationsRoute({ engine, log, jwe: options.jwe, replayWindowMs: options.replayWindowMs, maxBatch: options.maxBatch, protection: options.protection });
  const app = Fastify({
    https: {
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.clientCa,
      // The client certificate is asked for and verified against `ca` by TLS as always; the
      // verdict (socket.authorized) is enforced by the Authenticator, before the body is read, on
      // the one route that takes notifications. Refusing at the handshake instead would give a
      // client without a certificate a reset rather than a 401 that says why, and no event to
      // audit. /healthz alone answers without a certificate. The intake never skips the verification.
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      // Passed on to https.createServer: node's tls and http options (see INTAKE_TIMEOUTS).
      handshakeTimeout: INTAKE_TIMEOUTS.handshakeMs,
      headersTimeout: INTAKE_TIMEOUTS.headersMs,
      connectionsCheckingInterval: INTAKE_TIMEOUTS.checkEveryMs,
    },
    logger: false,
    bodyLimit: options.maxBodyBytes,
    requestTimeout: INTAKE_TIMEOUTS.requestMs,
    keepAliveTimeout: INTAKE_TIMEOUTS.keepAliveMs,
    return503OnClosing: true,
  });
  app.decorateRequest('agent', undefined);
  acceptJsonAsText(app);

  const refuse = async (reply: FastifyReply, refusal: Refusal): Promise<FastifyReply> => {
    if (refusal.event !== undefined) await engine.appendEvents([refusal.event]);
    // A refusal the throttle left out goes to the debug log alone: a flood fills no file either.
    const fields = { status: refusal.status, error: refusal.body.error, reason: refusal.body.message };
    if (refusal.event === undefined) log.debug(fields, 'notification request refused (not recorded: throttled)');
    else log.warn(fields, 'notification request refused');
    // A client that did not authenticate gets no kept-alive connection: its next try costs a handshake.
    if (refusal.status === 401) void reply.header('connection', 'close');
    return reply.code(refusal.status).send(refusal.body);
  };

  const recordSuppressed = async (): Promise<void> => {
    const summary = suppressedRefusalsEvent(throttle);
    if (summary === undefined) return;
    try {
      await engine.appendEvents([summary]);
    } catch (e) {
      log.error({ err: e, summary: summary.message }, 'cannot record the count of refusals left out');
    }
  };

  app.setErrorHandler(async (error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      log.error({ err: error }, 'intake failed');
      return reply.code(503).send({ error: 'unavailable', message: 'the server could not commit the notifications; send them again later' });
    }
    const refusal =
      status === 413
        ? requestRefused(who(request), status, 'too-large', `the request body is larger than ${options.maxBodyBytes} bytes`)
        : // The parser's message may repeat what the client sent (a content type, a piece of the body).
          requestRefused(who(request), status, 'malformed', quoteUntrusted(error.message));
    if (request.agent !== undefined) return refuse(reply, refusal);
    // Before authentication, the same throttle as every other refusal of an unknown client.
    const address = request.raw.socket.remoteAddress ?? 'unknown';
    return refuse(reply, { ...refusal, event: refusal.event && unauthenticatedEvent(throttle, address, EVENT.CHANGE_REJECTED, refusal.event.message) });
  });

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));

  const onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const caller = authenticator.authenticate(request.raw.socket);
    if (!caller.ok) return refuse(reply, caller.refusal);
    request.agent = caller.agent;
    return undefined;
  };

  app.post(NOTIFICATIONS_PATH, { onRequest }, async (request, reply) => {
    const agent = request.agent;
    if (agent === undefined) throw new Error('unreachable: onRequest authenticates');
    const answer = await route.receive(agent, request.body);
    if (answer.refused) return refuse(reply, answer.refusal);
    return reply.code(answer.status).send({ results: answer.results });
  });

  const { host, port } = splitListen(options.listen);
  await app.listen({ host, port });
  const address = app.server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ listen: `${shownHost}:${address.port}`, agents: new Set([...options.agents.values()].map((a) => a.name)).size }, 'intake listening');
  const summaries = setInterval(() => void recordSuppressed(), SUPPRESSED_SUMMARY_EVERY_MS);
  summaries.unref();
  return {
    url: `https://${shownHost}:${address.port}`,
    async close() {
      clearInterval(summaries);
      await app.close();
      await recordSuppressed();
    },
  };
}

function who(request: FastifyRequest): string {
  return request.agent ? `agent "${request.agent.name}"` : 'a client';
}

export function splitListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidInputError(`"${listen}" is not host:port`);
  return { host, port };
}

/**
 * JSON bodies parsed from their bytes: fastify's own parser decodes them leniently, so a byte that is
 * not UTF-8 in an account name became U+FFFD, naming another account. Such a body, or one whose
 * strings hold a lone surrogate (an escape that is half of a pair), is refused 400 'malformed'.
 * The parsing itself stays fastify's (prototype poisoning refused).
 */
function acceptJsonAsText(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  const notText = (message: string): Error => Object.assign(new InvalidInputError(message), { statusCode: 400 });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if (!Buffer.isBuffer(body) || !isUtf8(body)) {
      done(notText('the body is not valid UTF-8 (JSON is sent in UTF-8)'));
      return;
    }
    void parse(request, body.toString('utf8'), (error, value: unknown) => {
      if (error === null && holdsLoneSurrogate(value)) done(notText('a string in the body holds a lone surrogate (a \\uD800-\\uDFFF escape that is not half of a pair): it is not text'));
      else done(error, value);
    });
  });
}
