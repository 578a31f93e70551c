import type { EpochMs } from '../../core/model.ts';
import type { Ctx } from '../../sqlite/context.ts';
import { EventLog } from '../../sqlite/events.ts';

/** The store's event log: every field an event can name, down to the job. */
export const eventLog = new EventLog(['system', 'anchor', 'personId', 'changeId', 'jobId'], 'the store');

/** Records a notification id unless it is there already; forgets ids older than `forgetBefore`. */
export function rememberNotification(ctx: Ctx, id: string, at: EpochMs, forgetBefore: EpochMs): boolean {
  return ctx.sql.write(() => {
    ctx.sql.prepare('DELETE FROM notifications WHERE at < ?').run(forgetBefore);
    return ctx.sql.prepare('INSERT INTO notifications (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING').run(id, at).changes === 1;
  });
}
