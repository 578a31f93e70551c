import { StoreError } from '../core/errors.ts';
import { guard } from './db.ts';

/**
 * Runs one call on a database and settles its promise on a later turn of the event loop; `what`
 * names the call in the one error this adds ("a store call").
 *
 * better-sqlite3 is synchronous: the work is done, whole, when `fn` returns. A promise settled at
 * once would resume its awaiter before timers and I/O, so a caller that polls in a loop (await,
 * await, …) would never let them run; settled from `setImmediate`, the answer comes as a networked
 * database's would. SQLite's errors become StoreErrors (see {@link guard}), and a throw of
 * something that is not an Error becomes one, so the promise rejects with Errors only.
 */
export function settleLater<T>(fn: () => T, what: string): Promise<T> {
  let outcome: { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };
  try {
    outcome = { ok: true, value: guard(fn) };
  } catch (e) {
    outcome = { ok: false, error: e instanceof Error ? e : new StoreError(`${what} failed with a non-error`, { cause: e }) };
  }
  return new Promise((resolve, reject) => {
    setImmediate(() => {
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    });
  });
}
