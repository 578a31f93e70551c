import { StoreError } from '../../core/errors.ts';
import { matchKey } from '../../core/join.ts';
import type { Attributes, MatchMode } from '../../core/model.ts';
import type { Sqlite } from './db.ts';
import { parseAttributes } from './rows.ts';

// The *_attributes tables hold one row per (owner, attribute) with the key of each match mode, the
// attribute named by its number in attribute_names. Rows are found again for deletion from the
// owner's stored JSON through the exact index (which ends with the owner). Every change of an
// owner's JSON goes through this file in the same transaction, so rows and JSON agree.
//
// A person projected from an account has no rows of its own while that account is its source: its
// attributes are the account's, so it is found through the account's rows (persons.ts), and an
// import pays for one set of rows, not two. It gets its own rows when the account stops being its
// source (detachPersonFromSource).

/** The column holding the key of each match mode (each one indexed). */
export const MODE_COLUMN: Readonly<Record<MatchMode, 'exact' | 'ci' | 'norm'>> = {
  exact: 'exact',
  caseInsensitive: 'ci',
  normalized: 'norm',
};

/** `name_id = …` for a name given as a parameter, for queries over the *_attributes tables. */
export const NAME_ID = '(SELECT id FROM attribute_names WHERE name = ?)';

/** Attributes as stored on the owning row. */
export function attributesJson(attributes: Attributes): string {
  return JSON.stringify(attributes);
}

const TABLES = {
  account: { table: 'account_attributes', owner: 'account_id' },
  person: { table: 'person_attributes', owner: 'person_seq' },
} as const;

export type Owner = keyof typeof TABLES;

/**
 * Keeps the index rows of owners in step with their attributes. Lives for one transaction only:
 * it remembers attribute-name numbers, and a number created in a transaction that rolls back must
 * not be remembered.
 */
export class AttributeIndex {
  readonly #sql: Sqlite;
  readonly #ids = new Map<string, number>();

  constructor(sql: Sqlite) {
    this.#sql = sql;
  }

  /**
   * Moves an owner's rows from `before` (what its stored JSON held) to `after`, touching only the
   * attributes that differ: a repeated import where one attribute changed rewrites one row.
   */
  replace(owner: Owner, ownerId: number, before: Attributes, after: Attributes): void {
    const { table, owner: column } = TABLES[owner];
    const old = new Map(Object.entries(before));
    const next = new Map(Object.entries(after));
    const remove = this.#sql.prepare(`DELETE FROM ${table} WHERE name_id = ? AND exact = ? AND ${column} = ?`);
    for (const [name, value] of old) {
      if (next.get(name) !== value) remove.run(this.#id(name), value, ownerId);
    }
    const insert = this.#sql.prepare(`INSERT INTO ${table} (${column}, name_id, exact, ci, norm) VALUES (?, ?, ?, ?, ?)`);
    for (const [name, value] of next) {
      if (old.get(name) !== value) insert.run(ownerId, this.#id(name), value, matchKey(value, 'caseInsensitive'), matchKey(value, 'normalized'));
    }
  }

  #id(name: string): number {
    let id = this.#ids.get(name);
    if (id === undefined) {
      this.#sql.prepare('INSERT INTO attribute_names (name) VALUES (?) ON CONFLICT (name) DO NOTHING').run(name);
      id = this.#sql.prepare<{ id: number }>('SELECT id FROM attribute_names WHERE name = ?').get(name)?.id;
      if (id === undefined) throw new StoreError(`attribute name "${name}" was not numbered`);
      this.#ids.set(name, id);
    }
    return id;
  }
}

/**
 * Gives a person its own index rows, copied from the account it was projected from, when that
 * account stops being its source (unlinked or removed). The person's JSON already equals the
 * account's, and stays as it is.
 */
export function detachPersonFromSource(sql: Sqlite, accountId: number, accountJson: string, personSeq: number): void {
  const copy = sql.prepare(
    `INSERT INTO person_attributes (person_seq, name_id, exact, ci, norm)
     SELECT ?, name_id, exact, ci, norm FROM account_attributes WHERE name_id = ${NAME_ID} AND exact = ? AND account_id = ?`,
  );
  for (const [name, value] of Object.entries(parseAttributes(accountJson))) copy.run(personSeq, name, value, accountId);
}

/** Makes an account the source of a person that had its own rows: the rows go, the JSON follows the account. */
export function attachPersonToSource(sql: Sqlite, index: AttributeIndex, accountJson: string, personSeq: number): void {
  const stored = sql.prepare<{ attributes: string }>('SELECT attributes FROM persons WHERE seq = ?').get(personSeq)?.attributes;
  if (stored === undefined) throw new StoreError(`person ${personSeq} does not exist`);
  index.replace('person', personSeq, parseAttributes(stored), {});
  sql.prepare('UPDATE persons SET attributes = ? WHERE seq = ?').run(accountJson, personSeq);
}
