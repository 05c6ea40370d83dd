// Child task of the token-bucket benchmark: one of several processes that
// call tryAcquire on one bucket kept in a shared file, as the processes of
// a Kms that share a data folder do. The parent releases all of them at once.
import { tokenBucket } from '../../dist/native.js';
import { runAcquireLoop, type AcquireLimit, type AcquireLoopResult } from './acquire-loop.js';

export interface BucketProcessTask extends AcquireLimit {
  kind: 'bucket-process';
  sharedPath: string;
  requestsPerSecond: number;
  burst: number;
  waitForStart: true;
}

export async function runBucketProcessTask(task: BucketProcessTask, waitForStart: () => Promise<void>): Promise<AcquireLoopResult> {
  const bucket = tokenBucket('bench-shared-file', task.requestsPerSecond, task.burst, task.sharedPath);
  await waitForStart();
  return runAcquireLoop(bucket, task);
}
