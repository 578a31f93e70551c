/*
 * `${NAME}` references to environment variables, as a configuration writes them: expanded in any
 * string value by the loader, and read whole by a secret field (`secret-ref.ts`).
 */

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
