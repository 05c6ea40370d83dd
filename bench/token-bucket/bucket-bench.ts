// Child task that benchmarks the cluster token bucket as called from JavaScript:
// - time per tryAcquire on one thread (tinybench), for the addon's bucket
//   (process-wide, and in a shared file) and for the two JavaScript GCRAs of
//   js-gcra.ts;
// - time per call with 1 and 2 worker_threads on one bucket;
// - accuracy: the rate a bucket enforces while 1 or 2 threads call it as
//   fast as they can, against the configured rate.
// The runs with several processes on one file are in section.ts, because the
// parent process starts those.
import { Worker } from 'node:worker_threads';
import { Bench, hrtimeNowTimestampProvider } from 'tinybench';
// NOTE: this import loads the addon in the main thread before any worker
// loads it. When a worker_thread was the first to load the addon, the
// process crashed with SIGSEGV as that worker exited: a libuv close callback
// ran after Node had unloaded the addon's shared library.
import { tokenBucket } from '../../dist/native.js';
import { join } from 'node:path';
import type { AcquireLoopResult } from './acquire-loop.js';
import type { AcquireWorkerData } from './acquire-worker.js';
import {
  IMPLEMENTATION_LABELS,
  UNLIMITED_RATE,
  accuracyFigure,
  speedFigure,
  type AccuracyFigure,
  type BucketImplementation,
  type ConcurrencyFigure,
  type SingleThreadFigure,
  type SpeedFigure,
  type TokenBucketResults,
} from './figures.js';
import { JsGcra, SharedJsGcra } from './js-gcra.js';

export interface TokenBucketTask {
  kind: 'token-bucket';
  /** Folder for the files of shared buckets. Each run gets a new file. */
  workDir: string;
  /** tinybench time budget per task, in ms. */
  tinybenchMilliseconds: number;
  /** Calls per thread in the speed runs. */
  iterationsPerThread: number;
  accuracySeconds: number;
  accuracyRequestsPerSecond: number;
  accuracyBurst: number;
}

/**
 * Calls per tinybench iteration. One call takes tens of nanoseconds, about
 * as long as the clock reads around each iteration, so each iteration times
 * a batch.
 */
const BATCH_CALLS = 1000;

const WORKER_URL = new URL('./acquire-worker.ts', import.meta.url).href;

/**
 * Code of each worker: it registers tsx in the worker and then imports the
 * TypeScript worker body. Workers do not inherit the parent's tsx loader
 * (--import tsx) on Node.js 20, so a .ts worker file fails to load without
 * this.
 */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL)}); })`;

let bucketSerial = 0;

/** Returns a new bucket name and file path, so every run starts from a full bucket. */
function freshBucket(workDir: string): { bucketName: string; sharedPath: string } {
  bucketSerial += 1;
  return {
    bucketName: `bench-bucket-${process.pid}-${bucketSerial}`,
    sharedPath: join(workDir, `bench-bucket-${process.pid}-${bucketSerial}.bucket`),
  };
}

async function measureSingleThread(task: TokenBucketTask): Promise<SingleThreadFigure[]> {
  const candidates = [
    { implementation: IMPLEMENTATION_LABELS.addon, bucket: tokenBucket(freshBucket(task.workDir).bucketName, UNLIMITED_RATE, UNLIMITED_RATE) },
    {
      implementation: IMPLEMENTATION_LABELS['addon-file'],
      bucket: tokenBucket('bench-file', UNLIMITED_RATE, UNLIMITED_RATE, freshBucket(task.workDir).sharedPath),
    },
    { implementation: 'JS GCRA, plain object', bucket: new JsGcra(UNLIMITED_RATE, UNLIMITED_RATE) },
    { implementation: IMPLEMENTATION_LABELS.js, bucket: new SharedJsGcra(SharedJsGcra.createBuffer(), UNLIMITED_RATE, UNLIMITED_RATE) },
  ];

  const timeMs = task.tinybenchMilliseconds;
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(250, timeMs), timestampProvider: hrtimeNowTimestampProvider });
  let sink = 0;
  for (const { implementation, bucket } of candidates) {
    bench.add(implementation, () => {
      for (let i = 0; i < BATCH_CALLS; i++) {
        if (bucket.tryAcquire()) sink++;
      }
    });
  }
  await bench.run();
  if (sink === 0) throw new Error('No tryAcquire call was granted; the speed runs expect every call to pass');

  return bench.tasks.map((benchTask) => {
    const result = benchTask.result;
    if (result.state !== 'completed') {
      throw new Error(`tinybench task "${benchTask.name}" ended in state ${result.state}`);
    }
    const perCall = (milliseconds: number) => (milliseconds * 1e6) / BATCH_CALLS;
    return {
      implementation: benchTask.name,
      nanosecondsPerCall: perCall(result.latency.mean),
      p50NanosecondsPerCall: perCall(result.latency.p50),
      p99NanosecondsPerCall: perCall(result.latency.p99),
    };
  });
}

/** Starts `threads` workers on one bucket, releases them together and collects their results. */
async function runWorkers(threads: number, base: Omit<AcquireWorkerData, 'startSignal'>): Promise<AcquireLoopResult[]> {
  const startSignal = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const workers = Array.from({ length: threads }, () => new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: { ...base, startSignal } }));
  const results = workers.map(
    (worker) =>
      new Promise<AcquireLoopResult>((resolve, reject) => {
        worker.on('message', (message: AcquireLoopResult | 'ready') => {
          if (message !== 'ready') resolve(message);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => reject(new Error(`token-bucket worker exited with code ${code} before its result`)));
      }),
  );
  const readiness = workers.map(
    (worker) =>
      new Promise<void>((resolve) => {
        worker.on('message', (message) => {
          if (message === 'ready') resolve();
        });
      }),
  );
  await Promise.all(readiness);
  const signal = new Int32Array(startSignal);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
  try {
    return await Promise.all(results);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

function workerData(task: TokenBucketTask, implementation: BucketImplementation, requestsPerSecond: number, burst: number) {
  return { implementation, ...freshBucket(task.workDir), bucketBuffer: SharedJsGcra.createBuffer(), requestsPerSecond, burst };
}

export async function runTokenBucketTask(task: TokenBucketTask): Promise<TokenBucketResults> {
  const singleThread = await measureSingleThread(task);
  const speed: SpeedFigure[] = [];
  const accuracy: AccuracyFigure[] = [];
  for (const implementation of ['addon', 'addon-file', 'js'] as const) {
    for (const count of [1, 2]) {
      const figure: ConcurrencyFigure = { implementation, concurrency: 'worker_threads', count };
      const fast = await runWorkers(count, { ...workerData(task, implementation, UNLIMITED_RATE, UNLIMITED_RATE), iterations: task.iterationsPerThread });
      speed.push(speedFigure(fast, figure));
      const { accuracyRequestsPerSecond: rate, accuracyBurst: burst } = task;
      const limited = await runWorkers(count, { ...workerData(task, implementation, rate, burst), seconds: task.accuracySeconds });
      accuracy.push(accuracyFigure(limited, figure, rate, burst));
    }
  }
  return { singleThread, speed, accuracy };
}
