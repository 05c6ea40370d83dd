// The matrix section: every path on every workload of the plan, on the run's
// token set. In the full run the order is operation first, then HSM count,
// then path, so the paths compared in one table run close together in time
// and see similar load from the rest of the machine.
import { join } from 'node:path';
import { runCLoop } from './c-loop.js';
import { runChild } from './child-process.js';
import { median } from './closed-loop.js';
import { loadAverages } from './machine.js';
import type { BenchPlan } from './options.js';
import type { CellRecord } from './results.js';
import type { CellOutcome, ScenarioTask } from './scenario.js';
import type { BenchTokens } from './token-set.js';
import { PATH_LABELS, unsupportedReason, type JsPathName, type Operation, type PathName, type Workload } from './workloads.js';

/** Time in ms allowed for a child's start and set-up beyond its cells' sampling time. */
const CHILD_SETUP_MS = 60_000;

export interface MatrixContext {
  plan: BenchPlan;
  tokens: BenchTokens;
  /** Folder for the data folders of the children. */
  workDir: string;
  /** Called with one line of progress. */
  progress: (line: string) => void;
}

function tokenLabels(tokens: BenchTokens, hsms: number): string[] {
  return tokens.tokenLabels.slice(0, hsms);
}

/** Records a cell for each workload of the group that `path` cannot run, and returns the others. */
function splitSupported(path: PathName, workloads: Workload[], cells: CellRecord[]): Workload[] {
  const supported: Workload[] = [];
  for (const workload of workloads) {
    const reason = unsupportedReason(path, workload);
    if (reason) {
      cells.push({ path, ...workload, status: 'n/a', reason });
    } else {
      supported.push(workload);
    }
  }
  return supported;
}

/**
 * Runs gcm-loop on each workload. With plan.cLoopWarmupRun, one extra run
 * comes first and is dropped as warm-up. The figure is the median of the
 * other runs.
 */
async function runCReference(context: MatrixContext, path: 'c-token' | 'c-session', workloads: Workload[], cells: CellRecord[]): Promise<void> {
  const { plan, tokens } = context;
  const warmupRuns = plan.cLoopWarmupRun ? 1 : 0;
  for (const workload of splitSupported(path, workloads, cells)) {
    const started = performance.now();
    try {
      const result = await runCLoop({
        tokenSet: tokens,
        tokens: workload.hsms === 1 ? tokens.tokenLabels[0]! : tokenLabels(tokens, workload.hsms),
        pin: tokens.pin,
        op: workload.operation === 'Encrypt' ? 'encrypt' : 'decrypt',
        key: path === 'c-token' ? 'token' : 'session',
        bytes: workload.bytes,
        runs: plan.timing.samples + warmupRuns,
        seconds: plan.timing.sampleSeconds,
      });
      const samples = result.runs.slice(warmupRuns);
      cells.push({ path, ...workload, status: 'measured', opsPerSecond: median(samples), samples, loadAverage: loadAverages()[0] });
    } catch (error) {
      cells.push({ path, ...workload, status: 'failed', reason: (error as Error).message });
    }
    context.progress(`${PATH_LABELS[path]}, ${workload.operation} ${workload.bytes} B: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** Runs the workloads that `path` supports in one child process. */
async function runJsPath(context: MatrixContext, path: JsPathName, hsms: number, workloads: Workload[], cells: CellRecord[]): Promise<void> {
  const { plan, tokens } = context;
  const supported = splitSupported(path, workloads, cells);
  if (supported.length === 0) return;

  const operations = [...new Set(supported.map((workload) => workload.operation))];
  const task: ScenarioTask = {
    kind: 'scenario',
    path,
    hsms,
    cells: supported.map(({ operation, bytes, inFlight }) => ({ operation, bytes, inFlight })),
    timing: plan.timing,
    context: {
      modulePath: tokens.modulePath,
      confPath: tokens.confPath,
      tokenLabels: tokenLabels(tokens, hsms),
      pin: tokens.pin,
      workDir: join(context.workDir, `${path}-${hsms}-${operations.join('-')}`),
    },
  };
  const { warmupSeconds, samples, sampleSeconds } = plan.timing;
  const timeoutMs = supported.length * (warmupSeconds + samples * sampleSeconds) * 1500 + CHILD_SETUP_MS;
  const started = performance.now();
  try {
    const outcomes = await runChild<CellOutcome[]>(task, { env: { SOFTHSM2_CONF: tokens.confPath }, timeoutMs });
    for (const outcome of outcomes) {
      if (outcome.status === 'failed') {
        const { error, ...workload } = outcome;
        cells.push({ path, hsms, ...workload, status: 'failed', reason: error });
      } else {
        cells.push({ path, hsms, ...outcome });
      }
    }
  } catch (error) {
    for (const workload of supported) cells.push({ path, ...workload, status: 'failed', reason: (error as Error).message });
  }
  context.progress(`${PATH_LABELS[path]}: ${supported.length} cells in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Runs one group of workloads through every path of the plan. */
async function runGroup(context: MatrixContext, hsms: number, operations: Operation[], cells: CellRecord[]): Promise<void> {
  const { plan } = context;
  context.progress(`${operations.join(', ')} on ${hsms} HSM${hsms > 1 ? 's' : ''}:`);
  const workloads: Workload[] = [];
  for (const operation of operations) {
    for (const bytes of plan.sizes) {
      for (const inFlight of plan.inFlight) workloads.push({ operation, bytes, inFlight, hsms });
    }
  }
  for (const path of plan.paths) {
    if (path === 'c-token' || path === 'c-session') {
      // The C loop runs one request per thread: one workload per operation and size.
      const perSize = workloads.filter((workload) => workload.inFlight === plan.inFlight[0]).map((workload) => ({ ...workload, inFlight: 1 }));
      await runCReference(context, path, perSize, cells);
    } else {
      await runJsPath(context, path, hsms, workloads, cells);
    }
  }
}

/**
 * Runs the matrix. With plan.childPerOperation, each JavaScript path gets a
 * fresh child process per operation and HSM count, and the paths of one
 * operation run one after the other. Without it, one child per path and HSM
 * count runs every operation, which saves process starts.
 */
export async function runMatrix(context: MatrixContext): Promise<CellRecord[]> {
  const { plan } = context;
  const cells: CellRecord[] = [];
  if (plan.childPerOperation) {
    for (const operation of plan.operations) {
      for (const hsms of plan.hsmCounts) await runGroup(context, hsms, [operation], cells);
    }
  } else {
    for (const hsms of plan.hsmCounts) await runGroup(context, hsms, plan.operations, cells);
  }
  return cells;
}
