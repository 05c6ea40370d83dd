// Child task that measures the memory of the facade under a long run: RSS
// and V8 heap after a warm-up and after each checkpoint of completed
// operations. Requests cycle through Encrypt, Decrypt, GenerateDataKey and
// ReEncrypt of 32 bytes, so every crypto path of the engine runs. The child
// runs with --expose-gc and collects garbage twice before each reading, so
// the heap figures are live objects rather than garbage not yet collected.
import { runCount, type RequestFunction } from './closed-loop.js';
import type { PathContext } from './paths/bench-path.js';
import { openFacadePath } from './paths/facade.js';
import { OPERATIONS } from './workloads.js';

export interface MemoryTask {
  kind: 'memory';
  context: PathContext;
  inFlight: number;
  warmupOperations: number;
  /** Total operations completed at each reading after the warm-up, ascending. */
  checkpoints: number[];
}

export interface MemoryReading {
  /** Operations completed when the reading was taken, warm-up included. */
  operations: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  /** Seconds since the warm-up ended. */
  elapsedSeconds: number;
}

const PAYLOAD_BYTES = 32;

function read(operations: number, startedMs: number): MemoryReading {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('The memory task needs node --expose-gc');
  collect();
  collect();
  const usage = process.memoryUsage();
  return {
    operations,
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    heapTotalBytes: usage.heapTotal,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
    elapsedSeconds: (performance.now() - startedMs) / 1000,
  };
}

export async function runMemoryTask(task: MemoryTask): Promise<MemoryReading[]> {
  const path = await openFacadePath(task.context);
  try {
    const requests: RequestFunction[] = [];
    for (const operation of OPERATIONS) {
      requests.push((await path.prepare(operation, PAYLOAD_BYTES))(0));
    }
    // Worker i starts at operation i, so every operation is in flight at once.
    const requestFor = (workerIndex: number): RequestFunction => {
      let next = workerIndex;
      return () => requests[next++ % requests.length]!();
    };

    await runCount(requestFor, task.inFlight, task.warmupOperations);
    const started = performance.now();
    const readings = [read(task.warmupOperations, started)];
    let done = task.warmupOperations;
    for (const checkpoint of task.checkpoints) {
      await runCount(requestFor, task.inFlight, checkpoint - done);
      done = checkpoint;
      readings.push(read(done, started));
    }
    return readings;
  } finally {
    await path.close();
  }
}
