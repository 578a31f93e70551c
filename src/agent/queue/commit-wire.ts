import type { QueuedCapture, SealedCapture } from './types.ts';

// The commit thread's own part of the messages between the writer and it (commit-thread.ts and
// commit-worker.ts); the envelope and the error wire are the SQLite toolkit's (src/sqlite/wire.ts).

export interface CommitWorkerData {
  readonly path: string;
  readonly maxLength: number;
}

/** One batch, committed in one transaction with `now` as its clock. */
export interface CommitCall {
  readonly now: number;
  readonly captures: readonly SealedCapture[];
}

/** A refused capture carries nothing: the only refusal is the length limit, known to both sides. */
export type WireOutcome = { readonly ok: true; readonly item: QueuedCapture } | { readonly ok: false };
