import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { TargetDataError } from '../../core/errors.ts';
import { CsvScanner, fieldCount, fieldValue, parseOneRecord, UTF8_BOM, type CsvDialect, type RawRecord } from './csv.ts';

/**
 * The table view of a delimited file: a header row naming the columns, then one row per account,
 * each with as many fields as the header and a unique, non-empty anchor.
 */

/** Identifies one version of the file: a rename gives a new inode, a write in place a new mtime/ctime. */
export function fileKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

export interface TableColumns {
  /** The column holding the anchor (`import.anchor`). */
  readonly anchor: string;
  /** The column holding the password hash (`file.passwordColumn`), when configured. */
  readonly password: string | undefined;
}

export interface TableLayout {
  readonly columns: readonly string[];
  readonly anchorIndex: number;
  readonly passwordIndex: number | undefined;
}

/** Where a row is: its bytes are `[start, end)` (without the line ending). Mutable: writes shift it. */
export interface RowLocation {
  start: number;
  end: number;
  readonly line: number;
}

/** anchor → row, for one version of the file (`key`). */
export interface TableIndex {
  key: string;
  readonly layout: TableLayout;
  readonly rows: Map<string, RowLocation>;
}

/** A validated data row as the scan meets it. Its `record` is only valid until the next one. */
export interface TableRow {
  readonly anchor: string;
  readonly layout: TableLayout;
  readonly record: RawRecord;
}

/** Validates records in file order: the first is the header, the rest are rows. */
class TableBuilder {
  layout: TableLayout | undefined;
  readonly rows = new Map<string, RowLocation>();
  readonly #file: string;
  readonly #dialect: CsvDialect;
  readonly #columns: TableColumns;

  constructor(file: string, dialect: CsvDialect, columns: TableColumns) {
    this.#file = file;
    this.#dialect = dialect;
    this.#columns = columns;
  }

  /** Returns the row, or undefined for the header. */
  accept(record: RawRecord): TableRow | undefined {
    if (this.layout === undefined) {
      this.layout = headerLayout(record, this.#dialect, this.#columns, this.#file);
      return undefined;
    }
    const layout = this.layout;
    const n = fieldCount(record);
    if (n !== layout.columns.length) {
      throw this.#error(record.line, `the row has ${n} fields; the header has ${layout.columns.length}`);
    }
    const anchor = fieldValue(record, layout.anchorIndex, this.#dialect);
    if (anchor === '') throw this.#error(record.line, `the anchor column "${this.#columns.anchor}" is empty`);
    const seen = this.rows.get(anchor);
    if (seen !== undefined) {
      throw this.#error(record.line, `duplicate anchor in column "${this.#columns.anchor}" (first on line ${seen.line})`);
    }
    this.rows.set(anchor, { start: record.start, end: record.end, line: record.line });
    return { anchor, layout, record };
  }

  finish(key: string): TableIndex {
    if (this.layout === undefined) throw new TargetDataError(`${this.#file}: the file has no header row`);
    return { key, layout: this.layout, rows: this.rows };
  }

  #error(line: number, problem: string): TargetDataError {
    return new TargetDataError(`${this.#file}, line ${line}: ${problem}`);
  }
}

function headerLayout(record: RawRecord, dialect: CsvDialect, columns: TableColumns, file: string): TableLayout {
  const names: string[] = [];
  for (let i = 0; i < fieldCount(record); i++) names.push(fieldValue(record, i, dialect));
  const problem = (text: string): TargetDataError => new TargetDataError(`${file}, line ${record.line}: ${text}`);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw problem(`the header names column "${name}" twice`);
    seen.add(name);
  }
  const anchorIndex = names.indexOf(columns.anchor);
  if (anchorIndex === -1) throw problem(`the header has no anchor column "${columns.anchor}"`);
  let passwordIndex: number | undefined;
  if (columns.password !== undefined) {
    passwordIndex = names.indexOf(columns.password);
    if (passwordIndex === -1) throw problem(`the header has no password column "${columns.password}"`);
  }
  return { columns: names, anchorIndex, passwordIndex };
}

/** Where the header starts: after a UTF-8 byte order mark, which is kept in the file as it is. */
function dataStart(head: Buffer, dialect: CsvDialect, file: string): number {
  if (head.length < UTF8_BOM.length || !head.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)) return 0;
  if (dialect.encoding !== 'utf8') {
    throw new TargetDataError(`${file}, line 1: the file starts with a UTF-8 byte order mark but its encoding is configured as ${dialect.encoding}`);
  }
  return UTF8_BOM.length;
}

const CHUNK = 256 * 1024;

