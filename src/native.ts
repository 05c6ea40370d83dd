// Typed access to the hsm_kms addon: HSM handles that run AES-256-GCM inside
// PKCS#11 tokens, and process-wide token buckets. This layer speaks PKCS#11
// terms (CKA_ID, CKR_ codes); the KMS facade builds on it.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** Category of a failed HSM call, from which the caller decides how to react. */
export type FailureCategory =
  | 'input'
  | 'authentication'
  | 'credentials'
  | 'locked'
  | 'key'
  | 'session'
  | 'device'
  | 'unsupported'
  | 'not-found'
  | 'closed'
  | 'busy'
  | 'other';

const errorBrand = Symbol.for('hsm-kms.native-error');

/** A PKCS#11 function returned an error code. */
export class Pkcs11Error extends Error {
  /** The CKR_ name of `rv`, such as 'CKR_PIN_INCORRECT'. */
  declare readonly code: string;
  /** The numeric return value. */
  declare readonly rv: number;
  /** The PKCS#11 function that returned `rv`, such as 'C_Login'. */
  declare readonly function: string;
  declare readonly category: FailureCategory;

  constructor(message: string) {
    super(message);
    this.name = 'Pkcs11Error';
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isNativeError(value) && (value as { name?: unknown }).name === 'Pkcs11Error';
  }
}

/** A failure detected by hsm-kms around the HSM: unknown token or key, closed handle, full queue. */
export class HsmError extends Error {
  declare readonly category: FailureCategory;

  constructor(message: string) {
    super(message);
    this.name = 'HsmError';
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isNativeError(value) && (value as { name?: unknown }).name === 'HsmError';
  }
}

// The brand lets `instanceof` work across duplicate copies of this module.
for (const errorClass of [Pkcs11Error, HsmError]) {
  Object.defineProperty(errorClass.prototype, errorBrand, { value: true });
}

function isNativeError(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[errorBrand] === true;
}

export interface OpenHsmOptions {
  /** Path of the PKCS#11 module (shared library). */
  module: string;
  /** Label of the token that stands for this HSM. */
  tokenLabel: string;
  /** PIN of the crypto user. It is wiped from native memory when the HSM closes. */
  pin: string | Uint8Array;
  /** Sessions, each served by its own thread; default 1, which is fastest on SoftHSM2. */
  sessions?: number;
  /** Jobs that may wait for this HSM before new ones are rejected; default 65536. */
  maxQueue?: number;
  /**
   * Use a session-object copy of each key (CKA_TOKEN false, still sensitive and
   * not extractable) for crypto; default true. SoftHSM2 2.6 re-reads its token
   * files on every use of a token object but not of a session object.
   */
  sessionKeyCopies?: boolean;
  /** The module writes its own GCM IV (AWS CloudHSM, Luna in FIPS mode); default false. */
  hsmGeneratesIv?: boolean;
  /**
   * Microseconds an idle executor thread polls for new work before it sleeps
   * (0 to 100000); default 100. Polling saves the wake-up of a sleeping thread
   * per request at low concurrency, at the cost of CPU while requests trickle.
   */
  idleSpinMicroseconds?: number;
}

export interface TokenDescription {
  slot: number;
  label: string;
  manufacturer: string;
  model: string;
  serialNumber: string;
}

export interface HsmStats {
  completed: number;
  failed: number;
  /** Jobs rejected because the queue was full. */
  rejected: number;
  queued: number;
  /** Sessions open now; each thread opens its session with its first job. */
  sessions: number;
  threads: number;
  reconnects: number;
  /** Seconds the executor threads spent running jobs. */
  busySeconds: number;
  lastError?: string;
}

export interface KeyAttributes {
  label: string;
  valueLength: number;
  token: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  encrypt: boolean;
  decrypt: boolean;
  wrap: boolean;
  unwrap: boolean;
  sign: boolean;
  verify: boolean;
  derive: boolean;
  /** Only a CKA_TRUSTED wrapping key may wrap this key (true for replicable keys). */
  wrapWithTrusted: boolean;
}

export interface GeneratedDataKey {
  /** outputPrefix || IV (12 bytes) || ciphertext || tag (16 bytes). */
  ciphertext: Buffer;
  plaintext?: Buffer;
}

/**
 * One opened token. Keys are named by their CKA_ID. Every call runs on the
 * token's own thread and returns a promise; ciphertexts are IV (12 bytes) ||
 * ciphertext || tag (16 bytes), and AAD must not be empty.
 */
