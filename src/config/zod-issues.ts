import type { z } from 'zod';
import { closest, shownKey, type PathSegment, type PendingProblem, type ProblemCode } from './problems.ts';
import { allowedKeys } from './schema-walk.ts';

type Issue = z.core.$ZodIssue;

/**
 * Messages for zod's built-in issues, in the configuration's words (mapping, list). Messages never
 * quote the value that was given: it may be a secret. Messages written in a schema take precedence.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'missing' : `expected ${noun(issue.expected)}, got ${describe(issue.input)}`;
    case 'invalid_value':
      return `expected ${oneOf(issue.values)}`;
    case 'too_small':
      return bound(issue.origin, issue.inclusive === false ? 'more than' : 'at least', issue.minimum, issue.exact === true);
    case 'too_big':
      return bound(issue.origin, issue.inclusive === false ? 'less than' : 'at most', issue.maximum, issue.exact === true);
    case 'invalid_format':
      return issue.format === 'regex' ? 'does not have the expected form' : `expected ${noun(issue.format)}`;
    case 'invalid_union':
      // A discriminated union (`connector`) that matched no variant: name the known ones.
      return Array.isArray(issue.options) && issue.options.length > 0 ? `expected one of: ${issue.options.map(String).join(', ')}` : undefined;
    default:
      return undefined;
  }
};

/** One pending problem per zod issue (per key for unknown keys), union branches resolved. */
export function problemsFromIssues(issues: readonly Issue[], schema: z.core.$ZodType, data: unknown): PendingProblem[] {
  const out: PendingProblem[] = [];
  const visit = (issue: Issue, prefix: readonly PathSegment[]): void => {
    const path = [...prefix, ...issue.path.filter((s): s is PathSegment => typeof s !== 'symbol')];
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = allowedKeys(schema, data, path);
        for (const key of issue.keys) {
          const guess = closest(key, known);
          out.push({ code: 'UNKNOWN_KEY', path: [...path, key], at: 'key', message: `unknown key ${shownKey(key)}${guess === undefined ? '' : `; did you mean "${guess}"?`}` });
        }
        return;
      }
      case 'invalid_union': {
        const branches = relevantBranches(issue.errors);
        if (branches.length === 1 && branches[0]) {
          for (const inner of branches[0]) visit(inner, path);
          return;
        }
        if (branches.length === 0 && issue.errors.length > 0) {
          const expected = [...new Set(issue.errors.flat().map((i) => (i.code === 'invalid_type' ? noun(i.expected) : undefined)))];
          const got = valueAt(data, path);
          if (!got.found) {
            out.push(missing(path));
          } else if (expected.every((e) => e !== undefined)) {
            out.push({ code: 'INVALID_TYPE', path, message: `expected ${expected.join(' or ')}, got ${describe(got.value)}` });
          } else {
            out.push({ code: 'INVALID_VALUE', path, message: issue.message });
          }
          return;
        }
        out.push(isMissing(data, path) ? missing(path, issue.message) : { code: 'INVALID_VALUE', path, message: issue.message });
        return;
      }
      case 'invalid_type':
        out.push(isMissing(data, path) ? missing(path) : { code: 'INVALID_TYPE', path, message: issue.message });
        return;
      case 'custom': {
        const code: unknown = issue.params?.['code'];
        out.push({ code: typeof code === 'string' ? (code as ProblemCode) : 'INVALID_VALUE', path, message: issue.message });
        return;
      }
      default:
        out.push({ code: 'INVALID_VALUE', path, message: issue.message });
    }
  };
  for (const issue of issues) visit(issue, []);
  return out;
}

/**
 * The union branches worth reporting: those that did not fail on the value's type alone. When the
 * value is a string and one branch takes strings, that branch's complaint is the one that helps.
 */
function relevantBranches(branches: readonly (readonly Issue[])[]): (readonly Issue[])[] {
  return branches.filter((issues) => !issues.every((i) => i.code === 'invalid_type' && i.path.length === 0));
}

function missing(path: readonly PathSegment[], detail?: string): PendingProblem {
  const key = path.at(-1);
  const suffix = detail === undefined || detail === 'missing' ? '' : ` (${detail})`;
  return { code: 'MISSING_KEY', path, message: `missing required key ${shownKey(String(key))}${suffix}` };
}

function valueAt(data: unknown, path: readonly PathSegment[]): { found: boolean; value?: unknown } {
  let value = data;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, segment)) return { found: false };
    value = (value as Record<PathSegment, unknown>)[segment];
  }
  return { found: true, value };
}

function isMissing(data: unknown, path: readonly PathSegment[]): boolean {
  return path.length > 0 && !valueAt(data, path).found && valueAt(data, path.slice(0, -1)).found;
}

const NOUNS: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  tuple: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  null: 'nothing (null)',
};

function noun(expected: string): string {
  return NOUNS[expected] ?? expected;
}

/** The kind of a value, never the value itself. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return 'true or false';
  if (typeof value === 'string') return 'a string';
  return typeof value;
}

function oneOf(values: readonly unknown[]): string {
  const shown = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  return shown.length === 1 ? (shown[0] ?? '') : `one of: ${shown.join(', ')}`;
}

function bound(origin: string, relation: string, limit: number | bigint, exact: boolean): string {
  const n = limit.toString();
  switch (origin) {
    case 'string':
      return exact ? `must be exactly ${n} character${n === '1' ? '' : 's'} long` : `must be ${relation} ${n} character${n === '1' ? '' : 's'} long`;
    case 'array':
    case 'set':
      return exact ? `needs exactly ${n} entr${n === '1' ? 'y' : 'ies'}` : `needs ${relation} ${n} entr${n === '1' ? 'y' : 'ies'}`;
    default:
      return `must be ${relation} ${n}`;
  }
}
