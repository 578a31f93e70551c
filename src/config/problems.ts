import type { ConfigProblem } from '../core/errors.ts';
import type { SecretProblemCode } from '../fields/secret-ref.ts';

/**
 * Stable codes for configuration problems and warnings. Tests and tools match on these, never on
 * message text.
 */
export type ProblemCode =
  // reading and YAML
  | 'FILE_UNREADABLE'
  | 'YAML_SYNTAX'
  | 'DUPLICATE_KEY'
  | 'YAML_WARNING'
  // the schema
  | 'MISSING_KEY'
  | 'UNKNOWN_KEY'
  | 'INVALID_TYPE'
  | 'INVALID_VALUE'
  // references: `${NAME}` in any value, and secret fields (listed with the field that reports them)
  | SecretProblemCode
  // semantic rules
  | 'DUPLICATE_SYSTEM'
  | 'JOIN_ATTRIBUTE_NOT_IMPORTED'
  | 'JOIN_PERSON_ATTRIBUTE_UNKNOWN'
  | 'SYNC_INTO_SOURCE'
  | 'PROJECTION_WITHOUT_JOIN'
  | 'SYNC_WITHOUT_JOIN'
  | 'SYNC_WITHOUT_SOURCE'
  | 'DUPLICATE_AGENT'
  | 'UNKNOWN_AGENT'
  | 'PROTECT_GROUPS_UNSUPPORTED'
  | 'PROTECT_ADMINCOUNT_UNSUPPORTED'
  | 'SHARED_FILE'
  | 'PASSWORD_COLUMN_IN_USE'
  // warnings
  | 'PASSWORD_NOT_CONFIGURED'
  | 'INSECURE_ALLOWED'
  | 'INTAKE_OFF'
  | 'REPLAY_WINDOW_SHORT';

/** A {@link ConfigProblem} with its code; what the loader reports (assignable to `ConfigProblem`). */
export interface ConfigIssue extends ConfigProblem {
  readonly code: ProblemCode;
}

export type PathSegment = string | number;

/**
 * A problem before it is placed in the file: the path as segments, and whether it is about a
 * mapping key (unknown keys) or the value at the path.
 */
export interface PendingProblem {
  readonly code: ProblemCode;
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly at?: 'key' | 'value';
  /** A position already known (YAML errors carry their own). */
  readonly line?: number;
  readonly column?: number;
}

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** Where a path lies in the source and what a system is called; see `source.ts`. */
export interface ProblemPlacer {
  locate(path: readonly PathSegment[], at: 'key' | 'value'): Position | undefined;
  systemName(index: number): string | undefined;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `systems[1] (apps-db).password.hash`: indexes in brackets, odd keys quoted, system names shown. */
export function formatPath(path: readonly PathSegment[], systemName?: (index: number) => string | undefined): string {
  let out = '';
  path.forEach((segment, i) => {
    if (typeof segment === 'number') {
      out += `[${segment}]`;
      const name = i === 1 && path[0] === 'systems' ? systemName?.(segment) : undefined;
      if (name !== undefined) out += ` (${name})`;
    } else if (PLAIN_KEY.test(segment) && segment.length <= 64) {
      out += out === '' ? segment : `.${segment}`;
    } else {
      out += `[${shownKey(segment)}]`;
    }
  });
  return out;
}

/**
 * A key as a message shows it: quoted, or only its size when it cannot be a key anyone wrote on
 * purpose (long, or across lines), which is a value taken for a key and may be a secret.
 */
export function shownKey(key: string): string {
  // eslint-disable-next-line no-control-regex -- a key across lines or with control characters is no key anyone wrote
  return key.length > 64 || /[\u0000-\u001f\u007f]/u.test(key) ? `<a key of ${key.length} characters>` : JSON.stringify(key);
}

export function placeProblem(problem: PendingProblem, placer: ProblemPlacer | undefined): ConfigIssue {
  const position =
    problem.line !== undefined ? { line: problem.line, column: problem.column ?? 1 } : placer?.locate(problem.path, problem.at ?? 'value');
  return {
    code: problem.code,
    path: formatPath(problem.path, (i) => placer?.systemName(i)),
    message: problem.message,
    ...(position ? { line: position.line, column: position.column } : {}),
  };
}

/** In file order; problems without a position (the file itself) first. */
export function sortProblems<T extends ConfigProblem>(problems: readonly T[]): T[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/** One line per problem, `FILE:LINE:COL  PATH  MESSAGE`, for the CLI. */
export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  return problems
    .map((p) => {
      const where = p.line === undefined ? file : `${file}:${p.line}:${p.column ?? 1}`;
      return p.path === '' ? `${where}  ${p.message}` : `${where}  ${p.path}  ${p.message}`;
    })
    .join('\n');
}

/** The closest of `candidates` to a mistyped `word`, if one is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = candidate.toLowerCase() === word.toLowerCase() ? 0 : distance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
