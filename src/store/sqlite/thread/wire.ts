import { fromWireError, revivedSecret, toWireError, type WireError } from '../../../sqlite/wire.ts';
import type { Store } from '../../port.ts';

// The store's own part of the messages between it and its thread (store-thread.ts and
// store-worker.ts): which calls there are, and the Buffers and errors inside their arguments and
// results, which structured cloning turns into Uint8Arrays and plain objects. The envelope and the
// error wire are the SQLite toolkit's (src/sqlite/wire.ts).

/** The store's methods that travel as calls (`close` ends the thread instead). */
export type StoreMethod = Exclude<keyof Store, 'description' | 'close'>;

export type StoreArgs<M extends StoreMethod> = Parameters<Store[M]>;
export type StoreResult<M extends StoreMethod> = Awaited<ReturnType<Store[M]>>;

export interface StoreWorkerData {
  readonly path: string;
}

export type StoreCall = { [M in StoreMethod]: { readonly method: M; readonly args: StoreArgs<M> } }[StoreMethod];

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
