import { createHash, timingSafeEqual } from 'node:crypto';
import { AccountNotFoundError, NotConfiguredError, PolicyError, TransientError, WatermarkError, type PwsyncError } from '../../../../src/core/errors.ts';
import type { Anchor, Attributes, EpochMs } from '../../../../src/core/model.ts';
import type { Secret } from '../../../../src/core/secret.ts';
import type { AccountDelta, AccountRecord, ConnectionReport, Watermark } from '../../../../src/connectors/types.ts';

/** What a scripted `setPassword` call does instead of its normal work; `ok` lets a call through. */
export type MemoryFailure = 'transient' | 'notFound' | 'policy' | 'notConfigured' | 'ok';

/** One successful `setPassword`, without the password: its SHA-256 is enough to say what arrived. */
export interface Delivery {
  readonly anchor: Anchor;
  /** Hex SHA-256 of the password's UTF-8 bytes; compare with {@link sha256Hex}. */
  readonly sha256: string;
  readonly at: EpochMs;
}

/** Hex SHA-256 of a password, as recorded in {@link Delivery.sha256}. */
export function sha256Hex(password: string | Uint8Array): string {
  return createHash('sha256').update(password).digest('hex');
}

function digest(clear: Buffer): Buffer {
  return createHash('sha256').update(clear).digest();
}

/** Characters (code points) in UTF-8 bytes, counted without turning the password into a string. */
function codePoints(utf8: Buffer): number {
  let n = 0;
  for (const b of utf8) if ((b & 0xc0) !== 0x80) n++;
  return n;
}

export interface MemoryStateOptions {
  readonly name: string;
  readonly accounts: Iterable<readonly [Anchor, Attributes]>;
  readonly minPasswordLength: number;
  readonly secure: boolean;
  readonly failures: readonly MemoryFailure[];
  readonly now: () => EpochMs;
}

/** The system behind a memory connector: accounts, password digests, the failure script, the record. */
export class MemoryState {
  readonly #o: MemoryStateOptions;
  readonly #accounts = new Map<Anchor, Attributes>();
  readonly #digests = new Map<Anchor, Buffer>();
  readonly #script: MemoryFailure[];
  readonly #deliveries: Delivery[] = [];
  #setCalls = 0;
  #closed = false;
  /** The change history: the anchor each put or remove touched, in order (its index + 1 is its number). */
  readonly #history: Anchor[] = [];
  /** Changes when the history is reset: watermarks of an earlier one cannot be read any more. */
  #generation = 1;
  /** The next import (full or delta) fails after yielding this many items. */
  #breakAfter: number | undefined;

  constructor(options: MemoryStateOptions) {
    this.#o = options;
    for (const [anchor, attributes] of options.accounts) this.#accounts.set(anchor, { ...attributes });
    this.#script = [...options.failures];
  }

  get deliveries(): readonly Delivery[] {
    return this.#deliveries;
  }

  get setCalls(): number {
    return this.#setCalls;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get secure(): boolean {
    return this.#o.secure;
  }

  failNext(failures: readonly MemoryFailure[]): void {
    this.#script.push(...failures);
  }

  putAccount(anchor: Anchor, attributes: Attributes): void {
    this.#accounts.set(anchor, { ...attributes });
    this.#history.push(anchor);
  }

  removeAccount(anchor: Anchor): void {
    this.#accounts.delete(anchor);
    this.#history.push(anchor);
    this.#digests.get(anchor)?.fill(0);
    this.#digests.delete(anchor);
  }

  testConnection(): Promise<ConnectionReport> {
    return Promise.resolve({
      ok: !this.#closed,
      secure: this.#o.secure,
      identity: `memory:${this.#o.name}`,
      detail: this.#closed ? 'closed' : `${this.#accounts.size} accounts`,
    });
  }

  /** Forgets the change history, as a directory restored from backup does: older watermarks are refused. */
  resetHistory(): void {
    this.#generation++;
    this.#history.length = 0;
  }

