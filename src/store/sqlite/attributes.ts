import { matchKey } from '../../core/join.ts';
import type { Attributes, MatchMode } from '../../core/model.ts';
import type { Sqlite } from './db.ts';
import { parseAttributes } from './rows.ts';

// The *_attributes tables hold one row per (owner, attribute) with the key of each match mode.
// Their primary key is (name, exact, owner): it is the exact-match index, and it is how rows are
// found again for deletion, from the owner's stored JSON. Every write of an owner's JSON goes
// through this file, so the rows and the JSON cannot drift apart.

/** The column holding the key of each match mode (each one indexed). */
export const MODE_COLUMN: Readonly<Record<MatchMode, 'exact' | 'ci' | 'norm'>> = {
  exact: 'exact',
  caseInsensitive: 'ci',
  normalized: 'norm',
};

/** Attributes as stored on the owning row. */
export function attributesJson(attributes: Attributes): string {
  return JSON.stringify(attributes);
}

/** Writes the index rows of a new account. */
export function indexAccount(sql: Sqlite, accountId: number, attributes: Attributes): void {
  const insert = sql.prepare('INSERT INTO account_attributes (name, exact, account_id, ci, norm) VALUES (?, ?, ?, ?, ?)');
  for (const [name, value] of Object.entries(attributes)) {
    insert.run(name, value, accountId, matchKey(value, 'caseInsensitive'), matchKey(value, 'normalized'));
  }
}

/** Deletes the index rows of an account whose stored JSON is `storedJson`. */
export function unindexAccount(sql: Sqlite, accountId: number, storedJson: string): void {
  const remove = sql.prepare('DELETE FROM account_attributes WHERE name = ? AND exact = ? AND account_id = ?');
  for (const [name, value] of Object.entries(parseAttributes(storedJson))) remove.run(name, value, accountId);
}

/**
 * Gives a person the attributes an account has in the store (projection, and a projecting account
 * that changed). The keys are copied from the account's index rows rather than computed again.
 */
export function copyAccountAttributesToPerson(sql: Sqlite, accountId: number, personSeq: number): void {
  const stored = sql.prepare<{ attributes: string }>('SELECT attributes FROM persons WHERE seq = ?').get(personSeq)?.attributes;
  if (stored !== undefined) {
    const remove = sql.prepare('DELETE FROM person_attributes WHERE name = ? AND exact = ? AND person_seq = ?');
    for (const [name, value] of Object.entries(parseAttributes(stored))) remove.run(name, value, personSeq);
  }
  const json = sql.prepare<{ attributes: string }>('SELECT attributes FROM accounts WHERE id = ?').get(accountId)?.attributes ?? '{}';
  sql.prepare('UPDATE persons SET attributes = ? WHERE seq = ?').run(json, personSeq);
  const copy = sql.prepare(
    `INSERT INTO person_attributes (name, exact, person_seq, ci, norm)
     SELECT name, exact, ?, ci, norm FROM account_attributes WHERE name = ? AND exact = ? AND account_id = ?`,
  );
  for (const [name, value] of Object.entries(parseAttributes(json))) copy.run(personSeq, name, value, accountId);
}
