// The loop that worker_threads and child processes of the token-bucket
// benchmark run: tryAcquire as fast as one thread can call it, for a number
// of calls or for a time.

export interface AcquireLimit {
  /** Stop after this many calls, or when `seconds` have passed. */
  iterations?: number;
  seconds?: number;
}

export interface AcquireLoopResult {
  calls: number;
  /** Calls that returned true. */
  granted: number;
  nanoseconds: number;
  /**
   * Start and end of the loop in ns of process.hrtime (CLOCK_MONOTONIC on
   * Linux), a clock that every thread and process of the machine shares, so
   * the loops of several callers can be placed on one time line.
   */
  startedAt: number;
  endedAt: number;
}

/** Calls between two reads of the clock in a timed run. */
const CALLS_PER_CLOCK_READ = 1024;

export function runAcquireLoop(bucket: { tryAcquire(): boolean }, limit: AcquireLimit): AcquireLoopResult {
  let calls = 0;
  let granted = 0;
  const started = process.hrtime.bigint();
  if (limit.iterations !== undefined) {
    for (; calls < limit.iterations; calls++) {
      if (bucket.tryAcquire()) granted++;
    }
  } else {
    const deadline = started + BigInt(Math.round((limit.seconds ?? 1) * 1e9));
    while (process.hrtime.bigint() < deadline) {
      for (let i = 0; i < CALLS_PER_CLOCK_READ; i++) {
        if (bucket.tryAcquire()) granted++;
      }
      calls += CALLS_PER_CLOCK_READ;
    }
  }
  const ended = process.hrtime.bigint();
  return { calls, granted, nanoseconds: Number(ended - started), startedAt: Number(started), endedAt: Number(ended) };
}
