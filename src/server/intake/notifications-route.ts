import { ProtectedAccountError, UnknownAccountError, type InvalidInputError } from '../../core/errors.ts';
import { EVENT } from '../../core/events.ts';
import type { NewEvent } from '../../core/model.ts';
import { Secret } from '../../core/secret.ts';
import type { Logger } from '../../log/logger.ts';
import { batchEnvelopeSchema, notificationFields, notificationSchema, type Notification, type NotificationResult, type RejectReason } from '../../protocol/notifications.ts';
import { MAX_CLOCK_SKEW_MS, type BatchEvents, type ChangeOutcome, type ChangeRequest, type SourceGuard } from '../../sync/submit-change.ts';
import type { RegisteredAgent } from './agents.ts';
import { sourceRefusal } from './authenticate.ts';
import { openPassword, type JweDecryptionKey } from './password.ts';
import type { SourceProtection } from './protection.ts';
import { requestRefused, type Refusal } from './refusal.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';

/** What the intake needs of the engine; the composition root binds it to the server's. */
export interface IntakeEngine {
  /**
   * The entry point: `submitChanges` on the server's engine, committing `owed` with the batch;
   * `guard` refuses the accounts the sources protect from agents.
   */
  submitChanges(requests: readonly ChangeRequest[], owed: BatchEvents, guard?: SourceGuard): Promise<ChangeOutcome[]>;
  /** Records the events of a request refused as a whole (it reaches no batch to ride in). */
  appendEvents(events: readonly NewEvent[]): Promise<void>;
  /** Epoch milliseconds. */
  now(): number;
}

export interface NotificationsRouteOptions {
  readonly engine: IntakeEngine;
  readonly log: Logger;
  readonly jwe: JweDecryptionKey;
  readonly replayWindowMs: number;
  readonly maxBatch: number;
  /** The accounts sources protect from every agent (`source.protect`); none without. */
  readonly protection?: SourceProtection | undefined;
}

/** What the route answers: one result per notification, or the request refused as a whole. */
export type RouteAnswer = { readonly refused: false; readonly status: number; readonly results: readonly NotificationResult[] } | { readonly refused: true; readonly refusal: Refusal };

/**
 * The notifications route of an authenticated agent: checks the batch's schema, size and sources
 * (a failure refuses the request as a whole), then each notification — stale or from the future,
 * undecryptable, bound to another envelope — and passes the rest to the entry point in one call.
 * The refusals of single notifications ride in that call's one commit, so a batch costs the store
 * one lookup and one commit, and a refusal is recorded if and only if the batch is.
 *
 * The answer is 202, 409 when there are duplicates, 422 when there are rejections; each
 * notification gets its result, in order. It is given only after the commit, so an agent deletes
 * only what is durable.
 */
export class NotificationsRoute {
  readonly #o: NotificationsRouteOptions;

  constructor(options: NotificationsRouteOptions) {
    this.#o = options;
  }

  async receive(agent: RegisteredAgent, body: unknown): Promise<RouteAnswer> {
    const { log, maxBatch } = this.#o;
    const started = performance.now();
    const who = `agent "${agent.name}"`;
    // Only the envelope refuses the request; each member is checked on its own below.
    const envelope = batchEnvelopeSchema.safeParse(body);
    if (!envelope.success) {
      const first = envelope.error.issues[0];
      return { refused: true, refusal: requestRefused(who, 400, 'malformed', `malformed notification batch: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid'}`) };
    }
    const members = envelope.data.notifications;
    if (members.length > maxBatch) {
      return { refused: true, refusal: requestRefused(who, 413, 'too-large', `${members.length} notifications in one request; at most ${maxBatch}`) };
    }
    const checked = members.map((member) => checkMember(agent, member));
    const notifications = checked.filter((c) => c.kind === 'valid').map((c) => c.notification);

    const submitted = await this.#submit(agent, notifications, checked.flatMap((c) => (c.kind === 'refused' ? [c.event] : [])));
    // Each member's result in its place: the refused ones' own, the others' from the entry point.
    let next = 0;
    const results = checked.map((c) => (c.kind === 'refused' ? c.result : (submitted[next++] ?? { id: c.notification.id, status: 'retry' as const })));
    const count = (status: NotificationResult['status']) => results.filter((r) => r.status === status).length;
    const status = count('rejected') > 0 ? 422 : count('duplicate') > 0 ? 409 : 202;
    log.info(
      { agent: agent.name, notifications: members.length, accepted: count('accepted'), duplicate: count('duplicate'), rejected: count('rejected'), ms: Math.round(performance.now() - started) },
      'notifications received',
    );
    return { refused: false, status, results };
  }

