import { InvalidInputError, StoreError } from '../core/errors.ts';
import { EVENTS, isEventCode, severityOf, type EventCode, type Severity } from '../core/events.ts';
import type { EpochMs } from '../core/model.ts';
import { escapeInvisible } from '../core/untrusted-text.ts';
import type { Ctx } from './context.ts';
import { checkLimit, inList, Where } from './sql.ts';

/** The longest message an event keeps, in characters; the rest is cut with an ellipsis. */
export const MAX_EVENT_MESSAGE_CHARS = 2_000;

/**
 * The columns an event table may have besides id, at, code, severity and message, each under the
 * field an event carries it in, in the order an event shows them, with the name of its index.
 */
const FIELDS = {
  system: { column: 'system', type: 'TEXT', index: 'events_system' },
  anchor: { column: 'anchor', type: 'TEXT', index: 'events_anchor' },
  personId: { column: 'person_id', type: 'TEXT', index: 'events_person' },
  changeId: { column: 'change_id', type: 'TEXT', index: 'events_change' },
  jobId: { column: 'job_id', type: 'INTEGER', index: 'events_job' },
} as const;

export type EventField = keyof typeof FIELDS;

interface FieldValues {
  readonly system: string;
  readonly anchor: string;
  readonly personId: string;
  readonly changeId: string;
  readonly jobId: number;
}

/** An entry of an event table that has the fields `F`, as read back. */
export type LoggedEvent<F extends EventField> = {
  readonly id: number;
  readonly at: EpochMs;
  readonly code: EventCode;
  readonly severity: Severity;
  readonly message: string;
} & { readonly [K in F]: FieldValues[K] | null };

/** A row as SQLite returns it, its fields already under their names (`person_id AS personId`). */
type EventRow<F extends EventField> = {
  readonly id: number;
  readonly at: number;
  readonly code: number;
  readonly severity: string;
  readonly message: string;
} & { readonly [K in F]: FieldValues[K] | null };

/** An event to write: `at` defaults to the clock, `message` to the code's text, a field to null. */
export type NewLoggedEvent<F extends EventField> = {
  readonly at?: EpochMs;
  readonly code: EventCode;
  readonly message?: string;
} & EventFields<F>;

/** Fields of an event, each when known (what an event written for a job takes from the job). */
export type EventFields<F extends EventField> = { readonly [K in F]?: FieldValues[K] | null };

export type EventLogFilter<F extends EventField> = {
  /** At most this many (a whole number ≥ 0). */
  readonly limit: number;
  /** An empty list matches nothing. */
  readonly codes?: readonly EventCode[];
  /** An empty list matches nothing. */
  readonly severities?: readonly Severity[];
  readonly since?: EpochMs;
  /** Only events with an id greater than this, the first `limit` of them (to follow the log). */
  readonly afterId?: number;
} & { readonly [K in F]?: FieldValues[K] };

/**
 * The event log of a pwsync database (the server's store, the agent's queue): one table, `events`,
 * with the fields `F` of its own. Writes happen in the caller's transaction, or in one of their own.
 */
export class EventLog<F extends EventField> {
  readonly #fields: readonly F[];
  readonly #database: string;
  readonly #select: string;
  readonly #insert: string;

