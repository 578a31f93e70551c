import type { Anchor, Change, EpochMs, Job, Link, LinkReason, MatchMode, NewEvent, Person, PersonId, PwEvent, SealedSecret, SystemName } from '../../../core/model.ts';
import type {
  AccountCounts, AccountInput, AccountWithLink, ClaimedJob, CommitResult, CommitUnit, CommitUnitResult, EventFilter, FinishAndClaim, FinishedJob, ImportWatermark, JobFilter, JobOutcome,
  JobTarget, LinkDecision, Lookup, PersonView, RememberedLink, SourceFound, SourceLookup, Store, StoreCounts,
} from '../../port.ts';
import { SqliteThread, startSqliteThread } from '../../../sqlite/thread.ts';
import { decodeResult, type StoreArgs, type StoreCall, type StoreMethod, type StoreResult, type StoreWorkerData } from './wire.ts';

const THREAD = 'the store thread';

export interface StoreThreadOptions {
  /**
   * Called once if the thread stops other than by {@link SqliteStoreThread.close} (a fault in it):
   * every call from then on fails, so the owner should stop rather than limp on.
   */
  readonly onFailure?: (error: Error) => void;
  /** The thread's entry module; tests give one that fails on purpose. */
  readonly entry?: URL;
}

/**
 * The SQLite store on a thread of its own: the server's store.
 *
 * better-sqlite3 works synchronously, and every commit waits for its `fsync` (synchronous=FULL).
 * On the main thread that wait, and the store's own work, stop everything else the server does: the
 * intake's TLS, JSON and decryption, the deliveries. Here the thread runs the store and the main
 * thread goes on meanwhile; calls are answered in the order they were made, each one transaction, so
 * the Store contract (and its conformance suite) holds unchanged. Only sealed secrets cross.
 *
 * One-shot commands keep the store on their main thread ({@link openSqliteStore}): they have
 * nothing to overlap with it, and the thread's start (about 0.2 s, tsx included) would be theirs.
 */
export class SqliteStoreThread implements Store {
  readonly description: string;
  readonly #thread: SqliteThread<StoreCall>;

  private constructor(thread: SqliteThread<StoreCall>, path: string) {
    this.#thread = thread;
    this.description = `sqlite:${path} (store thread)`;
  }

  /**
   * Starts the thread and opens the store at `path` in it (as {@link openSqliteStore} does),
   * resolving once it is open; rejects with what the opening failed with.
   */
  static async open(path: string, options: StoreThreadOptions = {}): Promise<SqliteStoreThread> {
    const worker = await startSqliteThread(options.entry ?? new URL('./store-worker.ts', import.meta.url), { path } satisfies StoreWorkerData, THREAD);
    const thread = new SqliteThread<StoreCall>(worker, { thread: THREAD, closed: 'the store is closed', onFailure: options.onFailure });
    return new SqliteStoreThread(thread, path);
  }

  close(): Promise<void> {
    return this.#thread.close();
  }

  declareLookups(lookups: readonly Lookup[]): Promise<void> {
    return this.#call('declareLookups', [lookups]);
  }

  upsertAccounts(system: SystemName, importRun: string, accounts: readonly AccountInput[]): Promise<readonly AccountWithLink[]> {
    return this.#call('upsertAccounts', [system, importRun, accounts]);
  }

  removeAccountsNotIn(system: SystemName, importRun: string, at: EpochMs): Promise<readonly AccountWithLink[]> {
    return this.#call('removeAccountsNotIn', [system, importRun, at]);
  }

  removeAccounts(system: SystemName, anchors: readonly Anchor[], at: EpochMs): Promise<readonly AccountWithLink[]> {
    return this.#call('removeAccounts', [system, anchors, at]);
  }

  countAccounts(system: SystemName, importRun: string): Promise<AccountCounts> {
    return this.#call('countAccounts', [system, importRun]);
  }

  rememberedLinks(system: SystemName, anchors: readonly Anchor[], forgetBefore: EpochMs): Promise<readonly RememberedLink[]> {
    return this.#call('rememberedLinks', [system, anchors, forgetBefore]);
  }

  getImportWatermark(system: SystemName): Promise<ImportWatermark | undefined> {
    return this.#call('getImportWatermark', [system]);
  }

  setImportWatermark(system: SystemName, watermark: string, at: EpochMs): Promise<void> {
    return this.#call('setImportWatermark', [system, watermark, at]);
  }