export interface Hsm {
  readonly token: TokenDescription;
  readonly isOpen: boolean;
  /**
   * Encrypts under the key, with AAD `aad || aadTail`, and resolves to
   * `outputPrefix || IV || ciphertext || tag`. The optional parts spare a
   * caller that frames ciphertexts (the KMS blob header) two copies.
   */
  encrypt(
    keyId: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    aadTail?: Uint8Array,
    outputPrefix?: Uint8Array,
  ): Promise<Buffer>;
  decrypt(
    keyId: Uint8Array,
    aad: Uint8Array,
    iv: Uint8Array,
    ciphertextAndTag: Uint8Array,
    aadTail?: Uint8Array,
  ): Promise<Buffer>;
  /** Decrypts under one key and encrypts under another; the plaintext stays in native memory and is wiped. */
  reEncrypt(
    keyId: Uint8Array,
    aad: Uint8Array,
    iv: Uint8Array,
    ciphertextAndTag: Uint8Array,
    destination: Hsm,
    destinationKeyId: Uint8Array,
    destinationAad: Uint8Array,
  ): Promise<Buffer>;
  /** Draws `numberOfBytes` from the token's RNG and encrypts them under the key. */
  generateDataKey(
    keyId: Uint8Array,
    aad: Uint8Array,
    numberOfBytes: number,
    returnPlaintext: boolean,
    aadTail?: Uint8Array,
    outputPrefix?: Uint8Array,
  ): Promise<GeneratedDataKey>;
  generateRandom(numberOfBytes: number): Promise<Buffer>;
  /**
   * Generates an AES-256 token key: private, sensitive, encrypt and decrypt
   * only, and not extractable. A `replicable` key is extractable only under a
   * trusted wrapping key (CKA_WRAP_WITH_TRUSTED), so replicateKey can copy it.
   */
  generateKey(keyId: Uint8Array, label: Uint8Array, replicable?: boolean): Promise<void>;
  /**
   * Copies a replicable key to `destination`, wrapped under the wrapping key
   * with CKA_ID `wrappingKeyId`, which both tokens must hold. The wrapped key
   * stays in native memory. Resolves to false when the destination had it.
   */
  replicateKey(keyId: Uint8Array, wrappingKeyId: Uint8Array, destination: Hsm, label: Uint8Array): Promise<boolean>;
  /** Destroys the key; resolves to whether it existed. */
  destroyKey(keyId: Uint8Array): Promise<boolean>;
  /** Searches the token (not the handle cache) for the key. */
  hasKey(keyId: Uint8Array): Promise<boolean>;
  keyAttributes(keyId: Uint8Array): Promise<KeyAttributes>;
  stats(): HsmStats;
  close(): Promise<void>;
}

export interface TokenBucketStats {
  granted: number;
  rejected: number;
  requestsPerSecond: number;
  burst: number;
}

/**
 * A lock-free rate limiter (GCRA). Every TokenBucket with the same name, in
 * any thread of the process, shares one state.
 */
export interface TokenBucket {
  /** Takes capacity for `count` requests (default 1) and returns true, or returns false at once when there is none. */
  tryAcquire(count?: number): boolean;
  configure(requestsPerSecond: number, burst: number): void;
  stats(): TokenBucketStats;
}

export interface CreateWrappingKeyOptions {
  module: string;
  tokenLabel: string;
  /** PIN of the token's security officer; only the SO may mark a key CKA_TRUSTED. */
  soPin: Uint8Array;
  keyId: Uint8Array;
  label: string;
  /** The 32-byte key value; the same on every token of a cluster. The caller wipes it afterwards. */
  value: Uint8Array;
}

interface Addon {
  createWrappingKey(options: CreateWrappingKeyOptions): Promise<boolean>;
  setErrorClasses(pkcs11Error: typeof Pkcs11Error, hsmError: typeof HsmError): void;
  shutdown(): void;
  rvName(rv: number): string;
  openHsm(options: OpenHsmOptions): Promise<Hsm>;
  TokenBucket: new (name: string, requestsPerSecond: number, burst: number, sharedPath?: string) => TokenBucket;
}

/**
 * Path of the compiled addon. HSM_KMS_ADDON overrides it, which the sanitizer
 * test run uses to load build/Debug.
 */
function addonPath(): string {
  if (process.env.HSM_KMS_ADDON) return process.env.HSM_KMS_ADDON;
  const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
  return join(packageRoot, 'build', 'Release', 'hsm_kms.node');
}

function loadAddon(): Addon {
  const require = createRequire(import.meta.url);
  const path = addonPath();
  try {
    const addon = require(path) as Addon;
    addon.setErrorClasses(Pkcs11Error, HsmError);
    return addon;
  } catch (error) {
    throw new Error(`Cannot load the hsm-kms addon from ${path}: run "npm run build:native" to compile it`, {
      cause: error,
    });
  }
}

const addon = loadAddon();

// When the process exits (normally, through process.exit() or an uncaught
// exception), executor threads must leave the PKCS#11 modules before the
// modules' static destructors run. Worker threads exit on their own; only
// the main thread's exit ends the process.
if (isMainThread) process.on('exit', () => addon.shutdown());

/** Logs in to a token and starts its executor; resolves to the HSM handle. */
export function openHsm(options: OpenHsmOptions): Promise<Hsm> {
  return addon.openHsm(options);
}

/**
 * Returns the process-wide bucket called `name`, created or reconfigured
 * with this rate and burst. With `sharedPath`, the bucket's state lives in
 * that file, mapped into memory (created with mode 0600 when missing), and
 * every process that uses the same file shares one rate.
 */
export function tokenBucket(name: string, requestsPerSecond: number, burst: number, sharedPath?: string): TokenBucket {
  return new addon.TokenBucket(name, requestsPerSecond, burst, sharedPath);
}

/**
 * Imports a cluster wrapping key into a token as its security officer: a
 * public, sensitive, not extractable AES-256 key marked CKA_TRUSTED, usable
 * only to wrap and unwrap. Run it before any user session of this process
 * is open on the token. Resolves to false when the key already existed.
 */
export function createWrappingKey(options: CreateWrappingKeyOptions): Promise<boolean> {
  return addon.createWrappingKey(options);
}

/** Returns the CKR_ name of a PKCS#11 return value. */
export function rvName(rv: number): string {
  return addon.rvName(rv);
}
