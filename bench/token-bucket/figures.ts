// Figures of the token-bucket benchmark and the arithmetic that turns loop
// results into them. This module loads no native code, so the parent process
// can import it to render the report.
import type { AcquireLoopResult } from './acquire-loop.js';

export type BucketImplementation = 'addon' | 'addon-file' | 'js';

export const IMPLEMENTATION_LABELS: Record<BucketImplementation, string> = {
  addon: 'addon tryAcquire',
  'addon-file': 'addon tryAcquire, shared file',
  js: 'JS GCRA, SharedArrayBuffer + Atomics',
};

export interface SingleThreadFigure {
  implementation: string;
  nanosecondsPerCall: number;
  /** Percentiles of batches of BATCH_CALLS calls, divided by BATCH_CALLS. */
  p50NanosecondsPerCall: number;
  p99NanosecondsPerCall: number;
}

export interface ConcurrencyFigure {
  implementation: BucketImplementation;
  /** Kind of caller: worker_threads of one process, or separate processes. */
  concurrency: 'worker_threads' | 'processes';
  count: number;
}

export interface SpeedFigure extends ConcurrencyFigure {
  /** Time per call in each caller. */
  nanosecondsPerCall: number[];
  /** Calls per second of all callers together. */
  totalCallsPerSecond: number;
}

export interface AccuracyFigure extends ConcurrencyFigure {
  configuredRequestsPerSecond: number;
  burst: number;
  /** From the first caller's start to the last caller's end. */
  seconds: number;
  calls: number;
  granted: number;
  /** (granted − burst) / seconds: the burst passes at once and is not part of the rate. */
  enforcedRequestsPerSecond: number;
  /** enforced / configured. */
  ratio: number;
}

export interface TokenBucketResults {
  singleThread: SingleThreadFigure[];
  speed: SpeedFigure[];
  accuracy: AccuracyFigure[];
}

/** Rate and burst that never reject, so the speed runs time the granting path (a compare-and-swap). */
export const UNLIMITED_RATE = 1e9;

/** Returns the seconds from the first caller's start to the last caller's end. */
function spanSeconds(results: AcquireLoopResult[]): number {
  const first = Math.min(...results.map((result) => result.startedAt));
  const last = Math.max(...results.map((result) => result.endedAt));
  return (last - first) / 1e9;
}

export function speedFigure(results: AcquireLoopResult[], figure: ConcurrencyFigure): SpeedFigure {
  const calls = results.reduce((sum, result) => sum + result.calls, 0);
  return {
    ...figure,
    nanosecondsPerCall: results.map((result) => result.nanoseconds / result.calls),
    totalCallsPerSecond: calls / spanSeconds(results),
  };
}

export function accuracyFigure(
  results: AcquireLoopResult[],
  figure: ConcurrencyFigure,
  requestsPerSecond: number,
  burst: number,
): AccuracyFigure {
  // The callers do not start at the same instant, so the bucket grants
  // over the span from the first start to the last end.
  const seconds = spanSeconds(results);
  const granted = results.reduce((sum, result) => sum + result.granted, 0);
  const calls = results.reduce((sum, result) => sum + result.calls, 0);
  const enforced = (granted - burst) / seconds;
  return {
    ...figure,
    configuredRequestsPerSecond: requestsPerSecond,
    burst,
    seconds,
    calls,
    granted,
    enforcedRequestsPerSecond: enforced,
    ratio: enforced / requestsPerSecond,
  };
}
