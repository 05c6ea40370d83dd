// The result of one benchmark run, as written to bench/results/<timestamp>.json
// and rendered into the printed tables and BENCHMARKS.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo, SoftwareVersions } from './machine.js';
import type { MemoryReading } from './memory.js';
import type { BenchPlan } from './options.js';
import type { TokenBucketSectionResults } from './token-bucket/section.js';
import type { Operation, PathName } from './workloads.js';

/** One cell of the matrix: a path on a workload. */
export interface CellRecord {
  path: PathName;
  operation: Operation;
  bytes: number;
  /** Requests in flight, 1 for the C loop (one request per thread). */
  inFlight: number;
  hsms: number;
  status: 'measured' | 'n/a' | 'failed';
  /** Reason the cell is n/a, or the error of a failed cell. */
  reason?: string;
  opsPerSecond?: number;
  /** Operations per second of each sample, whose median is opsPerSecond. */
  samples?: number[];
  /** Not measured for the C loop, which only counts operations. */
  p50Microseconds?: number;
  p99Microseconds?: number;
  eventLoopLagP99Milliseconds?: number;
  /** 1-minute load average when the cell ended. */
  loadAverage?: number;
  /** CPU time of the whole process per request (see ClosedLoopResult). */
  cpuMicrosecondsPerRequest?: number;
  /** CPU share of the main thread during the samples, in percent. */
  mainThreadCpuPercent?: number;
}

export interface MemoryResults {
  path: 'facade';
  inFlight: number;
  /** V8 flags of the measured process beyond --expose-gc; absent or empty for the defaults. */
  v8Flags?: string[];
  readings: MemoryReading[];
}

export interface ProcessesRecord {
  path: 'facade' | 'addon' | 'c-token' | 'c-session';
  operation: 'Encrypt' | 'Decrypt';
  bytes: number;
  /** Requests in flight in each process, 1 for the C loop. */
  inFlight: number;
  processes: number;
  status: 'measured' | 'failed';
  error?: string;
  /** Median ops/s of each process. */
  perProcess?: number[];
  /** Sum of the medians: an estimate, since the processes' samples are not aligned exactly. */
  sumOpsPerSecond?: number;
  loadAverage?: number;
}

export interface BenchResults {
  /** Format of this file, raised when a field changes meaning. */
  formatVersion: 1;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** The command that produced the run, as typed. */
  command: string;
  plan: BenchPlan;
  machine: MachineInfo;
  versions: SoftwareVersions;
  loadAverageAtStart: [number, number, number];
  loadAverageAtEnd: [number, number, number];
  /** Set when the machine was not idle at start. */
  busyMachineWarning?: string;
  cells: CellRecord[];
  tokenBucket?: TokenBucketSectionResults;
  memory?: MemoryResults;
  /** The same run with V8's young generation fixed at its largest size (FIXED_YOUNG_GENERATION_FLAGS). */
  memoryFixedYoungGeneration?: MemoryResults;
  processes?: ProcessesRecord[];
  /** Errors of sections or cells that did not complete. */
  failures: string[];
}

/** Writes the results to `<directory>/<timestamp>.json` and returns the path. */
export function writeResults(results: BenchResults, directory: string): string {
  mkdirSync(directory, { recursive: true });
  const timestamp = results.startedAt.replace(/[:.]/g, '-');
  const path = join(directory, `${timestamp}.json`);
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}
