// Controller of the fault-injection PKCS#11 module (test/fault-module). It
// writes the control file whose layout test/fault-module/fault_control.h
// defines. The module maps that file and reads it on every intercepted call,
// so each change applies to the next PKCS#11 call, in this process or in any
// other process whose module uses the same file.
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Path of the fault module, which `npx node-gyp rebuild` (and so `npm ci`) builds. */
export const faultModulePath = join(import.meta.dirname, '../../build/Release/fault_pkcs11.so');

/** What the fault module does to the calls of a token. */
export type FaultMode = 'none' | 'device-removed' | 'device-error' | 'session-handle-invalid' | 'token-not-present';

/** The values of enum fault_mode. */
const MODE_NUMBERS: Record<FaultMode, number> = {
  none: 0,
  'device-removed': 1,
  'device-error': 2,
  'session-handle-invalid': 3,
  'token-not-present': 4,
};

// The layout of fault_control.h, little-endian.
const MAGIC = 0x31504b46;
const VERSION = 1;
const MAX_TOKENS = 16;
const HEADER_BYTES = 16;
const ENTRY_BYTES = 336;
const LABEL_BYTES = 32;
const MAX_HIDDEN = 8;
const ID_BYTES = 32;
const MAX_LATENCY_US = 0xffffffff;

/** Offsets inside an entry. */
const ENTRY = {
  sequence: 0,
  mode: 4,
  latencyUs: 8,
  hiddenCount: 12,
  tokenLabel: 16,
  hiddenIdLengths: 48,
  hiddenIds: 80,
} as const;

/** Size of the control file in bytes. */
export const CONTROL_FILE_BYTES = HEADER_BYTES + MAX_TOKENS * ENTRY_BYTES;

interface TokenFaults {
  index: number;
  label: Buffer;
  mode: FaultMode;
  latencyUs: number;
  hiddenIds: Buffer[];
}

/**
 * Writer of one control file. Each method rewrites the token's entry at its
 * fixed offset with `fs.writeSync`, and the module reads the change through
 * its shared mapping on its next call. Only one FaultControl may write a file.
 */
