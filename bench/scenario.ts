// One scenario of the matrix, run inside a child process: a JavaScript path
// on one or two HSMs, and a list of cells (operation, size and in-flight
// count) measured one after the other.
import { runClosedLoop, type ClosedLoopResult } from './closed-loop.js';
import type { BenchPath, PathContext } from './paths/bench-path.js';
import type { JsPathName, Operation } from './workloads.js';

export interface Timing {
  warmupSeconds: number;
  samples: number;
  sampleSeconds: number;
}

export interface ScenarioCell {
  operation: Operation;
  bytes: number;
  inFlight: number;
}

export interface ScenarioTask {
  kind: 'scenario';
  path: JsPathName;
  hsms: number;
  cells: ScenarioCell[];
  timing: Timing;
  context: PathContext;
}

export type CellOutcome =
  | (ScenarioCell & { status: 'measured' } & ClosedLoopResult)
  | (ScenarioCell & { status: 'failed'; error: string });

/**
 * Opens a path. Each path's module is imported only here, so a child loads
 * only the libraries of its own path: a pkcs11js child never loads the
 * hsm-kms addon, for example.
 */
export async function openPath(path: JsPathName, context: PathContext): Promise<BenchPath> {
  switch (path) {
    case 'facade':
      return (await import('./paths/facade.js')).openFacadePath(context);
    case 'http':
      return (await import('./paths/http.js')).openHttpPath(context);
    case 'addon':
      return (await import('./paths/addon.js')).openAddonPath(context);
    case 'pkcs11js-async':
      return (await import('./paths/pkcs11js.js')).openPkcs11jsPath(context, 'async');
    case 'pkcs11js-sync':
      return (await import('./paths/pkcs11js.js')).openPkcs11jsPath(context, 'sync');
    case 'node-crypto':
      return (await import('./paths/node-crypto.js')).openNodeCryptoPath();
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Opens the path, measures each cell in turn and closes the path. A cell
 * that fails is reported as failed and the next one still runs.
 */
export async function runScenario(task: ScenarioTask): Promise<CellOutcome[]> {
  const path = await openPath(task.path, task.context);
  const outcomes: CellOutcome[] = [];
  try {
    for (const cell of task.cells) {
      try {
        const requestFor = await path.prepare(cell.operation, cell.bytes);
        const result = await runClosedLoop({ requestFor, inFlight: cell.inFlight, ...task.timing });
        outcomes.push({ ...cell, status: 'measured', ...result });
      } catch (error) {
        outcomes.push({ ...cell, status: 'failed', error: describeError(error) });
      }
    }
  } finally {
    await path.close();
  }
  return outcomes;
}
