// The interface that every measured JavaScript path implements, so the
// scenario child can run any of them through the same closed loop.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RequestFunction } from '../closed-loop.js';
import type { Operation } from '../workloads.js';

/** The tokens and settings a path opens. */
export interface PathContext {
  modulePath: string;
  /** softhsm2.conf of the token set, which the child's SOFTHSM2_CONF already names. */
  confPath: string;
  /** Labels of the tokens to use, one per HSM. */
  tokenLabels: string[];
  /** User PIN of every token. */
  pin: string;
  /** A folder the path may write to, such as the facade's data folder. */
  workDir: string;
}

export interface BenchPath {
  /**
   * Prepares `operation` on payloads of `bytes` (for example, a ciphertext to
   * decrypt) and returns the request function of each closed-loop worker.
   */
  prepare(operation: Operation, bytes: number): Promise<(workerIndex: number) => RequestFunction>;
  /** Destroys the keys the path created and closes its sessions. */
  close(): Promise<void>;
}

/** Fixed additional authenticated data for the paths that pass AAD directly, as gcm-loop.c does. */
export const BENCH_AAD = Buffer.alloc(32, 0xa0);

/**
 * Wraps a synchronous call as a request that first waits for its own turn of
 * the event loop, as a server handles each request in its own callback. The
 * call then blocks the loop while it runs, so with several requests in
 * flight they queue behind each other and the event-loop lag grows.
 */
export function inOwnTurn(call: () => unknown): RequestFunction {
  return async () => {
    await nextTurn();
    return call();
  };
}
