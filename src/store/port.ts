import type {
  Account, Anchor, Attributes, Change, EpochMs, Job, JobStateKind, Link, LinkReason, MatchMode, NewEvent,
  Person, PersonId, PwEvent, SealedSecret, SystemName,
} from '../core/model.ts';
import type { EventCode } from '../core/events.ts';

/**
 * The store port. Every method is one atomic unit: it commits entirely or not at all, so the engine
 * never has to reason about half-written state. Two implementations pass one conformance suite
 * (`conformance.ts`): SQLite (embedded default) and PostgreSQL (later).
 *
 * The store never sees a clear password: secrets arrive sealed by the keyring.
 *
 * Every call settles on a later turn of the event loop, as a networked store's does, so a caller
 * that polls the store in a loop cannot starve timers and I/O. Refusals are typed: input that names
 * something unknown or breaks a rule below rejects with InvalidInputError and writes nothing; a
 * store that is closed, locked too long or unusable rejects with StoreError.
 */
export interface Store {
  /** Human-readable description for logs and `pwsync status` (never a credential). */
  readonly description: string;
  close(): Promise<void>;

  // Accounts, persons, links -------------------------------------------------------------

  /**
   * Declares the lookups the engine will make (from the configuration: each source's account
   * attribute, the person attributes join rules compare). Keys are kept for these only, so an import
   * maintains no index it will not use. A declaration that differs from the stored one drops the keys
   * of what is gone and builds the keys of what is new from the stored attributes, in one unit;
   * an unchanged one costs nothing. `findAccountsByKey` and `findPersonsByKey` refuse a lookup that
   * is not declared (InvalidInputError), so a missing declaration never looks like "no match".
   */
  declareLookups(lookups: readonly Lookup[]): Promise<void>;


  /**
   * Inserts or updates a batch of accounts of one system and stamps them with `importRun`.
   * Attributes are replaced whole; a person projected from an account takes the account's new
   * attributes in the same transaction, so person attributes follow their source. Returns the
   * accounts as stored (with ids and links).
   * Every attribute is indexed under each match mode's key (`matchKey` of core) for lookups.
   */
  upsertAccounts(system: SystemName, importRun: string, accounts: readonly AccountInput[]): Promise<readonly AccountWithLink[]>;

  /**
   * Deletes the accounts of `system` not stamped with `importRun` (removed from their system),
   * with their links, and returns what was removed. Pending jobs for them end as failed 6923
   * (pending and retry-scheduled ones, with an event each; a job in progress is left to its worker).
   * A person projected from a removed account keeps its attributes and stays findable by them.
   */
  removeAccountsNotIn(system: SystemName, importRun: string, at: EpochMs): Promise<readonly AccountWithLink[]>;

  /**
   * Deletes the accounts of `system` with these anchors (reported removed by a delta import), with
   * the same effects as {@link Store.removeAccountsNotIn}, and returns what was removed, in id
   * order. Anchors the store does not know (never imported, removed before) are ignored.
   */
  removeAccounts(system: SystemName, anchors: readonly Anchor[], at: EpochMs): Promise<readonly AccountWithLink[]>;

  /**
   * How many accounts of `system` the store holds, and how many of them are not stamped with
   * `importRun` (what {@link Store.removeAccountsNotIn} would remove): the import's deletion threshold.
   */
  countAccounts(system: SystemName, importRun: string): Promise<AccountCounts>;

  /**
   * The removed accounts' links are remembered: removing a linked account (either method above)
   * keeps its system, anchor, person and kind of link. This answers those of `system` with these
   * anchors, removed at or after `forgetBefore`, and forgets the older ones of `system` in the same
   * unit. A `restore` decision of {@link Store.applyLinks} uses one and forgets it.
   */
  rememberedLinks(system: SystemName, anchors: readonly Anchor[], forgetBefore: EpochMs): Promise<readonly RememberedLink[]>;

  /**
   * Where `system`'s change history stood when its last successful import began, as its connector
   * wrote it (opaque to the store), or undefined when none is kept. A delta import reads from it.
   */
  getImportWatermark(system: SystemName): Promise<ImportWatermark | undefined>;

  /**
   * Keeps `watermark` as `system`'s, replacing the one kept before; `at` is when it was stored. One
   * per system; a watermark of a system no longer configured is kept and harms nothing.
   */
  setImportWatermark(system: SystemName, watermark: string, at: EpochMs): Promise<void>;

  getAccount(system: SystemName, anchor: Anchor): Promise<AccountWithLink | undefined>;

