// The tasks a benchmark child process can run, one kind per module. The
// parent imports only these types, so it never loads the addon, pkcs11js or
// a PKCS#11 module itself.
import type { MemoryTask } from './memory.js';
import type { ScenarioTask } from './scenario.js';
import type { ServeTask, StoreSetupTask } from './serve-process.js';
import type { TokenBucketTask } from './token-bucket/bucket-bench.js';
import type { BucketProcessTask } from './token-bucket/bucket-process.js';
import type { WrappingKeyTask } from './wrapping-keys.js';

export type ChildTask =
  | ScenarioTask
  | WrappingKeyTask
  | MemoryTask
  | TokenBucketTask
  | BucketProcessTask
  | StoreSetupTask
  | ServeTask;
