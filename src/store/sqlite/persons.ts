import { v7 as uuidv7 } from 'uuid';
import { InvalidInputError, StoreError } from '../../core/errors.ts';
import { matchKey } from '../../core/join.ts';
import type { EpochMs, Link, LinkReason, MatchMode, Person, PersonId } from '../../core/model.ts';
import type { LinkDecision, PersonView } from '../port.ts';
import { KeyIndex, lookupId } from './keys.ts';
import type { Ctx } from '../../sqlite/context.ts';
import { ACCOUNT_COLUMNS, ACCOUNT_FROM, parseAttributes, PERSON_COLUMNS, toAccount, toLink, toPerson, type AccountRow, type PersonRow } from './rows.ts';
import { checkLimit } from '../../sqlite/sql.ts';

interface AccountLinkRow {
  readonly id: number;
  readonly attributes: string;
  readonly person_seq: number | null;
  readonly link_kind: string | null;
}

function findAccountForLink(ctx: Ctx, accountId: number): AccountLinkRow {
  const row = ctx.sql.prepare<AccountLinkRow>('SELECT id, attributes, person_seq, link_kind FROM accounts WHERE id = ?').get(accountId);
  if (row === undefined) throw new InvalidInputError(`account ${accountId} does not exist`);
  return row;
}

function findPersonSeq(ctx: Ctx, personId: PersonId): number {
  const seq = ctx.sql.prepare<{ seq: number }>('SELECT seq FROM persons WHERE id = ?').get(personId)?.seq;
  if (seq === undefined) throw new InvalidInputError(`person ${personId} does not exist`);
  return seq;
}

function writeLink(ctx: Ctx, accountId: number, personSeq: number, reason: LinkReason, at: EpochMs): void {
  ctx.sql
    .prepare('UPDATE accounts SET person_seq = ?, link_kind = ?, link_rule = ?, linked_at = ? WHERE id = ?')
    .run(personSeq, reason.kind, reason.kind === 'join' ? reason.rule : null, at, accountId);
}

/** Projects and joins a batch in one transaction; accounts already linked are left as they are. */
export function applyLinks(ctx: Ctx, decisions: readonly LinkDecision[], at: EpochMs): Person[] {
  return ctx.sql.write(() => {
    const insertPerson = ctx.sql.prepare<{ seq: number }>('INSERT INTO persons (id, attributes, created_at) VALUES (?, ?, ?) RETURNING seq');
    const created: Person[] = [];
    const keys = new KeyIndex(ctx.sql);
    for (const decision of decisions) {
      const account = findAccountForLink(ctx, decision.accountId);
      if (account.person_seq !== null) continue;
      if (decision.kind === 'project') {
        // Time-ordered ids: a projection appends to the persons id index instead of inserting at a
        // random place (measured: bench/import-join.ts).
        const id = uuidv7();
        const seq = insertPerson.get(id, account.attributes, at)?.seq;
        if (seq === undefined) throw new StoreError('a new person row returned no key');
        keys.replace({ kind: 'person' }, seq, {}, parseAttributes(account.attributes));
        writeLink(ctx, account.id, seq, { kind: 'projection' }, at);
        created.push(toPerson({ seq, id, attributes: account.attributes, created_at: at }));
      } else if (decision.kind === 'join') {
        writeLink(ctx, account.id, findPersonSeq(ctx, decision.personId), { kind: 'join', rule: decision.rule }, at);
      } else {
        restoreLink(ctx, account, decision.system, decision.anchor, decision.personId, decision.reason, at);
      }
    }
    return created;
  });
}

/**
 * Links a returning account to the person its remembered link named, as it was linked, and forgets
 * the remembered link. A projection link makes the account its person's source again (the person
 * takes its attributes) unless the person has another source meanwhile: then it is a manual link.
 */
function restoreLink(ctx: Ctx, account: AccountLinkRow, system: string, anchor: string, personId: PersonId, reason: LinkReason, at: EpochMs): void {
  const personSeq = findPersonSeq(ctx, personId);
  let kept = reason;
  if (reason.kind === 'projection') {
    const source = ctx.sql.prepare("SELECT 1 FROM accounts WHERE person_seq = ? AND link_kind = 'projection'").get(personSeq);
    if (source === undefined) followAccount(ctx, personSeq, account.attributes);
    else kept = { kind: 'manual' };
  }
  writeLink(ctx, account.id, personSeq, kept, at);
  ctx.sql.prepare('DELETE FROM removed_links WHERE system = ? AND anchor = ?').run(system, anchor);
}

/** The person takes the account's attributes (it is its source), and its keys follow. */
function followAccount(ctx: Ctx, personSeq: number, attributes: string): void {
  const stored = ctx.sql.prepare<{ attributes: string }>('SELECT attributes FROM persons WHERE seq = ?').get(personSeq)?.attributes ?? '{}';
  new KeyIndex(ctx.sql).replace({ kind: 'person' }, personSeq, parseAttributes(stored), parseAttributes(attributes));
  ctx.sql.prepare('UPDATE persons SET attributes = ? WHERE seq = ?').run(attributes, personSeq);
}

