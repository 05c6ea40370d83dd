// The multi-process section (--processes N): the engine serving from N
// processes on one host against N C-loop processes, and the same with one
// process for scale. SoftHSM2 serialises the calls of one process on a
// process-wide lock, so several processes are how a host gets more than one
// core's worth of HSM work out of it.
//
// Every process gets its own copy of the token files: SoftHSM2 2.6.1
// processes that start together on one token directory can miss a token or
// fail C_Login (see runCLoopProcesses). With a copy each, no start of the
// engine or of the C loop fails that way. The facade processes share one
// data folder, whose store and keys a set-up child created before the
// copies were made.
import { join } from 'node:path';
import { runCLoopProcesses } from './c-loop.js';
import { runChild, startChild } from './child-process.js';
import { median, type ClosedLoopResult } from './closed-loop.js';
import { loadAverages } from './machine.js';
import type { BenchPlan } from './options.js';
import type { ProcessesRecord } from './results.js';
import type { ServeTask, StoreKeys } from './serve-process.js';
import { copyBenchTokens, type BenchTokens } from './token-set.js';
import { PATH_LABELS } from './workloads.js';

/** Time in ms allowed for a process's start, set-up and warm-up beyond its samples. */
const PROCESS_SETUP_MS = 60_000;

export interface ProcessesContext {
  plan: BenchPlan;
  tokens: BenchTokens;
  workDir: string;
  progress: (line: string) => void;
}

async function runServers(
  context: ProcessesContext,
  copies: BenchTokens[],
  keys: StoreKeys,
  base: Omit<ServeTask, 'context' | 'keys'>,
  processes: number,
): Promise<ClosedLoopResult[]> {
  const { timing } = context.plan;
  const timeoutMs = (timing.warmupSeconds + timing.samples * timing.sampleSeconds) * 1500 + PROCESS_SETUP_MS;
  const handles = copies.slice(0, processes).map((copy) =>
    startChild<ClosedLoopResult>(
      {
        ...base,
        keys,
        context: {
          modulePath: copy.modulePath,
          confPath: copy.confPath,
          tokenLabels: [copy.tokenLabels[0]!],
          pin: copy.pin,
          workDir: join(context.workDir, 'shared-data'),
        },
      },
      { env: { SOFTHSM2_CONF: copy.confPath }, timeoutMs },
    ),
  );
  try {
    // Every process has opened its HSM and warmed up before any measures.
    await Promise.all(handles.map((handle) => handle.ready));
    for (const handle of handles) handle.start();
    return await Promise.all(handles.map((handle) => handle.result));
  } finally {
    // Wait for every child to end before the next measurement starts.
    await Promise.allSettled(handles.map((handle) => handle.result));
  }
}

export async function runProcessesSection(context: ProcessesContext): Promise<ProcessesRecord[]> {
  const { plan, tokens } = context;
  const counts = plan.processes === 1 ? [1] : [1, plan.processes];
  // The throughput comparison uses the smallest size, where per-request
  // costs dominate, and the largest in-flight count of the plan.
  const bytes = Math.min(...plan.sizes);
  const inFlight = Math.max(...plan.inFlight);

  const keys = await runChild<StoreKeys>(
    {
      kind: 'store-setup',
      context: {
        modulePath: tokens.modulePath,
        confPath: tokens.confPath,
        tokenLabels: [tokens.tokenLabels[0]!],
        pin: tokens.pin,
        workDir: join(context.workDir, 'shared-data'),
      },
    },
    { env: { SOFTHSM2_CONF: tokens.confPath }, timeoutMs: PROCESS_SETUP_MS },
  );
  const copies = Array.from({ length: plan.processes }, (_, index) => copyBenchTokens(tokens, join(context.workDir, `token-copy-${index}`)));

  const records: ProcessesRecord[] = [];
  for (const operation of ['Encrypt', 'Decrypt'] as const) {
    for (const processes of counts) {
      for (const path of ['facade', 'addon'] as const) {
        const record: ProcessesRecord = { path, operation, bytes, inFlight, processes, status: 'measured' };
        try {
          const results = await runServers(context, copies, keys, { kind: 'serve', path, operation, bytes, inFlight, timing: plan.timing, waitForStart: true }, processes);
          record.perProcess = results.map((result) => result.opsPerSecond);
          record.sumOpsPerSecond = record.perProcess.reduce((sum, value) => sum + value, 0);
        } catch (error) {
          Object.assign(record, { status: 'failed', error: (error as Error).message });
        }
        record.loadAverage = loadAverages()[0];
        records.push(record);
        context.progress(`${PATH_LABELS[path]}, ${operation}, ${processes} process(es): ${record.status}`);
      }

      for (const path of ['c-token', 'c-session'] as const) {
        const record: ProcessesRecord = { path, operation, bytes, inFlight: 1, processes, status: 'measured' };
        try {
          const result = await runCLoopProcesses(processes, (index) => ({
            tokenSet: copies[index]!,
            tokens: copies[index]!.tokenLabels[0]!,
            pin: tokens.pin,
            op: operation === 'Encrypt' ? 'encrypt' : 'decrypt',
            key: path === 'c-token' ? 'token' : 'session',
            bytes,
            // The first run of each process is dropped as warm-up.
            runs: plan.timing.samples + 1,
            seconds: plan.timing.sampleSeconds,
          }));
          record.perProcess = result.results.map((one) => median(one.runs.slice(1)));
          record.sumOpsPerSecond = record.perProcess.reduce((sum, value) => sum + value, 0);
        } catch (error) {
          Object.assign(record, { status: 'failed', error: (error as Error).message });
        }
        record.loadAverage = loadAverages()[0];
        records.push(record);
        context.progress(`${PATH_LABELS[path]}, ${operation}, ${processes} process(es): ${record.status}`);
      }
    }
  }
  return records;
}
