import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { EVENT } from '../../core/events.ts';
import type { NewEvent } from '../../core/model.ts';
import type { Notification } from '../../protocol/notifications.ts';
import type { AgentRegistry, RegisteredAgent } from './agents.ts';
import type { Refusal } from './refusal.ts';

/** An unauthenticated caller's same refusal is recorded at most once per this interval (a flood is not an audit trail). */
const UNAUTHENTICATED_EVENT_INTERVAL_MS = 10_000;

/** Past this many remembered refusals the memory starts again (an attacker must not grow it). */
const MAX_REMEMBERED_REFUSALS = 10_000;

export type Authenticated = { readonly ok: true; readonly agent: RegisteredAgent } | { readonly ok: false; readonly refusal: Refusal };

/**
 * Who is calling: a caller is an agent when its client certificate chains to the agents' CA (TLS
 * verified it; the verdict is read here) AND is one of the registered agents' certificates, by
 * SHA-256 fingerprint. Each refusal is a 401 or 403 that says why, and an event (7012); the same
 * refusal from the same address is recorded once per interval, with how many were left out.
 */
export class Authenticator {
  readonly #agents: AgentRegistry;
  readonly #now: () => number;
  readonly #lastUnauthenticated = new Map<string, { at: number; suppressed: number }>();

  constructor(agents: AgentRegistry, now: () => number) {
    this.#agents = agents;
    this.#now = now;
  }

  /** The registered agent whose certificate the connection presented, or the refusal. */
  authenticate(socket: Socket): Authenticated {
    const address = socket.remoteAddress ?? 'unknown';
    const peer = socket instanceof TLSSocket ? socket.getPeerCertificate() : undefined;
    if (!(socket instanceof TLSSocket) || peer === undefined || Object.keys(peer).length === 0) {
      return this.#unauthenticated(address, 'a client certificate is required: only registered agents may deliver notifications');
    }
    if (!socket.authorized) {
      return this.#unauthenticated(address, `the client certificate (CN=${String(peer.subject.CN)}) is not trusted: ${String(socket.authorizationError)}`);
    }
    const agent = this.#agents.get(peer.fingerprint256);
    if (agent === undefined) {
      // Recorded every time: only a certificate of our own CA gets this far, so this is no anonymous flood.
      const message = `the client certificate (CN=${String(peer.subject.CN)}, SHA-256 ${peer.fingerprint256}) is not registered to any agent`;
      return { ok: false, refusal: { status: 403, body: { error: 'unregistered', message }, event: { code: EVENT.NOTIFICATION_UNAUTHORIZED, message: `${message} (from ${address})` } } };
    }
    return { ok: true, agent };
  }

  #unauthenticated(address: string, message: string): Authenticated {
    return { ok: false, refusal: { status: 401, body: { error: 'unauthenticated', message }, event: this.#rateLimited(address, message) } };
  }

  /** The refusal's event, unless the same one from the same address was recorded within the interval. */
  #rateLimited(address: string, message: string): NewEvent | undefined {
    const key = `${address}\0${message}`;
    const now = this.#now();
    const last = this.#lastUnauthenticated.get(key) ?? { at: 0, suppressed: 0 };
    if (last.at + UNAUTHENTICATED_EVENT_INTERVAL_MS > now) {
      this.#lastUnauthenticated.set(key, { at: last.at, suppressed: last.suppressed + 1 });
      return undefined;
    }
    if (this.#lastUnauthenticated.size > MAX_REMEMBERED_REFUSALS) this.#lastUnauthenticated.clear();
    this.#lastUnauthenticated.set(key, { at: now, suppressed: 0 });
    const more = last.suppressed > 0 ? `; ${last.suppressed} more like it since ${new Date(last.at).toISOString()}` : '';
    return { code: EVENT.NOTIFICATION_UNAUTHORIZED, message: `${message} (from ${address}${more})` };
  }
}

/** Refuses a batch that names a source the agent is not listed for (403, 7012); the whole batch, not that notification. */
export function authorizeSources(agent: RegisteredAgent, notifications: readonly Notification[]): Refusal | undefined {
  const foreign = notifications.find((n) => !agent.sources.has(n.source));
  if (foreign === undefined) return undefined;
  const speaksFor = [...agent.sources].join(', ') || 'no source';
  const message = `agent "${agent.name}" may not deliver changes of source "${foreign.source}" (it speaks for ${speaksFor})`;
  return { status: 403, body: { error: 'forbidden', message }, event: { code: EVENT.NOTIFICATION_UNAUTHORIZED, system: foreign.source, changeId: foreign.id, message } };
}
