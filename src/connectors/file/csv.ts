import { isUtf8 } from 'node:buffer';
import { TargetDataError } from '../../core/errors.ts';

/**
 * A delimited-text scanner that works on bytes, so every field is known by its exact byte range
 * in the file and a write can replace one field and leave every other byte as it was.
 *
 * RFC 4180 with the usual relaxations: LF or CRLF line endings (mixed is accepted, each row's
 * own ending is kept because it is never rewritten), optional final line ending, configurable
 * one-byte delimiter and quote. Strict where a guess could mis-read a row: a quote inside an
 * unquoted field, anything but a delimiter or line ending after a closing quote, a bare CR outside
 * quotes and an unterminated quote are all errors. Physically empty lines are skipped.
 */

const LF = 0x0a;
const CR = 0x0d;
export const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export type FileEncoding = 'utf8' | 'latin1';

export interface CsvDialect {
  /** One byte. */
  readonly delimiter: number;
  /** One byte. */
  readonly quote: number;
  readonly encoding: FileEncoding;
}

/**
 * One record as found in the file. Offsets are absolute byte offsets in the file; `fields` holds
 * `[start0, end0, start1, end1, …]` of each field's raw bytes (surrounding quotes included).
 */
export interface RawRecord {
  /** The 1-based line the record starts on. */
  readonly line: number;
  /** First byte of the record. */
  readonly start: number;
  /** The byte after the record's last byte, before its line ending. */
  readonly end: number;
  readonly fields: readonly number[];
  /** Bytes holding the record: `buf[i]` is the file's byte at offset `base + i`. Never modified. */
  readonly buf: Buffer;
  readonly base: number;
}

/** Turns a configured one-character delimiter or quote into its single byte, or says why it cannot. */
export function dialectByte(char: string, encoding: FileEncoding, what: string): number {
  const bytes = Buffer.from(char, encoding);
  const b = bytes[0];
  if (bytes.length !== 1 || b === undefined || Buffer.from([b]).toString(encoding) !== char) {
    throw new TypeError(`the ${what} must be a single-byte character in ${encoding}`);
  }
  if (b === CR || b === LF) throw new TypeError(`the ${what} cannot be a line ending`);
  return b;
}

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote seen inside a quoted field: the closing quote, or the first of a doubled one. */
  QuoteInQuoted,
  /** A CR seen outside quotes: must be followed by LF. */
  CarriageReturn,
}

/**
 * Incremental scanner: {@link CsvScanner.push} chunks as they are read, {@link CsvScanner.finish}
 * at the end. Only the bytes of the record in progress are kept between chunks.
 */
export class CsvScanner {
  readonly #d: CsvDialect;
  readonly #file: string;
  #buf: Buffer = Buffer.alloc(0);
  /** Absolute offset of `#buf[0]`. */
  #base: number;
  /** Absolute offset of the next byte to scan. */
  #pos: number;
  #state = State.FieldStart;
  #line = 1;
  #recLine = 1;
  #recStart: number;
  #fieldStart: number;
  #fields: number[] = [];
  /** Where the current field's quote opened, for the unterminated-quote message. */
  #quoteLine = 0;
  /** UTF-8 is checked once per chunk for the complete records in it: up to here it is checked. */
  #checked: number;
  #checkedLine: number;

  /** `start` is the absolute offset of the first byte that will be pushed (after a BOM, say). */
  constructor(dialect: CsvDialect, file: string, start = 0, firstLine = 1) {
    this.#d = dialect;
    this.#file = file;
    this.#base = start;
    this.#pos = start;
    this.#recStart = start;
    this.#fieldStart = start;
    this.#line = firstLine;
    this.#recLine = firstLine;
    this.#checked = start;
    this.#checkedLine = firstLine;
  }

  /** The line the scanner has reached (1-based). */
  get line(): number {
    return this.#line;
  }