  breakNextImport(afterItems: number): void {
    this.#breakAfter = afterItems;
  }

  async *importAccounts(): AsyncGenerator<AccountRecord> {
    // A snapshot, so accounts added or removed while importing do not disturb the iteration.
    const items = [...this.#accounts].map(([anchor, attributes]) => ({ anchor, attributes: { ...attributes } }));
    yield* this.#stream(items);
  }

  watermark(): Promise<Watermark> {
    return Promise.resolve(`${this.#generation}:${this.#history.length}` as Watermark);
  }

  /** Every anchor touched after `since`, once: changed ones (as they are now), then removed ones. */
  async *importChangesSince(since: Watermark): AsyncGenerator<AccountDelta> {
    const match = /^(\d+):(\d+)$/u.exec(since);
    const generation = Number(match?.[1]);
    const position = Number(match?.[2]);
    if (generation !== this.#generation || !(position <= this.#history.length)) {
      throw new WatermarkError(`memory:${this.#o.name}: watermark "${since}" is not from this history`);
    }
    const touched = new Set(this.#history.slice(position));
    const changed: AccountDelta[] = [];
    const removed: AccountDelta[] = [];
    for (const anchor of touched) {
      const attributes = this.#accounts.get(anchor);
      if (attributes === undefined) removed.push({ kind: 'removed', anchor });
      else changed.push({ kind: 'changed', record: { anchor, attributes: { ...attributes } } });
    }
    yield* this.#stream([...changed, ...removed]);
  }

  async *#stream<T>(items: readonly T[]): AsyncGenerator<T> {
    const breakAfter = this.#breakAfter;
    this.#breakAfter = undefined;
    for (const [n, item] of items.entries()) {
      await Promise.resolve();
      if (n === breakAfter) throw new TransientError(`memory:${this.#o.name}: scripted failure during import`);
      yield item;
    }
  }

  async setPassword(anchor: Anchor, secret: Secret): Promise<void> {
    this.#setCalls++;
    // Like a real system, answer later than the call: engines must not rely on synchronous settling.
    await Promise.resolve();
    const scripted = this.#script.shift();
    if (scripted !== undefined && scripted !== 'ok') throw this.#scripted(scripted);
    if (!this.#accounts.has(anchor)) throw new AccountNotFoundError(`memory:${this.#o.name}: no such account`);
    const { length, hash } = secret.useSync((clear) => ({ length: codePoints(clear), hash: digest(clear) }));
    if (length < this.#o.minPasswordLength) {
      hash.fill(0);
      throw new PolicyError(`memory:${this.#o.name}: the password is shorter than ${this.#o.minPasswordLength} characters`);
    }
    this.#digests.get(anchor)?.fill(0);
    this.#digests.set(anchor, hash);
    this.#deliveries.push({ anchor, sha256: hash.toString('hex'), at: this.#o.now() });
  }

  async verifyPassword(anchor: Anchor, secret: Secret): Promise<boolean> {
    await Promise.resolve();
    if (!this.#accounts.has(anchor)) throw new AccountNotFoundError(`memory:${this.#o.name}: no such account`);
    const stored = this.#digests.get(anchor);
    if (stored === undefined) return false;
    const given = secret.useSync(digest);
    try {
      return timingSafeEqual(stored, given);
    } finally {
      given.fill(0);
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #scripted(kind: Exclude<MemoryFailure, 'ok'>): PwsyncError {
    const where = `memory:${this.#o.name}`;
    switch (kind) {
      case 'transient':
        return new TransientError(`${where}: scripted transient failure`);
      case 'notFound':
        return new AccountNotFoundError(`${where}: scripted account not found`);
      case 'policy':
        return new PolicyError(`${where}: scripted policy refusal`);
      case 'notConfigured':
        return new NotConfiguredError(`${where}: scripted not configured`);
    }
  }
}
