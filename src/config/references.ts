import type { PathSegment, PendingProblem } from './problems.ts';

/** An environment variable's name, as POSIX shells accept it. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A value that is exactly one `${NAME}` reference. */
export const WHOLE_ENV_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

export type Expansion =
  | { readonly ok: true; readonly value: string; readonly names: readonly string[] }
  | { readonly ok: false; readonly unset: readonly string[]; readonly malformed: boolean };

/**
 * Replaces each `${NAME}` in `text` with the environment variable's value; `$${` stands for a
 * literal `${`. A value is never read as a reference again (no recursion), and nothing of it
 * reaches the result when a variable is unset or a reference is malformed.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv): Expansion {
  let out = '';
  const names: string[] = [];
  const unset: string[] = [];
  let malformed = false;
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('$', i);
    if (start < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, start);
    if (text.startsWith('$${', start)) {
      out += '${';
      i = start + 3;
    } else if (text.startsWith('${', start)) {
      const end = text.indexOf('}', start + 2);
      const name = end < 0 ? '' : text.slice(start + 2, end);
      if (!ENV_NAME.test(name)) {
        malformed = true;
        i = end < 0 ? text.length : end + 1;
        continue;
      }
      names.push(name);
      const value = env[name];
      if (value === undefined) unset.push(name);
      else out += value;
      i = end + 1;
    } else {
      out += '$';
      i = start + 1;
    }
  }
  if (unset.length > 0 || malformed) return { ok: false, unset: [...new Set(unset)], malformed };
  return { ok: true, value: out, names };
}

/** The problems of an expansion that failed, at `path`. Names variables, never values. */
export function expansionProblems(result: Expansion, path: readonly PathSegment[]): PendingProblem[] {
  if (result.ok) return [];
  const problems: PendingProblem[] = result.unset.map((name) => ({
    code: 'ENV_UNSET',
    path,
    message: `environment variable ${name} is not set`,
  }));
  if (result.malformed) {
    problems.push({
      code: 'BAD_REFERENCE',
      path,
      message: 'malformed reference: write ${NAME} with a variable name of letters, digits and _, or $${ for a literal ${',
    });
  }
  return problems;
}

/**
 * Expands environment references in every string value of `data` (not in keys), except at the
 * paths in `skip`, which secret fields resolve themselves (see `secret-ref.ts`). Returns a copy.
 */
export function resolveEnvReferences(
  data: unknown,
  env: NodeJS.ProcessEnv,
  skip: ReadonlySet<string>,
  problems: PendingProblem[],
): unknown {
  const visit = (value: unknown, path: PathSegment[]): unknown => {
    if (typeof value === 'string') {
      if (skip.has(JSON.stringify(path)) || !value.includes('$')) return value;
      const result = expandEnv(value, env);
      problems.push(...expansionProblems(result, path));
      return result.ok ? result.value : value;
    }
    if (skip.has(JSON.stringify(path))) return value;
    if (Array.isArray(value)) return value.map((item, i) => visit(item, [...path, i]));
    if (isPlainObject(value)) {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        // defineProperty, so that a key named __proto__ stays data and reaches the schema as an unknown key
        Object.defineProperty(copy, key, { value: visit(item, [...path, key]), enumerable: true, writable: true, configurable: true });
      }
      return copy;
    }
    return value;
  };
  return visit(data, []);
}

/** A mapping from the YAML document; other objects (a `!!binary` Buffer) are values, not mappings. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
