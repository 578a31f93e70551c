import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, realpath, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AccountNotFoundError, isPwsyncError, NotConfiguredError, TargetDataError, TransientError, type PwsyncError } from '../../core/errors.ts';
import { matchKey } from '../../core/join.ts';
import type { Anchor } from '../../core/model.ts';
import type { Secret } from '../../core/secret.ts';
import { detectFormat, hashSecret, verifySecret } from '../../crypto/hash/index.ts';
import type { HashSpec } from '../../crypto/hash/spec.ts';
import type {
  AccountImport,
  AccountLookup,
  AccountQuery,
  AccountRecord,
  Capability,
  ConnectionReport,
  Connector,
  PasswordSet,
  PasswordVerify,
  SetPasswordOptions,
} from '../types.ts';
import { assertReplaceable, replaceFileAtomically, tempPathFor } from './atomic.ts';
import { encodeField, fieldSpan, fieldValue, type CsvDialect, type RawRecord } from './csv.ts';
import { mapFileError } from './errors.ts';
import { GroupCommit } from '../../util/group-commit.ts';
import { importRows } from './import.ts';
import { DEFAULT_LOCK_TIMINGS, withFileLock, type LockTimings } from './lock.ts';
import { fileKey, indexBuffer, rereadRow, rowBoundariesHold, scanRows, shiftRows, type TableColumns, type TableIndex } from './table.ts';

export interface FileConnectorOptions {
  /** The system's name, for messages. */
  readonly system: string;
  /** Absolute path of the file as configured (it may be a symbolic link; writes go to its target). */
  readonly path: string;
  readonly dialect: CsvDialect;
  readonly columns: TableColumns;
  readonly hash: HashSpec | undefined;
  readonly lockTimings?: LockTimings;
}

/** One password field to write: the anchor's row, and the encoded field (the hash, quoted if needed). */
interface FieldWrite {
  readonly anchor: Anchor;
  readonly field: Buffer;
}

/** What every file connector declares. */
export const FILE_CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['import', 'lookupAccount', 'setPassword', 'verifyPassword']);

/**
 * A delimited text file as a connected system: one row per account, one column the anchor, one
 * optional column the password hash. Reads stream; a password write replaces the bytes of one
 * field and leaves every other byte of the file as it was, atomically and under a lock shared by
 * every pwsync process.
 *
 * The anchor → row index is cached for the version of the file it was built from (device, inode,
 * size, mtime, ctime) and re-checked on every use against the row's own bytes, so a file changed
 * by someone else between two of our writes is re-scanned, never patched at stale offsets.
 */
export class FileConnector implements Connector, AccountImport, AccountLookup, PasswordSet, PasswordVerify {
  readonly kind = 'file';
  readonly capabilities = FILE_CAPABILITIES;
  readonly #o: FileConnectorOptions;
  #index: TableIndex | undefined;
  /** Counts changes of `#index` (see `#install`). */
  #generation = 0;
  /** Scans in progress, by file version, so concurrent readers share one. */
  readonly #scans = new Map<string, Promise<TableIndex>>();
  /** One group commit per real path (a configured symbolic link may be pointed elsewhere). */
  readonly #writers = new Map<string, GroupCommit<FieldWrite>>();

  constructor(options: FileConnectorOptions) {
    this.#o = options;
  }

  /** A local file: nothing travels over a network. */
  isSecure(): boolean {
    return true;
  }

