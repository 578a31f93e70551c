import { StoreError } from '../../core/errors.ts';
import { EVENTS } from '../../core/events.ts';
import type { Anchor, EpochMs, MatchMode, SystemName } from '../../core/model.ts';
import type { AccountInput, AccountWithLink } from '../port.ts';
import { AttributeIndex, attributesJson, detachPersonFromSource, MODE_COLUMN, NAME_ID } from './attributes.ts';
import type { Ctx } from './context.ts';
import { insertEvent } from './events.ts';
import { ACCOUNT_COLUMNS, ACCOUNT_FROM, parseAttributes, toAccount, type AccountRow } from './rows.ts';
import { wipeClosedSecrets } from './secrets.ts';

interface ExistingRow {
  readonly id: number;
  readonly attributes: string;
  readonly last_applied_at: number | null;
  readonly person_seq: number | null;
  readonly link_kind: string | null;
  readonly person_id: string | null;
}

/**
 * Inserts or updates one batch in one transaction. An INSERT is tried first (the first import of
 * a system is the heavy one); unchanged attributes (the common case of a repeated import) then
 * cost one UPDATE of the import stamp; changed ones are re-indexed, and a person projected from
 * the account follows it.
 */
export function upsertAccounts(ctx: Ctx, system: SystemName, importRun: string, accounts: readonly AccountInput[]): AccountWithLink[] {
  const importedAt = ctx.now();
  return ctx.sql.write(() => {
    const insert = ctx.sql.prepare(
      'INSERT INTO accounts (system, anchor, attributes, import_run, imported_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (system, anchor) DO NOTHING',
    );
    const find = ctx.sql.prepare<ExistingRow>(
      `SELECT a.id, a.attributes, a.last_applied_at, a.person_seq, a.link_kind, p.id AS person_id
         FROM accounts a LEFT JOIN persons p ON p.seq = a.person_seq
        WHERE a.system = ? AND a.anchor = ?`,
    );
    const stamp = ctx.sql.prepare('UPDATE accounts SET import_run = ?, imported_at = ? WHERE id = ?');
    const replace = ctx.sql.prepare('UPDATE accounts SET attributes = ?, import_run = ?, imported_at = ? WHERE id = ?');
    const followSource = ctx.sql.prepare('UPDATE persons SET attributes = ? WHERE seq = ?');

    const index = new AttributeIndex(ctx.sql);
    const out: AccountWithLink[] = [];
    for (const { anchor, attributes } of accounts) {
      const json = attributesJson(attributes);
      const inserted = insert.run(system, anchor, json, importRun, importedAt);
      if (inserted.changes === 1) {
        const id = Number(inserted.lastInsertRowid);
        index.replace('account', id, {}, attributes);
        out.push({ id, system, anchor, attributes, lastAppliedAt: null, importedAt, personId: null });
        continue;
      }
      const existing = find.get(system, anchor);
      if (existing === undefined) throw new StoreError(`account ${anchor} of ${system} neither inserted nor found`);
      if (existing.attributes === json) {
        stamp.run(importRun, importedAt, existing.id);
      } else {
        index.replace('account', existing.id, parseAttributes(existing.attributes), attributes);
        replace.run(json, importRun, importedAt, existing.id);
        if (existing.link_kind === 'projection' && existing.person_seq !== null) {
          // Its index rows are the account's own, already replaced above; only the JSON follows.
          followSource.run(json, existing.person_seq);
        }
      }
      out.push({ id: existing.id, system, anchor, attributes, lastAppliedAt: existing.last_applied_at, importedAt, personId: existing.person_id });
    }
    return out;
  });
}

/**
 * Removes the accounts of `system` that the import run `importRun` did not see, with their links
 * and index rows. Their open jobs that no worker holds (pending, retry-scheduled) end as failed
 * 6923 with an event each; a job in progress is left to its worker, which will find the account
 * gone. Secrets of changes left without an open job are wiped.
 */
export function removeAccountsNotIn(ctx: Ctx, system: SystemName, importRun: string, at: EpochMs): AccountWithLink[] {
  return ctx.sql.write(() => {
    const rows = ctx.sql
      .prepare<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${ACCOUNT_FROM} WHERE a.system = ? AND a.import_run <> ? ORDER BY a.id`)
      .all(system, importRun);
    if (rows.length === 0) return [];

    const openJobs = ctx.sql.prepare<{ id: number; change_id: string; person_id: string }>(
      "SELECT id, change_id, person_id FROM jobs WHERE account_id = ? AND state IN ('pending', 'retry_scheduled') ORDER BY id",
    );
    const fail = ctx.sql.prepare(
      `UPDATE jobs SET state = 'failed', event = 6923, last_error = ?, ended_at = ?, updated_at = ?, next_at = NULL
        WHERE id = ?`,
    );
    const remove = ctx.sql.prepare('DELETE FROM accounts WHERE id = ?');
    const error = `the account was removed from system "${system}"`;
    const index = new AttributeIndex(ctx.sql);
    const touched: string[] = [];
    for (const row of rows) {
      for (const job of openJobs.all(row.id)) {
        fail.run(error, at, at, job.id);
        insertEvent(
          ctx,
          { at, code: 6923, message: `${EVENTS[6923].text}: ${error}` },
          { system, anchor: row.anchor, personId: job.person_id, changeId: job.change_id, jobId: job.id },
        );
        touched.push(job.change_id);
      }
      if (row.link_kind === 'projection' && row.person_seq !== null) detachPersonFromSource(ctx.sql, row.id, row.attributes, row.person_seq);
      index.replace('account', row.id, parseAttributes(row.attributes), {});
      remove.run(row.id);
    }
    wipeClosedSecrets(ctx, touched, at);
    return rows.map(toAccount);
  });
}

export function getAccount(ctx: Ctx, system: SystemName, anchor: Anchor): AccountWithLink | undefined {
  const row = ctx.sql.prepare<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${ACCOUNT_FROM} WHERE a.system = ? AND a.anchor = ?`).get(system, anchor);
  return row === undefined ? undefined : toAccount(row);
}

export function findAccountsByKey(ctx: Ctx, system: SystemName, name: string, mode: MatchMode, key: string): AccountWithLink[] {
  const column = MODE_COLUMN[mode];
  return ctx.sql
    .prepare<AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS}
         FROM account_attributes x JOIN accounts a ON a.id = x.account_id LEFT JOIN persons p ON p.seq = a.person_seq
        WHERE x.name_id = ${NAME_ID} AND x.${column} = ? AND a.system = ?`,
    )
    .all(name, key, system)
    .sort((a, b) => a.id - b.id) // here rather than ORDER BY: a sorter per call costs more than the lookup
    .map(toAccount);
}
