/** Prints rows as an aligned table with a header, or a note when there are none. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[], empty = '(none)'): void {
  if (rows.length === 0) {
    console.log(empty);
    return;
  }
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
  console.log(JSON.stringify(value, null, 2));
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
      if (tty) process.stderr.write(`\r${label}: ${text}\x1b[K`);
      else if (now - last >= 2000) {
        process.stderr.write(`${label}: ${text}\n`);
        last = now;
      }
    },
    done(text: string) {
      process.stderr.write(tty ? `\r${label}: ${text}\x1b[K\n` : `${label}: ${text}\n`);
    },
  };
}
