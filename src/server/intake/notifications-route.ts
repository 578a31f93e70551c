import { UnknownAccountError, type InvalidInputError } from '../../core/errors.ts';
import { EVENT } from '../../core/events.ts';
import type { NewEvent } from '../../core/model.ts';
import { Secret } from '../../core/secret.ts';
import type { Logger } from '../../log/logger.ts';
import { batchSchema, type Notification, type NotificationResult, type RejectReason } from '../../protocol/notifications.ts';
import { MAX_CLOCK_SKEW_MS, type BatchEvents, type ChangeOutcome, type ChangeRequest } from '../../sync/submit-change.ts';
import type { RegisteredAgent } from './agents.ts';
import { authorizeSources } from './authenticate.ts';
import { openPassword, type JweDecryptionKey } from './password.ts';
import { requestRefused, type Refusal } from './refusal.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';

/** What the intake needs of the engine; the composition root binds it to the server's. */
export interface IntakeEngine {
  /** The entry point: `submitChanges` on the server's engine, committing `owed` with the batch. */
  submitChanges(requests: readonly ChangeRequest[], owed: BatchEvents): Promise<ChangeOutcome[]>;
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
    const parsed = batchSchema.safeParse(body);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      return { refused: true, refusal: requestRefused(who, 400, 'malformed', `malformed notification batch: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid'}`) };
    }
    const notifications = parsed.data.notifications;
    if (notifications.length > maxBatch) {
      return { refused: true, refusal: requestRefused(who, 413, 'too-large', `${notifications.length} notifications in one request; at most ${maxBatch}`) };
    }
    const forbidden = authorizeSources(agent, notifications);
    if (forbidden !== undefined) return { refused: true, refusal: forbidden };

    const results = await this.#submit(agent, notifications);
    const count = (status: NotificationResult['status']) => results.filter((r) => r.status === status).length;
    const status = count('rejected') > 0 ? 422 : count('duplicate') > 0 ? 409 : 202;
    log.info(
      { agent: agent.name, notifications: notifications.length, accepted: count('accepted'), duplicate: count('duplicate'), rejected: count('rejected'), ms: Math.round(performance.now() - started) },
      'notifications received',
    );
    return { refused: false, status, results };
  }

  /** Checks each notification, submits the ones that pass, and answers each in its place. */
  async #submit(agent: RegisteredAgent, notifications: readonly Notification[]): Promise<NotificationResult[]> {
    const { engine } = this.#o;
    const results: NotificationResult[] = [];
    const refused: NewEvent[] = [];
    const requests: { index: number; request: ChangeRequest }[] = [];
    const now = engine.now();
    try {
      for (const n of notifications) {
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
      const outcomes = await engine.submitChanges(requests.map((r) => r.request), { refused, invalid });
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

function resultOf(id: string, outcome: ChangeOutcome): NotificationResult {
  switch (outcome.kind) {
    case 'accepted':
      return { id, status: 'accepted' };
    case 'replay':
      return { id, status: 'duplicate', message: `notification ${id} was already received` };
    case 'rejected':
      return { id, status: 'rejected', reason: outcome.error instanceof UnknownAccountError ? 'unknown-account' : 'invalid', message: outcome.error.message };
  }
}
