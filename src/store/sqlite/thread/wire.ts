import { InvalidInputError, isPwsyncError, StoreError } from '../../../core/errors.ts';
import type { SealedSecret } from '../../../core/model.ts';
import { StoreSchemaTooNewError } from '../../errors.ts';
import type { Store } from '../../port.ts';

// Messages between a store and the thread that runs SQLite for it (store-thread.ts and
// store-worker.ts; the agent's queue commit thread uses the error wire too). Structured cloning
// keeps plain data only: errors travel as code and message and are rebuilt as our typed errors, and
// every Buffer arrives as a Uint8Array, which SQLite does not bind and our callers do not expect.

/** The store's methods that travel as calls (`close` ends the thread instead). */
export type StoreMethod = Exclude<keyof Store, 'description' | 'close'>;

export type StoreArgs<M extends StoreMethod> = Parameters<Store[M]>;
export type StoreResult<M extends StoreMethod> = Awaited<ReturnType<Store[M]>>;

export interface StoreWorkerData {
  readonly path: string;
}

export type StoreCall = { [M in StoreMethod]: { readonly kind: 'call'; readonly id: number; readonly method: M; readonly args: StoreArgs<M> } }[StoreMethod];

export type StoreRequest = StoreCall | { readonly kind: 'close' };

export type StoreReply =
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

/** The typed error a store caller expects: InvalidInputError for refused input, otherwise StoreError. */
export function fromWireError(w: WireError): Error {
  if (w.code === 'ERR_INVALID_INPUT') return new InvalidInputError(w.message);
  if (w.schema !== undefined) return new StoreSchemaTooNewError(w.schema.found, w.schema.supported);
  return new StoreError(w.message);
}

/** A Buffer again, over the same memory, from what structured cloning made of one. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function revivedSecret(s: SealedSecret): SealedSecret {
  return { keyId: s.keyId, blob: asBuffer(s.blob) };
}

/** The arguments as the store expects them, after the crossing (worker side). */
export function reviveCall(call: StoreCall): StoreCall {
  switch (call.method) {
    case 'commitChange': {
      const [change, secret, targets, events] = call.args;
      return { ...call, args: [change, revivedSecret(secret), targets, events] };
    }
    case 'commitChanges': {
      const [units] = call.args;
      return { ...call, args: [units.map((u) => (u.change ? { ...u, change: { ...u.change, secret: revivedSecret(u.change.secret) } } : u))] };
    }
    case 'resealSecrets': {
      const [list] = call.args;
      return { ...call, args: [list.map((s) => ({ changeId: s.changeId, secret: revivedSecret(s.secret) }))] };
    }
    default:
      return call;
  }
}

const toWireErrors = (list: readonly (Error | undefined)[]): (WireError | undefined)[] => list.map((e) => (e === undefined ? undefined : toWireError(e, 'the store thread')));
const fromWireErrors = (list: readonly (WireError | undefined)[]): (Error | undefined)[] => list.map((e) => (e === undefined ? undefined : fromWireError(e)));
const revivedJobs = (list: StoreResult<'claimJobs'>): StoreResult<'claimJobs'> => list.map((j) => ({ ...j, secret: revivedSecret(j.secret) }));

/** A result made ready to cross (worker side): the errors finishes report per job become wire errors. */
export function encodeResult(method: StoreMethod, value: unknown): unknown {
  switch (method) {
    case 'finishJobs':
      return toWireErrors(value as StoreResult<'finishJobs'>);
    case 'finishAndClaim': {
      const result = value as StoreResult<'finishAndClaim'>;
      return { ...result, finished: toWireErrors(result.finished) };
    }
    default:
      return value;
  }
}

/** A result as the caller expects it, after the crossing (caller side). */
export function decodeResult<M extends StoreMethod>(method: M, value: unknown): StoreResult<M> {
  switch (method) {
    case 'finishJobs':
      return fromWireErrors(value as readonly (WireError | undefined)[]) as StoreResult<M>;
    case 'claimJobs':
      return revivedJobs(value as StoreResult<'claimJobs'>) as StoreResult<M>;
    case 'finishAndClaim': {
      const result = value as { finished: readonly (WireError | undefined)[]; claimed: StoreResult<'claimJobs'> };
      return { finished: fromWireErrors(result.finished), claimed: revivedJobs(result.claimed) } as StoreResult<M>;
    }
    case 'sealedSecrets':
      return (value as StoreResult<'sealedSecrets'>).map((s) => ({ changeId: s.changeId, secret: revivedSecret(s.secret) })) as StoreResult<M>;
    default:
      return value as StoreResult<M>;
  }
}
