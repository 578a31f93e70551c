import type { Anchor } from '../../core/model.ts';

/**
 * Where each account's entry is: anchor → DN, the least recently used forgotten first.
 *
 * A password write needs the DN, and the anchor names the account. Finding one DN is a search,
 * and on OpenLDAP a subtree search by an indexed attribute still costs the server time in
 * proportion to the subtree (measured: 0.5 ms at 1,000 entries, 1.4 ms at 3,000; see
 * docs/benchmarks.md), more than the write itself. So on the first account it does not know, the
 * cache reads every anchor and DN in one paged search (the anchor only: a few hundred bytes an
 * entry), at most once per `refillInterval`; a single search is left for accounts added since.
 */
export class DnCache {
  readonly #dns = new Map<Anchor, string>();
  #refilling: Promise<void> | undefined;
  #refilledAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly capacity: number,
    private readonly refillInterval: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.#dns.size;
  }

  get(anchor: Anchor): string | undefined {
    const dn = this.#dns.get(anchor);
    if (dn !== undefined) {
      // Most recently used last.
      this.#dns.delete(anchor);
      this.#dns.set(anchor, dn);
    }
    return dn;
  }

  remember(anchor: Anchor, dn: string): void {
    this.#dns.delete(anchor);
    this.#dns.set(anchor, dn);
    if (this.#dns.size > this.capacity) {
      const oldest = this.#dns.keys().next();
      if (oldest.done !== true) this.#dns.delete(oldest.value);
    }
  }

  forget(anchor: Anchor): void {
    this.#dns.delete(anchor);
  }

  /**
   * Reads every (anchor, DN) from `read` unless that was done less than `refillInterval` ago;
   * callers that arrive meanwhile wait for the same reading. Stops at `capacity` entries. A failed
   * reading counts as done (the callers fall back to one search each) and is reported to `onError`.
   */
  async refill(read: () => AsyncIterable<readonly [Anchor, string]>, onError: (e: unknown) => void): Promise<void> {
    if (this.#refilling === undefined && this.now() - this.#refilledAt < this.refillInterval) return;
    this.#refilling ??= (async () => {
      this.#refilledAt = this.now();
      let read_ = 0;
      try {
        for await (const [anchor, dn] of read()) {
          this.remember(anchor, dn);
          if (++read_ >= this.capacity) break;
        }
      } catch (e) {
        onError(e);
      }
    })().finally(() => (this.#refilling = undefined));
    await this.#refilling;
  }
}