  /** Accounts of `system` whose attribute `name` has `key` under `mode` (a declared lookup), in id order. */
  findAccountsByKey(system: SystemName, name: string, mode: MatchMode, key: string): Promise<readonly AccountWithLink[]>;

  /**
   * Applies a batch of link decisions in one transaction (one commit, not one per account: an
   * import of 100,000 accounts must not pay 100,000 fsyncs). A `project` decision creates a person
   * with the account's attributes and links the account to it; a `join` decision links the account
   * to an existing person; a `restore` decision links it to the person of its remembered link
   * (see {@link Store.rememberedLinks}) as it was linked — a projection link only when the person
   * has no other source meanwhile, a manual one otherwise — and forgets the remembered link. An
   * account that is already linked is left as it is. Returns the persons
   * created, in the order of the decisions. An unknown account or person refuses the whole batch.
   */
  applyLinks(decisions: readonly LinkDecision[], at: EpochMs): Promise<readonly Person[]>;

  /**
   * Persons whose attribute `name` has `key` under `mode` (a declared person lookup), in creation
   * order. At most `limit` (to detect ambiguity cheaply).
   */
  findPersonsByKey(name: string, mode: MatchMode, key: string, limit: number): Promise<readonly PersonId[]>;

  /**
   * Links an account to a person. Fails if the account is already linked. A `projection` link makes
   * the account the person's source (the person takes its attributes and follows them); it fails if
   * the person has a source already.
   */
  link(accountId: number, personId: PersonId, reason: LinkReason, at: EpochMs): Promise<Link>;

  /**
   * Removes an account's link, if any. A person whose source account is unlinked keeps its
   * attributes (no longer following the account) and stays findable by them.
   */
  unlink(accountId: number): Promise<void>;

  getPerson(personId: PersonId): Promise<PersonView | undefined>;

  /**
   * For each lookup, the accounts it finds (by anchor, or by a declared lookup's key as
   * `findAccountsByKey`; by anchor with `orKey`, by that key when no account has the anchor), and
   * when it finds exactly one linked account, that account's person: what the entry point needs to
   * route a change, for a whole batch of changes in one call and one snapshot. Answers are in the
   * lookups' order.
   */
  lookupSources(lookups: readonly SourceLookup[]): Promise<readonly SourceFound[]>;

  /**
   * Persons whose id, or any attribute of the person or of a linked account, contains `text`
   * (case-insensitive). Without text, every person, in creation order. Paged by `limit`/`offset`.
   */
  searchPersons(query: { text?: string; limit: number; offset?: number }): Promise<readonly PersonView[]>;

  counts(): Promise<StoreCounts>;

  // Changes and jobs ---------------------------------------------------------------------

  /**
   * Commits a change with its sealed secret and one job per target, atomically, and applies the
   * ordering rules per target account:
   * - a pending or retry-scheduled job for the same account with an older change time is
   *   superseded (state `superseded`, event 7008);
   * - if such a job has a newer change time, or the account's last applied change time is newer
   *   than this change, this target's job is not created and event 6919 is written instead.
   * A job in progress is never superseded, but one with a newer change time also makes this change
   * out of date for that account. Equal change times: the change committed last wins. A change left
   * without any job keeps no secret. An unknown target, or a change id committed before, refuses
   * the whole change.
   * `events` (for example 6921 for accounts in systems without sync) are written in the same unit;
   * one that leaves out `changeId` or `personId` gets the change's.
   * Returns what happened to each target.
   */
  commitChange(change: Change, secret: SealedSecret, targets: readonly JobTarget[], events: readonly NewEvent[]): Promise<CommitResult>;

  /**
   * Commits several units in ONE transaction (one fsync for a whole batch of notifications), in
   * order, each with the rules of {@link Store.commitChange}. A unit with a `notification` first
   * records its id (see {@link Store.rememberNotification}); an id seen before makes that unit a
   * `replay` and writes nothing of it, while the others go on. Remembering the id and committing
   * the jobs are one unit, so a crash never leaves a remembered id without its jobs (the agent's
   * retry would then be refused as a replay and the change lost); a replayed unit writes its
   * `onReplay` events instead, so the refusal of a replay is recorded with the batch that met it.
   * A unit without `change` writes only its events (a change that routes nowhere, or the refusals
   * of the batch's other requests). Any other failure refuses the whole batch, its events included.
   */
  commitChanges(units: readonly CommitUnit[]): Promise<readonly CommitUnitResult[]>;

