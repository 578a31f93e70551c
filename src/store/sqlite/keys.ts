import { InvalidInputError, StoreError } from '../../core/errors.ts';
import { matchKey } from '../../core/join.ts';
import type { Attributes, MatchMode, SystemName } from '../../core/model.ts';
import type { Lookup } from '../port.ts';
import type { Sqlite } from '../../sqlite/db.ts';
import { parseAttributes } from './rows.ts';

// Lookup keys. Only the lookups the engine declared (from the configuration: a source's account
// attribute, the person attributes join rules compare) are indexed, one row per owner and lookup in
// account_keys / person_keys under one covering index (lookup_id, key, owner). Indexing every
// attribute under every match mode cost an import twelve times as much (measured: bench/).
// Every change of an owner's JSON goes through this file in the same transaction, so keys and JSON
// agree.

interface LookupRow {
  readonly id: number;
  readonly system: string | null;
  readonly attribute: string;
  readonly mode: MatchMode;
}

const TABLES = {
  account: { table: 'account_keys', owner: 'account_id' },
  person: { table: 'person_keys', owner: 'person_seq' },
} as const;

/** Whose keys: an account of a system (its system's lookups), or a person (the person lookups). */
export type Owner = { readonly kind: 'account'; readonly system: SystemName } | { readonly kind: 'person' };

/** Attributes as stored on the owning row. */
export function attributesJson(attributes: Attributes): string {
  return JSON.stringify(attributes);
}

/**
 * Keeps owners' keys in step with their attributes. Lives for one transaction: it caches the
 * declared lookups, which only {@link declareLookups} changes.
 */
export class KeyIndex {
  readonly #sql: Sqlite;
  readonly #lookups = new Map<string, readonly LookupRow[]>();

  constructor(sql: Sqlite) {
    this.#sql = sql;
  }

  /** Moves an owner's keys from `before` (what its stored JSON held) to `after`, touching only what differs. */
  replace(owner: Owner, ownerId: number, before: Attributes, after: Attributes): void {
    const { table, owner: column } = TABLES[owner.kind];
    const lookups = this.#lookupsOf(owner);
    if (lookups.length === 0) return;
    const remove = this.#sql.prepare(`DELETE FROM ${table} WHERE lookup_id = ? AND key = ? AND ${column} = ?`);
    const insert = this.#sql.prepare(`INSERT INTO ${table} (lookup_id, key, ${column}) VALUES (?, ?, ?)`);
    for (const lookup of lookups) {
      const old = before[lookup.attribute];
      const next = after[lookup.attribute];
      if (old === next) continue;
      if (old !== undefined) remove.run(lookup.id, matchKey(old, lookup.mode), ownerId);
      if (next !== undefined) insert.run(lookup.id, matchKey(next, lookup.mode), ownerId);
    }
  }

  #lookupsOf(owner: Owner): readonly LookupRow[] {
    const cacheKey = owner.kind === 'account' ? `a:${owner.system}` : 'p';
    let rows = this.#lookups.get(cacheKey);
    if (rows === undefined) {
      rows =
        owner.kind === 'account'
          ? this.#sql.prepare<LookupRow>('SELECT id, system, attribute, mode FROM lookups WHERE system = ?').all(owner.system)
          : this.#sql.prepare<LookupRow>('SELECT id, system, attribute, mode FROM lookups WHERE system IS NULL').all();
      this.#lookups.set(cacheKey, rows);
    }
    return rows;
  }
}

/** The id of a declared lookup; an undeclared one is refused, so a missing declaration never looks like "no match". */
export function lookupId(sql: Sqlite, system: SystemName | null, attribute: string, mode: MatchMode): number {
  const row =
    system === null
      ? sql.prepare<{ id: number }>('SELECT id FROM lookups WHERE system IS NULL AND attribute = ? AND mode = ?').get(attribute, mode)
      : sql.prepare<{ id: number }>('SELECT id FROM lookups WHERE system = ? AND attribute = ? AND mode = ?').get(system, attribute, mode);
  if (row === undefined) {
    const what = system === null ? `persons by "${attribute}"` : `accounts of "${system}" by "${attribute}"`;
    throw new InvalidInputError(`no lookup of ${what} under ${mode} was declared`);
  }
  return row.id;
}

/**
 * Makes the declared lookups exactly `lookups`: keys of lookups no longer declared are dropped, and
 * keys of newly declared ones are built from the stored attributes. Unchanged lookups cost nothing.
 */
export function declareLookups(sql: Sqlite, lookups: readonly Lookup[]): void {
  const wanted = new Map<string, Lookup>();
  for (const l of lookups) wanted.set(lookupName(l.scope === 'account' ? l.system : null, l.attribute, l.mode), l);
  const stored = sql.prepare<LookupRow>('SELECT id, system, attribute, mode FROM lookups').all();
  for (const row of stored) {
    if (wanted.delete(lookupName(row.system, row.attribute, row.mode))) continue;
    sql.prepare(`DELETE FROM ${row.system === null ? 'person_keys' : 'account_keys'} WHERE lookup_id = ?`).run(row.id);
    sql.prepare('DELETE FROM lookups WHERE id = ?').run(row.id);
  }
  for (const l of wanted.values()) {
    const system = l.scope === 'account' ? l.system : null;
    const id = sql.prepare<{ id: number }>('INSERT INTO lookups (system, attribute, mode) VALUES (?, ?, ?) RETURNING id').get(system, l.attribute, l.mode)?.id;
    if (id === undefined) throw new StoreError('a new lookup returned no id');
    const owners =
      system === null
        ? sql.prepare<{ id: number; attributes: string }>('SELECT seq AS id, attributes FROM persons').iterate()
        : sql.prepare<{ id: number; attributes: string }>('SELECT id, attributes FROM accounts WHERE system = ?').iterate(system);
    const { table, owner } = TABLES[system === null ? 'person' : 'account'];
    const insert = sql.prepare(`INSERT INTO ${table} (lookup_id, key, ${owner}) VALUES (?, ?, ?)`);
    const rows: [string, number][] = [];
    for (const row of owners) {
      const value = parseAttributes(row.attributes)[l.attribute];
      if (value !== undefined) rows.push([matchKey(value, l.mode), row.id]);
    }
    for (const [key, ownerId] of rows) insert.run(id, key, ownerId);
  }
}

function lookupName(system: string | null, attribute: string, mode: MatchMode): string {
  return JSON.stringify([system, attribute, mode]);
}
