// The two figures every result is compared with, both measured in the same
// run: the fastest single-threaded C loop (the module's limit on this
// machine) and pkcs11js async (what a Node.js user would write instead).
import type { CellRecord } from '../results.js';
import type { Operation, Workload } from '../workloads.js';

export interface CReference {
  opsPerSecond: number;
  /** Time per operation of that single thread, in microseconds. */
  microsecondsPerOperation: number;
  /** Source of the figure, for the table notes. */
  basis: string;
}

function measured(cells: CellRecord[], match: (cell: CellRecord) => boolean): CellRecord | undefined {
  return cells.find((cell) => cell.status === 'measured' && match(cell));
}

/** Returns the ops/s of one C variant, one thread on one token, for `operation` on `bytes`. */
function cRate(cells: CellRecord[], path: 'c-token' | 'c-session', operation: 'Encrypt' | 'Decrypt', bytes: number): number | undefined {
  return measured(cells, (cell) => cell.path === path && cell.operation === operation && cell.bytes === bytes && cell.hsms === 1)?.opsPerSecond;
}

/**
 * Returns the C reference of an operation and size: the faster of the two
 * key variants on one thread and one token. The C loop runs only encryption
 * and decryption, so the other operations get a derived limit:
 * - GenerateDataKey: an encryption of the data key's size (the random bytes
 *   cost extra, so this overstates the limit slightly);
 * - ReEncrypt: a decryption followed by an encryption on one thread, that is
 *   1 / (1/decrypt + 1/encrypt) with the same key variant.
 */
export function cReference(cells: CellRecord[], operation: Operation, bytes: number): CReference | undefined {
  let best: { opsPerSecond: number; basis: string } | undefined;
  for (const path of ['c-token', 'c-session'] as const) {
    const variant = path === 'c-token' ? 'token key' : 'session copy';
    let candidate: { opsPerSecond: number; basis: string } | undefined;
    if (operation === 'Encrypt' || operation === 'Decrypt') {
      const rate = cRate(cells, path, operation, bytes);
      if (rate !== undefined) candidate = { opsPerSecond: rate, basis: `C loop, ${variant}` };
    } else if (operation === 'GenerateDataKey') {
      const rate = cRate(cells, path, 'Encrypt', bytes);
      if (rate !== undefined) candidate = { opsPerSecond: rate, basis: `C loop encrypt of ${bytes} B, ${variant}` };
    } else {
      const encrypt = cRate(cells, path, 'Encrypt', bytes);
      const decrypt = cRate(cells, path, 'Decrypt', bytes);
      if (encrypt !== undefined && decrypt !== undefined) {
        candidate = { opsPerSecond: 1 / (1 / encrypt + 1 / decrypt), basis: `C loop decrypt + encrypt, ${variant}` };
      }
    }
    if (candidate && (!best || candidate.opsPerSecond > best.opsPerSecond)) best = candidate;
  }
  return best && { ...best, microsecondsPerOperation: 1e6 / best.opsPerSecond };
}

/**
 * Returns the pkcs11js async cell of the same workload. node:crypto uses no
 * HSM, so it is compared with one HSM. The C loop runs one request per
 * thread, so it is compared with one request in flight.
 */
export function pkcs11jsReference(cells: CellRecord[], cell: Workload & { path: CellRecord['path'] }): CellRecord | undefined {
  const inFlight = cell.path === 'c-token' || cell.path === 'c-session' ? 1 : cell.inFlight;
  const hsms = cell.path === 'node-crypto' ? 1 : cell.hsms;
  return measured(
    cells,
    (candidate) =>
      candidate.path === 'pkcs11js-async' &&
      candidate.operation === cell.operation &&
      candidate.bytes === cell.bytes &&
      candidate.inFlight === inFlight &&
      candidate.hsms === hsms,
  );
}