  push(chunk: Buffer, emit: (record: RawRecord) => void): void {
    // Keep only the record in progress; a record spanning chunks is joined here.
    const keepFrom = this.#recStart - this.#base;
    this.#buf = keepFrom < this.#buf.length ? Buffer.concat([this.#buf.subarray(keepFrom), chunk]) : chunk;
    this.#base = this.#recStart;
    this.#scan(emit);
    // Before the caller passes on any record of this chunk: a record ends at a line feed, which
    // is never inside a multi-byte sequence, so the checked range never splits a character.
    this.#checkUtf8(this.#recStart);
  }

  finish(emit: (record: RawRecord) => void): void {
    const endAbs = this.#base + this.#buf.length;
    switch (this.#state) {
      case State.Quoted:
        throw this.#error(this.#quoteLine, `unterminated quoted field (the file ends on line ${this.#line} inside it)`);
      case State.CarriageReturn:
        throw this.#error(this.#line, 'carriage return outside quotes not followed by a line feed');
      default:
        this.#checkUtf8(endAbs);
        if (endAbs > this.#recStart) {
          this.#fields.push(this.#fieldStart, endAbs);
          this.#emit(endAbs, emit);
        }
    }
  }

  /** Checks `[#checked, upTo)` is UTF-8 (for a utf8 file); on failure finds the line to name. */
  #checkUtf8(upTo: number): void {
    if (this.#d.encoding !== 'utf8' || upTo <= this.#checked) return;
    const from = this.#checked - this.#base;
    const region = this.#buf.subarray(from, upTo - this.#base);
    if (!isUtf8(region)) {
      let line = this.#checkedLine;
      for (let s = 0; s < region.length; line++) {
        const lf = region.indexOf(LF, s);
        const e = lf === -1 ? region.length : lf;
        if (!isUtf8(region.subarray(s, e))) throw this.#error(line, 'the line is not valid UTF-8');
        s = e + 1;
      }
    }
    this.#checked = upTo;
    this.#checkedLine = this.#recLine;
  }

  #scan(emit: (record: RawRecord) => void): void {
    const buf = this.#buf;
    const base = this.#base;
    const { delimiter, quote } = this.#d;
    let i = this.#pos - base;
    let state = this.#state;
    const n = buf.length;
    while (i < n) {
      const b = buf[i] as number;
      switch (state) {
        case State.FieldStart:
          if (b === quote) {
            state = State.Quoted;
            this.#quoteLine = this.#line;
          } else if (b === delimiter) {
            this.#fields.push(base + i, base + i);
            this.#fieldStart = base + i + 1;
          } else if (b === LF) {
            this.#endRecord(base + i, base + i, emit);
          } else if (b === CR) {
            state = State.CarriageReturn;
          } else {
            state = State.Unquoted;
          }
          break;
        case State.Unquoted:
          // The common case: run to the next byte that matters.
          while (i < n) {
            const c = buf[i] as number;
            if (c === delimiter || c === LF || c === CR || c === quote) break;
            i++;
          }
          if (i === n) continue;
          {
            const c = buf[i] as number;
            if (c === delimiter) {
              this.#fields.push(this.#fieldStart, base + i);
              this.#fieldStart = base + i + 1;
              state = State.FieldStart;
            } else if (c === LF) {
              this.#endRecord(base + i, base + i, emit);
              state = State.FieldStart;
            } else if (c === CR) {
              state = State.CarriageReturn;
            } else {
              throw this.#error(this.#line, 'quote inside an unquoted field');
            }
          }
          break;
        case State.Quoted: {
          const next = buf.indexOf(quote, i);
          // Count the line feeds inside the quoted text so later line numbers stay right.
          const stop = next === -1 ? n : next;
          for (let j = buf.indexOf(LF, i); j !== -1 && j < stop; j = buf.indexOf(LF, j + 1)) this.#line++;
          if (next === -1) {
            i = n;
            continue;
          }
          i = next;
          state = State.QuoteInQuoted;
          break;
        }
        case State.QuoteInQuoted:
          if (b === quote) {
            state = State.Quoted;
          } else if (b === delimiter) {
            this.#fields.push(this.#fieldStart, base + i);
            this.#fieldStart = base + i + 1;
            state = State.FieldStart;
          } else if (b === LF) {
            this.#endRecord(base + i, base + i, emit);
            state = State.FieldStart;
          } else if (b === CR) {
            state = State.CarriageReturn;
          } else {
            throw this.#error(this.#line, 'unexpected character after a closing quote');
          }
          break;
        case State.CarriageReturn:
          if (b !== LF) throw this.#error(this.#line, 'carriage return outside quotes not followed by a line feed');
          this.#endRecord(base + i - 1, base + i, emit);
          state = State.FieldStart;
          break;
      }
      i++;
    }
    this.#state = state;
    this.#pos = base + i;
  }

  /** `end` is where the last field ends (before CR LF or LF); `lf` is the offset of the LF. */
  #endRecord(end: number, lf: number, emit: (record: RawRecord) => void): void {
    if (end === this.#recStart && this.#fields.length === 0) {
      // A physically empty line: skipped, not a record of one empty field.
    } else {
      this.#fields.push(this.#fieldStart, end);
      this.#emit(end, emit);
    }
    this.#line++;
    this.#recStart = lf + 1;
    this.#fieldStart = lf + 1;
    this.#recLine = this.#line;
    this.#fields = [];
  }

  #emit(end: number, emit: (record: RawRecord) => void): void {
    emit({ line: this.#recLine, start: this.#recStart, end, fields: this.#fields, buf: this.#buf, base: this.#base });
  }

  #error(line: number, problem: string): TargetDataError {
    return new TargetDataError(`${this.#file}, line ${line}: ${problem}`);
  }
}

