// The cryptographic operations: Encrypt, Decrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext, ReEncrypt and GenerateRandom. Each one
// validates its request, finds the key, applies the key-state rules,
// charges the cluster's token bucket and only then calls an HSM.
import { performance } from 'node:perf_hooks';
import { HsmError, Pkcs11Error, type Hsm } from '../native.js';
import { assembleCiphertextBlob, blobAad, encodeBlobHeader, parseCiphertextBlob } from './blob.js';
import { isHsmFailure, type Cluster, type ClusterHsm } from './cluster.js';
import { encodeEncryptionContext } from './context.js';
import type { Engine } from './engine.js';
import {
  CustomKeyStoreInvalidStateException,
  DryRunOperationException,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSInternalException,
  KMSInvalidStateException,
  KmsError,
  ThrottlingException,
} from './errors.js';
import { clusterForCrypto } from './key-usability.js';
import { resolveKey } from './key-resolution.js';
import type { KeyRecord } from './metadata-records.js';
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  GenerateDataKeyRequest,
  GenerateDataKeyResponse,
  GenerateDataKeyWithoutPlaintextResponse,
  GenerateRandomRequest,
  GenerateRandomResponse,
  ReEncryptRequest,
  ReEncryptResponse,
} from './types.js';
import {
  validateCiphertextBlobMember,
  validateCustomKeyStoreIdMember,
  validateDataKeyLength,
  validateDryRun,
  validateEncryptionAlgorithm,
  validateGrantTokens,
  validateNumberOfBytes,
  validatePlaintext,
} from './validation.js';

const ALGORITHM = 'SYMMETRIC_DEFAULT';

/** Runs `operation` and records its duration and outcome in the cluster's metrics. */
function measured<T>(cluster: Cluster, name: string, operation: () => Promise<T>): Promise<T> {
  const started = performance.now();
  return operation().then(
    (result) => {
      cluster.metrics.record(name, (performance.now() - started) / 1000);
      return result;
    },
    (error: unknown) => {
      cluster.metrics.record(name, (performance.now() - started) / 1000, (error as Error).name);
      throw error;
    },
  );
}

/** Charges one request to the cluster's token bucket, or throws ThrottlingException without waiting. */
function admit(cluster: Cluster, operation: string): void {
  if (!cluster.bucket.tryAcquire()) {
    cluster.metrics.record(operation, 0, 'ThrottlingException');
    throw new ThrottlingException(
      `Rate exceeded for cluster ${cluster.clusterId} (${cluster.config.requestsPerSecond} requests/s). ` +
        'Reduce the frequency of your calls, or retry with backoff.',
    );
  }
}

function rejectDryRun(dryRun: boolean): void {
  if (dryRun) {
    throw new DryRunOperationException('The request would have succeeded, but the DryRun flag is set.');
  }
}

/** Maps a native failure of a crypto call to the KMS exception AWS returns for it. */
function kmsErrorFrom(error: unknown, key: KeyRecord): Error {
  if (error instanceof KmsError) return error;
  if (!(error instanceof Pkcs11Error) && !(error instanceof HsmError)) return error as Error;
  switch (error.category) {
    case 'authentication':
      return new InvalidCiphertextException(
        'The ciphertext, its encryption context or the key is wrong: the authentication tag did not verify. ' +
          'Pass the exact encryption context used at encryption.',
      );
    case 'busy':
      return new ThrottlingException('The HSMs of the cluster are saturated. Retry with backoff.');
    case 'device':
    case 'session':
    case 'closed':
      return new KMSInvalidStateException(
        `${key.arn} is unavailable: KMS cannot communicate with the HSMs of its cluster. Retry later.`,
        { cause: error },
      );
    default:
      return new KMSInternalException(`The HSM failed the request for ${key.arn}. Retry later.`, { cause: error });
  }
}

/**
 * Runs `call` on the least busy active HSM that contains the key's material,
 * failing over to the next one:
 * - an HSM that reports the key missing is skipped from then on;
 * - an HSM that fails with a device or session error is taken out of
 *   service, and the request is retried once on another HSM;
 * - an HSM whose queue is full is passed over for the next one.
 * The request fails only when no active HSM can serve it, with the
 * retryable KMS exception for the reason, never with a wrong result.
 */
