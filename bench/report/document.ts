// Renders a run's results as the BENCHMARKS.md page and as terminal text.
import type { BenchResults } from '../results.js';
import { OPERATIONS, PATHS, PATH_LABELS, formatBytes, type PathName } from '../workloads.js';
import { operationTable } from './matrix-tables.js';
import { memoryTable, processesTable, tokenBucketTables } from './section-tables.js';
import { renderMarkdown, renderText, type Table } from './table.js';

const PATH_DESCRIPTIONS: Record<PathName, string> = {
  facade:
    'the `Kms` class in the benchmark process, with a connected custom key store (validation, key lookup in SQLite, key-state rules, token bucket, blob format), default engine settings',
  http:
    'the facade behind `createServer` with SigV4, called by `@aws-sdk/client-kms` over keep-alive HTTP on 127.0.0.1; client and server share one process and its main thread, so the figure is a lower bound of a server with its own process',
  addon: '`openHsm` handles with default options (one session and executor thread per token, session-object key copies); 32 B of AAD',
  'c-token': '`bench/c/gcm-loop.c` on the token key, one thread per token, compiled by the run',
  'c-session': '`bench/c/gcm-loop.c` on a session-object copy of the key (`CKA_TOKEN` false), one thread per token',
  'pkcs11js-async':
    'pkcs11js with `CKF_OS_LOCKING_OK`, token keys, one session per request in flight, `C_EncryptInit` on the event loop and `C_EncryptAsync`/`C_DecryptAsync` on libuv\'s pool',
  'pkcs11js-sync': 'the same pkcs11js set-up with synchronous calls on the event loop, one session per token',
  'node-crypto': "AES-256-GCM in node:crypto with the key in process memory, no HSM",
};

/** Returns the run's tables in page order. */
export function resultTables(results: BenchResults): Table[] {
  const tables: Table[] = [];
  for (const operation of OPERATIONS) {
    const table = operationTable(results.cells, operation);
    if (table) tables.push(table);
  }
  if (results.tokenBucket) tables.push(...tokenBucketTables(results.tokenBucket));
  if (results.memory) tables.push(memoryTable(results.memory));
  if (results.memoryFixedYoungGeneration) tables.push(memoryTable(results.memoryFixedYoungGeneration));
  if (results.processes) tables.push(processesTable(results.processes));
  return tables;
}

function describePlan(results: BenchResults): string {
  const { timing, mode, sizes, inFlight, hsmCounts } = results.plan;
  const matrix = `sizes ${sizes.map(formatBytes).join(', ')}; in flight ${inFlight.join(', ')}; HSMs ${hsmCounts.join(', ')}`;
  return `${mode}: each figure is the median of ${timing.samples} samples of ${timing.sampleSeconds} s, after ${timing.warmupSeconds} s of warm-up (${matrix})`;
}

function formatLoad(load: [number, number, number]): string {
  return load.map((value) => value.toFixed(2)).join(', ');
}

function gibibytes(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** Returns the lines that describe when, how and where the run happened. */
export function runSummary(results: BenchResults): string[] {
  const { machine, versions } = results;
  const lines = [
    `Date: ${results.startedAt} (${results.durationSeconds.toFixed(0)} s)`,
    `Command: ${results.command}`,
    `Mode: ${describePlan(results)}`,
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${gibibytes(machine.memoryBytes)} RAM, ${machine.kernel}`,
    `Versions: Node.js ${versions.node} (OpenSSL ${versions.nodeOpenssl}), SoftHSM2 ${versions.softhsm2}, system ${versions.systemOpenssl}, pkcs11js ${versions.pkcs11js}, tinybench ${versions.tinybench}, ${versions.cCompiler}`,
    `Load average (1, 5, 15 min): ${formatLoad(results.loadAverageAtStart)} at start, ${formatLoad(results.loadAverageAtEnd)} at end`,
  ];
  if (results.busyMachineWarning) lines.push(`WARNING: ${results.busyMachineWarning}`);
  return lines;
}

const READING_GUIDE = [
  '**ops/s**: requests completed per second, the median of the samples. Each worker of the closed loop keeps one request in flight and sends the next when it settles.',
  '**p50, p99**: latency of every request of every sample, from the call to the settled promise.',
  '**lag p99**: 99th percentile of `perf_hooks.monitorEventLoopDelay` (1 ms resolution) minus the resolution: how late the event loop ran other callbacks.',
  '**×C**: ratio to the fastest single-threaded C loop on one token, for the same operation and size (the note under each table names the variant). For ops/s, above 1× is faster; for p50, above 1× is slower than the C loop\'s time per operation.',
  '**×pkcs11js**: ratio to pkcs11js async on the same workload (same size, HSM count and in-flight count). For latency and lag, above 1× is slower.',
  '**n/a**: the path cannot run the workload, for the reason given. "–" is a ratio whose reference is missing or too small to divide by.',
  '**CPU µs/op**: CPU time of the whole process (every thread: JavaScript, executor, libuv pool, PKCS#11 module) per request during the samples. **JS thread %**: CPU time of the main thread over the samples\' wall time, from /proc. Near 100 %, the event loop is the bottleneck.',
  'Synchronous paths (pkcs11js sync, node:crypto) run each request in its own event-loop turn, as a server would; with more requests in flight they queue behind each other.',
  'Every path of a run uses the same SoftHSM2 token set, created for the run in a temporary folder.',
];

function isolationLine(results: BenchResults): string {
  return results.plan.childPerOperation
    ? 'Each JavaScript path runs in a fresh child process per operation and HSM count.'
    : 'Each JavaScript path runs in a fresh child process per HSM count, which measures all operations.';
}

export function renderMarkdownDocument(results: BenchResults): string {
  const parts = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts); every full run replaces this page (a --quick run leaves it unless --markdown names it), and every run writes its JSON to bench/results/. Figures depend on the machine and on its other load, so compare figures of one run with each other.',
    '',
    ...runSummary(results).map((line) => `- ${line}`),
    '',
    '## Paths',
    '',
    ...PATHS.map((path) => `- **${PATH_LABELS[path]}**: ${PATH_DESCRIPTIONS[path]}.`),
    '',
    '## Reading the tables',
    '',
    ...[...READING_GUIDE, isolationLine(results)].map((line) => `- ${line}`),
    '',
    '## Results',
    '',
  ];
  for (const table of resultTables(results)) parts.push(renderMarkdown(table));
  if (results.failures.length > 0) {
    parts.push('## Failures', '', ...results.failures.map((failure) => `- ${failure.split('\n')[0]}`), '');
  }
  return parts.join('\n');
}

export function renderTextReport(results: BenchResults): string {
  const parts = [...runSummary(results), ''];
  for (const table of resultTables(results)) parts.push(renderText(table));
  if (results.failures.length > 0) parts.push('Failures:', ...results.failures.map((failure) => `  ${failure}`), '');
  return parts.join('\n');
}