/** The number of fields of a record. */
export function fieldCount(record: RawRecord): number {
  return record.fields.length / 2;
}

/** The byte range `[start, end)` of field `i` in the file, quotes included. */
export function fieldSpan(record: RawRecord, i: number): readonly [number, number] {
  return [record.fields[2 * i] ?? 0, record.fields[2 * i + 1] ?? 0];
}

/** The text of field `i`: quotes removed, doubled quotes made single. */
export function fieldValue(record: RawRecord, i: number, dialect: CsvDialect): string {
  const { buf, base } = record;
  const s = (record.fields[2 * i] ?? 0) - base;
  const e = (record.fields[2 * i + 1] ?? 0) - base;
  if (e - s >= 2 && buf[s] === dialect.quote) {
    const text = buf.toString(dialect.encoding, s + 1, e - 1);
    const q = String.fromCharCode(dialect.quote);
    // A function: a string replacement would read a `$` quote as a pattern (`$$` is one `$`).
    return text.includes(q) ? text.replaceAll(q + q, () => q) : text;
  }
  return buf.toString(dialect.encoding, s, e);
}

/** A value as field bytes: quoted (with quotes doubled) only when it contains a byte that needs it. */
export function encodeField(value: string, dialect: CsvDialect): Buffer {
  const bytes = Buffer.from(value, dialect.encoding);
  if (bytes.toString(dialect.encoding) !== value) throw new TypeError(`the value cannot be written in ${dialect.encoding}`);
  const needsQuotes = bytes.some((b) => b === dialect.delimiter || b === dialect.quote || b === CR || b === LF);
  if (!needsQuotes) return bytes;
  const q = String.fromCharCode(dialect.quote);
  return Buffer.from(q + value.replaceAll(q, () => q + q) + q, dialect.encoding);
}

/** Parses `bytes`, which start at absolute offset `start`, as exactly one record; undefined if they are not one. */
export function parseOneRecord(bytes: Buffer, start: number, line: number, dialect: CsvDialect, file: string): RawRecord | undefined {
  const scanner = new CsvScanner(dialect, file, start, line);
  let found: RawRecord | undefined;
  let count = 0;
  const keep = (r: RawRecord): void => {
    count++;
    found = { ...r, fields: [...r.fields] };
  };
  try {
    scanner.push(bytes, keep);
    scanner.finish(keep);
  } catch {
    return undefined;
  }
  return count === 1 && found?.start === start && found.end === start + bytes.length ? found : undefined;
}
