/**
 * Signatures the server has already accepted, so that a captured request
 * cannot be sent again while its X-Amz-Date is still inside the clock-skew
 * window. An entry is kept until that window closes for its date.
 *
 * The cache has a fixed capacity. When it is full of signatures that are
 * all still valid, `remember` reports 'full' and the caller rejects the
 * request as throttled: evicting a live entry would let its request be
 * replayed.
 */

export type RememberResult = 'new' | 'replayed' | 'full';

export interface ReplayCacheOptions {
  /** Maximum signatures kept. */
  maxEntries: number;
  /** Clock in epoch milliseconds; tests pass one to move time forward. */
  now?: () => number;
}

/** Minimum time between two full sweeps of a full cache, in ms: a full cache costs one O(n) sweep per second at most. */
const FULL_SWEEP_INTERVAL_MS = 1000;

export class ReplayCache {
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Expiry time in epoch ms, by signature; iteration order is insertion order. */
  readonly #expiries = new Map<string, number>();
  #lastFullSweep = Number.NEGATIVE_INFINITY;

  constructor(options: ReplayCacheOptions) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`Invalid replay cache size ${options.maxEntries}: use a whole number of at least 1`);
    }
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#expiries.size;
  }

  /**
   * Records `signature` as used until `expiresAt` (epoch ms). Returns
   * 'replayed' when it was already recorded and has not expired, and 'full'
   * when there is no room for it.
   */
  remember(signature: string, expiresAt: number): RememberResult {
    const now = this.#now();
    this.#dropExpiredOldest(now);

    const previous = this.#expiries.get(signature);
    if (previous !== undefined && previous > now) return 'replayed';

    if (this.#expiries.size >= this.#maxEntries && now - this.#lastFullSweep >= FULL_SWEEP_INTERVAL_MS) {
      this.#lastFullSweep = now;
      this.#dropAllExpired(now);
    }
    if (this.#expiries.size >= this.#maxEntries) return 'full';

    this.#expiries.set(signature, expiresAt);
    return 'new';
  }

  /** Removes `signature`, so a request with it is accepted again. */
  forget(signature: string): void {
    this.#expiries.delete(signature);
  }

  /**
   * Drops expired entries from the oldest end. Entries arrive roughly in
   * expiry order, because clients sign with their current time, so this
   * usually frees everything that expired. `#dropAllExpired` catches the rest.
   */
  #dropExpiredOldest(now: number): void {
    for (const [signature, expiresAt] of this.#expiries) {
      if (expiresAt > now) return;
      this.#expiries.delete(signature);
    }
  }

  #dropAllExpired(now: number): void {
    for (const [signature, expiresAt] of this.#expiries) {
      if (expiresAt <= now) this.#expiries.delete(signature);
    }
  }
}
