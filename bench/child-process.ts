// Parent side of the benchmark's child processes. Each scenario runs in a
// fresh Node.js process, so heaps, JIT state, PKCS#11 sessions and session
// objects of one scenario never affect the next. The child is
// bench/child-entry.ts, run through tsx, and talks to the parent over the IPC
// channel:
//   parent → child  { type: 'task', task }     once, at start
//   child → parent  { type: 'ready' }           set-up done (only when task.waitForStart)
//   parent → child  { type: 'start' }           begin measuring (only when task.waitForStart)
//   child → parent  { type: 'result', value }   or { type: 'error', message }
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { debuglog } from 'node:util';
import type { ChildTask } from './child-tasks.js';

const log = debuglog('hsm-kms:bench');

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPOSITORY_ROOT = join(BENCH_DIR, '..');
const CHILD_ENTRY = join(BENCH_DIR, 'child-entry.ts');

/** tsx's loader, by absolute URL, so children resolve it whatever their working folder. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Time in ms between SIGTERM and SIGKILL for a child that outlives its timeout or its result. */
const KILL_GRACE_MS = 5_000;

export type ChildMessage =
  | { type: 'task'; task: ChildTask }
  | { type: 'start' }
  | { type: 'ready' }
  | { type: 'result'; value: unknown }
  | { type: 'error'; message: string };

export interface ChildOptions {
  /** Variables added to the parent's environment, such as SOFTHSM2_CONF. */
  env?: Record<string, string>;
  /** Node.js options placed before the entry, such as --expose-gc. */
  nodeOptions?: string[];
  /** Stop the child with SIGTERM, then SIGKILL, after this many ms. */
  timeoutMs: number;
}

export interface ChildHandle<T> {
  /** Resolves when the child sent 'ready' (tasks with waitForStart only). */
  ready: Promise<void>;
  /** Tells a child that waits for it to begin measuring. */
  start(): void;
  /** Resolves with the child's result, after the child has exited. */
  result: Promise<T>;
  pid: number | undefined;
}

function stopChild(child: ChildProcess): NodeJS.Timeout {
  child.kill('SIGTERM');
  return setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
}

/** Starts a child on `task`. Its stderr goes to the parent's stderr, and its stdout is discarded. */
export function startChild<T>(task: ChildTask, options: ChildOptions): ChildHandle<T> {
  const args = ['--import', TSX_LOADER, ...(options.nodeOptions ?? []), CHILD_ENTRY];
  const child = spawn(process.execPath, args, {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  log('child %d started for a %s task', child.pid, task.kind);

  let markReady!: () => void;
  let failReady!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  // A child that fails before 'ready' rejects both promises. This handler
  // keeps the rejection of `ready` from counting as unhandled when no caller
  // awaits it.
  ready.catch(() => undefined);

  const result = new Promise<T>((resolve, reject) => {
    let outcome: { value: T } | { error: Error } | undefined;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timeoutTimer = setTimeout(() => {
      timedOut = true;
      log('child %d timed out after %d ms', child.pid, options.timeoutMs);
      killTimer = stopChild(child);
    }, options.timeoutMs);

    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') markReady();
      if (message.type === 'result') outcome = { value: message.value as T };
      if (message.type === 'error') outcome = { error: new Error(message.message) };
      if (message.type === 'result' || message.type === 'error') {
        // The child disconnects and exits after its result. One that stays
        // (a handle left open) is stopped so the run goes on.
        killTimer ??= setTimeout(() => {
          log('child %d did not exit after its result, sending SIGTERM', child.pid);
          killTimer = stopChild(child);
        }, KILL_GRACE_MS);
      }
    });
    child.on('error', (error) => {
      outcome ??= { error: new Error(`Starting the benchmark child failed: ${error.message}`) };
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      log('child %d exited with code %s, signal %s', child.pid, code, signal);
      if (outcome && 'value' in outcome) {
        resolve(outcome.value);
        return;
      }
      const ending = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const error =
        outcome?.error ??
        new Error(`The ${task.kind} child ${timedOut ? `timed out after ${options.timeoutMs} ms and ` : ''}${ending} without a result`);
      failReady(error);
      reject(error);
    });
  });

  child.send({ type: 'task', task } satisfies ChildMessage);
  return {
    ready,
    start: () => child.send({ type: 'start' } satisfies ChildMessage),
    result,
    pid: child.pid,
  };
}

/** Runs `task` in a child and resolves with its result. */
export function runChild<T>(task: ChildTask, options: ChildOptions): Promise<T> {
  return startChild<T>(task, options).result;
}