  /**
   * Claims up to `limit` due jobs for `worker`: pending ones, and retry-scheduled ones whose time
   * has come, oldest change first, never two for the same account at once (an account with a job
   * in progress is skipped). Each claimed job moves to `in_progress` with its attempts counted.
   */
  claimJobs(worker: string, now: EpochMs, limit: number): Promise<readonly ClaimedJob[]>;

  /**
   * Ends or reschedules a claimed job, atomically with its event and, when the change has no
   * open job left, the wiping of the change's secret. `done` records the change time as the
   * account's last applied time (which never moves back). Fields the event leaves out come from the
   * job. Fails for a job that is unknown or not in progress (finished twice, or recovered meanwhile).
   */
  finishJob(jobId: number, outcome: JobOutcome, event: NewEvent): Promise<void>;

  /**
   * Several {@link Store.finishJob} calls in one transaction (one fsync for a group of deliveries
   * that ended together), each with the same rules. A job that cannot be finished (unknown, not in
   * progress) is answered with its error in its place and does not fail the others.
   */
  finishJobs(list: readonly FinishedJob[]): Promise<readonly (Error | undefined)[]>;

  /**
   * {@link Store.finishJobs} then {@link Store.claimJobs}, in one transaction: the delivery loop's
   * one call per turn (one commit instead of two; every commit rewrites whole pages of the log, so
   * their number, not their size, is what a busy server pays for). The claim sees the finishes: an
   * account whose job was just finished may have its next job claimed in the same call.
   */
  finishAndClaim(finished: readonly FinishedJob[], worker: string, now: EpochMs, limit: number): Promise<FinishAndClaim>;

  /**
   * Puts jobs left `in_progress` (by a process that died) back to `pending`, writing event 7011
   * for each; their attempts stay counted. Returns how many.
   */
  recoverInProgress(at: EpochMs): Promise<number>;

  /** The earliest `nextAt` of a retry-scheduled job, to know how long a worker may sleep. */
  nextRetryAt(): Promise<EpochMs | undefined>;

  /** Jobs matching every given filter, newest first. */
  listJobs(filter: JobFilter): Promise<readonly Job[]>;

  /** Every sealed secret still held (open changes), for key rotation. */
  sealedSecrets(): Promise<readonly { changeId: string; secret: SealedSecret }[]>;

  /**
   * Replaces sealed secrets (key rotation), atomically for the whole set. A secret wiped since it
   * was read stays wiped (resealing never brings one back); unknown change ids are ignored.
   */
  resealSecrets(secrets: readonly { changeId: string; secret: SealedSecret }[]): Promise<void>;

  /**
   * Gives up every open job of a change whose secret is sealed under one of `keyIds` (keys that were
   * lost: nothing will ever open those secrets), atomically: each job fails with event 7031 and the
   * secrets are wiped. Returns how many jobs.
   */
  abandonSealedUnder(keyIds: readonly string[], at: EpochMs): Promise<number>;

  /**
   * Records a notification id; returns false if it was recorded before (a replay). Ids older than
   * `forgetBefore` may be forgotten.
   */
  rememberNotification(id: string, at: EpochMs, forgetBefore: EpochMs): Promise<boolean>;

  // Events -------------------------------------------------------------------------------

  /** Writes events; the severity comes from the code, `at` defaults to the store's clock. */
  appendEvents(events: readonly NewEvent[]): Promise<void>;

  /**
   * Events matching every given filter, in the order they happened (by id): the newest `limit` of
   * them, or with `afterId` the first `limit` after that id (to follow the log).
   */
  listEvents(filter: EventFilter): Promise<readonly PwEvent[]>;

  /**
   * A number that changes whenever another process commits to the store: workers poll it cheaply
   * to learn that new jobs may be there. This process's own commits need not change it.
   */
  dataVersion(): Promise<number>;
}

export interface AccountInput {
  readonly anchor: Anchor;
  readonly attributes: Attributes;
}

export interface AccountWithLink extends Account {
  readonly personId: PersonId | null;
}

/** A system's import watermark as kept by {@link Store.setImportWatermark}. */
export interface ImportWatermark {
  readonly watermark: string;
  readonly at: EpochMs;
}

export interface PersonInput {
  readonly attributes: Attributes;
}

/** A lookup: accounts of one system, or persons, by one attribute under one match mode. */
export type Lookup =
  | { readonly scope: 'account'; readonly system: SystemName; readonly attribute: string; readonly mode: MatchMode }
  | { readonly scope: 'person'; readonly attribute: string; readonly mode: MatchMode };

