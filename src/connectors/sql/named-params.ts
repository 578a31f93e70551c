/**
 * Named parameters (`:anchor`, `:hash`) in the statements an administrator configures, turned into
 * the positional placeholders each driver sends separately from the text (`$1` for PostgreSQL, `?`
 * for MariaDB). Values are never spliced into SQL: this only finds where the names are.
 *
 * The scan knows what the two dialects quote, so a colon inside a string, a quoted identifier, a
 * comment or PostgreSQL's dollar quotes is left alone, and so are PostgreSQL's `::` casts and
 * MariaDB's `:=`. Positional placeholders written by hand, and a second statement after a `;`, are
 * refused: the one way to pass a value is a name the connector knows.
 */
import { PwsyncError } from '../../core/errors.ts';


export type Dialect = 'postgres' | 'mariadb';

export interface CompiledStatement {
  /** The text with positional placeholders, as the driver takes it. */
  readonly text: string;
  /** Which name each positional parameter takes its value from, in order. */
  readonly order: readonly string[];
  /** Every name used, once each. */
  readonly names: ReadonlySet<string>;
}

export class StatementSyntaxError extends PwsyncError {
  readonly code = 'ERR_STATEMENT_SYNTAX';
}

const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_]/;

/** Compiles `sql` for `dialect`; throws {@link StatementSyntaxError} naming what is wrong. */
export function compileNamed(sql: string, dialect: Dialect): CompiledStatement {
  let text = '';
  const order: string[] = [];
  const positions = new Map<string, number>();
  let i = 0;
  const n = sql.length;
  const copyUntil = (end: number): void => {
    text += sql.slice(i, end);
    i = end;
  };
  /** The index just past a quoted run starting at `i` with `quote`, doubled quotes inside it. */
  const quotedEnd = (quote: string, backslashEscapes: boolean, what: string): number => {
    let j = i + 1;
    while (j < n) {
      const c = sql[j];
      if (backslashEscapes && c === '\\') {
        j += 2;
        continue;
      }
      if (c === quote) {
        if (sql[j + 1] === quote) {
          j += 2;
          continue;
        }
        return j + 1;
      }
      j++;
    }
    throw new StatementSyntaxError(`${what} opened at character ${i + 1} is never closed`);
  };

  while (i < n) {
    const c = sql[i] ?? '';
    const next = sql[i + 1] ?? '';
    if (c === "'") {
      // MariaDB reads backslash escapes in strings by default; PostgreSQL only in E'…' strings.
      const escapes = dialect === 'mariadb' || /[eE]$/.test(sql.slice(Math.max(0, i - 1), i));
      copyUntil(quotedEnd("'", escapes, 'a string'));
    } else if (c === '"') {
      copyUntil(quotedEnd('"', dialect === 'mariadb', 'a quoted name'));
    } else if (c === '`' && dialect === 'mariadb') {
      copyUntil(quotedEnd('`', false, 'a quoted name'));
    } else if ((c === '-' && next === '-') || (c === '#' && dialect === 'mariadb')) {
      const end = sql.indexOf('\n', i);
      copyUntil(end === -1 ? n : end);
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) throw new StatementSyntaxError(`a comment opened at character ${i + 1} is never closed`);
      copyUntil(end + 2);
    } else if (c === '$' && dialect === 'postgres') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag !== null) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        if (end === -1) throw new StatementSyntaxError(`a dollar-quoted string opened at character ${i + 1} is never closed`);
        copyUntil(end + tag[0].length);
      } else if (/\d/.test(next)) {
        throw new StatementSyntaxError(`positional parameter at character ${i + 1}: write a named one (:anchor, :hash, …) instead`);
      } else {
        copyUntil(i + 1);
      }
    } else if (c === '?' && dialect === 'mariadb') {
      throw new StatementSyntaxError(`positional parameter at character ${i + 1}: write a named one (:anchor, :hash, …) instead`);
    } else if (c === ':' && next === ':' && dialect === 'postgres') {
      copyUntil(i + 2);
    } else if (c === ':' && next === '=') {
      copyUntil(i + 2);
    } else if (c === ':' && NAME_START.test(next) && !NAME_PART.test(sql[i - 1] ?? '')) {
      let j = i + 1;
      while (j < n && NAME_PART.test(sql[j] ?? '')) j++;
      const name = sql.slice(i + 1, j);
      if (dialect === 'postgres') {
        let position = positions.get(name);
        if (position === undefined) {
          order.push(name);
          position = order.length;
          positions.set(name, position);
        }
        text += `$${position}`;
      } else {
        order.push(name);
        text += '?';
      }
      i = j;
    } else if (c === ';') {
      if (sql.slice(i + 1).trim() !== '') throw new StatementSyntaxError(`a second statement after the ";" at character ${i + 1}: one statement only`);
      i = n;
    } else {
      copyUntil(i + 1);
    }
  }
  return { text: text.trim(), order, names: new Set(order) };
}

/** The values for a compiled statement's positional parameters, by name. */
export function bind<V>(statement: CompiledStatement, values: Readonly<Record<string, V>>): V[] {
  return statement.order.map((name) => {
    if (!Object.hasOwn(values, name)) throw new StatementSyntaxError(`no value for :${name}`);
    return values[name] as V;
  });
}