function onKeyMaterial<T>(cluster: Cluster, key: KeyRecord, call: (hsm: Hsm) => Promise<T>): Promise<T> {
  return runOnKeyMaterial(cluster, key, undefined, call, (result) => result);
}

/**
 * onKeyMaterial for the hot operations: also records the request in the
 * cluster's metrics under `operation` and maps the HSM's result with
 * `shape`. When the first candidate serves the request, the native promise
 * gets one callback pair for all of this, since every promise layer costs
 * time on the JavaScript thread. Failures take onAnyKeyMaterial, which
 * tries the other candidates.
 */
function runOnKeyMaterial<R, T>(
  cluster: Cluster,
  key: KeyRecord,
  operation: string | undefined,
  call: (hsm: Hsm) => Promise<R>,
  shape: (result: R) => T,
): Promise<T> {
  const started = performance.now();
  const succeed = (result: R): T => {
    if (operation) cluster.metrics.record(operation, (performance.now() - started) / 1000);
    return shape(result);
  };
  const fail = (error: unknown): never => {
    if (operation) cluster.metrics.record(operation, (performance.now() - started) / 1000, (error as Error).name);
    throw error;
  };

  const candidates = cluster.hsmsFor(key.backingKeyId);
  if (candidates.length === 0) return onAnyKeyMaterial(cluster, key, call).then(succeed, fail);
  const first = candidates[0]!.hsm;
  const request = cluster.begin(first);
  let pending: Promise<R>;
  try {
    pending = call(first);
  } catch (error) {
    cluster.end(request, error);
    return Promise.reject(error);
  }
  return pending.then(
    (result) => {
      cluster.end(request);
      return succeed(result);
    },
    (error: unknown) => {
      cluster.end(request, error);
      const tally = { hsmFailures: 0, busy: 0, lastError: error };
      if (!recordAttemptFailure(cluster, key, first, error, tally)) fail(kmsErrorFrom(error, key));
      return onAnyKeyMaterial(cluster, key, call, tally, first).then(succeed, fail);
    },
  );
}

interface AttemptTally {
  hsmFailures: number;
  busy: number;
  lastError: unknown;
}

/**
 * Records why an attempt on `hsm` failed and returns whether another HSM
 * may be tried: after a missing key, a full queue, or the first device or
 * session failure. Any other failure (a wrong tag, say) is final.
 */
function recordAttemptFailure(cluster: Cluster, key: KeyRecord, hsm: Hsm, error: unknown, tally: AttemptTally): boolean {
  tally.lastError = error;
  if (error instanceof HsmError && error.category === 'not-found') {
    cluster.markMissing(hsm, key.backingKeyId);
    return true;
  }
  if (error instanceof HsmError && error.category === 'busy') {
    tally.busy += 1;
    return true;
  }
  if (isHsmFailure(error) && tally.hsmFailures === 0) {
    tally.hsmFailures += 1;
    return true;
  }
  return false;
}

/**
 * Tries the candidates in turn, the failover path of onKeyMaterial. It
 * skips `failed`, whose attempt failed already.
 */
async function onAnyKeyMaterial<T>(
  cluster: Cluster,
  key: KeyRecord,
  call: (hsm: Hsm) => Promise<T>,
  tally: AttemptTally = { hsmFailures: 0, busy: 0, lastError: undefined },
  failed?: Hsm,
): Promise<T> {
  let candidates = cluster.hsmsFor(key.backingKeyId).filter((candidate) => candidate.hsm !== failed);
  if (candidates.length === 0 && tally.hsmFailures === 0 && tally.busy === 0) {
    candidates = await recheckKeyMaterial(cluster, key);
  }
  for (const { hsm } of candidates) {
    try {
      return await cluster.run(hsm, call);
    } catch (error) {
      if (!recordAttemptFailure(cluster, key, hsm, error, tally)) throw kmsErrorFrom(error, key);
    }
  }
  const { hsmFailures, busy, lastError } = tally;
  if (hsmFailures > 0 || busy > 0) throw kmsErrorFrom(lastError, key);
  // Every HSM reported the key missing. A search can miss while another
  // process rewrites the token's files, so the HSMs are asked once more
  // before the material is declared missing.
  for (const { hsm } of await recheckKeyMaterial(cluster, key)) {
    try {
      return await cluster.run(hsm, call);
    } catch (error) {
      if (!(error instanceof HsmError && error.category === 'not-found')) throw kmsErrorFrom(error, key);
      cluster.markMissing(hsm, key.backingKeyId);
    }
  }
  throw new KMSInvalidStateException(
    `${key.arn} is unavailable: its key material is missing from every active HSM of cluster ` +
      `${cluster.clusterId}. Restore the HSM backup that holds it, or run syncKeyMaterial.`,
  );
}

