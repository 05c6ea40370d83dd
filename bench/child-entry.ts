// Entry point of a benchmark child process (see child-process.ts for the
// protocol). It runs the one task the parent sends, sends the result or the
// error back, and exits. Each task's module is imported only for its kind.
import type { ChildMessage } from './child-process.js';
import type { ChildTask } from './child-tasks.js';

if (!process.send) {
  process.stderr.write('bench/child-entry.ts runs only as a child of bench/run.ts, with an IPC channel\n');
  process.exit(2);
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, (error: Error | null) => (error ? reject(error) : resolve())));
}

/** Sends 'ready' and resolves when the parent sends 'start'. */
async function waitForStart(): Promise<void> {
  const started = new Promise<void>((resolve) => {
    const listener = (message: ChildMessage) => {
      if (message.type !== 'start') return;
      process.off('message', listener);
      resolve();
    };
    process.on('message', listener);
  });
  await send({ type: 'ready' });
  await started;
}

async function runTask(task: ChildTask): Promise<unknown> {
  switch (task.kind) {
    case 'scenario':
      return (await import('./scenario.js')).runScenario(task);
    case 'wrapping-key':
      return (await import('./wrapping-keys.js')).runWrappingKeyTask(task);
    case 'memory':
      return (await import('./memory.js')).runMemoryTask(task);
    case 'token-bucket':
      return (await import('./token-bucket/bucket-bench.js')).runTokenBucketTask(task);
    case 'bucket-process':
      return (await import('./token-bucket/bucket-process.js')).runBucketProcessTask(task, waitForStart);
    case 'store-setup':
      return (await import('./serve-process.js')).runStoreSetupTask(task);
    case 'serve':
      return (await import('./serve-process.js')).runServeTask(task, waitForStart);
  }
}

process.once('message', async (message: ChildMessage) => {
  if (message.type !== 'task') return;
  try {
    const value = await runTask(message.task);
    await send({ type: 'result', value: value ?? null });
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    await send({ type: 'error', message: `${message.task.kind} task failed: ${text}` });
    process.exitCode = 1;
  }
  // Closing the channel lets the process exit once the task's handles are closed.
  process.disconnect();
});