  /** Checks each notification, submits the ones that pass, and answers each in its place. */
  async #submit(agent: RegisteredAgent, notifications: readonly Notification[], malformed: readonly NewEvent[]): Promise<NotificationResult[]> {
    const { engine } = this.#o;
    const results: NotificationResult[] = [];
    const refused: NewEvent[] = [...malformed];
    const requests: { index: number; request: ChangeRequest }[] = [];
    const now = engine.now();
    // A source whose protected accounts cannot be known now takes nothing: its notifications are
    // answered `retry` before anything else (never accepted unchecked).
    const prepared = await this.#o.protection?.prepare(notifications.map((n) => n.source));
    try {
      for (const n of notifications) {
        if (prepared?.unavailable.has(n.source) === true) {
          results.push({ id: n.id, status: 'retry', message: `the server cannot check the protected accounts of source "${n.source}" now; send it again later` });
          continue;
        }
        const opened = this.#open(n, now);
        if (!(opened instanceof Secret)) {
          results.push({ id: n.id, status: 'rejected', reason: opened.reason, message: opened.message });
          refused.push({ code: EVENT.CHANGE_REJECTED, system: n.source, changeId: n.id, message: `notification from agent "${agent.name}" for account ${quoteUntrusted(n.account)} refused (${opened.reason}): ${opened.message}` });
          continue;
        }
        results.push({ id: n.id, status: 'retry' }); // replaced by the outcome below
        requests.push({
          index: results.length - 1,
          request: { sourceSystem: n.source, account: n.anchor === undefined ? { name: n.account } : { anchor: n.anchor, name: n.account }, secret: opened, changedAt: n.changedAt, origin: 'source', actor: `agent:${agent.name}`, notificationId: n.id },
        });
      }
      const invalid = (r: ChangeRequest, error: InvalidInputError): NewEvent => ({
        code: EVENT.CHANGE_REJECTED,
        system: r.sourceSystem,
        ...(r.notificationId ? { changeId: r.notificationId } : {}),
        message: `notification from agent "${agent.name}" refused (invalid): ${error.message}`,
      });
      // Every notification refused above is recorded in the batch's commit, even when none is left to submit.
      const outcomes = await engine.submitChanges(requests.map((r) => r.request), { refused, invalid }, prepared?.guard);
      outcomes.forEach((outcome, i) => {
        const entry = requests[i];
        if (entry !== undefined) results[entry.index] = resultOf(results[entry.index]?.id ?? '', outcome);
      });
    } finally {
      for (const { request: r } of requests) r.secret.dispose();
    }
    return results;
  }

  /** The notification's password, or why it is refused: stale, from the future, not decryptable or not its own. */
  #open(n: Notification, now: number): Secret | { reason: RejectReason; message: string } {
    const { replayWindowMs, jwe } = this.#o;
    if (n.capturedAt < now - replayWindowMs) {
      return { reason: 'stale', message: `captured ${new Date(n.capturedAt).toISOString()}, older than the replay window (${replayWindowMs / 3_600_000} h)` };
    }
    if (n.capturedAt > now + MAX_CLOCK_SKEW_MS) return { reason: 'invalid', message: `captured ${new Date(n.capturedAt).toISOString()}, in the future; check the agent's clock` };
    return openPassword(n, jwe);
  }
}

type CheckedMember =
  | { readonly kind: 'valid'; readonly notification: Notification }
  | { readonly kind: 'refused'; readonly result: NotificationResult; readonly event: NewEvent };

/** The longest id a malformed member's result repeats; a longer one is answered as ''. */
const MAX_ECHOED_ID = 100;

/**
 * One member of a batch checked against the notification schema and the agent's sources: valid, or
 * its own refusal — `rejected`/`malformed` (with its id when it has a usable one) and 7006, or
 * `rejected`/`unknown-source` and 7012 for a source the agent may not deliver. The other members
 * are taken: one member never refuses its batch.
 */
function checkMember(agent: RegisteredAgent, member: unknown): CheckedMember {
  const parsed = notificationSchema.safeParse(member);
  if (parsed.success) {
    const n = parsed.data;
    const forbidden = sourceRefusal(agent, n);
    if (forbidden === undefined) return { kind: 'valid', notification: n };
    return {
      kind: 'refused',
      result: { id: n.id, status: 'rejected', reason: 'unknown-source', message: forbidden },
      event: { code: EVENT.NOTIFICATION_UNAUTHORIZED, system: n.source, changeId: n.id, message: forbidden },
    };
  }
  const field = (name: string): unknown => (typeof member === 'object' && member !== null && name in member ? (member as Record<string, unknown>)[name] : undefined);
  const rawId = field('id');
  const id = typeof rawId === 'string' && rawId.length <= MAX_ECHOED_ID ? rawId : '';
  const changeId = notificationSchema.shape.id.safeParse(rawId);
  const source = notificationFields.source.safeParse(field('source'));
  const first = parsed.error.issues[0];
  const message = first ? `${first.path.join('.') || 'notification'}: ${first.message}` : 'invalid';
  return {
    kind: 'refused',
    result: { id, status: 'rejected', reason: 'malformed', message },
    event: {
      code: EVENT.CHANGE_REJECTED,
      ...(source.success ? { system: source.data } : {}),
      ...(changeId.success ? { changeId: changeId.data } : {}),
      message: `notification from agent "${agent.name}" refused (malformed): ${message}`,
    },
  };
}

function resultOf(id: string, outcome: ChangeOutcome): NotificationResult {
  switch (outcome.kind) {
    case 'accepted':
      return { id, status: 'accepted' };
    case 'replay':
      return { id, status: 'duplicate', message: `notification ${id} was already received` };
    case 'retry':
      return { id, status: 'retry', message: outcome.message };
    case 'rejected': {
      const { error } = outcome;
      const reason = error instanceof UnknownAccountError ? 'unknown-account' : error instanceof ProtectedAccountError ? 'protected' : 'invalid';
      return { id, status: 'rejected', reason, message: error.message };
    }
  }
}