/**
 * Links one account. A `projection` link makes the account the person's source (its attributes
 * become the person's); a person has one source at most.
 */
export function link(ctx: Ctx, accountId: number, personId: PersonId, reason: LinkReason, at: EpochMs): Link {
  return ctx.sql.write(() => {
    const account = findAccountForLink(ctx, accountId);
    if (account.person_seq !== null) throw new InvalidInputError(`account ${accountId} is already linked to a person`);
    const personSeq = findPersonSeq(ctx, personId);
    if (reason.kind === 'projection') {
      const source = ctx.sql.prepare("SELECT 1 FROM accounts WHERE person_seq = ? AND link_kind = 'projection'").get(personSeq);
      if (source !== undefined) throw new InvalidInputError(`person ${personId} already has a source account`);
      followAccount(ctx, personSeq, account.attributes);
    }
    writeLink(ctx, accountId, personSeq, reason, at);
    return { accountId, personId, reason, linkedAt: at };
  });
}

/** Unlinks an account; a person whose source it was keeps its attributes and keys. */
export function unlink(ctx: Ctx, accountId: number): void {
  ctx.sql.write(() => {
    ctx.sql.prepare('UPDATE accounts SET person_seq = NULL, link_kind = NULL, link_rule = NULL, linked_at = NULL WHERE id = ?').run(accountId);
  });
}

/**
 * Persons by key, in creation order: one covering-index range. It runs once per imported account,
 * so it is one statement; only an empty answer checks that the lookup was declared at all.
 */
export function findPersonsByKey(ctx: Ctx, name: string, mode: MatchMode, key: string, limit: number): PersonId[] {
  checkLimit(limit);
  if (limit === 0) return [];
  // The limit is a checked integer, written inline: a bound LIMIT makes SQLite re-plan each call.
  const ids = ctx.sql
    .prepare<{ id: string }>(
      `SELECT p.id FROM lookups l JOIN person_keys k ON k.lookup_id = l.id JOIN persons p ON p.seq = k.person_seq
        WHERE l.system IS NULL AND l.attribute = ? AND l.mode = ? AND k.key = ? ORDER BY k.person_seq LIMIT ${limit}`,
    )
    .all(name, mode, key)
    .map((row) => row.id);
  if (ids.length === 0) lookupId(ctx.sql, null, name, mode);
  return ids;
}

export function getPerson(ctx: Ctx, personId: PersonId): PersonView | undefined {
  return ctx.sql.read(() => {
    const row = ctx.sql.prepare<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM persons p WHERE p.id = ?`).get(personId);
    return row === undefined ? undefined : personView(ctx, row);
  });
}

/**
 * Matches on the case-insensitive key of every attribute value (the same folding as join rules, so
 * `ZOË` finds `Zoë`; `pw_fold` is that folding as an SQL function), on the person id, and on the
 * attribute values of linked accounts; creation order. A scan, not an index: a helpdesk search over
 * some hundred thousand persons takes a fraction of a second, and imports maintain no extra index.
 */
export function searchPersons(ctx: Ctx, query: { text?: string; limit: number; offset?: number }): PersonView[] {
  checkLimit(query.limit);
  const offset = query.offset ?? 0;
  checkLimit(offset, 'offset');
  return ctx.sql.read(() => {
    const text = query.text === undefined || query.text === '' ? undefined : matchKey(query.text, 'caseInsensitive');
    const rows =
      text === undefined
        ? ctx.sql.prepare<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM persons p ORDER BY p.seq LIMIT ? OFFSET ?`).all(query.limit, offset)
        : ctx.sql
            .prepare<PersonRow>(
              `WITH hits (seq) AS (
                 SELECT seq FROM persons WHERE instr(pw_fold(id), ?) > 0
                 UNION SELECT p.seq FROM persons p, json_each(p.attributes) j WHERE instr(pw_fold(j.value), ?) > 0
                 UNION SELECT a.person_seq FROM accounts a, json_each(a.attributes) j
                        WHERE a.person_seq IS NOT NULL AND instr(pw_fold(j.value), ?) > 0
               )
               SELECT ${PERSON_COLUMNS} FROM persons p WHERE p.seq IN hits ORDER BY p.seq LIMIT ? OFFSET ?`,
            )
            .all(text, text, text, query.limit, offset);
    return rows.map((row) => personView(ctx, row));
  });
}

function personView(ctx: Ctx, row: PersonRow): PersonView {
  const accounts = ctx.sql
    .prepare<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${ACCOUNT_FROM} WHERE a.person_seq = ? ORDER BY a.id`)
    .all(row.seq)
    .map((accountRow) => {
      const link = toLink(accountRow);
      if (link === undefined) throw new StoreError(`account ${accountRow.id} has a person but no link`);
      return { ...toAccount(accountRow), link };
    });
  return { ...toPerson(row), accounts };
}
