// Tables of the token-bucket, memory and multi-process sections.
import type { MemoryResults, ProcessesRecord } from '../results.js';
import { IMPLEMENTATION_LABELS, type ConcurrencyFigure } from '../token-bucket/figures.js';
import type { NativeAcquireResult } from '../token-bucket/native-acquire.js';
import type { TokenBucketSectionResults } from '../token-bucket/section.js';
import { PATH_LABELS, formatBytes } from '../workloads.js';
import { NO_RATIO, formatFigure, formatInteger, formatMebibytes, formatRatio, type Table } from './table.js';

/** Uncontended cost that the native acquire is meant to stay under. */
const NATIVE_TARGET_NS = 25;

function joinFigures(values: number[]): string {
  return values.map(formatFigure).join(', ');
}

/** Names the clocks that the acquire-bench runs read; runs recorded before `clock` existed read CLOCK_MONOTONIC. */
function clockNames(results: NativeAcquireResult[]): string {
  const names = new Set(results.map((result) => (result.clock === 'tsc' ? 'the TSC' : 'CLOCK_MONOTONIC')));
  return [...names].join(', ');
}

function concurrencyLabel(figure: ConcurrencyFigure): string {
  const unit = figure.concurrency === 'processes' ? 'process' : 'thread';
  return `${figure.count} ${unit}${figure.count > 1 ? (unit === 'process' ? 'es' : 's') : ''}`;
}

export function tokenBucketTables(bucket: TokenBucketSectionResults): Table[] {
  const addon = bucket.singleThread.find((figure) => figure.implementation === IMPLEMENTATION_LABELS.addon);
  const single: Table = {
    title: 'Token bucket: tryAcquire from JavaScript, one thread (tinybench)',
    headers: ['Implementation', 'ns per call', 'p50 ns', 'p99 ns', '× addon'],
    numericColumns: [1, 2, 3, 4],
    rows: bucket.singleThread.map((figure) => [
      figure.implementation,
      formatFigure(figure.nanosecondsPerCall),
      formatFigure(figure.p50NanosecondsPerCall),
      formatFigure(figure.p99NanosecondsPerCall),
      formatRatio(addon && figure.nanosecondsPerCall / addon.nanosecondsPerCall),
    ]),
    notes: [
      'Each tinybench iteration times 1,000 calls; p50 and p99 are of those batches, divided by 1,000.',
      'The bucket allows 1e9 requests/s, so every call is granted and updates the state.',
      'The shared file is the cross-process bucket that Kms keeps in its data folder (tokenBucket with a path).',
    ],
  };

  const speed: Table = {
    title: 'Token bucket: several callers on one bucket',
    headers: ['Implementation', 'Callers', 'ns per call, each caller', 'calls/s, all callers'],
    numericColumns: [3],
    rows: bucket.speed.map((figure) => [
      IMPLEMENTATION_LABELS[figure.implementation],
      concurrencyLabel(figure),
      joinFigures(figure.nanosecondsPerCall),
      formatInteger(figure.totalCallsPerSecond),
    ]),
    notes: ['Threads are worker_threads of one process; processes map the same bucket file.'],
  };

  const accuracy: Table = {
    title: 'Token bucket: enforced rate while callers call it as fast as they can',
    headers: ['Implementation', 'Callers', 'Configured /s', 'Burst', 'Seconds', 'Calls', 'Granted', 'Enforced /s', 'Enforced / configured', 'Granted ≤ rate × s + burst'],
    numericColumns: [2, 3, 4, 5, 6, 7, 8],
    rows: bucket.accuracy.map((figure) => [
      IMPLEMENTATION_LABELS[figure.implementation],
      concurrencyLabel(figure),
      formatInteger(figure.configuredRequestsPerSecond),
      String(figure.burst),
      figure.seconds.toFixed(3),
      formatInteger(figure.calls),
      formatInteger(figure.granted),
      formatFigure(figure.enforcedRequestsPerSecond),
      figure.ratio.toFixed(4),
      figure.granted <= figure.configuredRequestsPerSecond * figure.seconds + figure.burst ? 'yes' : 'no',
    ]),
    notes: [
      'Enforced rate = (granted − burst) / seconds, because the burst passes at once.',
      'A GCRA keeps at most `burst` requests of unused capacity, so time in which no caller calls (while the OS runs other processes, say) is lost; that, not over-admission, is what a ratio below 1 shows.',
    ],
  };

  const native: Table = {
    title: 'Token bucket: native TryAcquire in C++ (bench/token-bucket/acquire-bench.cc)',
    headers: ['Threads', 'TryAcquire ns', 'TryAcquireAt ns (no clock read)', 'clock read ns', `TryAcquire < ${NATIVE_TARGET_NS} ns`],
    numericColumns: [0, 1, 2, 3],
    rows: bucket.native.map((result) => {
      let meetsTarget = NO_RATIO;
      if (result.threads === 1) meetsTarget = Math.max(...result.tryAcquireNs) < NATIVE_TARGET_NS ? 'yes' : 'no';
      return [
        String(result.threads),
        joinFigures(result.tryAcquireNs),
        joinFigures(result.tryAcquireAtNs),
        joinFigures(result.clockNs),
        meetsTarget,
      ];
    }),
    notes: [
      `One figure per thread. TryAcquire reads the clock (${clockNames(bucket.native)}) on every call; TryAcquireAt takes the time as an argument.`,
      `The target of ${NATIVE_TARGET_NS} ns applies to one thread (uncontended). The process-wide bucket is measured; the shared-file bucket runs the same code on mapped memory.`,
    ],
  };
  return [single, speed, accuracy, native];
}

