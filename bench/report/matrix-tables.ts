// Tables of the matrix section, one per operation. Each row is a path on a
// workload with its figures and their ratios to the two references.
import type { CellRecord } from '../results.js';
import { PATHS, PATH_LABELS, formatBytes, type Operation, type PathName } from '../workloads.js';
import { cReference, pkcs11jsReference } from './references.js';
import { NOT_APPLICABLE, NO_RATIO, formatFigure, formatInteger, formatRatio, type Table } from './table.js';

const HEADERS = [
  'Size',
  'HSMs',
  'Path',
  'In flight',
  'ops/s',
  '×C',
  '×pkcs11js',
  'p50 µs',
  '×C',
  '×pkcs11js',
  'p99 µs',
  '×pkcs11js',
  'lag p99 ms',
  '×pkcs11js',
  'CPU µs/op',
  'JS thread %',
];
const NUMERIC_COLUMNS = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/** Event-loop lags below this (in ms) are too small to divide by, so no ratio is computed against them. */
const MIN_LAG_FOR_RATIO_MS = 0.01;

function ratio(value: number | undefined, reference: number | undefined, minimum = 0): number | undefined {
  if (value === undefined || reference === undefined || !(reference > minimum)) return undefined;
  return value / reference;
}

function isC(path: PathName): boolean {
  return path === 'c-token' || path === 'c-session';
}

function inFlightLabel(cell: CellRecord): string {
  if (!isC(cell.path)) return String(cell.inFlight);
  return cell.hsms === 1 ? '1 thread' : `${cell.hsms} threads, 1 per token`;
}

function firstLine(text: string | undefined): string {
  const line = (text ?? 'no error message').split('\n')[0]!;
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

function measuredRow(cells: CellRecord[], cell: CellRecord): string[] {
  const head = [formatBytes(cell.bytes), String(cell.hsms), PATH_LABELS[cell.path], inFlightLabel(cell)];
  if (cell.status === 'failed') {
    return [...head, 'failed', ...Array<string>(HEADERS.length - head.length - 1).fill('')];
  }
  const c = cReference(cells, cell.operation, cell.bytes);
  const p11 = pkcs11jsReference(cells, cell);
  const ops = cell.opsPerSecond!;
  const throughput = [formatInteger(ops), formatRatio(ratio(ops, c?.opsPerSecond)), formatRatio(ratio(ops, p11?.opsPerSecond))];
  if (isC(cell.path)) {
    // gcm-loop counts operations only, so it has no latency, event loop or CPU figures.
    return [...head, ...throughput, ...Array<string>(HEADERS.length - head.length - throughput.length).fill(NOT_APPLICABLE)];
  }
  return [
    ...head,
    ...throughput,
    formatFigure(cell.p50Microseconds!),
    formatRatio(ratio(cell.p50Microseconds, c?.microsecondsPerOperation)),
    formatRatio(ratio(cell.p50Microseconds, p11?.p50Microseconds)),
    formatFigure(cell.p99Microseconds!),
    formatRatio(ratio(cell.p99Microseconds, p11?.p99Microseconds)),
    cell.eventLoopLagP99Milliseconds!.toFixed(2),
    formatRatio(ratio(cell.eventLoopLagP99Milliseconds, p11?.eventLoopLagP99Milliseconds, MIN_LAG_FOR_RATIO_MS)),
    cell.cpuMicrosecondsPerRequest === undefined ? NOT_APPLICABLE : formatFigure(cell.cpuMicrosecondsPerRequest),
    cell.mainThreadCpuPercent === undefined ? NOT_APPLICABLE : cell.mainThreadCpuPercent.toFixed(0),
  ];
}

function notApplicableRow(bytes: number, hsms: number, pathLabel: string): string[] {
  const row = [formatBytes(bytes), String(hsms), pathLabel, NO_RATIO, NOT_APPLICABLE];
  return [...row, ...Array<string>(HEADERS.length - row.length).fill('')];
}

/** Collects, per reason, the paths that are n/a for it, so each reason is printed once under the table. */
class NotApplicableReasons {
  readonly #pathsByReason = new Map<string, Set<string>>();

  add(reason: string, pathLabel: string): void {
    let paths = this.#pathsByReason.get(reason);
    if (!paths) this.#pathsByReason.set(reason, (paths = new Set()));
    paths.add(pathLabel);
  }

  notes(): string[] {
    return [...this.#pathsByReason].map(([reason, paths]) => `${NOT_APPLICABLE} (${[...paths].join('; ')}): ${reason}.`);
  }
}

function uniqueSorted(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Builds the table of one operation, or undefined when the run has no cell of it. */
export function operationTable(cells: CellRecord[], operation: Operation): Table | undefined {
  const ofOperation = cells.filter((cell) => cell.operation === operation);
  if (ofOperation.length === 0) return undefined;

  const rows: string[][] = [];
  const notes: string[] = [];
  const reasons = new NotApplicableReasons();
  for (const bytes of uniqueSorted(ofOperation.map((cell) => cell.bytes))) {
    const c = cReference(cells, operation, bytes);
    const ranAtSize = ofOperation.some((cell) => cell.bytes === bytes && cell.status !== 'n/a');
    if (ranAtSize) {
      notes.push(
      c
        ? `×C at ${formatBytes(bytes)}: ratio to ${formatInteger(c.opsPerSecond)} ops/s (${c.basis}, 1 thread, 1 token); for p50, to its ${formatFigure(c.microsecondsPerOperation)} µs per operation.`
        : `×C at ${formatBytes(bytes)}: no C loop figure in this run.`,
      );
    }
    for (const hsms of uniqueSorted(ofOperation.map((cell) => cell.hsms))) {
      const group = ofOperation.filter((cell) => cell.bytes === bytes && cell.hsms === hsms);
      const groupReasons = new Set(group.map((cell) => cell.reason));
      if (group.every((cell) => cell.status === 'n/a') && groupReasons.size === 1) {
        rows.push(notApplicableRow(bytes, hsms, 'every path'));
        reasons.add(group[0]!.reason!, 'every path');
        continue;
      }
      for (const path of PATHS) {
        const ofPath = group.filter((cell) => cell.path === path).sort((a, b) => a.inFlight - b.inFlight);
        const ran = ofPath.filter((cell) => cell.status !== 'n/a');
        if (ran.length === 0 && ofPath.length > 0) {
          rows.push(notApplicableRow(bytes, hsms, PATH_LABELS[path]));
          reasons.add(ofPath[0]!.reason!, PATH_LABELS[path]);
        }
        for (const cell of ran) {
          rows.push(measuredRow(cells, cell));
          if (cell.status === 'failed') {
            notes.push(`Failed: ${PATH_LABELS[path]}, ${formatBytes(bytes)}, ${hsms} HSM(s), ${cell.inFlight} in flight: ${firstLine(cell.reason)}`);
          }
        }
      }
    }
  }
  return { title: operation, headers: HEADERS, rows, numericColumns: NUMERIC_COLUMNS, notes: [...notes, ...reasons.notes()] };
}
