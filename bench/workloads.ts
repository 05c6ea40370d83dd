// The benchmark matrix: which operations run at which sizes and in-flight
// counts, through which paths, and why a path skips a workload.

/** The KMS operations that the matrix measures. */
export const OPERATIONS = ['Encrypt', 'Decrypt', 'GenerateDataKey', 'ReEncrypt'] as const;
export type Operation = (typeof OPERATIONS)[number];

/**
 * The ways of doing the same work, from the engine down to the module:
 * - facade: the `Kms` class in this process, with a connected custom key store;
 * - http: the same facade behind `createServer`, called through the official
 *   AWS SDK for JavaScript over keep-alive HTTP on 127.0.0.1;
 * - addon: the `Hsm` handles of the native addon, without the KMS layer;
 * - c-token, c-session: bench/c/gcm-loop.c, one thread per token, on the token
 *   key or on a session-object copy of it;
 * - pkcs11js-async: pkcs11js with one session per request in flight, and
 *   its libuv-pool forms of C_Encrypt and C_Decrypt;
 * - pkcs11js-sync: pkcs11js with its synchronous calls on the event loop;
 * - node-crypto: AES-256-GCM in node:crypto with the key in process memory.
 */
export const PATHS = [
  'facade',
  'http',
  'addon',
  'c-token',
  'c-session',
  'pkcs11js-async',
  'pkcs11js-sync',
  'node-crypto',
] as const;
export type PathName = (typeof PATHS)[number];

/** Paths that run in a Node.js child process through the closed loop of closed-loop.ts. */
export type JsPathName = Exclude<PathName, 'c-token' | 'c-session'>;

export const PATH_LABELS: Record<PathName, string> = {
  facade: 'Kms facade',
  http: 'KMS over HTTP (AWS SDK)',
  addon: 'addon (Hsm)',
  'c-token': 'C loop, token key',
  'c-session': 'C loop, session copy',
  'pkcs11js-async': 'pkcs11js async',
  'pkcs11js-sync': 'pkcs11js sync',
  'node-crypto': 'node:crypto',
};

/** Largest NumberOfBytes that GenerateDataKey accepts, as in AWS KMS. */
export const MAX_DATA_KEY_BYTES = 1024;

/** One workload: an operation on a payload of `bytes`, with `inFlight` requests outstanding, on `hsms` tokens. */
export interface Workload {
  operation: Operation;
  /** Plaintext size, or NumberOfBytes for GenerateDataKey. */
  bytes: number;
  inFlight: number;
  hsms: number;
}

/**
 * Returns why `path` cannot run `workload`, or undefined when it can. The
 * table prints n/a for such a cell and the reason under the table.
 */
export function unsupportedReason(path: PathName, workload: Workload): string | undefined {
  if (workload.operation === 'GenerateDataKey' && workload.bytes > MAX_DATA_KEY_BYTES) {
    return `GenerateDataKey takes at most ${MAX_DATA_KEY_BYTES} bytes`;
  }
  if (path === 'node-crypto' && workload.hsms !== 1) {
    return 'node:crypto uses no HSM';
  }
  if (path === 'c-token' || path === 'c-session') {
    if (workload.operation === 'GenerateDataKey' || workload.operation === 'ReEncrypt') {
      return 'the C loop runs only C_Encrypt and C_Decrypt';
    }
    if (workload.inFlight !== 1) {
      return 'the C loop is synchronous: one request per thread';
    }
  }
  return undefined;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}