  async testConnection(): Promise<ConnectionReport> {
    const { path, columns } = this.#o;
    const report = (ok: boolean, detail: string): ConnectionReport => ({ ok, secure: true, identity: path, detail });
    let rows: number;
    try {
      const fh = await this.#openRead();
      try {
        if (!(await fh.stat()).isFile()) return report(false, `${path} is not a regular file`);
        // The whole file, not only the header: a corrupt row is better found now than at the first write.
        rows = (await this.#indexFor(fh)).index.rows.size;
      } finally {
        await fh.close();
      }
    } catch (err) {
      return report(false, mapFileError(err, path, 'reading').message);
    }
    if (columns.password === undefined || this.#o.hash === undefined) {
      return report(true, `${rows} accounts; passwords cannot be set (no file.passwordColumn or password.hash)`);
    }
    // Writes go through a temp file beside the file; try to create one.
    let temp: string | undefined;
    try {
      temp = tempPathFor(await realpath(path));
      await (await open(temp, 'wx', 0o600)).close();
    } catch (err) {
      return report(false, mapFileError(err, temp === undefined ? path : dirname(temp), 'creating a temp file').message);
    } finally {
      if (temp !== undefined) await rm(temp, { force: true }).catch(() => undefined);
    }
    // And the file itself: one whose owner or group a write would change, or that is read-only.
    try {
      const real = await realpath(path);
      await assertReplaceable(real, await stat(real, { bigint: true }));
    } catch (err) {
      return report(false, mapFileError(err, path, 'checking the file can be replaced').message);
    }
    return report(true, `${rows} accounts; the password column "${columns.password}" is writable`);
  }

  /** Streams the accounts; the file is opened at the first `next()` and closed at the end or on `break`. */
  importAccounts(): AsyncGenerator<AccountRecord> {
    const { path, dialect, columns } = this.#o;
    const generation = this.#generation;
    return importRows({
      path,
      dialect,
      columns,
      open: () => this.#openRead(),
      indexed: (index) => {
        if (this.#generation === generation) this.#install(index);
      },
    });
  }

  /**
   * A re-read of the file (a row added since the last import): the rows with the anchor, or whose
   * login column holds the login under the loosest comparison (the engine applies the configured one).
   */
  async lookupAccount(query: AccountQuery): Promise<readonly AccountRecord[]> {
    const { login } = query;
    const key = login === undefined ? undefined : matchKey(login.value, 'normalized');
    const found: AccountRecord[] = [];
    for await (const record of this.importAccounts()) {
      const value = login === undefined ? undefined : record.attributes[login.attribute];
      if (record.anchor === query.anchor || (value !== undefined && matchKey(value, 'normalized') === key)) found.push(record);
    }
    return found;
  }

  async verifyPassword(anchor: Anchor, secret: Secret): Promise<boolean> {
    const { path, columns } = this.#o;
    if (columns.password === undefined) throw this.#notConfigured();
    const fh = await this.#openRead();
    let stored: { hash: string; line: number };
    try {
      stored = await this.#readPasswordField(fh, anchor);
    } catch (err) {
      throw mapFileError(err, path, 'reading');
    } finally {
      await fh.close();
    }
    if (stored.hash === '') return false;
    if (detectFormat(stored.hash) === undefined) {
      // Never the value itself in the message: a hash is not a secret, but it is not logged either.
      throw new TargetDataError(`${path}, line ${stored.line}: the password column holds a value in no known hash format`);
    }
    try {
      return await verifySecret(stored.hash, secret);
    } catch (err) {
      // A malformed or out-of-limits stored hash is bad data in this row; say which row.
      if (isPwsyncError(err) && !err.retryable) {
        throw new TargetDataError(`${path}, line ${stored.line}: the stored password hash cannot be used (${err.message})`, { cause: err });
      }
      throw err;
    }
  }

  async setPassword(anchor: Anchor, secret: Secret, options?: SetPasswordOptions): Promise<void> {
    if (options?.forceChangeAtNextLogon === true) {
      // A file has no notion of "change at next logon": the password is set, the flag has no effect.
    }
    const { path, dialect, columns, hash } = this.#o;
    if (columns.password === undefined || hash === undefined) throw this.#notConfigured();
    // Check the file and the anchor before spending a (deliberately slow) hash on them. A cached
    // index that knows the row is enough for this: the write looks again, under the lock, at the
    // file as it is then. Re-checking against the current version would re-scan the whole file
    // after every rewrite by a concurrent write (about 7 ms of CPU for 10,000 rows, each call).
    if (this.#index?.rows.has(anchor) !== true) {
      const fh = await this.#openRead();
      try {
        const { index } = await this.#indexFor(fh);
        if (!index.rows.has(anchor)) throw this.#notFound();
      } catch (err) {
        throw mapFileError(err, path, 'reading');
      } finally {
        await fh.close();
      }
    }
    const field = encodeField(await hashSecret(hash, secret), dialect);
    try {
      const real = await realpath(path);
      await this.#writerFor(real).submit({ anchor, field });
    } catch (err) {
      throw mapFileError(err, path, 'writing');
    }
  }

  close(): Promise<void> {
    this.#install(undefined);
    return Promise.resolve();
  }

  /**
   * The group commit of `real`: a rewrite of the file costs the same for one changed field as for
   * fifty (read, write, two fsyncs), so the fields set while one rewrite is in flight are written
   * together by the next, under one lock.
   */
  #writerFor(real: string): GroupCommit<FieldWrite> {
    let writer = this.#writers.get(real);
    if (writer === undefined) {
      const timings = this.#o.lockTimings ?? DEFAULT_LOCK_TIMINGS;
      writer = new GroupCommit<FieldWrite>((batch) => withFileLock(real, (held) => this.#writeFields(real, batch, () => held.assertHeld()), timings));
      this.#writers.set(real, writer);
    }
    return writer;
  }

  /**
   * Under the lock: read the file, find each row, write the file back once with those fields
   * replaced. Answers one outcome per write: an anchor that is not in the file fails alone. Two
   * writes to one row in a batch apply in order (the later one is what the file keeps), as they
   * would one after the other. Anything that stops the rewrite itself throws and fails them all.
   */
  async #writeFields(real: string, writes: readonly FieldWrite[], assertHeld: () => void): Promise<(PwsyncError | undefined)[]> {
    const { path, dialect, columns } = this.#o;
    const fh = await open(real, 'r');
    let data: Buffer;
    let before: BigIntStats;
    try {
      before = await fh.stat({ bigint: true });
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
    if (BigInt(data.length) !== before.size) {
      throw new TransientError(`${path}: the file changed while it was read (a writer that does not use the lock?)`);
    }
    const key = fileKey(before);
    let index = this.#index?.key === key ? this.#index : undefined;
    let fresh = false;
    const outcomes: (PwsyncError | undefined)[] = [];
    /** By row start: the span of the password field and what goes there (the last write wins). */
    const edits = new Map<number, { start: number; end: number; field: Buffer }>();
    for (const { anchor, field } of writes) {
      let record = index === undefined ? undefined : this.#rowIn(data, index, anchor);
      if (record === undefined && !fresh) {
        // The cached index is stale or does not know the row: scan this version once per batch.
        index = indexBuffer(data, key, path, dialect, columns);
        this.#install(index);
        fresh = true;
        record = this.#rowIn(data, index, anchor);
      }
      if (record === undefined || index === undefined) {
        outcomes.push(this.#notFound());
        continue;
      }
      const passwordIndex = index.layout.passwordIndex;
      if (passwordIndex === undefined) throw this.#notConfigured();
      const [start, end] = fieldSpan(record, passwordIndex);
      edits.set(start, { start, end, field });
      outcomes.push(undefined);
    }
    if (edits.size === 0 || index === undefined) return outcomes;
    const ordered = [...edits.values()].sort((a, b) => a.start - b.start);
    const pieces: Buffer[] = [];
    let at = 0;
    for (const e of ordered) {
      pieces.push(data.subarray(at, e.start), e.field);
      at = e.end;
    }
    pieces.push(data.subarray(at));
    const written = await replaceFileAtomically(real, Buffer.concat(pieces), before, assertHeld);
    // Key and offsets change together, with no await between, so a reader never sees one without the other.
    shiftRows(index, ordered.map((e) => ({ offset: e.end, delta: e.field.length - (e.end - e.start) })));
    index.key = fileKey(written);
    this.#install(index);
    return outcomes;
  }

  /** The row of `anchor` in `data` if the index places it there, re-read from its bytes. */
  #rowIn(data: Buffer, index: TableIndex, anchor: Anchor): RawRecord | undefined {
    const loc = index.rows.get(anchor);
    if (loc === undefined || loc.end > data.length || !rowBoundariesHold(data, loc)) return undefined;
    return rereadRow(data.subarray(loc.start, loc.end), loc, anchor, index, this.#o.dialect, this.#o.path);
  }

  /** Reads the stored hash of `anchor` through the index, re-scanning once if the index is stale. */
  async #readPasswordField(fh: FileHandle, anchor: Anchor): Promise<{ hash: string; line: number }> {
    const { path, dialect } = this.#o;
    for (let attempt = 0; ; attempt++) {
      const { index, key } = await this.#indexFor(fh);
      const loc = index.rows.get(anchor);
      if (loc === undefined) throw this.#notFound();
      // Copy before the next await: a write shifts rows in place.
      const { start, end, line } = loc;
      if (index.key === key) {
        const bytes = Buffer.alloc(end - start);
        const { bytesRead } = await fh.read(bytes, 0, bytes.length, start);
        const record = bytesRead === bytes.length ? rereadRow(bytes, { start, end, line }, anchor, index, dialect, path) : undefined;
        const passwordIndex = index.layout.passwordIndex;
        if (passwordIndex === undefined) throw this.#notConfigured();
        if (record !== undefined) return { hash: fieldValue(record, passwordIndex, dialect), line };
      }
      if (attempt > 0) throw new TransientError(`${path}: the file kept changing while it was read`);
      if (this.#index === index) this.#install(undefined);
    }
  }

  /** The index of the file version open as `fh`: the cached one if it is that version, else a scan. */
  async #indexFor(fh: FileHandle): Promise<{ index: TableIndex; key: string }> {
    const generation = this.#generation;
    const key = fileKey(await fh.stat({ bigint: true }));
    const cached = this.#index;
    if (cached?.key === key) return { index: cached, key };
    let scan = this.#scans.get(key);
    if (scan === undefined) {
      scan = this.#scan(fh).finally(() => this.#scans.delete(key));
      this.#scans.set(key, scan);
    }
    const index = await scan;
    // A write may have installed a newer version's index meanwhile: keep that one.
    if (this.#generation === generation) this.#install(index);
    return { index, key };
  }

  /** Replaces the cached index; every change counts, so a scan that ends late replaces nothing newer. */
  #install(index: TableIndex | undefined): void {
    this.#index = index;
    this.#generation++;
  }

  async #scan(fh: FileHandle): Promise<TableIndex> {
    const { path, dialect, columns } = this.#o;
    let index: TableIndex | undefined;
    const batches = scanRows(fh, path, dialect, columns, (built) => (index = built));
    for (let r = await batches.next(); r.done !== true; r = await batches.next()) {
      // Only the index is wanted here.
    }
    if (index === undefined) throw new TargetDataError(`${path}: the scan ended without an index`);
    return index;
  }

  async #openRead(): Promise<FileHandle> {
    try {
      return await open(this.#o.path, 'r');
    } catch (err) {
      throw mapFileError(err, this.#o.path, 'opening');
    }
  }

  #notFound(): AccountNotFoundError {
    // The anchor is not a secret, but messages stay generic: events carry the anchor in their own field.
    return new AccountNotFoundError(`${this.#o.path}: no row with that anchor in column "${this.#o.columns.anchor}"`);
  }

  #notConfigured(): NotConfiguredError {
    return new NotConfiguredError(`system ${this.#o.system}: password management needs file.passwordColumn and password.hash`);
  }
}
