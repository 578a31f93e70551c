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

/**
 * `value` with every byte view that shares its memory replaced by a copy of its own bytes, for
 * posting to a thread. Structured cloning copies a view's whole ArrayBuffer, not the view: a small
 * Buffer is a slice of Node's shared 8 KiB pool, and posting one sends whatever else the pool holds
 * at that moment to the other thread, where nobody wipes it (a password being decrypted beside a
 * sealed secret did cross so, found by the memory scan of test/e2e/memory-scan.e2e.test.ts).
 * Plain objects and arrays are walked; anything else is left to the structured clone.
 */
export function unshared<T>(value: T): T {
  return ownBytes(value, 0) as T;
}

/** Calls and answers are shallow records of records; deeper than this is not ours. */
const MAX_DEPTH = 16;

function ownBytes(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (ArrayBuffer.isView(value)) {
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) return value;
    const copy = new Uint8Array(value.byteLength);
    copy.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    return copy;
  }
  if (Array.isArray(value)) {
    const list: readonly unknown[] = value;
    let out: unknown[] | undefined;
    list.forEach((item, i) => {
      const own = ownBytes(item, depth + 1);
      if (own !== item) (out ??= [...list])[i] = own;
    });
    return out ?? value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let out: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const own = ownBytes(item, depth + 1);
    if (own !== item) (out ??= { ...value })[key] = own;
  }
  return out ?? value;
}

/** A Buffer again, over the same memory, from what structured cloning made of one. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A sealed secret after the crossing, its blob a Buffer again. */
export function revivedSecret(s: SealedSecret): SealedSecret {
  return { keyId: s.keyId, blob: asBuffer(s.blob) };
}
