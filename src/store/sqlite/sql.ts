import { InvalidInputError } from '../../core/errors.ts';

/** `(?, ?, …)` with `n` placeholders, for `IN` lists of a filter. */
export function inList(n: number): string {
  return `(${Array.from({ length: n }, () => '?').join(', ')})`;
}

/** A page size or offset must be a whole number ≥ 0: SQLite would refuse a fraction mid-query. */
export function checkLimit(n: number, what = 'limit'): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidInputError(`${what} must be a whole number ≥ 0, not ${n}`);
}