export class FaultControl {
  readonly path: string;
  #fd: number | undefined;
  /** Entries in use, by token label without padding. */
  readonly #tokens = new Map<string, TokenFaults>();
  /** Last sequence written to each entry. It only grows, also when an entry is reused. */
  readonly #sequences = new Array<number>(MAX_TOKENS).fill(0);

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Creates the control file at `path`, with no faults. The path must not
   * exist: truncating a file that a module has mapped would crash that
   * module with SIGBUS on its next read.
   */
  static create(path: string): FaultControl {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      throw new Error(`Cannot create the fault control file ${path}: give a path that does not exist yet`, {
        cause: error,
      });
    }
    const control = new FaultControl(path, fd);
    const file = Buffer.alloc(CONTROL_FILE_BYTES);
    file.writeUInt32LE(MAGIC, 0);
    file.writeUInt32LE(VERSION, 4);
    file.writeUInt32LE(MAX_TOKENS, 8);
    file.writeUInt32LE(ENTRY_BYTES, 12);
    control.#writeAt(file, 0);
    return control;
  }

  /** Sets the mode of `tokenLabel`, keeping its latency and hidden objects. */
  setFault(tokenLabel: string, mode: FaultMode): void {
    if (!(mode in MODE_NUMBERS)) throw new RangeError(`Unknown fault mode "${mode}"`);
    const token = this.#token(tokenLabel);
    token.mode = mode;
    this.#writeEntry(token);
  }

  /** Makes every intercepted call of `tokenLabel` sleep `microseconds` first. 0 removes the delay. */
  setLatency(tokenLabel: string, microseconds: number): void {
    if (!Number.isInteger(microseconds) || microseconds < 0 || microseconds > MAX_LATENCY_US) {
      throw new RangeError(`Latency ${microseconds} is invalid: give whole microseconds from 0 to ${MAX_LATENCY_US}`);
    }
    const token = this.#token(tokenLabel);
    token.latencyUs = microseconds;
    this.#writeEntry(token);
  }

  /**
   * Hides the objects with these CKA_ID values in token `tokenLabel`,
   * replacing the ids hidden before. An empty list hides nothing.
   */
  hideObjects(tokenLabel: string, ckaIds: Uint8Array[]): void {
    if (ckaIds.length > MAX_HIDDEN) {
      throw new RangeError(`${ckaIds.length} CKA_IDs given, but a token can hide at most ${MAX_HIDDEN}`);
    }
    for (const id of ckaIds) {
      if (id.length === 0 || id.length > ID_BYTES) {
        throw new RangeError(`A hidden CKA_ID of ${id.length} bytes is invalid: give 1 to ${ID_BYTES} bytes`);
      }
    }
    const token = this.#token(tokenLabel);
    token.hiddenIds = ckaIds.map((id) => Buffer.from(id));
    this.#writeEntry(token);
  }

  /** Removes every fault of `tokenLabel`, or of all tokens when no label is given. */
  clear(tokenLabel?: string): void {
    const labels = tokenLabel === undefined ? [...this.#tokens.keys()] : [trimLabel(tokenLabel)];
    for (const label of labels) {
      const token = this.#tokens.get(label);
      if (!token) continue;
      this.#tokens.delete(label);
      // An entry without a label is unused, and the module skips it.
      this.#writeEntry({ index: token.index, label: Buffer.alloc(0), mode: 'none', latencyUs: 0, hiddenIds: [] });
    }
  }

  /** Closes the file. The faults written stay in effect for modules that mapped it. */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  #token(tokenLabel: string): TokenFaults {
    const label = trimLabel(tokenLabel);
    const encoded = Buffer.from(label, 'utf8');
    if (encoded.length === 0 || encoded.length > LABEL_BYTES) {
      throw new RangeError(`Token label "${tokenLabel}" is invalid: give 1 to ${LABEL_BYTES} bytes of UTF-8`);
    }
    const existing = this.#tokens.get(label);
    if (existing) return existing;

    const used = new Set([...this.#tokens.values()].map((token) => token.index));
    const index = Array.from({ length: MAX_TOKENS }, (_, i) => i).find((i) => !used.has(i));
    if (index === undefined) {
      throw new RangeError(`Faults are already set for ${MAX_TOKENS} tokens, the maximum: clear one before adding "${label}"`);
    }
    const token: TokenFaults = { index, label: encoded, mode: 'none', latencyUs: 0, hiddenIds: [] };
    this.#tokens.set(label, token);
    return token;
  }

  /**
   * Writes an entry as the seqlock of fault_control.h: an odd sequence, the
   * body, then the next even sequence. A reader that overlaps the write reads
   * a changed or odd sequence and reads the entry again.
   */
  #writeEntry(token: TokenFaults): void {
    const offset = HEADER_BYTES + token.index * ENTRY_BYTES;
    const body = Buffer.alloc(ENTRY_BYTES - ENTRY.mode);
    const at = (field: number) => field - ENTRY.mode;
    body.writeUInt32LE(MODE_NUMBERS[token.mode], at(ENTRY.mode));
    body.writeUInt32LE(token.latencyUs, at(ENTRY.latencyUs));
    body.writeUInt32LE(token.hiddenIds.length, at(ENTRY.hiddenCount));
    token.label.copy(body, at(ENTRY.tokenLabel));
    token.hiddenIds.forEach((id, i) => {
      body.writeUInt32LE(id.length, at(ENTRY.hiddenIdLengths) + 4 * i);
      id.copy(body, at(ENTRY.hiddenIds) + ID_BYTES * i);
    });

    const sequence = this.#sequences[token.index]!;
    this.#writeSequence(offset, (sequence + 1) >>> 0);
    this.#writeAt(body, offset + ENTRY.mode);
    this.#writeSequence(offset, (sequence + 2) >>> 0);
    this.#sequences[token.index] = (sequence + 2) >>> 0;
  }

  #writeSequence(entryOffset: number, sequence: number): void {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(sequence, 0);
    this.#writeAt(bytes, entryOffset + ENTRY.sequence);
  }

  #writeAt(bytes: Buffer, position: number): void {
    if (this.#fd === undefined) throw new Error(`The fault control file ${this.path} is closed`);
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(this.#fd, bytes, written, bytes.length - written, position + written);
    }
  }
}

function trimLabel(label: string): string {
  return label.replace(/[ \0]+$/, '');
}

/**
 * Points the fault module of this process at `control` and at the real
 * module `targetModule`, and returns the fault module's path for openHsm.
 * The module reads FAULT_PKCS11_CONTROL and FAULT_PKCS11_TARGET once, when
 * it is loaded, so call this before the process's first openHsm with it.
 */
export function useFaultModule(control: FaultControl, targetModule: string): string {
  if (!existsSync(faultModulePath)) {
    throw new Error(`The fault module ${faultModulePath} is missing: run "npx node-gyp rebuild" to build it`);
  }
  process.env.FAULT_PKCS11_CONTROL = control.path;
  process.env.FAULT_PKCS11_TARGET = targetModule;
  return faultModulePath;
}