/** Searches every active HSM for the key afresh and returns those that hold it. */
async function recheckKeyMaterial(cluster: Cluster, key: KeyRecord): Promise<ClusterHsm[]> {
  const holders: ClusterHsm[] = [];
  for (const candidate of cluster.activeHsms()) {
    const present = await cluster.run(candidate.hsm, (hsm) => hsm.hasKey(key.backingKeyId)).catch(() => false);
    if (present) {
      cluster.markPresent(candidate.hsm, key.backingKeyId);
      holders.push(candidate);
    }
  }
  return holders;
}

function isKeyNotFound(error: unknown): boolean {
  return error instanceof HsmError && error.category === 'not-found';
}

/**
 * Re-encrypts on `sourceHsm` into the destination key, preferring the same
 * HSM when it has the destination key, so the job stays on one token.
 * When the native call reports a key missing and the source HSM does hold
 * the source key, the destination key is the missing one: that HSM is
 * skipped for it and the next holder is tried.
 */
async function reEncryptFrom(
  sourceHsm: Hsm,
  source: KeyRecord,
  destinationCluster: Cluster,
  destination: KeyRecord,
  call: (sourceHsm: Hsm, destinationHsm: Hsm) => Promise<Buffer>,
): Promise<Buffer> {
  const holders = destinationCluster.hsmsFor(destination.backingKeyId).map((holder) => holder.hsm);
  const ordered = holders.includes(sourceHsm) ? [sourceHsm, ...holders.filter((hsm) => hsm !== sourceHsm)] : holders;
  for (const destinationHsm of ordered) {
    try {
      return await call(sourceHsm, destinationHsm);
    } catch (error) {
      if (!isKeyNotFound(error)) throw error;
      const sourcePresent = await sourceHsm.hasKey(source.backingKeyId).catch(() => true);
      if (!sourcePresent) throw error;
      destinationCluster.markMissing(destinationHsm, destination.backingKeyId);
    }
  }
  throw new KMSInvalidStateException(
    `${destination.arn} is unavailable: its key material is missing from every active HSM of cluster ` +
      `${destinationCluster.clusterId}. Restore the HSM backup that holds it, or run syncKeyMaterial.`,
  );
}

function validateCommon(request: { GrantTokens?: unknown; DryRun?: unknown }): boolean {
  validateGrantTokens(request.GrantTokens);
  return validateDryRun(request.DryRun);
}

// Blob headers by key record. Records are cached and immutable, so a
// header computed once serves every request for that key version.
const headers = new WeakMap<KeyRecord, Uint8Array>();

function headerOf(key: KeyRecord): Uint8Array {
  let header = headers.get(key);
  if (!header) {
    header = encodeBlobHeader(key.keyId, key.backingKeyVersion);
    headers.set(key, header);
  }
  return header;
}

function aadFor(key: KeyRecord, encodedContext: Uint8Array): { header: Uint8Array; aad: Uint8Array } {
  const header = headerOf(key);
  return { header, aad: blobAad(header, encodedContext) };
}

/**
 * Runs the synchronous checks of a request and returns its promise, turning
 * a thrown exception into a rejection. The hot operations use this rather
 * than an async function, which would add a promise and ticks per request.
 */
function rejecting<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}

export function encrypt(engine: Engine, request: EncryptRequest): Promise<EncryptResponse> {
  return rejecting(() => startEncrypt(engine, request));
}

