// Token buckets written in plain JavaScript, as a developer would write one
// instead of using the addon's. Both are the generic cell rate algorithm
// (GCRA) that native/token_bucket.cc implements. The state is the
// theoretical arrival time (TAT) of the next request, and a request costs
// one interval (1/rate). A request passes while the new TAT stays within
// `burst` intervals of now.

export interface JsTokenBucket {
  tryAcquire(): boolean;
  readonly granted: number;
  readonly rejected: number;
}

/** A bucket for one thread: numbers in nanoseconds of performance.now(). */
export class JsGcra implements JsTokenBucket {
  readonly #intervalNanoseconds: number;
  readonly #toleranceNanoseconds: number;
  #theoreticalArrival = 0;
  granted = 0;
  rejected = 0;

  constructor(requestsPerSecond: number, burst: number) {
    this.#intervalNanoseconds = 1e9 / requestsPerSecond;
    this.#toleranceNanoseconds = burst * this.#intervalNanoseconds;
  }

  tryAcquire(): boolean {
    // performance.now() is in ms with sub-microsecond resolution. In ns it
    // stays far below 2^53 for any process lifetime.
    const now = performance.now() * 1e6;
    const next = Math.max(this.#theoreticalArrival, now) + this.#intervalNanoseconds;
    if (next > now + this.#toleranceNanoseconds) {
      this.rejected += 1;
      return false;
    }
    this.#theoreticalArrival = next;
    this.granted += 1;
    return true;
  }
}

/** Slots of the shared state array. */
const TAT = 0;
const GRANTED = 1;
const REJECTED = 2;
const SLOTS = 3;

/**
 * A bucket that several worker_threads share through a SharedArrayBuffer,
 * updated with Atomics.compareExchange like the addon's. Time comes from
 * process.hrtime.bigint(), because the origin of performance.now() differs
 * between threads.
 */
export class SharedJsGcra implements JsTokenBucket {
  readonly #state: BigInt64Array;
  readonly #interval: bigint;
  readonly #tolerance: bigint;

  /** Creates the shared memory for one bucket; pass it to every thread's constructor. */
  static createBuffer(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS * BigInt64Array.BYTES_PER_ELEMENT);
  }

  constructor(buffer: SharedArrayBuffer, requestsPerSecond: number, burst: number) {
    this.#state = new BigInt64Array(buffer);
    const intervalNanoseconds = Math.max(1, Math.round(1e9 / requestsPerSecond));
    this.#interval = BigInt(intervalNanoseconds);
    this.#tolerance = BigInt(Math.round(burst * intervalNanoseconds));
  }

  tryAcquire(): boolean {
    const now = process.hrtime.bigint();
    const limit = now + this.#tolerance;
    let arrival = Atomics.load(this.#state, TAT);
    for (;;) {
      const next = (arrival > now ? arrival : now) + this.#interval;
      if (next > limit) {
        Atomics.add(this.#state, REJECTED, 1n);
        return false;
      }
      const seen = Atomics.compareExchange(this.#state, TAT, arrival, next);
      if (seen === arrival) {
        Atomics.add(this.#state, GRANTED, 1n);
        return true;
      }
      arrival = seen;
    }
  }

  get granted(): number {
    return Number(Atomics.load(this.#state, GRANTED));
  }

  get rejected(): number {
    return Number(Atomics.load(this.#state, REJECTED));
  }
}
