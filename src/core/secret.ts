import { inspect } from 'node:util';
import { InvalidInputError } from './errors.ts';

const REDACTED = '[secret]';

/**
 * A zeroed buffer for clear secret bytes, in memory of its own outside the JavaScript heap. Never
 * `Buffer.alloc` for those: V8 keeps a typed array of up to 64 bytes on its heap, and the garbage
 * collector moves it (each scavenge copies what is still alive), leaving the old copy behind where
 * no wipe reaches it (seen by the memory scan: a password lent across an `await` to a KDF). An
 * ArrayBuffer's memory is never moved, so wiping the buffer wipes the only copy. Nor
 * `Buffer.allocUnsafe` or `Buffer.from`: a small one is a slice of Node's shared pool.
 */
export function clearBuffer(length: number): Buffer {
  return Buffer.from(new ArrayBuffer(length));
}

/** In a `u` regular expression a surrogate range matches only a surrogate that is not half of a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * A password or other secret held in a private buffer.
 *
 * The clear bytes are only lent: {@link Secret.use} hands a copy to a callback and wipes that copy
 * when the callback settles. The secret prints as `[secret]` through every path that turns a value
 * into text (template strings, `JSON.stringify`, `util.inspect`, pino), so a secret that reaches a
 * log or an error message by mistake leaks nothing.
 */
export class Secret {
  #bytes: Buffer | undefined;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** Takes ownership of a copy of `bytes`; the caller should wipe its own buffer afterwards. */
  static fromBytes(bytes: Uint8Array): Secret {
    const own = clearBuffer(bytes.length);
    own.set(bytes);
    return new Secret(own);
  }

  /** Takes ownership of `bytes` itself (no copy): the buffer is wiped when the secret is disposed. */
  static adopt(bytes: Buffer): Secret {
    return new Secret(bytes);
  }

  /**
   * For tests and the few call sites where the password arrives as text (a form field, JSON). A
   * string with a lone surrogate has no UTF-8 form (encoding it would put U+FFFD in its place, a
   * password nobody chose): refused with InvalidInputError.
   */
  static fromString(text: string): Secret {
    if (LONE_SURROGATE.test(text)) throw new InvalidInputError('the password is not well-formed Unicode (it holds a lone surrogate, which has no UTF-8 form)');
    // Never Buffer.from(text): a short one is a slice of Node's shared pool, whose other slices go
    // on to be posted to threads (and a structured clone copies the whole pool).
    const own = clearBuffer(Buffer.byteLength(text, 'utf8'));
    own.write(text, 'utf8');
    return new Secret(own);
  }

  get disposed(): boolean {
    return this.#bytes === undefined;
  }

  get length(): number {
    return this.#live().length;
  }

  /** Lends a copy of the clear bytes to `fn` and wipes the copy when `fn` settles. */
  async use<T>(fn: (clear: Buffer) => T | Promise<T>): Promise<T> {
    const copy = clearBuffer(this.#live().length);
    this.#live().copy(copy);
    try {
      return await fn(copy);
    } finally {
      copy.fill(0);
    }
  }

  /** Synchronous variant of {@link Secret.use} for synchronous library calls. */
  useSync<T>(fn: (clear: Buffer) => T): T {
    const copy = clearBuffer(this.#live().length);
    this.#live().copy(copy);
    try {
      return fn(copy);
    } finally {
      copy.fill(0);
    }
  }

  /** Constant-time comparison with another secret. */
  equals(other: Secret): boolean {
    const a = this.#live();
    const b = other.#live();
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
    return diff === 0;
  }

  /** Wipes the bytes. Safe to call more than once. */
  dispose(): void {
    this.#bytes?.fill(0);
    this.#bytes = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }

  #live(): Buffer {
    if (this.#bytes === undefined) throw new Error('secret used after it was disposed');
    return this.#bytes;
  }
}
