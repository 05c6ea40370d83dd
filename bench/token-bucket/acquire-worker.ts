// worker_thread body of the token-bucket benchmark: calls tryAcquire on a
// bucket shared with the other workers, in a tight loop, and reports the
// time per call and the requests granted. Every worker of a run posts
// 'ready', then blocks until the parent thread releases all of them at once.
import { parentPort, workerData } from 'node:worker_threads';
import { runAcquireLoop, type AcquireLimit } from './acquire-loop.js';
import { SharedJsGcra } from './js-gcra.js';

export interface AcquireWorkerData extends AcquireLimit {
  /**
   * Bucket to call: the addon's by `bucketName` (addon), the addon's in the
   * file `sharedPath` (addon-file), or a SharedJsGcra over `bucketBuffer` (js).
   */
  implementation: 'addon' | 'addon-file' | 'js';
  bucketName: string;
  sharedPath: string;
  bucketBuffer: SharedArrayBuffer;
  requestsPerSecond: number;
  burst: number;
  /** Int32Array slot 0: 0 until the parent thread releases the workers. */
  startSignal: SharedArrayBuffer;
}

const data = workerData as AcquireWorkerData;

async function openBucket(): Promise<{ tryAcquire(): boolean }> {
  if (data.implementation === 'js') return new SharedJsGcra(data.bucketBuffer, data.requestsPerSecond, data.burst);
  // The addon is imported only by addon workers.
  const { tokenBucket } = await import('../../dist/native.js');
  const sharedPath = data.implementation === 'addon-file' ? data.sharedPath : undefined;
  return tokenBucket(data.bucketName, data.requestsPerSecond, data.burst, sharedPath);
}

const bucket = await openBucket();
const startSignal = new Int32Array(data.startSignal);
parentPort!.postMessage('ready');
Atomics.wait(startSignal, 0, 0);
parentPort!.postMessage(runAcquireLoop(bucket, data));
