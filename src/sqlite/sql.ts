import { InvalidInputError } from '../core/errors.ts';
import type { Param } from './db.ts';

/** `(?, ?, …)` with `n` placeholders, for `IN` lists of a filter. */
export function inList(n: number): string {
  return `(${Array.from({ length: n }, () => '?').join(', ')})`;
}

/** A page size or offset must be a whole number ≥ 0: SQLite would refuse a fraction mid-query. */
export function checkLimit(n: number, what = 'limit'): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidInputError(`${what} must be a whole number ≥ 0, not ${n}`);
}

/**
 * A WHERE clause from a filter's optional terms: an `undefined` value adds no condition; an empty
 * `IN` list matches nothing (a filter for "none of these states" finds no row).
 */
export class Where {
  readonly #terms: string[] = [];
  readonly params: Param[] = [];
  #nothing = false;

  /** `column op ?` when `value` is given. */
  compare(column: string, op: '=' | '>' | '>=', value: Param | undefined): this {
    if (value !== undefined) {
      this.#terms.push(`${column} ${op} ?`);
      this.params.push(value);
    }
    return this;
  }

  /** `column IN (…)` when `values` is given. */
  in(column: string, values: readonly Param[] | undefined): this {
    if (values !== undefined) {
      if (values.length === 0) this.#nothing = true;
      this.#terms.push(`${column} IN ${inList(values.length)}`);
      this.params.push(...values);
    }
    return this;
  }

  get matchesNothing(): boolean {
    return this.#nothing;
  }

  get clause(): string {
    return this.#terms.length === 0 ? '' : `WHERE ${this.#terms.join(' AND ')}`;
  }
}
