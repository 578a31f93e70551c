import {
  JOB_STATES, type Anchor, type Change, type EpochMs, type Job, type JobStateKind, type Link, type LinkReason, type MatchMode,
  type NewEvent, type Person, type PersonId, type PwEvent, type SealedSecret, type SystemName,
} from '../../core/model.ts';
import type {
  AccountCounts, AccountInput, AccountWithLink, ClaimedJob, CommitResult, CommitUnit, CommitUnitResult, EventFilter, FinishAndClaim, FinishedJob, ImportWatermark, JobFilter, JobOutcome, JobTarget, LinkDecision,
  Lookup, PersonView, RememberedLink, SourceFound, SourceKey, SourceLookup, Store, StoreCounts,
} from '../port.ts';
import type { Ctx } from '../../sqlite/context.ts';
import type { Sqlite } from '../../sqlite/db.ts';
import { MEMORY, readPragmas, type SqlitePragmas } from '../../sqlite/open.ts';
import { checkpointTruncate, WalScrubber } from '../../sqlite/scrub.ts';
import { settleLater } from '../../sqlite/settle.ts';
import * as accounts from './accounts.ts';
import { eventLog, rememberNotification } from './events.ts';
import * as jobs from './jobs.ts';
import * as persons from './persons.ts';
import * as secrets from './secrets.ts';
import { declareLookups } from './keys.ts';

/** How soon after a secret is wiped the WAL is checkpointed and truncated, and retried while busy. */
const SCRUB_DELAY_MS = 1000;
const SCRUB_ATTEMPTS = 60;

/**
 * The SQLite store: one file, one connection, every method one transaction.
 *
 * better-sqlite3 is synchronous, so each method's work is done, whole, when the call returns; its
 * promise settles on a later turn of the event loop ({@link settleLater}), as PostgreSQL's would.
 */
export class SqliteStore implements Store {
  readonly description: string;
  readonly #sql: Sqlite;
  readonly #ctx: Ctx;
  readonly #path: string;
  readonly #scrubber: WalScrubber;

  constructor(sql: Sqlite, path: string, now: () => number) {
    this.#sql = sql;
    this.#path = path;
    this.description = `sqlite:${path}`;
    this.#scrubber = new WalScrubber(sql, { delayMs: SCRUB_DELAY_MS, attempts: SCRUB_ATTEMPTS });
    this.#ctx = { sql, now, wiped: () => (path === MEMORY ? undefined : this.#scrubber.schedule()) };
  }