export function memoryTable(memory: MemoryResults): Table {
  const readings = memory.readings;
  const rows = readings.map((reading, index) => [
    index === 0 ? 'after warm-up' : `after ${formatInteger(reading.operations)} operations`,
    formatInteger(reading.operations),
    formatMebibytes(reading.rssBytes),
    formatMebibytes(reading.heapUsedBytes),
    formatMebibytes(reading.heapTotalBytes),
    formatMebibytes(reading.externalBytes),
    reading.elapsedSeconds.toFixed(1),
  ]);
  for (let index = 1; index < readings.length; index++) {
    const from = readings[index - 1]!;
    const to = readings[index]!;
    rows.push([
      `growth ${formatInteger(from.operations)} → ${formatInteger(to.operations)}`,
      formatInteger(to.operations - from.operations),
      formatMebibytes(to.rssBytes - from.rssBytes),
      formatMebibytes(to.heapUsedBytes - from.heapUsedBytes),
      formatMebibytes(to.heapTotalBytes - from.heapTotalBytes),
      formatMebibytes(to.externalBytes - from.externalBytes),
      (to.elapsedSeconds - from.elapsedSeconds).toFixed(1),
    ]);
  }
  const flags = memory.v8Flags ?? [];
  const flagNote =
    flags.length === 0
      ? 'Heap total includes V8\'s young generation, which V8 enlarges in steps under a sustained allocation rate. RSS follows those steps, so compare heap used, the RSS of the later readings, and the run with the young generation fixed.'
      : `V8 runs with ${flags.join(' ')}: its young generation has its final size from the start, so its enlargement does not show, and what RSS gains is the engine's own.`;
  return {
    title: flags.length === 0 ? 'Memory of the Kms facade (one HSM)' : 'Memory of the Kms facade (one HSM), young generation fixed',
    headers: ['Reading', 'Operations', 'RSS MiB', 'Heap used MiB', 'Heap total MiB', 'External MiB', 'Seconds'],
    numericColumns: [1, 2, 3, 4, 5, 6],
    rows,
    notes: [
      `Requests cycle through Encrypt, Decrypt, GenerateDataKey and ReEncrypt of 32 B, ${memory.inFlight} in flight.`,
      'Each reading follows two forced garbage collections (node --expose-gc).',
      flagNote,
    ],
  };
}

export function processesTable(records: ProcessesRecord[]): Table {
  const cSum = (record: ProcessesRecord, paths: ProcessesRecord['path'][]) =>
    records
      .filter((other) => paths.includes(other.path) && other.operation === record.operation && other.processes === record.processes && other.status === 'measured')
      .reduce((best, other) => Math.max(best, other.sumOpsPerSecond!), 0);
  const ratio = (record: ProcessesRecord, sum: number) => formatRatio(sum > 0 ? record.sumOpsPerSecond! / sum : undefined);
  const oneProcess = (record: ProcessesRecord) =>
    records.find((other) => other.path === record.path && other.operation === record.operation && other.processes === 1 && other.status === 'measured');
  return {
    title: 'Serving from several processes, one token copy each',
    headers: ['Path', 'Operation', 'Size', 'In flight per process', 'Processes', 'ops/s per process', 'ops/s, sum', '× fastest C sum', '× C token-key sum', '× 1 process'],
    numericColumns: [3, 4, 6, 7, 8, 9],
    rows: records.map((record) => {
      const head = [PATH_LABELS[record.path], record.operation, formatBytes(record.bytes), String(record.inFlight), String(record.processes)];
      if (record.status === 'failed') return [...head, 'failed', '', '', '', ''];
      const baseline = oneProcess(record);
      return [
        ...head,
        joinFigures(record.perProcess!),
        formatInteger(record.sumOpsPerSecond!),
        ratio(record, cSum(record, ['c-token', 'c-session'])),
        ratio(record, cSum(record, ['c-token'])),
        formatRatio(baseline && record.sumOpsPerSecond! / baseline.sumOpsPerSecond!),
      ];
    }),
    notes: [
      'Every process uses its own copy of the token files (same labels, PINs and keys); the facade processes share one data folder.',
      'The sum adds the medians of the processes; their samples start together but are not aligned exactly, so it is an estimate.',
      '× fastest C sum compares with the faster C key variant at the same process count, and × C token-key sum with the C loop on the token key, which SoftHSM2 re-reads from its files on every use.',
      'A C process keeps one core busy with HSM work alone. An engine process also spends CPU on its JavaScript thread (see CPU µs/op in the matrix), so on a machine with as many cores as processes the engine cannot match the session-copy C loop.',
    ],
  };
}
