import { StoreError } from '../../core/errors.ts';
import { isEventCode, type EventCode } from '../../core/events.ts';
import type { Attributes, ChangeOrigin, Job, JobState, Link, LinkReason, Person } from '../../core/model.ts';
import type { AccountWithLink } from '../port.ts';

// Rows as SQLite returns them, and their mapping to the model. Column lists live beside the row
// types so that a query and its mapper cannot drift apart.

export const ACCOUNT_COLUMNS =
  'a.id, a.system, a.anchor, a.attributes, a.imported_at, a.last_applied_at, a.person_seq, a.link_kind, a.link_rule, a.linked_at, p.id AS person_id';
/** `FROM` clause matching {@link ACCOUNT_COLUMNS}. */
export const ACCOUNT_FROM = 'accounts a LEFT JOIN persons p ON p.seq = a.person_seq';

export interface AccountRow {
  readonly id: number;
  readonly system: string;
  readonly anchor: string;
  readonly attributes: string;
  readonly imported_at: number;
  readonly last_applied_at: number | null;
  readonly person_seq: number | null;
  readonly link_kind: string | null;
  readonly link_rule: number | null;
  readonly linked_at: number | null;
  readonly person_id: string | null;
}

export function toAccount(row: AccountRow): AccountWithLink {
  return {
    id: row.id,
    system: row.system,
    anchor: row.anchor,
    attributes: parseAttributes(row.attributes),
    lastAppliedAt: row.last_applied_at,
    importedAt: row.imported_at,
    personId: row.person_id,
  };
}

/** The link of a linked account row; undefined when the account is not linked. */
export function toLink(row: AccountRow): Link | undefined {
  if (row.person_id === null || row.link_kind === null || row.linked_at === null) return undefined;
  return { accountId: row.id, personId: row.person_id, reason: toLinkReason(row.link_kind, row.link_rule), linkedAt: row.linked_at };
}

export function toLinkReason(kind: string, rule: number | null): LinkReason {
  switch (kind) {
    case 'projection':
      return { kind: 'projection' };
    case 'manual':
      return { kind: 'manual' };
    case 'join':
      return { kind: 'join', rule: rule ?? 0 };
    default:
      throw new StoreError(`unknown link kind "${kind}" in the store`);
  }
}

export const PERSON_COLUMNS = 'p.seq, p.id, p.attributes, p.created_at';

export interface PersonRow {
  readonly seq: number;
  readonly id: string;
  readonly attributes: string;
  readonly created_at: number;
}

export function toPerson(row: PersonRow): Person {
  return { id: row.id, attributes: parseAttributes(row.attributes), createdAt: row.created_at };
}

export const JOB_COLUMNS =
  'j.id, j.change_id, j.account_id, j.system, j.anchor, j.person_id, j.changed_at, j.created_at, j.updated_at, ' +
  'j.attempts, j.state, j.worker, j.since, j.next_at, j.last_error, j.ended_at, j.event, j.superseded_by';

export interface JobRow {
  readonly id: number;
  readonly change_id: string;
  readonly account_id: number;
  readonly system: string;
  readonly anchor: string;
  readonly person_id: string;
  readonly changed_at: number;
  readonly created_at: number;
  readonly updated_at: number;
  readonly attempts: number;
  readonly state: string;
  readonly worker: string | null;
  readonly since: number | null;
  readonly next_at: number | null;
  readonly last_error: string | null;
  readonly ended_at: number | null;
  readonly event: number | null;
  readonly superseded_by: string | null;
}

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    changeId: row.change_id,
    accountId: row.account_id,
    system: row.system,
    anchor: row.anchor,
    personId: row.person_id,
    changedAt: row.changed_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    attempts: row.attempts,
    state: toJobState(row),
  };
}

function toJobState(row: JobRow): JobState {
  // The table's CHECK constraints guarantee the columns each state needs; `required` only
  // satisfies the type checker and reports a store edited by hand.
  switch (row.state) {
    case 'pending':
      return { kind: 'pending' };
    case 'in_progress':
      return { kind: 'in_progress', worker: required(row.worker), since: required(row.since) };
    case 'retry_scheduled':
      return { kind: 'retry_scheduled', nextAt: required(row.next_at), lastError: required(row.last_error) };
    case 'done':
      return { kind: 'done', at: required(row.ended_at) };
    case 'failed':
      return { kind: 'failed', at: required(row.ended_at), event: toEventCode(required(row.event)), lastError: required(row.last_error) };
    case 'superseded':
      return { kind: 'superseded', at: required(row.ended_at), by: required(row.superseded_by) };
    default:
      throw new StoreError(`unknown job state "${row.state}" in the store`);
  }
}

export function toOrigin(origin: string): ChangeOrigin {
  if (origin === 'source' || origin === 'admin' || origin === 'self') return origin;
  throw new StoreError(`unknown change origin "${origin}" in the store`);
}

export function toEventCode(code: number): EventCode {
  if (isEventCode(code)) return code;
  throw new StoreError(`unknown event code ${code} in the store`);
}

/** Attributes as stored (JSON text), checked to be an object of strings. */
export function parseAttributes(text: string): Attributes {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StoreError('stored attributes are not an object');
  const entries: [string, string][] = [];
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new StoreError(`stored attribute "${name}" is not text`);
    entries.push([name, v]);
  }
  // fromEntries defines own properties, so an attribute named "__proto__" stays an attribute.
  return Object.fromEntries(entries);
}

function required<T>(value: T | null): T {
  if (value === null) throw new StoreError('a job row lacks a column its state requires');
  return value;
}