function startEncrypt(engine: Engine, request: EncryptRequest): Promise<EncryptResponse> {
  const plaintext = validatePlaintext(request.Plaintext);
  const encodedContext = encodeEncryptionContext(request.EncryptionContext);
  const dryRun = validateCommon(request);
  const key = resolveKey(engine, request.KeyId);
  validateEncryptionAlgorithm(request.EncryptionAlgorithm);
  const cluster = clusterForCrypto(engine, key);
  rejectDryRun(dryRun);
  admit(cluster, 'Encrypt');

  // The native call binds header || context as AAD and returns the whole
  // blob, header first, so no buffer is concatenated here.
  const header = headerOf(key);
  return runOnKeyMaterial(
    cluster,
    key,
    'Encrypt',
    (hsm) => hsm.encrypt(key.backingKeyId, header, plaintext, encodedContext, header),
    (blob): EncryptResponse => ({ CiphertextBlob: blob, KeyId: key.arn, EncryptionAlgorithm: ALGORITHM }),
  );
}

/** Finds the key that made a ciphertext blob; an unknown key or backing version means the blob is not ours. */
function keyOfBlob(engine: Engine, keyId: string, backingKeyVersion: number): KeyRecord {
  const key = engine.metadata.getKey(keyId);
  if (!key || key.creating || key.backingKeyVersion !== backingKeyVersion) {
    throw new InvalidCiphertextException(
      'The ciphertext blob names no key of this engine: it is corrupted, or it was made elsewhere.',
    );
  }
  return key;
}

/** Checks that an optional KeyId member names the key that made the ciphertext. */
function checkNamedKey(engine: Engine, named: unknown, actual: KeyRecord, field: string): void {
  if (named === undefined || named === null) return;
  const namedKey = resolveKey(engine, named, { field });
  if (namedKey.keyId !== actual.keyId) {
    throw new IncorrectKeyException(
      `The ciphertext was encrypted under a different key than ${field} ${namedKey.arn}. ` +
        `Omit ${field}, or name the key that encrypted it.`,
    );
  }
}

export function decrypt(engine: Engine, request: DecryptRequest): Promise<DecryptResponse> {
  return rejecting(() => startDecrypt(engine, request));
}

function startDecrypt(engine: Engine, request: DecryptRequest): Promise<DecryptResponse> {
  const blob = parseCiphertextBlob(validateCiphertextBlobMember(request.CiphertextBlob));
  const encodedContext = encodeEncryptionContext(request.EncryptionContext);
  const dryRun = validateCommon(request);
  const key = keyOfBlob(engine, blob.keyId, blob.backingKeyVersion);
  checkNamedKey(engine, request.KeyId, key, 'KeyId');
  validateEncryptionAlgorithm(request.EncryptionAlgorithm);
  const cluster = clusterForCrypto(engine, key);
  rejectDryRun(dryRun);
  admit(cluster, 'Decrypt');

  return runOnKeyMaterial(
    cluster,
    key,
    'Decrypt',
    (hsm) => hsm.decrypt(key.backingKeyId, blob.header, blob.iv, blob.ciphertextAndTag, encodedContext),
    (plaintext): DecryptResponse => ({ KeyId: key.arn, Plaintext: plaintext, EncryptionAlgorithm: ALGORITHM }),
  );
}

async function generateDataKeyBlob(
  engine: Engine,
  request: GenerateDataKeyRequest,
  operation: string,
  returnPlaintext: boolean,
): Promise<{ CiphertextBlob: Uint8Array; Plaintext?: Uint8Array; KeyId: string }> {
  const length = validateDataKeyLength(request);
  const encodedContext = encodeEncryptionContext(request.EncryptionContext);
  const dryRun = validateCommon(request);
  const key = resolveKey(engine, request.KeyId);
  const cluster = clusterForCrypto(engine, key);
  rejectDryRun(dryRun);
  admit(cluster, operation);

  return measured(cluster, operation, async () => {
    const header = headerOf(key);
    const dataKey = await onKeyMaterial(cluster, key, (hsm) =>
      hsm.generateDataKey(key.backingKeyId, header, length, returnPlaintext, encodedContext, header),
    );
    const response: { CiphertextBlob: Uint8Array; Plaintext?: Uint8Array; KeyId: string } = {
      CiphertextBlob: dataKey.ciphertext,
      KeyId: key.arn,
    };
    if (dataKey.plaintext) response.Plaintext = dataKey.plaintext;
    return response;
  });
}

export async function generateDataKey(engine: Engine, request: GenerateDataKeyRequest): Promise<GenerateDataKeyResponse> {
  const result = await generateDataKeyBlob(engine, request, 'GenerateDataKey', true);
  return { CiphertextBlob: result.CiphertextBlob, Plaintext: result.Plaintext!, KeyId: result.KeyId };
}

