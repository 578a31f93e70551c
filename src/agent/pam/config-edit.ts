/*
 * Editing a PAM stack file (`/etc/pam.d/common-password`) for pam_pwsync, as text and nothing
 * else: no I/O here (the CLI reads, checks and writes the file; see install.ts).
 *
 * pwsync's lines are a marker comment and the `password optional pam_pwsync.so …` line right after
 * it, appended at the end of the stack so that the module runs only after pam_unix succeeded (the
 * `requisite pam_deny.so` before it stops the stack otherwise). Installing twice replaces them;
 * removing takes exactly them out and leaves every other byte as it was, including a file that did
 * not end with a newline.
 */
import { PwsyncError } from '../../core/errors.ts';

export const PAM_MARKER = '# pwsync capture: added by "pwsync agent install-pam"; remove with "pwsync agent uninstall-pam"';

/** The module's file name, as libpam finds it in its module directory. */
export const PAM_MODULE_FILE = 'pam_pwsync.so';

/** Why an edit is refused (an error code of core/errors.ts); tests and callers match on these, never on the message. */
export type PamEditCode =
  /** The file has no `password` line: it is not a password stack (the wrong file?). */
  | 'ERR_PAM_NOT_A_PASSWORD_STACK'
  /** A pam_pwsync line is there without pwsync's marker: someone added it by hand. */
  | 'ERR_PAM_UNMARKED_PWSYNC_LINE'
  /** A module argument PAM cannot carry (whitespace, brackets, control characters, empty). */
  | 'ERR_PAM_BAD_ARGUMENT'
  /** native/build/pam_pwsync.so is not there. */
  | 'ERR_PAM_MODULE_NOT_BUILT'
  /** Removing the module while a PAM file still names it. */
  | 'ERR_PAM_MODULE_IN_USE';

/** A refused edit of a PAM file or module directory: bad usage, so the CLI exits with 2. */
export class PamEditError extends PwsyncError {
  constructor(
    readonly code: PamEditCode,
    message: string,
  ) {
    super(message);
  }
}

export interface PamModuleArgs {
  /** The module as the line names it: `pam_pwsync.so`, or an absolute path outside libpam's directory. */
  readonly module: string;
  readonly socket?: string | undefined;
  /** The agent's user: the module sends only to a socket this user (or root) listens at. */
  readonly agentUser?: string | undefined;
  readonly timeoutMs?: number | undefined;
  readonly source?: string | undefined;
  readonly missed?: string | undefined;
  readonly debug?: boolean | undefined;
}

/**
 * PAM splits a line's arguments on whitespace; `[…]` quoting exists, but a value that needs it is
 * a value nobody should have to reason about in a security stack.
 */
function checkValue(name: string, value: string): string {
  if (value === '' || /[\s[\]\p{Cc}]/u.test(value)) {
    throw new PamEditError('ERR_PAM_BAD_ARGUMENT', `${name} "${value}" cannot be a PAM module argument: it must be non-empty, without spaces, brackets or control characters`);
  }
  return value;
}

/** The `password optional pam_pwsync.so …` line (no newline). */
export function pamLine(args: PamModuleArgs): string {
  const parts = ['password', 'optional', checkValue('the module path', args.module)];
  if (args.socket !== undefined) parts.push(`socket=${checkValue('--socket', args.socket)}`);
  if (args.agentUser !== undefined) parts.push(`user=${checkValue('--agent-user', args.agentUser)}`);
  if (args.timeoutMs !== undefined) {
    if (!Number.isInteger(args.timeoutMs) || args.timeoutMs < 100 || args.timeoutMs > 10_000) {
      throw new PamEditError('ERR_PAM_BAD_ARGUMENT', `--timeout must be whole milliseconds from 100 to 10000, not ${String(args.timeoutMs)}`);
    }
    parts.push(`timeout=${String(args.timeoutMs)}`);
  }
  if (args.source !== undefined) parts.push(`source=${checkValue('--source', args.source)}`);
  if (args.missed !== undefined) parts.push(`missed=${checkValue('--missed', args.missed)}`);
  if (args.debug === true) parts.push('debug');
  return parts.join(' ');
}

