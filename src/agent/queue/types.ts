import type { EventCode, Severity } from '../../core/events.ts';
import type { EpochMs, SealedSecret } from '../../core/model.ts';
import type { Secret } from '../../core/secret.ts';
import type { QueueFullError } from './errors.ts';

/**
 * Whether a captured change is known to be in the agent's scope. `pending`: the directory could
 * not be asked when it was captured; the sender checks again before delivering it.
 */
export type CaptureScope = 'in' | 'pending';

/** A password change as a capture hook hands it to the agent. */
export interface NewCapture {
  /** The source system the agent speaks for (the event's `system`). */
  readonly source: string;
  /** The account in the source, as the hook names it (the event's `anchor`). */
  readonly account: string;
  /**
   * The account's immutable id at the source when the hook knows it (AD's objectGUID): the server
   * finds the account by it first, and by `account` when it has no account with that anchor.
   */
  readonly anchor?: string;
  /** When the source changed the password (the server orders changes by it). */
  readonly changedAt: EpochMs;
  /** When the agent received it, on the agent's clock: the queue age limit counts from here. */
  readonly capturedAt: EpochMs;
  /** Default `in`. */
  readonly scope?: CaptureScope;
  /** The new password. The caller keeps ownership and disposes it; the queue only seals it. */
  readonly secret: Secret;
}

/**
 * A capture sealed and given its id, ready to commit. The queue assigns the id (a UUIDv7, the
 * notification id the server deduplicates by) when it seals, because the id is also what the
 * ciphertext is bound to: no caller can make two rows share one.
 */
export interface SealedCapture {
  readonly id: string;
  readonly source: string;
  readonly account: string;
  readonly anchor: string | null;
  readonly changedAt: EpochMs;
  readonly capturedAt: EpochMs;
  readonly scope: CaptureScope;
  readonly sealed: SealedSecret;
}

/** A queued change as `peek` shows it: everything but the secret. */
export interface QueuedCapture {
  /** The delivery order: increases with every commit and is never reused. */
  readonly seq: number;
  readonly id: string;
  readonly source: string;
  readonly account: string;
  readonly anchor: string | null;
  readonly changedAt: EpochMs;
  readonly capturedAt: EpochMs;
  readonly scope: CaptureScope;
  /** Delivery attempts recorded so far. */
  readonly attempts: number;
  readonly lastAttemptAt: EpochMs | null;
  /** Why the last attempt failed; never a secret. */
  readonly lastError: string | null;
}

/** One capture's answer from `enqueue`, in the order given, so each hook can be answered. */
export type EnqueueOutcome = { readonly ok: true; readonly item: QueuedCapture } | { readonly ok: false; readonly error: QueueFullError };

export interface QueueStats {
  readonly length: number;
  /** Of the oldest queued change; null when the queue is empty. */
  readonly oldestCapturedAt: EpochMs | null;
  /** Queued changes whose scope is still to be checked. */
  readonly pendingScope: number;
  /**
   * Bytes of the database in use (pages in use × page size; the WAL not counted). The file keeps
   * its largest size: freed pages are zeroed (secure_delete) and reused, not returned.
   */
  readonly bytes: number;
}

// Targets ----------------------------------------------------------------------------------

/** Where a target stands, as the sender last found it. */
export interface TargetState {
  readonly lastSuccessAt: EpochMs | null;
  readonly lastFailureAt: EpochMs | null;
  /** Never a secret. */
  readonly lastError: string | null;
  /** Not before this time, after a failure; null: now. */
  readonly nextAttemptAt: EpochMs | null;
  readonly consecutiveFailures: number;
}

/**
 * A server the agent delivers to (the reference's PCNS target). File paths are absolute, because
 * the CLI that adds a target and the agent that reads it may run in different directories. A
 * null path means the agent's configured default.
 */
export interface Target {
  readonly name: string;
  /** https:// only. */
  readonly url: string;
  /** The CA (or pinned certificate) that the server's certificate must chain to. */
  readonly caFile: string | null;
  /** The agent's client certificate and key for mutual TLS. */
  readonly certFile: string | null;
  readonly keyFile: string | null;
  /** The server's public key that payloads are encrypted to. */
  readonly serverKeyFile: string | null;
  readonly enabled: boolean;
  /** How long to wait after a failure before trying this target again. */
  readonly retryIntervalMs: number;
  /** Failover order: 1 is tried first; positions are 1…n without gaps. */
  readonly position: number;
  readonly addedAt: EpochMs;
  readonly state: TargetState;
}

export interface NewTarget {
  readonly name: string;
  readonly url: string;
  readonly caFile?: string | null;
  readonly certFile?: string | null;
  readonly keyFile?: string | null;
  readonly serverKeyFile?: string | null;
  /** Default true. */
  readonly enabled?: boolean;
  /** Default {@link DEFAULT_RETRY_INTERVAL_MS}; 10 s to 1 h, as the reference allows. */
  readonly retryIntervalMs?: number;
  /** 1…n+1; default n+1 (last). Targets at and after it move one place back. */
  readonly position?: number;
}

// Events -----------------------------------------------------------------------------------

/** An entry of the agent's event log. Never carries a secret. */
export interface AgentEvent {
  readonly id: number;
  readonly at: EpochMs;
  readonly code: EventCode;
  readonly severity: Severity;
  /** The source system. */
  readonly system: string | null;
  /** The account in the source. */
  readonly anchor: string | null;
  /** The capture (notification) id. */
  readonly changeId: string | null;
  readonly message: string;
}

export interface NewAgentEvent {
  /** Default: the store's clock. */
  readonly at?: EpochMs;
  readonly code: EventCode;
  readonly system?: string | null;
  readonly anchor?: string | null;
  readonly changeId?: string | null;
  /** Default: the code's text from the event table. */
  readonly message?: string;
}

export interface AgentEventFilter {
  readonly limit: number;
  readonly codes?: readonly EventCode[];
}