export async function generateDataKeyWithoutPlaintext(
  engine: Engine,
  request: GenerateDataKeyRequest,
): Promise<GenerateDataKeyWithoutPlaintextResponse> {
  const result = await generateDataKeyBlob(engine, request, 'GenerateDataKeyWithoutPlaintext', false);
  return { CiphertextBlob: result.CiphertextBlob, KeyId: result.KeyId };
}

export async function reEncrypt(engine: Engine, request: ReEncryptRequest): Promise<ReEncryptResponse> {
  const blob = parseCiphertextBlob(validateCiphertextBlobMember(request.CiphertextBlob));
  const sourceContext = encodeEncryptionContext(request.SourceEncryptionContext, 'SourceEncryptionContext');
  const destinationContext = encodeEncryptionContext(
    request.DestinationEncryptionContext,
    'DestinationEncryptionContext',
  );
  const dryRun = validateCommon(request);
  const source = keyOfBlob(engine, blob.keyId, blob.backingKeyVersion);
  checkNamedKey(engine, request.SourceKeyId, source, 'SourceKeyId');
  const destination = resolveKey(engine, request.DestinationKeyId, { field: 'DestinationKeyId' });
  validateEncryptionAlgorithm(request.SourceEncryptionAlgorithm, 'SourceEncryptionAlgorithm');
  validateEncryptionAlgorithm(request.DestinationEncryptionAlgorithm, 'DestinationEncryptionAlgorithm');
  const sourceCluster = clusterForCrypto(engine, source);
  const destinationCluster = clusterForCrypto(engine, destination);
  rejectDryRun(dryRun);
  admit(sourceCluster, 'ReEncrypt');
  if (destinationCluster !== sourceCluster) admit(destinationCluster, 'ReEncrypt');

  return measured(sourceCluster, 'ReEncrypt', async () => {
    const sourceAad = blobAad(blob.header, sourceContext);
    const { header, aad: destinationAad } = aadFor(destination, destinationContext);
    // The plaintext never reaches JavaScript: one native call decrypts and
    // encrypts, and wipes it in between.
    const sealed = await onKeyMaterial(sourceCluster, source, (sourceHsm) =>
      reEncryptFrom(sourceHsm, source, destinationCluster, destination, (from, to) =>
        from.reEncrypt(source.backingKeyId, sourceAad, blob.iv, blob.ciphertextAndTag, to, destination.backingKeyId, destinationAad),
      ),
    );
    return {
      CiphertextBlob: assembleCiphertextBlob(header, sealed),
      SourceKeyId: source.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: ALGORITHM,
      DestinationEncryptionAlgorithm: ALGORITHM,
    };
  });
}

/** Picks the cluster for GenerateRandom: the named store's, or the first connected one. */
function clusterForRandom(engine: Engine, customKeyStoreId: string | undefined): Cluster {
  if (customKeyStoreId !== undefined) return engine.connectedStoreCluster(customKeyStoreId);
  const connected = engine.connections().find((connection) => connection.connectedCluster);
  if (!connected?.connectedCluster) {
    throw new CustomKeyStoreInvalidStateException(
      'No custom key store is CONNECTED, and this engine draws random bytes only from HSMs. Connect a store first.',
    );
  }
  return connected.connectedCluster;
}

export async function generateRandom(engine: Engine, request: GenerateRandomRequest): Promise<GenerateRandomResponse> {
  const length = validateNumberOfBytes(request.NumberOfBytes);
  const storeId =
    request.CustomKeyStoreId === undefined || request.CustomKeyStoreId === null
      ? undefined
      : validateCustomKeyStoreIdMember(request.CustomKeyStoreId);
  const cluster = clusterForRandom(engine, storeId);
  admit(cluster, 'GenerateRandom');

  return measured(cluster, 'GenerateRandom', async () => {
    const hsm = cluster.anyHsm();
    if (!hsm) {
      throw new CustomKeyStoreInvalidStateException(`Cluster ${cluster.clusterId} has no active HSM. Retry later.`);
    }
    try {
      return { Plaintext: await hsm.generateRandom(length) };
    } catch (error) {
      throw new KMSInternalException(`The HSM failed to generate random bytes. Retry later.`, { cause: error });
    }
  });
}