  getAccount(system: SystemName, anchor: Anchor): Promise<AccountWithLink | undefined> {
    return this.#call('getAccount', [system, anchor]);
  }

  findAccountsByKey(system: SystemName, name: string, mode: MatchMode, key: string): Promise<readonly AccountWithLink[]> {
    return this.#call('findAccountsByKey', [system, name, mode, key]);
  }

  applyLinks(decisions: readonly LinkDecision[], at: EpochMs): Promise<readonly Person[]> {
    return this.#call('applyLinks', [decisions, at]);
  }

  findPersonsByKey(name: string, mode: MatchMode, key: string, limit: number): Promise<readonly PersonId[]> {
    return this.#call('findPersonsByKey', [name, mode, key, limit]);
  }

  link(accountId: number, personId: PersonId, reason: LinkReason, at: EpochMs): Promise<Link> {
    return this.#call('link', [accountId, personId, reason, at]);
  }

  unlink(accountId: number): Promise<void> {
    return this.#call('unlink', [accountId]);
  }

  getPerson(personId: PersonId): Promise<PersonView | undefined> {
    return this.#call('getPerson', [personId]);
  }

  lookupSources(lookups: readonly SourceLookup[]): Promise<readonly SourceFound[]> {
    return this.#call('lookupSources', [lookups]);
  }

  searchPersons(query: { text?: string; limit: number; offset?: number }): Promise<readonly PersonView[]> {
    return this.#call('searchPersons', [query]);
  }

  counts(): Promise<StoreCounts> {
    return this.#call('counts', []);
  }

  commitChange(change: Change, secret: SealedSecret, targets: readonly JobTarget[], events: readonly NewEvent[]): Promise<CommitResult> {
    return this.#call('commitChange', [change, secret, targets, events]);
  }

  commitChanges(units: readonly CommitUnit[]): Promise<readonly CommitUnitResult[]> {
    return this.#call('commitChanges', [units]);
  }

  claimJobs(worker: string, now: EpochMs, limit: number): Promise<readonly ClaimedJob[]> {
    return this.#call('claimJobs', [worker, now, limit]);
  }

  finishJob(jobId: number, outcome: JobOutcome, event: NewEvent): Promise<void> {
    return this.#call('finishJob', [jobId, outcome, event]);
  }

  finishJobs(list: readonly FinishedJob[]): Promise<readonly (Error | undefined)[]> {
    return this.#call('finishJobs', [list]);
  }

  finishAndClaim(finished: readonly FinishedJob[], worker: string, now: EpochMs, limit: number): Promise<FinishAndClaim> {
    return this.#call('finishAndClaim', [finished, worker, now, limit]);
  }

  recoverInProgress(at: EpochMs): Promise<number> {
    return this.#call('recoverInProgress', [at]);
  }

  abandonSealedUnder(keyIds: readonly string[], at: EpochMs): Promise<number> {
    return this.#call('abandonSealedUnder', [keyIds, at]);
  }

  nextRetryAt(): Promise<EpochMs | undefined> {
    return this.#call('nextRetryAt', []);
  }

  listJobs(filter: JobFilter): Promise<readonly Job[]> {
    return this.#call('listJobs', [filter]);
  }

  sealedSecrets(): Promise<readonly { changeId: string; secret: SealedSecret }[]> {
    return this.#call('sealedSecrets', []);
  }

  resealSecrets(secrets: readonly { changeId: string; secret: SealedSecret }[]): Promise<void> {
    return this.#call('resealSecrets', [secrets]);
  }

  rememberNotification(id: string, at: EpochMs, forgetBefore: EpochMs): Promise<boolean> {
    return this.#call('rememberNotification', [id, at, forgetBefore]);
  }

  appendEvents(events: readonly NewEvent[]): Promise<void> {
    return this.#call('appendEvents', [events]);
  }

  listEvents(filter: EventFilter): Promise<readonly PwEvent[]> {
    return this.#call('listEvents', [filter]);
  }

  dataVersion(): Promise<number> {
    return this.#call('dataVersion', []);
  }

  #call<M extends StoreMethod>(method: M, args: StoreArgs<M>): Promise<StoreResult<M>> {
    // A method and its own arguments: the union cannot say so of a generic M.
    return this.#thread.call({ method, args } as StoreCall).then((value) => decodeResult(method, value));
  }
}