interface Line {
  /** The line without its terminator. */
  readonly text: string;
  /** `\n`, or '' for a last line without one. */
  readonly end: string;
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    if (newline === -1) {
      lines.push({ text: text.slice(start), end: '' });
      break;
    }
    lines.push({ text: text.slice(start, newline), end: '\n' });
    start = newline + 1;
  }
  return lines;
}

/** A PAM line (not a comment) whose module is pam_pwsync. */
function isPwsyncModuleLine(text: string): boolean {
  const trimmed = text.trim();
  if (trimmed.startsWith('#')) return false;
  return trimmed.split(/\s+/).some((word) => word === PAM_MODULE_FILE || word.endsWith(`/${PAM_MODULE_FILE}`));
}

/** Whether the file is a `password` stack: at least one line of type `password` (or `-password`). */
export function looksLikePasswordStack(text: string): boolean {
  return splitLines(text).some(({ text: line }) => /^\s*-?password\s/.test(line));
}

/**
 * The file without pwsync's lines: each marker line, and the pam_pwsync line that follows it.
 * A block at the very end of a file that does not end with a newline was appended after a newline
 * that install added; that newline goes too, so that install then remove gives back the same bytes.
 */
export function removePwsyncLines(text: string): { text: string; removed: number } {
  const lines = splitLines(text);
  const kept: Line[] = [];
  let removed = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === undefined) continue;
    if (line.text !== PAM_MARKER) {
      kept.push(line);
      continue;
    }
    removed++;
    const next = lines[i + 1];
    let last = line;
    if (next !== undefined && isPwsyncModuleLine(next.text)) {
      removed++;
      i++;
      last = next;
    }
    if (last.end === '') {
      const previous = kept.pop();
      if (previous !== undefined) kept.push({ text: previous.text, end: '' });
    }
  }
  return { text: kept.map((l) => l.text + l.end).join(''), removed };
}

/**
 * The file with pwsync's lines at its end, replacing any that were there (never a duplicate).
 * Refused: a file that is not a password stack (unless `force`), and one with a pam_pwsync line
 * pwsync did not write (unless `force`: it is then left in place, and the file has two).
 */
export function addPwsyncLines(text: string, line: string, options: { force?: boolean } = {}): { text: string; changed: boolean } {
  const force = options.force === true;
  if (!force && !looksLikePasswordStack(text)) {
    throw new PamEditError('ERR_PAM_NOT_A_PASSWORD_STACK', 'the file has no "password" line: it does not look like a PAM password stack (use --force if it is the right file)');
  }
  const without = removePwsyncLines(text).text;
  if (!force && splitLines(without).some((l) => isPwsyncModuleLine(l.text))) {
    throw new PamEditError('ERR_PAM_UNMARKED_PWSYNC_LINE', `the file already has a ${PAM_MODULE_FILE} line that "pwsync agent install-pam" did not write: remove it first (or use --force to add ours as well)`);
  }
  const block = `${PAM_MARKER}\n${line}`;
  const next = without === '' || without.endsWith('\n') ? `${without}${block}\n` : `${without}\n${block}`;
  return { text: next, changed: next !== text };
}

/** A unified-diff-like view of what changes, for --dry-run: removed lines `-`, added `+`. */
export function describeChange(before: string, after: string): string {
  if (before === after) return '';
  const a = splitLines(before).map((l) => l.text);
  const b = splitLines(after).map((l) => l.text);
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const out = [
    ...a.slice(Math.max(0, prefix - 2), prefix).map((l) => `  ${l}`),
    ...a.slice(prefix, a.length - suffix).map((l) => `- ${l}`),
    ...b.slice(prefix, b.length - suffix).map((l) => `+ ${l}`),
    ...a.slice(a.length - suffix, a.length - suffix + 2).map((l) => `  ${l}`),
  ];
  return out.join('\n');
}