  /** `database` names the file in messages ("the store"). */
  constructor(fields: readonly F[], database: string) {
    this.#fields = ordered(fields);
    this.#database = database;
    const aliased = this.#fields.map((f) => (FIELDS[f].column === f ? f : `${FIELDS[f].column} AS ${f}`));
    this.#select = ['id', 'at', 'code', 'severity', ...aliased, 'message'].join(', ');
    const columns = ['at', 'code', 'severity', ...this.#fields.map((f) => FIELDS[f].column), 'message'];
    this.#insert = `INSERT INTO events (${columns.join(', ')}) VALUES ${inList(columns.length)}`;
  }

  /** Writes one event in the current transaction; a field it leaves out comes from `defaults`, then null. */
  insert(ctx: Ctx, event: NewLoggedEvent<F>, defaults: EventFields<F> = {}): void {
    if (!isEventCode(event.code)) throw new InvalidInputError(`unknown event code ${String(event.code)}`);
    const fields = this.#fields.map((f) => event[f] ?? defaults[f] ?? null);
    ctx.sql.prepare(this.#insert).run(event.at ?? ctx.now(), event.code, severityOf(event.code), ...fields, storedMessage(event.message ?? EVENTS[event.code].text));
  }

  /** Writes the events in one transaction. */
  append(ctx: Ctx, events: readonly NewLoggedEvent<F>[]): void {
    if (events.length === 0) return;
    ctx.sql.write(() => {
      for (const event of events) this.insert(ctx, event);
    });
  }

  /** The newest events matching, oldest first (as `tail` shows them); with `afterId`, the first ones after it. */
  list(ctx: Ctx, filter: EventLogFilter<F>): LoggedEvent<F>[] {
    checkLimit(filter.limit);
    const where = new Where().in('code', filter.codes).in('severity', filter.severities);
    for (const f of this.#fields) where.compare(FIELDS[f].column, '=', filter[f]);
    where.compare('at', '>=', filter.since).compare('id', '>', filter.afterId);
    if (where.matchesNothing) return [];
    const { clause, params } = where;
    const rows = (order: 'ASC' | 'DESC'): EventRow<F>[] =>
      ctx.sql.prepare<EventRow<F>>(`SELECT ${this.#select} FROM events ${clause} ORDER BY id ${order} LIMIT ?`).all(...params, filter.limit);
    return (filter.afterId === undefined ? rows('DESC').reverse() : rows('ASC')).map((row) => this.#toEvent(row));
  }

  /** Forgets events older than `before`; answers how many. */
  prune(ctx: Ctx, before: EpochMs): number {
    return ctx.sql.write(() => ctx.sql.prepare('DELETE FROM events WHERE at < ?').run(before).changes);
  }

  /**
   * The table, with an index on `at`, on `code` and on each of `indexed`, as the first migration of
   * the server's store and of the agent's queue create it. Released: what this returns must never
   * change (events.test.ts holds both); a later change to a table is a migration of its own.
   * AUTOINCREMENT: followers page with "after id", so an id must never be reused.
   */
  createTableSql(indexed: readonly F[]): string {
    const column = (name: string, definition: string): string => `  ${name.padEnd(10)} ${definition}`;
    const columns = [
      column('id', 'INTEGER PRIMARY KEY AUTOINCREMENT'),
      column('at', 'INTEGER NOT NULL'),
      column('code', 'INTEGER NOT NULL'),
      column('severity', "TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'error'))"),
      ...this.#fields.map((f) => column(FIELDS[f].column, FIELDS[f].type)),
      column('message', 'TEXT    NOT NULL'),
    ];
    const indexes = [{ name: 'events_at', on: 'at' }, { name: 'events_code', on: 'code' }, ...ordered(indexed).map((f) => ({ name: FIELDS[f].index, on: FIELDS[f].column }))];
    return [`CREATE TABLE events (\n${columns.join(',\n')}\n);`, ...indexes.map(({ name, on }) => `CREATE INDEX ${name} ON events (${on});`)].join('\n');
  }

  #toEvent(row: EventRow<F>): LoggedEvent<F> {
    if (!isEventCode(row.code)) throw new StoreError(`unknown event code ${row.code} in ${this.#database}`);
    if (!isSeverity(row.severity)) throw new StoreError(`unknown severity "${row.severity}" in ${this.#database}`);
    return { ...row, code: row.code, severity: row.severity };
  }
}

/** `fields` in the order of {@link FIELDS}, each once. */
function ordered<F extends EventField>(fields: readonly F[]): F[] {
  return (Object.keys(FIELDS) as EventField[]).filter((f): f is F => (fields as readonly EventField[]).includes(f));
}

function isSeverity(s: string): s is Severity {
  return s === 'info' || s === 'warning' || s === 'error';
}

/**
 * The last guard of what a person reads from the log: a message never holds a control or other
 * invisible character (each is stored as its escape) and never runs past MAX_EVENT_MESSAGE_CHARS.
 * Text from outside is quoted where the message is made (`quoteUntrusted`); this catches any
 * place that forgot, and a peer's error text repeated in a message.
 */
function storedMessage(message: string): string {
  const shown = escapeInvisible(message);
  return shown.length <= MAX_EVENT_MESSAGE_CHARS ? shown : `${shown.slice(0, MAX_EVENT_MESSAGE_CHARS - 1)}…`;
}
