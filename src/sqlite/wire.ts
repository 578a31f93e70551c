import { InvalidInputError, isPwsyncError, StoreError } from '../core/errors.ts';
import type { SealedSecret } from '../core/model.ts';
import { StoreSchemaTooNewError } from './errors.ts';

// Messages between a database's owner and the worker thread that runs SQLite for it (the server's
// store thread, the agent's commit thread). Structured cloning keeps plain data only: errors travel
// as code and message and are rebuilt as our typed errors, and every Buffer arrives as a
// Uint8Array, which SQLite does not bind and our callers do not expect.

/** To the thread: one call of the owner's kind `C`, answered by its id, or the end. */
export type ThreadRequest<C> = { readonly kind: 'call'; readonly id: number; readonly call: C } | { readonly kind: 'close' };

/** From the thread: open (or not, once, before anything else), then one answer per call. */
export type ThreadReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'fatal'; readonly error: WireError }
  | { readonly kind: 'done'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'failed'; readonly id: number; readonly error: WireError };

export interface WireError {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  /** StoreSchemaTooNewError's versions. */
  readonly schema?: { readonly found: number; readonly supported: number };
}

/** What crosses the thread for an error: its code and message, never its stack or cause. */
export function toWireError(e: unknown, thread: string): WireError {
  if (e instanceof StoreSchemaTooNewError) return { code: e.code, name: e.name, message: e.message, schema: { found: e.found, supported: e.supported } };
  if (isPwsyncError(e)) return { code: e.code, name: e.name, message: e.message };
  // A fault of ours (a TypeError, say): the caller sees a store failure that says where it happened.
  return { code: 'ERR_STORE', name: 'StoreError', message: e instanceof Error ? `${thread} failed: ${e.message}` : `${thread} failed` };
}

/** The typed error a database's caller expects: InvalidInputError for refused input, otherwise StoreError. */
export function fromWireError(w: WireError): Error {
  if (w.code === 'ERR_INVALID_INPUT') return new InvalidInputError(w.message);
  if (w.schema !== undefined) return new StoreSchemaTooNewError(w.schema.found, w.schema.supported);
  return new StoreError(w.message);
}

/** A Buffer again, over the same memory, from what structured cloning made of one. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A sealed secret after the crossing, its blob a Buffer again. */
export function revivedSecret(s: SealedSecret): SealedSecret {
  return { keyId: s.keyId, blob: asBuffer(s.blob) };
}
