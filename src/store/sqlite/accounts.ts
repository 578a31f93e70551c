import { StoreError } from '../../core/errors.ts';
import { EVENT, EVENTS } from '../../core/events.ts';
import type { Anchor, EpochMs, MatchMode, SystemName } from '../../core/model.ts';
import type { AccountCounts, AccountInput, AccountWithLink, ImportWatermark, RememberedLink } from '../port.ts';
import { attributesJson, KeyIndex, lookupId } from './keys.ts';
import type { Ctx } from '../../sqlite/context.ts';
import { eventLog } from './events.ts';
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
 * cost one UPDATE of the import stamp; changed ones get new keys, and a person projected from the
 * account follows it (attributes and keys).
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

    const keys = new KeyIndex(ctx.sql);
    const owner = { kind: 'account', system } as const;
    const out: AccountWithLink[] = [];
    for (const { anchor, attributes } of accounts) {
      const json = attributesJson(attributes);
      const inserted = insert.run(system, anchor, json, importRun, importedAt);
      if (inserted.changes === 1) {
        const id = Number(inserted.lastInsertRowid);
        keys.replace(owner, id, {}, attributes);
        out.push({ id, system, anchor, attributes, lastAppliedAt: null, importedAt, personId: null });
        continue;
      }
      const existing = find.get(system, anchor);
      if (existing === undefined) throw new StoreError(`account ${anchor} of ${system} neither inserted nor found`);
      if (existing.attributes === json) {
        stamp.run(importRun, importedAt, existing.id);
      } else {
        const before = parseAttributes(existing.attributes);
        keys.replace(owner, existing.id, before, attributes);
        replace.run(json, importRun, importedAt, existing.id);
        if (existing.link_kind === 'projection' && existing.person_seq !== null) {
          // The person's JSON is its source account's, so the account's old attributes are its old ones.
          keys.replace({ kind: 'person' }, existing.person_seq, before, attributes);
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
 * and index rows (see {@link removeRows}).
 */
export function removeAccountsNotIn(ctx: Ctx, system: SystemName, importRun: string, at: EpochMs): AccountWithLink[] {
  return ctx.sql.write(() => {
    const rows = ctx.sql
      .prepare<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${ACCOUNT_FROM} WHERE a.system = ? AND a.import_run <> ? ORDER BY a.id`)
      .all(system, importRun);
    return removeRows(ctx, system, rows, at);
  });
}

/** Removes the accounts of `system` with these anchors (a delta import's removals); unknown ones are ignored. */
export function removeAccounts(ctx: Ctx, system: SystemName, anchors: readonly Anchor[], at: EpochMs): AccountWithLink[] {
  return ctx.sql.write(() => {
    const find = ctx.sql.prepare<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${ACCOUNT_FROM} WHERE a.system = ? AND a.anchor = ?`);
    const byId = new Map<number, AccountRow>();
    for (const anchor of anchors) {
      const row = find.get(system, anchor);
      if (row !== undefined) byId.set(row.id, row);
    }
    return removeRows(ctx, system, [...byId.values()].sort((a, b) => a.id - b.id), at);
  });
}

/**
 * Deletes accounts with their links and index rows, inside the caller's transaction. Their open
 * jobs that no worker holds (pending, retry-scheduled) end as failed 6923 with an event each; a job
 * in progress is left to its worker, which will find the account gone. Secrets of changes left
 * without an open job are wiped.
 */
function removeRows(ctx: Ctx, system: SystemName, rows: readonly AccountRow[], at: EpochMs): AccountWithLink[] {
  if (rows.length === 0) return [];
  const openJobs = ctx.sql.prepare<{ id: number; change_id: string; person_id: string }>(
    "SELECT id, change_id, person_id FROM jobs WHERE account_id = ? AND state IN ('pending', 'retry_scheduled') ORDER BY id",
  );
  const fail = ctx.sql.prepare(
    `UPDATE jobs SET state = 'failed', event = 6923, last_error = ?, ended_at = ?, updated_at = ?, next_at = NULL
      WHERE id = ?`,
  );
  const remove = ctx.sql.prepare('DELETE FROM accounts WHERE id = ?');
  const remember = ctx.sql.prepare(
    `INSERT INTO removed_links (system, anchor, person_seq, link_kind, link_rule, removed_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (system, anchor) DO UPDATE SET person_seq = excluded.person_seq, link_kind = excluded.link_kind,
       link_rule = excluded.link_rule, removed_at = excluded.removed_at`,
  );
  const error = `the account was removed from system "${system}"`;
  const keys = new KeyIndex(ctx.sql);
  const owner = { kind: 'account', system } as const;
  const touched: string[] = [];
  for (const row of rows) {
    for (const job of openJobs.all(row.id)) {
      fail.run(error, at, at, job.id);
      eventLog.insert(
        ctx,
        { at, code: EVENT.ACCOUNT_NOT_FOUND, message: `${EVENTS[EVENT.ACCOUNT_NOT_FOUND].text}: ${error}` },
        { system, anchor: row.anchor, personId: job.person_id, changeId: job.change_id, jobId: job.id },
      );
      touched.push(job.change_id);
    }
    keys.replace(owner, row.id, parseAttributes(row.attributes), {});
    if (row.person_seq !== null && row.link_kind !== null) remember.run(system, row.anchor, row.person_seq, row.link_kind, row.link_rule, at);
    remove.run(row.id);
  }
  wipeClosedSecrets(ctx, touched, at);
  return rows.map(toAccount);
}

/** How many accounts of `system` are stored, and how many of them `importRun` did not stamp. */
export function countAccounts(ctx: Ctx, system: SystemName, importRun: string): AccountCounts {
  const row = ctx.sql
    .prepare<{ stored: number; not_in_run: number | null }>('SELECT count(*) AS stored, sum(import_run <> ?) AS not_in_run FROM accounts WHERE system = ?')
    .get(importRun, system);
  return { stored: row?.stored ?? 0, notInRun: row?.not_in_run ?? 0 };
}

/**
 * The remembered links of removed accounts of `system` with these anchors, removed at or after
 * `forgetBefore`; those of `system` removed earlier are forgotten first, in the same transaction.
 */
export function rememberedLinks(ctx: Ctx, system: SystemName, anchors: readonly Anchor[], forgetBefore: EpochMs): RememberedLink[] {
  // The common case (a system nothing was removed from) costs one read and no commit.
  if (ctx.sql.prepare('SELECT 1 FROM removed_links WHERE system = ? LIMIT 1').get(system) === undefined) return [];
  return ctx.sql.write(() => {
    ctx.sql.prepare('DELETE FROM removed_links WHERE system = ? AND removed_at < ?').run(system, forgetBefore);
    const find = ctx.sql.prepare<{ person_id: string; link_kind: string; link_rule: number | null; removed_at: number }>(
      `SELECT p.id AS person_id, r.link_kind, r.link_rule, r.removed_at
         FROM removed_links r JOIN persons p ON p.seq = r.person_seq WHERE r.system = ? AND r.anchor = ?`,
    );
    const out: RememberedLink[] = [];
    for (const anchor of new Set(anchors)) {
      const row = find.get(system, anchor);
      if (row === undefined) continue;
      const reason = row.link_kind === 'join' ? { kind: 'join' as const, rule: row.link_rule ?? 0 } : { kind: row.link_kind === 'projection' ? ('projection' as const) : ('manual' as const) };
      out.push({ anchor, personId: row.person_id, reason, removedAt: row.removed_at });
    }
    return out;
  });
}

/** The watermark kept for `system`, if any. */
export function getImportWatermark(ctx: Ctx, system: SystemName): ImportWatermark | undefined {
  const row = ctx.sql.prepare<{ watermark: string; updated_at: number }>('SELECT watermark, updated_at FROM import_watermarks WHERE system = ?').get(system);
  return row === undefined ? undefined : { watermark: row.watermark, at: row.updated_at };
}

export function setImportWatermark(ctx: Ctx, system: SystemName, watermark: string, at: EpochMs): void {
  ctx.sql.write(() => {
    ctx.sql
      .prepare('INSERT INTO import_watermarks (system, watermark, updated_at) VALUES (?, ?, ?) ON CONFLICT (system) DO UPDATE SET watermark = excluded.watermark, updated_at = excluded.updated_at')
      .run(system, watermark, at);
  });
}

export function getAccount(ctx: Ctx, system: SystemName, anchor: Anchor): AccountWithLink | undefined {
  const row = ctx.sql.prepare<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${ACCOUNT_FROM} WHERE a.system = ? AND a.anchor = ?`).get(system, anchor);
  return row === undefined ? undefined : toAccount(row);
}

/** Accounts by key, in id order; only an empty answer checks that the lookup was declared at all. */
export function findAccountsByKey(ctx: Ctx, system: SystemName, name: string, mode: MatchMode, key: string): AccountWithLink[] {
  const accounts = ctx.sql
    .prepare<AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS}
         FROM lookups l JOIN account_keys k ON k.lookup_id = l.id JOIN accounts a ON a.id = k.account_id LEFT JOIN persons p ON p.seq = a.person_seq
        WHERE l.system = ? AND l.attribute = ? AND l.mode = ? AND k.key = ? ORDER BY k.account_id`,
    )
    .all(system, name, mode, key)
    .map(toAccount);
  if (accounts.length === 0) lookupId(ctx.sql, system, name, mode);
  return accounts;
}
