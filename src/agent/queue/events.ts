import { InvalidInputError, StoreError } from '../../core/errors.ts';
import { EVENTS, isEventCode, severityOf, type Severity } from '../../core/events.ts';
import type { EpochMs } from '../../core/model.ts';
import type { Ctx } from '../../store/sqlite/context.ts';
import { checkLimit, inList } from '../../store/sqlite/sql.ts';
import type { AgentEvent, AgentEventFilter, NewAgentEvent } from './types.ts';

const COLUMNS = 'id, at, code, severity, system, anchor, change_id, message';

interface EventRow {
  readonly id: number;
  readonly at: number;
  readonly code: number;
  readonly severity: string;
  readonly system: string | null;
  readonly anchor: string | null;
  readonly change_id: string | null;
  readonly message: string;
}

/** Writes one event in the current transaction. */
export function insertEvent(ctx: Ctx, event: NewAgentEvent): void {
  if (!isEventCode(event.code)) throw new InvalidInputError(`unknown event code ${String(event.code)}`);
  ctx.sql
    .prepare('INSERT INTO events (at, code, severity, system, anchor, change_id, message) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(
      event.at ?? ctx.now(),
      event.code,
      severityOf(event.code),
      event.system ?? null,
      event.anchor ?? null,
      event.changeId ?? null,
      event.message ?? EVENTS[event.code].text,
    );
}

export function appendEvents(ctx: Ctx, events: readonly NewAgentEvent[]): void {
  if (events.length === 0) return;
  ctx.sql.write(() => {
    for (const event of events) insertEvent(ctx, event);
  });
}

/** The newest `limit` events matching, in the order they happened (as `tail` shows them). */
export function listEvents(ctx: Ctx, filter: AgentEventFilter): AgentEvent[] {
  checkLimit(filter.limit);
  const codes = filter.codes;
  if (codes?.length === 0) return [];
  const where = codes === undefined ? '' : `WHERE code IN ${inList(codes.length)}`;
  return ctx.sql
    .prepare<EventRow>(`SELECT ${COLUMNS} FROM events ${where} ORDER BY id DESC LIMIT ?`)
    .all(...(codes ?? []), filter.limit)
    .reverse()
    .map(toEvent);
}

/** Forgets events older than `before`; the agent's log would otherwise grow without end. */
export function pruneEvents(ctx: Ctx, before: EpochMs): number {
  return ctx.sql.write(() => ctx.sql.prepare('DELETE FROM events WHERE at < ?').run(before).changes);
}

function toEvent(row: EventRow): AgentEvent {
  if (!isEventCode(row.code)) throw new StoreError(`unknown event code ${row.code} in the agent queue`);
  return {
    id: row.id,
    at: row.at,
    code: row.code,
    severity: row.severity as Severity,
    system: row.system,
    anchor: row.anchor,
    changeId: row.change_id,
    message: row.message,
  };
}
