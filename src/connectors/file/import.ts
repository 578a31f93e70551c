import type { FileHandle } from 'node:fs/promises';
import type { Attributes } from '../../core/model.ts';
import type { AccountRecord } from '../types.ts';
import { fieldValue, type CsvDialect, type RawRecord } from './csv.ts';
import { mapFileError } from './errors.ts';
import { scanRows, type TableColumns, type TableIndex, type TableLayout, type TableRow } from './table.ts';

export interface ImportSource {
  readonly path: string;
  readonly dialect: CsvDialect;
  readonly columns: TableColumns;
  open(): Promise<FileHandle>;
  /** Receives the anchor index when the import has read the whole file. */
  indexed(index: TableIndex): void;
}

/**
 * The accounts of the file, streamed: one read (256 KiB) is decoded at a time, and the file is
 * closed at the end, on an error, or when the consumer stops early (`break` in `for await`).
 *
 * The whole file is validated first, without decoding attributes or keeping rows: a file whose end
 * is broken (a record with the wrong number of fields, an unterminated quote) yields no account at
 * all, so an import never applies the first part of a cut or corrupt export. Both passes read the
 * same open file, so a file replaced by rename meanwhile is not mixed in.
 */
export async function* importRows(src: ImportSource): AsyncGenerator<AccountRecord> {
  const { path, dialect, columns } = src;
  const fh = await src.open();
  try {
    try {
      const check = scanRows(fh, path, dialect, columns);
      while ((await check.next()).done !== true) continue;
    } catch (err) {
      throw mapFileError(err, path, 'reading');
    }
    const batches = scanRows(fh, path, dialect, columns, (index) => src.indexed(index));
    let plan: AttributePlan | undefined;
    for (;;) {
      let next: IteratorResult<readonly TableRow[]>;
      try {
        next = await batches.next();
      } catch (err) {
        throw mapFileError(err, path, 'reading');
      }
      if (next.done === true) return;
      for (const { anchor, layout, record } of next.value) {
        plan ??= attributePlan(layout);
        yield { anchor, attributes: attributesOf(record, plan, dialect) };
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * Which fields become attributes, under which names: every column, the anchor's too (a join rule or
 * `import.map` may use it), but never the password hash.
 */
type AttributePlan = readonly (readonly [index: number, name: string])[];

function attributePlan(layout: TableLayout): AttributePlan {
  const plan: [number, string][] = [];
  layout.columns.forEach((name, i) => {
    if (i !== layout.passwordIndex) plan.push([i, name]);
  });
  return plan;
}

function attributesOf(record: RawRecord, plan: AttributePlan, dialect: CsvDialect): Attributes {
  const attributes: Record<string, string> = {};
  for (const [i, name] of plan) {
    const value = fieldValue(record, i, dialect);
    // Assigning "__proto__" would set the prototype; define it as the column it is.
    if (name === '__proto__') Object.defineProperty(attributes, name, { value, enumerable: true, writable: true, configurable: true });
    else attributes[name] = value;
  }
  return attributes;
}
