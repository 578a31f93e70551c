import type { EpochMs, NewEvent } from '../../core/model.ts';
import type { Ctx } from '../../sqlite/context.ts';
import { EventLog, type EventFields } from '../../sqlite/events.ts';

/** The store's event log: every field an event can name, down to the job. */
export const eventLog = new EventLog(['system', 'anchor', 'personId', 'changeId', 'jobId'], 'the store');

/** What an event written for a job or a change takes from it where the event itself is silent. */
export type EventContext = EventFields<'system' | 'anchor' | 'personId' | 'changeId' | 'jobId'>;

/** Writes one event in the current transaction; fields it leaves out come from `context`, then null. */
export function insertEvent(ctx: Ctx, event: NewEvent, context: EventContext = {}): void {
  eventLog.insert(ctx, event, context);
}

/** Records a notification id unless it is there already; forgets ids older than `forgetBefore`. */
export function rememberNotification(ctx: Ctx, id: string, at: EpochMs, forgetBefore: EpochMs): boolean {
  return ctx.sql.write(() => {
    ctx.sql.prepare('DELETE FROM notifications WHERE at < ?').run(forgetBefore);
    return ctx.sql.prepare('INSERT INTO notifications (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING').run(id, at).changes === 1;
  });
}
