import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { EVENT, type EventCode } from '../../core/events.ts';
import type { NewEvent } from '../../core/model.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';
import type { Notification } from '../../protocol/notifications.ts';
import type { AgentRegistry, RegisteredAgent } from './agents.ts';
import type { Refusal } from './refusal.ts';
import { describeSuppressed, type RefusalThrottle } from './refusal-throttle.ts';

/** A certificate's CN as messages repeat it: enough to recognise one, never kilobytes. */
const MAX_SUBJECT_CHARS = 128;

export type Authenticated = { readonly ok: true; readonly agent: RegisteredAgent } | { readonly ok: false; readonly refusal: Refusal };

/**
 * Who is calling: a caller is an agent when its client certificate chains to the agents' CA (TLS
 * verified it; the verdict is read here) AND is one of the registered agents' certificates, by
 * SHA-256 fingerprint. Each refusal is a 401 or 403 that says why, and an event (7012). A client
 * that did not authenticate chooses everything it sends, its certificate's subject included: its
 * refusals are recorded as the throttle allows, by address (`refusal-throttle.ts`), and the
 * subject is quoted, escaped and cut (`quoteUntrusted`) wherever it is repeated.
 */
export class Authenticator {
  readonly #agents: AgentRegistry;
  readonly #throttle: RefusalThrottle;

  constructor(agents: AgentRegistry, throttle: RefusalThrottle) {
    this.#agents = agents;
    this.#throttle = throttle;
  }

  /** The registered agent whose certificate the connection presented, or the refusal. */
  authenticate(socket: Socket): Authenticated {
    const address = socket.remoteAddress ?? 'unknown';
    const peer = socket instanceof TLSSocket ? socket.getPeerCertificate() : undefined;
    if (!(socket instanceof TLSSocket) || peer === undefined || Object.keys(peer).length === 0) {
      return this.#unauthenticated(address, 'a client certificate is required: only registered agents may deliver notifications');
    }
    const cn = peer.subject.CN === undefined ? '(none)' : quoteUntrusted(String(peer.subject.CN), MAX_SUBJECT_CHARS);
    if (!socket.authorized) {
      return this.#unauthenticated(address, `the client certificate (CN=${cn}) is not trusted: ${String(socket.authorizationError)}`);
    }
    const agent = this.#agents.get(peer.fingerprint256);
    if (agent === undefined) {
      // Recorded every time: only a certificate of our own CA gets this far, so this is no anonymous flood.
      const message = `the client certificate (CN=${cn}, SHA-256 ${peer.fingerprint256}) is not registered to any agent`;
      return { ok: false, refusal: { status: 403, body: { error: 'unregistered', message }, event: { code: EVENT.NOTIFICATION_UNAUTHORIZED, message: `${message} (from ${address})` } } };
    }
    return { ok: true, agent };
  }

  #unauthenticated(address: string, message: string): Authenticated {
    return { ok: false, refusal: { status: 401, body: { error: 'unauthenticated', message }, event: unauthenticatedEvent(this.#throttle, address, EVENT.NOTIFICATION_UNAUTHORIZED, message) } };
  }
}

/**
 * The event of a refusal of a client that did not authenticate, unless the throttle leaves it out;
 * a recorded one says how many were left out before it.
 */
export function unauthenticatedEvent(throttle: RefusalThrottle, address: string, code: EventCode, message: string): NewEvent | undefined {
  const verdict = throttle.admit(address);
  if (!verdict.record) return undefined;
  const more = verdict.suppressed === undefined ? '' : `; ${describeSuppressed(verdict.suppressed, true)}`;
  return { code, message: `${message} (from ${address}${more})` };
}

/** The summary event of refusals left out since the last one recorded, if any. */
export function suppressedRefusalsEvent(throttle: RefusalThrottle): NewEvent | undefined {
  const suppressed = throttle.flush();
  return suppressed === undefined ? undefined : { code: EVENT.NOTIFICATION_UNAUTHORIZED, message: describeSuppressed(suppressed, false) };
}

/**
 * Why the agent may not deliver this notification's source (it is not listed in the source's
 * `agents`), or undefined when it may. The notification alone is refused (7012), never its batch.
 */
export function sourceRefusal(agent: RegisteredAgent, n: Notification): string | undefined {
  if (agent.sources.has(n.source)) return undefined;
  const speaksFor = [...agent.sources].join(', ') || 'no source';
  return `agent "${agent.name}" may not deliver changes of source ${quoteUntrusted(n.source)} (it speaks for ${speaksFor})`;
}
