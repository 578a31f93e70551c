import type { WireError } from '../../store/sqlite/thread/wire.ts';
import type { QueuedCapture, SealedCapture } from './types.ts';

// Messages between the writer and its commit thread. Structured cloning keeps plain data only,
// so errors travel as code and message and are rebuilt as our typed errors on arrival.

export interface CommitWorkerData {
  readonly path: string;
  readonly maxLength: number;
}

export type CommitRequest =
  | { readonly kind: 'enqueue'; readonly id: number; readonly now: number; readonly captures: readonly SealedCapture[] }
  | { readonly kind: 'close' };

/** A refused capture carries nothing: the only refusal is the length limit, known to both sides. */
export type WireOutcome = { readonly ok: true; readonly item: QueuedCapture } | { readonly ok: false };

export type CommitReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'fatal'; readonly error: WireError }
  | { readonly kind: 'done'; readonly id: number; readonly outcomes: readonly WireOutcome[] }
  | { readonly kind: 'failed'; readonly id: number; readonly error: WireError };