export type LinkDecision =
  | { readonly kind: 'project'; readonly accountId: number }
  | { readonly kind: 'join'; readonly accountId: number; readonly personId: PersonId; readonly rule: number }
  | { readonly kind: 'restore'; readonly accountId: number; readonly system: SystemName; readonly anchor: Anchor; readonly personId: PersonId; readonly reason: LinkReason };

/** What {@link Store.countAccounts} answers. */
export interface AccountCounts {
  readonly stored: number;
  readonly notInRun: number;
}

/** The link a removed account had (see {@link Store.rememberedLinks}). */
export interface RememberedLink {
  readonly anchor: Anchor;
  readonly personId: PersonId;
  readonly reason: LinkReason;
  readonly removedAt: EpochMs;
}

export interface PersonView extends Person {
  readonly accounts: readonly (AccountWithLink & { readonly link: Link })[];
}

export interface StoreCounts {
  readonly persons: number;
  readonly accounts: number;
  readonly links: number;
  readonly jobsByState: Readonly<Record<JobStateKind, number>>;
  readonly events: number;
}

/** One target of a change: an account in a system with password sync enabled. */
export interface JobTarget {
  readonly accountId: number;
}

/**
 * One lookup of {@link Store.lookupSources}: an account of `system` by its anchor, or by a key. A
 * change that names its account both ways (an AD capture: objectGUID and sAMAccountName) is looked
 * up by the anchor and `orKey` in one lookup, so that the fallback costs no round trip of its own.
 */
export type SourceLookup =
  | { readonly system: SystemName; readonly anchor: Anchor; readonly orKey?: SourceKey }
  | ({ readonly system: SystemName } & SourceKey);

/** An account attribute's key under a declared lookup (see {@link Store.findAccountsByKey}). */
export interface SourceKey {
  readonly name: string;
  readonly mode: MatchMode;
  readonly key: string;
}

/** What one {@link SourceLookup} found. `person` only when exactly one account was found and it is linked. */
export interface SourceFound {
  readonly accounts: readonly AccountWithLink[];
  readonly person?: PersonView;
}

/** One entry of {@link Store.finishJobs}. */
export interface FinishedJob {
  readonly jobId: number;
  readonly outcome: JobOutcome;
  readonly event: NewEvent;
}

/** What {@link Store.finishAndClaim} answers: each finish's error in its place, and the jobs claimed. */
export interface FinishAndClaim {
  readonly finished: readonly (Error | undefined)[];
  readonly claimed: readonly ClaimedJob[];
}

/** One unit of {@link Store.commitChanges}. */
export interface CommitUnit {
  readonly notification?: { readonly id: string; readonly at: EpochMs; readonly forgetBefore: EpochMs };
  readonly change?: { readonly change: Change; readonly secret: SealedSecret; readonly targets: readonly JobTarget[] };
  readonly events: readonly NewEvent[];
  /** Written instead of the unit when its `notification` was seen before (the replay's refusal). */
  readonly onReplay?: readonly NewEvent[];
}

export type CommitUnitResult = { readonly kind: 'committed'; readonly result: CommitResult } | { readonly kind: 'replay' };

export interface CommitResult {
  readonly jobs: readonly { readonly accountId: number; readonly jobId: number }[];
  /** Targets where no job was created because a newer change is applied or pending (6919). */
  readonly outOfDate: readonly number[];
  /** Job ids superseded by this change. */
  readonly superseded: readonly number[];
}

export interface ClaimedJob extends Job {
  readonly secret: SealedSecret;
  readonly lastAppliedAt: EpochMs | null;
  readonly origin: Change['origin'];
}

export type JobOutcome =
  | { readonly kind: 'done'; readonly at: EpochMs }
  | { readonly kind: 'retry'; readonly at: EpochMs; readonly nextAt: EpochMs; readonly error: string }
  | { readonly kind: 'failed'; readonly at: EpochMs; readonly event: EventCode; readonly error: string };

export interface JobFilter {
  readonly states?: readonly JobStateKind[];
  readonly system?: SystemName;
  readonly personId?: PersonId;
  readonly changeId?: string;
  /** At most this many (a whole number ≥ 0). An empty `states` list matches nothing. */
  readonly limit: number;
}

export interface EventFilter {
  readonly codes?: readonly EventCode[];
  readonly severities?: readonly PwEvent['severity'][];
  readonly system?: SystemName;
  readonly personId?: PersonId;
  readonly changeId?: string;
  readonly since?: EpochMs;
  /** Only events with an id greater than this, the first `limit` of them (for following the log). */
  readonly afterId?: number;
  /** At most this many (a whole number ≥ 0). An empty `codes` or `severities` list matches nothing. */
  readonly limit: number;
}
