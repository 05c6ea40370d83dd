// The token-bucket section of the run, started from the parent process: the
// JavaScript benchmarks in one child (bucket-bench.ts), the same shared-file
// bucket charged from 2 processes at once, and the C++ micro-benchmark.
import { join } from 'node:path';
import { runChild, startChild } from '../child-process.js';
import type { BenchPlan } from '../options.js';
import type { AcquireLimit, AcquireLoopResult } from './acquire-loop.js';
import type { TokenBucketTask } from './bucket-bench.js';
import { UNLIMITED_RATE, accuracyFigure, speedFigure, type TokenBucketResults } from './figures.js';
import type { BucketProcessTask } from './bucket-process.js';
import { runNativeAcquire, type NativeAcquireResult } from './native-acquire.js';

/** Processes that share one bucket file in the cross-process runs. */
const PROCESSES = 2;

/** Time in ms allowed for a child beyond its own work. */
const CHILD_SETUP_MS = 60_000;

export type TokenBucketSectionResults = TokenBucketResults & { native: NativeAcquireResult[] };

let fileSerial = 0;

/** Starts PROCESSES children on one new bucket file, releases them together and collects their results. */
async function runProcesses(workDir: string, requestsPerSecond: number, burst: number, limit: AcquireLimit): Promise<AcquireLoopResult[]> {
  fileSerial += 1;
  const task: BucketProcessTask = {
    kind: 'bucket-process',
    sharedPath: join(workDir, `processes-${fileSerial}.bucket`),
    requestsPerSecond,
    burst,
    ...limit,
    waitForStart: true,
  };
  const handles = Array.from({ length: PROCESSES }, () => startChild<AcquireLoopResult>(task, { timeoutMs: CHILD_SETUP_MS + 60_000 }));
  try {
    await Promise.all(handles.map((handle) => handle.ready));
    for (const handle of handles) handle.start();
    return await Promise.all(handles.map((handle) => handle.result));
  } finally {
    await Promise.allSettled(handles.map((handle) => handle.result));
  }
}

export async function runTokenBucketSection(plan: BenchPlan, workDir: string): Promise<TokenBucketSectionResults> {
  const settings = plan.tokenBucket;
  const task: TokenBucketTask = {
    kind: 'token-bucket',
    workDir,
    tinybenchMilliseconds: settings.tinybenchMilliseconds,
    iterationsPerThread: settings.iterationsPerThread,
    accuracySeconds: settings.accuracySeconds,
    accuracyRequestsPerSecond: settings.accuracyRequestsPerSecond,
    accuracyBurst: settings.accuracyBurst,
  };
  const results = await runChild<TokenBucketResults>(task, { timeoutMs: 300_000 });

  const figure = { implementation: 'addon-file', concurrency: 'processes', count: PROCESSES } as const;
  const fast = await runProcesses(workDir, UNLIMITED_RATE, UNLIMITED_RATE, { iterations: settings.iterationsPerThread });
  results.speed.push(speedFigure(fast, figure));
  const { accuracyRequestsPerSecond: rate, accuracyBurst: burst } = settings;
  const limited = await runProcesses(workDir, rate, burst, { seconds: settings.accuracySeconds });
  results.accuracy.push(accuracyFigure(limited, figure, rate, burst));

  const native = [1, 2].map((threads) => runNativeAcquire(threads, settings.nativeIterations));
  return { ...results, native };
}
