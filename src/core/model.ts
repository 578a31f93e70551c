import type { EventCode, Severity } from './events.ts';

/** Milliseconds since the Unix epoch. Every stored time uses it, so ordering is integer comparison. */
export type EpochMs = number;

/** A configured system's name, as written in the configuration. */
export type SystemName = string;

/** An account's immutable identifier in its system (entryUUID, objectGUID, a primary key). */
export type Anchor = string;

/** A person's id: a random UUID assigned when an account projects the person. */
export type PersonId = string;

/** Attributes of an account or person: name → value. Only text; what join rules and searches need. */
export type Attributes = Readonly<Record<string, string>>;

/** One object in one system. */
export interface Account {
  readonly id: number;
  readonly system: SystemName;
  readonly anchor: Anchor;
  readonly attributes: Attributes;
  /** The source change time of the last password applied to this account, if any. */
  readonly lastAppliedAt: EpochMs | null;
  readonly importedAt: EpochMs;
}

export interface Person {
  readonly id: PersonId;
  readonly attributes: Attributes;
  readonly createdAt: EpochMs;
}

/** How an account came to be linked to its person. */
export type LinkReason = { readonly kind: 'projection' } | { readonly kind: 'join'; readonly rule: number } | { readonly kind: 'manual' };

export interface Link {
  readonly accountId: number;
  readonly personId: PersonId;
  readonly reason: LinkReason;
  readonly linkedAt: EpochMs;
}

/** How a join rule compares a person attribute with an account attribute. */
export type MatchMode = 'exact' | 'caseInsensitive' | 'normalized';

export interface JoinRule {
  readonly person: string;
  readonly account: string;
  readonly match: MatchMode;
}

/** Where a change came from: a source system's capture, an administrator, the person. */
export type ChangeOrigin = 'source' | 'admin' | 'self';

/** One password change as committed by the entry point. The secret lives apart, encrypted. */
export interface Change {
  readonly id: string;
  readonly sourceSystem: SystemName;
  readonly sourceAnchor: Anchor;
  readonly personId: PersonId;
  readonly changedAt: EpochMs;
  readonly receivedAt: EpochMs;
  readonly origin: ChangeOrigin;
  /** Who asked, for the audit trail: an agent id, an operator name, the person. Never a secret. */
  readonly actor: string;
}

/**
 * A job's state. Terminal states carry what ended them, so a finished job without its outcome
 * cannot be written down.
 */
export type JobState =
  | { readonly kind: 'pending' }
  | { readonly kind: 'in_progress'; readonly worker: string; readonly since: EpochMs }
  | { readonly kind: 'retry_scheduled'; readonly nextAt: EpochMs; readonly lastError: string }
  | { readonly kind: 'done'; readonly at: EpochMs }
  | { readonly kind: 'failed'; readonly at: EpochMs; readonly event: EventCode; readonly lastError: string }
  | { readonly kind: 'superseded'; readonly at: EpochMs; readonly by: string };

export type JobStateKind = JobState['kind'];
export const JOB_STATES: readonly JobStateKind[] = ['pending', 'in_progress', 'retry_scheduled', 'done', 'failed', 'superseded'];
export const TERMINAL_STATES: readonly JobStateKind[] = ['done', 'failed', 'superseded'];

/** One delivery of one change to one target account. */
export interface Job {
  readonly id: number;
  readonly changeId: string;
  readonly accountId: number;
  readonly system: SystemName;
  readonly anchor: Anchor;
  readonly personId: PersonId;
  readonly changedAt: EpochMs;
  readonly createdAt: EpochMs;
  readonly updatedAt: EpochMs;
  /** Delivery attempts made so far. */
  readonly attempts: number;
  readonly state: JobState;
}

/** An entry in the event log. Never carries a secret. */
export interface PwEvent {
  readonly id: number;
  readonly at: EpochMs;
  readonly code: EventCode;
  readonly severity: Severity;
  readonly system: SystemName | null;
  readonly anchor: Anchor | null;
  readonly personId: PersonId | null;
  readonly changeId: string | null;
  readonly jobId: number | null;
  readonly message: string;
}

export type NewEvent = Omit<PwEvent, 'id' | 'severity' | 'at' | 'system' | 'anchor' | 'personId' | 'changeId' | 'jobId'> &
  Partial<Pick<PwEvent, 'at' | 'system' | 'anchor' | 'personId' | 'changeId' | 'jobId'>>;

/** An encrypted secret as stored: the key id travels with every ciphertext. */
export interface SealedSecret {
  readonly keyId: string;
  /** nonce ‖ ciphertext ‖ tag, as produced by the keyring. */
  readonly blob: Buffer;
}
