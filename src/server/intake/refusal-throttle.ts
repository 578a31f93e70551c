/** At most one refusal of an unauthenticated client recorded per address in this interval. */
export const PER_ADDRESS_INTERVAL_MS = 10_000;

/** And at most this many in all per minute, however many addresses a flood comes from. */
export const MAX_RECORDED_PER_MINUTE = 100;

const MINUTE_MS = 60_000;

/** Remembered addresses with a refusal recorded in the last interval: at most MAX_RECORDED_PER_MINUTE of them, by construction. */
type Recent = Map<string, number>;

/** What the throttle says of one refusal: record it (with what was left out before it), or leave it out. */
export type ThrottleVerdict = { readonly record: true; readonly suppressed: Suppressed | undefined } | { readonly record: false };

/** Refusals left out since `since`. */
export interface Suppressed {
  readonly count: number;
  readonly since: number;
}

/**
 * Decides which refusals of clients that did not authenticate are recorded (event 7012), by the
 * one thing such a client cannot choose: its address. A certificate's subject, a header, anything
 * the client sends, would let it make every refusal new. At most one per address per
 * PER_ADDRESS_INTERVAL_MS and MAX_RECORDED_PER_MINUTE in all; those left out are counted, and the
 * count rides on the next recorded refusal or on a summary (`flush`), so the operator sees a flood
 * even when it is not written row by row. A refusal left out costs a map lookup: no store write.
 *
 * Memory stays bounded without a cap that could be flushed to let a flood through: an address is
 * remembered only when its refusal is recorded, which happens at most MAX_RECORDED_PER_MINUTE
 * times a minute, and forgotten once its interval passed.
 */
export class RefusalThrottle {
  readonly #now: () => number;
  readonly #recent: Recent = new Map();
  /** Times of the refusals recorded in the last minute, oldest first. */
  readonly #recorded: number[] = [];
  #suppressed = 0;
  #suppressedSince = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Whether this refusal of a client at `address` is recorded. */
  admit(address: string): ThrottleVerdict {
    const now = this.#now();
    this.#forget(now);
    const last = this.#recent.get(address);
    if ((last !== undefined && now - last < PER_ADDRESS_INTERVAL_MS) || this.#recorded.length >= MAX_RECORDED_PER_MINUTE) {
      if (this.#suppressed === 0) this.#suppressedSince = now;
      this.#suppressed += 1;
      return { record: false };
    }
    // Re-inserted so that the map stays in the order of recording, oldest first, for #forget.
    this.#recent.delete(address);
    this.#recent.set(address, now);
    this.#recorded.push(now);
    return { record: true, suppressed: this.#take() };
  }

  /** What was left out since the last recorded refusal, if anything, counted as reported from now on. */
  flush(): Suppressed | undefined {
    return this.#take();
  }

  /** How many addresses are remembered (for the test that a flood does not grow it). */
  get remembered(): number {
    return this.#recent.size;
  }

  #take(): Suppressed | undefined {
    if (this.#suppressed === 0) return undefined;
    const taken = { count: this.#suppressed, since: this.#suppressedSince };
    this.#suppressed = 0;
    return taken;
  }

  #forget(now: number): void {
    while (this.#recorded.length > 0 && now - (this.#recorded[0] ?? now) >= MINUTE_MS) this.#recorded.shift();
    for (const [address, at] of this.#recent) {
      if (now - at < PER_ADDRESS_INTERVAL_MS) break;
      this.#recent.delete(address);
    }
  }
}

/** The words that say how many refusals were left out, in a recorded refusal or a summary. */
export function describeSuppressed(s: Suppressed, more: boolean): string {
  const refusals = s.count === 1 ? 'refusal of unauthenticated clients was' : 'refusals of unauthenticated clients were';
  return `${s.count} ${more ? 'more ' : ''}${refusals} not recorded since ${new Date(s.since).toISOString()} (at most one per address per ${PER_ADDRESS_INTERVAL_MS / 1000} s and ${MAX_RECORDED_PER_MINUTE} a minute are)`;
}
