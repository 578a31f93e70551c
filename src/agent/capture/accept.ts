import type { ZodType } from 'zod';
import { InvalidInputError, isPwsyncError } from '../../core/errors.ts';
import type { Secret } from '../../core/secret.ts';
import type { Logger } from '../../log/logger.ts';
import type { AgentConfig } from '../config.ts';
import { QueueFullError, type AgentStore, type QueueWriter } from '../queue/index.ts';
import type { Scope, ScopeDecision } from '../scope/types.ts';
import type { CaptureAnswer } from './protocol.ts';
import { EVENT } from '../../core/events.ts';
import { MAX_PASSWORD_BYTES, notificationFields } from '../../protocol/notifications.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';

/** How far ahead of the agent's clock a hook's change time may be. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface Capture {
  readonly account: string;
  /** The account's immutable id at the source, when the hook knows it (AD's objectGUID). */
  readonly anchor?: string;
  readonly source: string | undefined;
  readonly changedAt: number | undefined;
  /** Owned by the caller, who disposes it after the answer. */
  readonly secret: Secret;
  /** `socket` or `http`, for the log. */
  readonly via: string;
}

/**
 * What every capture hook's change goes through: checked, scoped, sealed under the agent's key
 * and committed to the queue (with other captures of the same moment, one fsync for all) before
 * the hook is answered. A change the directory cannot be asked about now is queued with its scope
 * pending and checked again before delivery: never guessed, never lost.
 */
export class CaptureAcceptor {
  constructor(
    private readonly deps: {
      readonly config: AgentConfig;
      readonly store: AgentStore;
      readonly writer: QueueWriter;
      readonly scope: Scope | undefined;
      readonly log: Logger;
      readonly now: () => number;
      /** Tells the sender that there is something to deliver. */
      readonly queued: () => void;
    },
  ) {}

  async accept(capture: Capture): Promise<CaptureAnswer> {
    const { config, store, writer, scope, log } = this.deps;
    const now = this.deps.now();
    const source = capture.source ?? config.sources[0] ?? '';
    if (!config.sources.includes(source)) {
      return { ok: false, error: 'unknown-source', message: `this agent captures for ${config.sources.join(', ')}, not ${quoteUntrusted(source)}` };
    }
    const problem = checkCapture(capture, source, now);
    if (problem !== undefined) return { ok: false, error: 'malformed', message: problem };

    let pending = false;
    if (scope !== undefined) {
      try {
        const decision = await decideOrRefuse(scope, capture.account);
        if (!decision.inScope) {
          await store.appendEvents([{ code: EVENT.OUT_OF_SCOPE, system: source, anchor: capture.account, message: `change of ${quoteUntrusted(capture.account)} not delivered: ${decision.reason}` }]);
          log.info({ source, account: capture.account, reason: decision.reason, via: capture.via }, 'capture out of scope');
          return { ok: true, status: 'out-of-scope', reason: decision.reason };
        }
      } catch (e) {
        if (!isPwsyncError(e) || !e.retryable) throw e;
        pending = true;
        await store.appendEvents([{ code: EVENT.SCOPE_UNRESOLVED, system: source, anchor: capture.account, message: `scope of ${quoteUntrusted(capture.account)} not resolved now (${e.message}); queued and checked again before delivery` }]);
        log.warn({ source, account: capture.account, err: e }, 'scope unresolved; queued as pending');
      }
    }

    try {
      const item = await writer.add({
        source,
        account: capture.account,
        ...(capture.anchor === undefined ? {} : { anchor: capture.anchor }),
        changedAt: capture.changedAt ?? now,
        capturedAt: now,
        scope: pending ? 'pending' : 'in',
        secret: capture.secret,
      });
      this.deps.queued();
      log.info({ id: item.id, source, account: capture.account, via: capture.via }, 'change captured');
      return { ok: true, status: 'queued', id: item.id };
    } catch (e) {
      if (e instanceof QueueFullError) return { ok: false, error: 'queue-full', message: e.message };
      if (e instanceof InvalidInputError) return { ok: false, error: 'malformed', message: e.message };
      log.error({ err: e, account: capture.account }, 'capture could not be queued');
      return { ok: false, error: 'unavailable', message: 'the agent could not commit the change to its queue' };
    }
  }
}

/**
 * Why a capture cannot be taken, if it cannot. Each field is checked with the schema the server
 * checks notifications with (src/protocol/notifications.ts): a capture acknowledged here is never
 * refused there for its shape, so none can sit in the queue as a change no server takes.
 */
function checkCapture(capture: Capture, source: string, now: number): string | undefined {
  if (capture.secret.length === 0) return 'the password is empty';
  if (capture.secret.length > MAX_PASSWORD_BYTES) return `the password is longer than ${MAX_PASSWORD_BYTES} bytes`;
  const fields: [string, ZodType, unknown][] = [
    ['source', notificationFields.source, source],
    ['account', notificationFields.account, capture.account],
  ];
  if (capture.anchor !== undefined) fields.push(['anchor', notificationFields.anchor, capture.anchor]);
  if (capture.changedAt !== undefined) fields.push(['changedAt', notificationFields.changedAt, capture.changedAt]);
  for (const [name, schema, value] of fields) {
    const checked = schema.safeParse(value);
    if (!checked.success) return `${name}: ${checked.error.issues[0]?.message ?? 'invalid'}`;
  }
  // In the Date range now (checked above), so it has an ISO form.
  if (capture.changedAt !== undefined && capture.changedAt > now + MAX_CLOCK_SKEW_MS) {
    return `the change time ${new Date(capture.changedAt).toISOString()} is in the future; check the clock`;
  }
  return undefined;
}

/**
 * The scope's decision, where a directory that answers but cannot decide (an account that matches
 * two entries, nesting beyond the limit) is a refusal with that reason: asking again will not
 * help, and a guess either way could deliver an administrator's password or drop a user's.
 * Only a directory that cannot be reached is left to ask again (the error is rethrown).
 */
export async function decideOrRefuse(scope: Scope, account: string): Promise<ScopeDecision> {
  try {
    return await scope.decide(account);
  } catch (e) {
    if (isPwsyncError(e) && !e.retryable) return { inScope: false, reason: `cannot decide: ${e.message}` };
    throw e;
  }
}
