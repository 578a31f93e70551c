import { InvalidInputError } from '../../core/errors.ts';
import { isEventCode, severityOf } from '../../core/events.ts';
import type { EpochMs, NewEvent, PwEvent } from '../../core/model.ts';
import type { EventFilter } from '../port.ts';
import type { Ctx } from './context.ts';
import { EVENT_COLUMNS, toEvent, type EventRow } from './rows.ts';
import { checkLimit, Where } from './sql.ts';

/** What an event written for a job or a change takes from it where the event itself is silent. */
export type EventContext = Partial<Pick<PwEvent, 'system' | 'anchor' | 'personId' | 'changeId' | 'jobId'>>;

/** Writes one event in the current transaction; fields it leaves out come from `context`, then null. */
export function insertEvent(ctx: Ctx, event: NewEvent, context: EventContext = {}): void {
  if (!isEventCode(event.code)) throw new InvalidInputError(`unknown event code ${String(event.code)}`);
  ctx.sql
    .prepare('INSERT INTO events (at, code, severity, system, anchor, person_id, change_id, job_id, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(
      event.at ?? ctx.now(),
      event.code,
      severityOf(event.code),
      event.system ?? context.system ?? null,
      event.anchor ?? context.anchor ?? null,
      event.personId ?? context.personId ?? null,
      event.changeId ?? context.changeId ?? null,
      event.jobId ?? context.jobId ?? null,
      event.message,
    );
}

export function appendEvents(ctx: Ctx, events: readonly NewEvent[]): void {
  if (events.length === 0) return;
  ctx.sql.write(() => {
    for (const event of events) insertEvent(ctx, event);
  });
}

/** The newest events matching, oldest first; with `afterId`, the first ones after it (to follow the log). */
export function listEvents(ctx: Ctx, filter: EventFilter): PwEvent[] {
  checkLimit(filter.limit);
  const where = new Where()
    .in('code', filter.codes)
    .in('severity', filter.severities)
    .compare('system', '=', filter.system)
    .compare('person_id', '=', filter.personId)
    .compare('change_id', '=', filter.changeId)
    .compare('at', '>=', filter.since)
    .compare('id', '>', filter.afterId);
  if (where.matchesNothing) return [];
  const { clause, params } = where;
  if (filter.afterId !== undefined) {
    return ctx.sql.prepare<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events ${clause} ORDER BY id LIMIT ?`).all(...params, filter.limit).map(toEvent);
  }
  // The newest `limit`, as `tail` shows them: in the order they happened.
  return ctx.sql.prepare<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events ${clause} ORDER BY id DESC LIMIT ?`).all(...params, filter.limit).reverse().map(toEvent);
}

/** Records a notification id unless it is there already; forgets ids older than `forgetBefore`. */
export function rememberNotification(ctx: Ctx, id: string, at: EpochMs, forgetBefore: EpochMs): boolean {
  return ctx.sql.write(() => {
    ctx.sql.prepare('DELETE FROM notifications WHERE at < ?').run(forgetBefore);
    return ctx.sql.prepare('INSERT INTO notifications (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING').run(id, at).changes === 1;
  });
}
