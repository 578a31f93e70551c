import { randomUUID } from 'node:crypto';
import { InvalidInputError, StoreError } from '../../core/errors.ts';
import { matchKey } from '../../core/join.ts';
import type { EpochMs, Link, LinkReason, MatchMode, Person, PersonId } from '../../core/model.ts';
import type { LinkDecision, PersonView } from '../port.ts';
import { attachPersonToSource, AttributeIndex, detachPersonFromSource, MODE_COLUMN, NAME_ID } from './attributes.ts';
import type { Ctx } from './context.ts';
import { ACCOUNT_COLUMNS, ACCOUNT_FROM, PERSON_COLUMNS, toAccount, toLink, toPerson, type AccountRow, type PersonRow } from './rows.ts';
import { checkLimit } from './sql.ts';

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

/**
 * Projects and joins a batch in one transaction; accounts already linked are left as they are.
 * A projected person is indexed through its source account's rows (see detachPersonFromSource),
 * so projecting writes the person and the link and nothing else.
 */
export function applyLinks(ctx: Ctx, decisions: readonly LinkDecision[], at: EpochMs): Person[] {
  return ctx.sql.write(() => {
    const insertPerson = ctx.sql.prepare<{ seq: number }>('INSERT INTO persons (id, attributes, created_at) VALUES (?, ?, ?) RETURNING seq');
    const created: Person[] = [];
    for (const decision of decisions) {
      const account = findAccountForLink(ctx, decision.accountId);
      if (account.person_seq !== null) continue;
      if (decision.kind === 'project') {
        const id = randomUUID();
        const seq = insertPerson.get(id, account.attributes, at)?.seq;
        if (seq === undefined) throw new StoreError('a new person row returned no key');
        writeLink(ctx, account.id, seq, { kind: 'projection' }, at);
        created.push(toPerson({ seq, id, attributes: account.attributes, created_at: at }));
      } else {
        writeLink(ctx, account.id, findPersonSeq(ctx, decision.personId), { kind: 'join', rule: decision.rule }, at);
      }
    }
    return created;
  });
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
      attachPersonToSource(ctx.sql, new AttributeIndex(ctx.sql), account.attributes, personSeq);
    }
    writeLink(ctx, accountId, personSeq, reason, at);
    return { accountId, personId, reason, linkedAt: at };
  });
}

export function unlink(ctx: Ctx, accountId: number): void {
  ctx.sql.write(() => {
    const account = ctx.sql.prepare<AccountLinkRow>('SELECT id, attributes, person_seq, link_kind FROM accounts WHERE id = ?').get(accountId);
    if (account === undefined || account.person_seq === null) return;
    if (account.link_kind === 'projection') detachPersonFromSource(ctx.sql, account.id, account.attributes, account.person_seq);
    ctx.sql.prepare('UPDATE accounts SET person_seq = NULL, link_kind = NULL, link_rule = NULL, linked_at = NULL WHERE id = ?').run(accountId);
  });
}

/**
 * Persons by key: those projected from an account, through the account's rows; those whose source
 * account is gone, through their own. This runs once per imported account, hence two plain index
 * lookups merged here: an ORDER BY over them costs SQLite a sorter per call, and a bound `LIMIT ?`
 * makes it re-plan the statement at every call (the limit is a checked integer, written inline).
 */
export function findPersonsByKey(ctx: Ctx, name: string, mode: MatchMode, key: string, limit: number): PersonId[] {
  checkLimit(limit);
  if (limit === 0) return [];
  const column = MODE_COLUMN[mode];
  const bySource = ctx.sql.prepare<{ seq: number; id: string }>(
    `SELECT p.seq, p.id FROM account_attributes x
       JOIN accounts a ON a.id = x.account_id AND a.link_kind = 'projection'
       JOIN persons p ON p.seq = a.person_seq
      WHERE x.name_id = ${NAME_ID} AND x.${column} = ? LIMIT ${limit}`,
  );
  const byOwnRows = ctx.sql.prepare<{ seq: number; id: string }>(
    `SELECT p.seq, p.id FROM person_attributes x JOIN persons p ON p.seq = x.person_seq
      WHERE x.name_id = ${NAME_ID} AND x.${column} = ? LIMIT ${limit}`,
  );
  // No transaction around the two: a person is found through one or the other, and one that
  // moves between them meanwhile (its source unlinked) is counted once.
  const found = new Map<number, string>();
  for (const row of [...bySource.all(name, key), ...byOwnRows.all(name, key)]) found.set(row.seq, row.id);
  return [...found.entries()]
    .sort(([a], [b]) => a - b)
    .slice(0, limit)
    .map(([, id]) => id);
}

export function getPerson(ctx: Ctx, personId: PersonId): PersonView | undefined {
  return ctx.sql.read(() => {
    const row = ctx.sql.prepare<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM persons p WHERE p.id = ?`).get(personId);
    return row === undefined ? undefined : personView(ctx, row);
  });
}

/**
 * Matches on the case-insensitive key of every attribute (the same folding as join rules, so
 * `ZOË` finds `Zoë`), on the person id, and on the attributes of linked accounts; creation order.
 * One scan of each attribute table (no per-person subquery): fine for a helpdesk search over some
 * hundred thousand persons, and no extra index to maintain on import.
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
                 SELECT seq FROM persons WHERE instr(lower(id), ?) > 0
                 UNION SELECT person_seq FROM person_attributes WHERE instr(ci, ?) > 0
                 UNION SELECT a.person_seq FROM account_attributes x JOIN accounts a ON a.id = x.account_id
                        WHERE instr(x.ci, ?) > 0 AND a.person_seq IS NOT NULL
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
