import { escapeInvisible, visibleJson } from '../core/untrusted-text.ts';

/**
 * The command's only way to its terminal. Everything printed may hold text from outside (an event
 * message, an account name an agent sent, a peer's error): each line is rendered with every
 * control and invisible character escaped (`\x1b`, `\n`), so that nothing printed can move the
 * cursor, clear the screen, retitle the window or forge a line. Commands never write to the console
 * themselves (the lint forbids it outside this file): they pass lines here.
 */
export function say(...lines: readonly string[]): void {
  for (const line of lines) console.log(escapeInvisible(line, true));
}

/** As `say`, on standard error. */
export function sayError(...lines: readonly string[]): void {
  for (const line of lines) console.error(escapeInvisible(line, true));
}

/** Prints rows as an aligned table with a header, or a note when there are none; each cell rendered as `say` renders. */
export function printTable(headers: readonly string[], table: readonly (readonly string[])[], empty = '(none)'): void {
  if (table.length === 0) {
    say(empty);
    return;
  }
  const rows = table.map((row) => row.map((cell) => escapeInvisible(cell)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  for (const row of rows) console.log(line(row));
}

export function printJson(value: unknown): void {
  console.log(visibleJson(JSON.stringify(value, null, 2)));
}

/** One value as one line of JSON (for `--json` output that is read line by line). */
export function printJsonLine(value: unknown): void {
  console.log(visibleJson(JSON.stringify(value)));
}

export function iso(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString();
}

/** Progress on standard error: one rewritten line on a terminal, a line now and then elsewhere. */
export function progressReporter(label: string): { update(text: string): void; done(text: string): void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  return {
    update(text: string) {
      const now = Date.now();
      if (tty) process.stderr.write(`\r${escapeInvisible(`${label}: ${text}`)}\x1b[K`);
      else if (now - last >= 2000) {
        process.stderr.write(`${escapeInvisible(`${label}: ${text}`)}\n`);
        last = now;
      }
    },
    done(text: string) {
      const line = escapeInvisible(`${label}: ${text}`);
      process.stderr.write(tty ? `\r${line}\x1b[K\n` : `${line}\n`);
    },
  };
}