/**
 * Streams the rows of the file open as `fh` (from its start), validating as it goes, in batches
 * of one read's worth; only the header and the bytes of the record in progress are kept. When
 * the scan reaches the end, `done` receives the index of the whole file, built on the way.
 */
export async function* scanRows(fh: FileHandle, file: string, dialect: CsvDialect, columns: TableColumns, done?: (index: TableIndex) => void): AsyncGenerator<readonly TableRow[]> {
  const key = fileKey(await fh.stat({ bigint: true }));
  const builder = new TableBuilder(file, dialect, columns);
  let scanner: CsvScanner | undefined;
  let head = Buffer.alloc(0);
  let position = 0;
  let batch: TableRow[] = [];
  const collect = (record: RawRecord): void => {
    const row = builder.accept(record);
    if (row !== undefined) batch.push(row);
  };
  const take = (): TableRow[] => {
    const rows = batch;
    batch = [];
    return rows;
  };
  for (;;) {
    const chunk = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await fh.read(chunk, 0, CHUNK, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    let data = chunk.subarray(0, bytesRead);
    if (scanner === undefined) {
      // Wait for three bytes (or the end) to know whether there is a byte order mark.
      head = Buffer.concat([head, data]);
      if (head.length < UTF8_BOM.length) continue;
      const start = dataStart(head, dialect, file);
      scanner = new CsvScanner(dialect, file, start);
      data = head.subarray(start);
    }
    scanner.push(data, collect);
    if (batch.length > 0) yield take();
  }
  if (scanner === undefined) {
    // A file shorter than a byte order mark.
    const start = dataStart(head, dialect, file);
    scanner = new CsvScanner(dialect, file, start);
    scanner.push(head.subarray(start), collect);
  }
  scanner.finish(collect);
  if (batch.length > 0) yield take();
  done?.(builder.finish(key));
}

/** Scans a whole file already in memory and returns its index. */
export function indexBuffer(data: Buffer, key: string, file: string, dialect: CsvDialect, columns: TableColumns): TableIndex {
  const builder = new TableBuilder(file, dialect, columns);
  const start = dataStart(data, dialect, file);
  const scanner = new CsvScanner(dialect, file, start);
  const accept = (record: RawRecord): void => void builder.accept(record);
  scanner.push(data.subarray(start), accept);
  scanner.finish(accept);
  return builder.finish(key);
}

/**
 * Re-reads one row from `bytes` (the bytes of `[loc.start, loc.end)`) and checks it is still the
 * row of `anchor` with the header's number of fields. Undefined when it is not, so the caller
 * re-scans instead of trusting a stale index.
 */
export function rereadRow(bytes: Buffer, loc: RowLocation, anchor: string, index: TableIndex, dialect: CsvDialect, file: string): RawRecord | undefined {
  if (bytes.length !== loc.end - loc.start) return undefined;
  const record = parseOneRecord(bytes, loc.start, loc.line, dialect, file);
  if (record === undefined || fieldCount(record) !== index.layout.columns.length) return undefined;
  return fieldValue(record, index.layout.anchorIndex, dialect) === anchor ? record : undefined;
}

/** Whether `[start, end)` of `data` sits where a data row can: after a line feed, before a line ending or the end. */
export function rowBoundariesHold(data: Buffer, loc: RowLocation): boolean {
  const after = loc.end === data.length ? 0x0a : data[loc.end];
  return loc.start > 0 && data[loc.start - 1] === 0x0a && (after === 0x0a || after === 0x0d);
}

/**
 * After edits that added (or removed) `delta` bytes at each `offset` (offsets in the file as it
 * was, ascending), moves every row by the sum of the deltas before it: one pass over the rows,
 * whatever the number of edits.
 */
export function shiftRows(index: TableIndex, shifts: readonly { readonly offset: number; readonly delta: number }[]): void {
  const moved = shifts.filter((s) => s.delta !== 0);
  if (moved.length === 0) return;
  // before[i]: the sum of the deltas of the first i shifts.
  const before = [0];
  for (const s of moved) before.push((before.at(-1) ?? 0) + s.delta);
  /** The total delta of the shifts at or before `position` (the old behaviour: `>= offset` moves). */
  const deltaAt = (position: number): number => {
    let lo = 0;
    let hi = moved.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((moved[mid]?.offset ?? 0) <= position) lo = mid + 1;
      else hi = mid;
    }
    return before[lo] ?? 0;
  };
  for (const loc of index.rows.values()) {
    loc.start += deltaAt(loc.start);
    loc.end += deltaAt(loc.end);
  }
}
