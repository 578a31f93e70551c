import { expandEnv, type Expansion } from '../fields/env.ts';
import type { PathSegment, PendingProblem } from './problems.ts';

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