  close(): Promise<void> {
    return this.#run(() => {
      this.#scrubber.cancel();
      // The last connection to close checkpoints and deletes the WAL itself.
      this.#sql.close();
    });
  }

  declareLookups(lookups: readonly Lookup[]): Promise<void> {
    return this.#run(() => this.#sql.write(() => declareLookups(this.#sql, lookups)));
  }

  upsertAccounts(system: SystemName, importRun: string, input: readonly AccountInput[]): Promise<readonly AccountWithLink[]> {
    return this.#run(() => accounts.upsertAccounts(this.#ctx, system, importRun, input));
  }

  removeAccountsNotIn(system: SystemName, importRun: string, at: EpochMs): Promise<readonly AccountWithLink[]> {
    return this.#run(() => accounts.removeAccountsNotIn(this.#ctx, system, importRun, at));
  }

  removeAccounts(system: SystemName, anchors: readonly Anchor[], at: EpochMs): Promise<readonly AccountWithLink[]> {
    return this.#run(() => accounts.removeAccounts(this.#ctx, system, anchors, at));
  }

  countAccounts(system: SystemName, importRun: string): Promise<AccountCounts> {
    return this.#run(() => accounts.countAccounts(this.#ctx, system, importRun));
  }

  rememberedLinks(system: SystemName, anchors: readonly Anchor[], forgetBefore: EpochMs): Promise<readonly RememberedLink[]> {
    return this.#run(() => accounts.rememberedLinks(this.#ctx, system, anchors, forgetBefore));
  }

  getImportWatermark(system: SystemName): Promise<ImportWatermark | undefined> {
    return this.#run(() => accounts.getImportWatermark(this.#ctx, system));
  }

  setImportWatermark(system: SystemName, watermark: string, at: EpochMs): Promise<void> {
    return this.#run(() => {
      accounts.setImportWatermark(this.#ctx, system, watermark, at);
    });
  }

  getAccount(system: SystemName, anchor: Anchor): Promise<AccountWithLink | undefined> {
    return this.#run(() => accounts.getAccount(this.#ctx, system, anchor));
  }

  findAccountsByKey(system: SystemName, name: string, mode: MatchMode, key: string): Promise<readonly AccountWithLink[]> {
    return this.#run(() => accounts.findAccountsByKey(this.#ctx, system, name, mode, key));
  }

  applyLinks(decisions: readonly LinkDecision[], at: EpochMs): Promise<readonly Person[]> {
    return this.#run(() => persons.applyLinks(this.#ctx, decisions, at));
  }

  findPersonsByKey(name: string, mode: MatchMode, key: string, limit: number): Promise<readonly PersonId[]> {
    return this.#run(() => persons.findPersonsByKey(this.#ctx, name, mode, key, limit));
  }

  link(accountId: number, personId: PersonId, reason: LinkReason, at: EpochMs): Promise<Link> {
    return this.#run(() => persons.link(this.#ctx, accountId, personId, reason, at));
  }

  unlink(accountId: number): Promise<void> {
    return this.#run(() => {
      persons.unlink(this.#ctx, accountId);
    });
  }

  getPerson(personId: PersonId): Promise<PersonView | undefined> {
    return this.#run(() => persons.getPerson(this.#ctx, personId));
  }

  lookupSources(lookups: readonly SourceLookup[]): Promise<readonly SourceFound[]> {
    return this.#run(() =>
      this.#sql.read(() =>
        lookups.map((l): SourceFound => {
          const byKey = (k: SourceKey) => accounts.findAccountsByKey(this.#ctx, l.system, k.name, k.mode, k.key);
          let found = 'anchor' in l ? [accounts.getAccount(this.#ctx, l.system, l.anchor)].filter((a) => a !== undefined) : byKey(l);
          if (found.length === 0 && 'anchor' in l && l.orKey !== undefined) found = byKey(l.orKey);
          const [only] = found;
          const person = found.length === 1 && only !== undefined && only.personId !== null ? persons.getPerson(this.#ctx, only.personId) : undefined;
          return person === undefined ? { accounts: found } : { accounts: found, person };
        }),
      ),
    );
  }

  searchPersons(query: { text?: string; limit: number; offset?: number }): Promise<readonly PersonView[]> {
    return this.#run(() => persons.searchPersons(this.#ctx, query));
  }

  counts(): Promise<StoreCounts> {
    return this.#run(() =>
      this.#sql.read(() => {
        const count = (sql: string): number => this.#sql.prepare<{ n: number }>(sql).get()?.n ?? 0;
        const jobsByState = Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobStateKind, number>;
        for (const row of this.#sql.prepare<{ state: JobStateKind; n: number }>('SELECT state, count(*) AS n FROM jobs GROUP BY state').all()) {
          jobsByState[row.state] = row.n;
        }
        return {
          persons: count('SELECT count(*) AS n FROM persons'),
          accounts: count('SELECT count(*) AS n FROM accounts'),
          links: count('SELECT count(*) AS n FROM accounts WHERE person_seq IS NOT NULL'),
          jobsByState,
          events: count('SELECT count(*) AS n FROM events'),
        };
      }),
    );
  }

  commitChange(change: Change, secret: SealedSecret, targets: readonly JobTarget[], evts: readonly NewEvent[]): Promise<CommitResult> {
    return this.#run(() => jobs.commitChange(this.#ctx, change, secret, targets, evts));
  }

  commitChanges(units: readonly CommitUnit[]): Promise<readonly CommitUnitResult[]> {
    return this.#run(() => jobs.commitChanges(this.#ctx, units));
  }

  claimJobs(worker: string, now: EpochMs, limit: number): Promise<readonly ClaimedJob[]> {
    return this.#run(() => jobs.claimJobs(this.#ctx, worker, now, limit));
  }

  finishJobs(list: readonly FinishedJob[]): Promise<readonly (Error | undefined)[]> {
    return this.#run(() => jobs.finishJobs(this.#ctx, list));
  }

  finishAndClaim(finished: readonly FinishedJob[], worker: string, now: EpochMs, limit: number): Promise<FinishAndClaim> {
    return this.#run(() => jobs.finishAndClaim(this.#ctx, finished, worker, now, limit));
  }

  finishJob(jobId: number, outcome: JobOutcome, event: NewEvent): Promise<void> {
    return this.#run(() => {
      jobs.finishJob(this.#ctx, jobId, outcome, event);
    });
  }

  recoverInProgress(at: EpochMs): Promise<number> {
    return this.#run(() => jobs.recoverInProgress(this.#ctx, at));
  }

  abandonSealedUnder(keyIds: readonly string[], at: EpochMs): Promise<number> {
    return this.#run(() => jobs.abandonSealedUnder(this.#ctx, keyIds, at));
  }

  nextRetryAt(): Promise<EpochMs | undefined> {
    return this.#run(() => jobs.nextRetryAt(this.#ctx));
  }

  listJobs(filter: JobFilter): Promise<readonly Job[]> {
    return this.#run(() => jobs.listJobs(this.#ctx, filter));
  }

  sealedSecrets(): Promise<readonly { changeId: string; secret: SealedSecret }[]> {
    return this.#run(() => secrets.sealedSecrets(this.#ctx));
  }

  resealSecrets(list: readonly { changeId: string; secret: SealedSecret }[]): Promise<void> {
    return this.#run(() => {
      secrets.resealSecrets(this.#ctx, list);
    });
  }

  rememberNotification(id: string, at: EpochMs, forgetBefore: EpochMs): Promise<boolean> {
    return this.#run(() => rememberNotification(this.#ctx, id, at, forgetBefore));
  }

  appendEvents(list: readonly NewEvent[]): Promise<void> {
    return this.#run(() => {
      eventLog.append(this.#ctx, list);
    });
  }

  listEvents(filter: EventFilter): Promise<readonly PwEvent[]> {
    return this.#run(() => eventLog.list(this.#ctx, filter));
  }

  dataVersion(): Promise<number> {
    // A prepared statement: workers poll this every few milliseconds, and `pragma()` compiles anew.
    return this.#run(() => this.#sql.prepare<{ data_version: number }>('PRAGMA data_version').get()?.data_version ?? 0);
  }

  /** Runs one store call (see {@link settleLater}). */
  #run<T>(fn: () => T): Promise<T> {
    return settleLater(fn, 'a store call');
  }

  // SQLite only ----------------------------------------------------------------------------

  /** The effective connection settings. */
  pragmas(): SqlitePragmas {
    return readPragmas(this.#sql);
  }

  /**
   * Copies the WAL into the database file and truncates the WAL to zero bytes (see
   * {@link checkpointTruncate}); false when another process kept it from completing.
   */
  checkpoint(): boolean {
    if (this.#path === MEMORY) return true;
    return checkpointTruncate(this.#sql);
  }
}
