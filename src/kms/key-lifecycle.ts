// Keys in a custom key store: creation in the HSM, description, listing,
// enabling and disabling, and deletion after a waiting period.
import { debuglog } from 'node:util';
import type { Engine } from './engine.js';
import type { ClusterHsm } from './cluster.js';
import {
  CloudHsmClusterInvalidConfigurationException,
  KMSInternalException,
  KMSInvalidStateException,
  UnsupportedOperationException,
  ValidationException,
} from './errors.js';
import { keyArn, keyIdToBytes, newKeyId } from './identifiers.js';
import { copyKey } from './key-replication.js';
import { effectiveKeyState, rejectPendingDeletion } from './key-usability.js';
import { resolveKey } from './key-resolution.js';
import type { KeyRecord } from './metadata-records.js';
import type {
  CancelKeyDeletionResponse,
  CreateKeyRequest,
  CreateKeyResponse,
  DescribeKeyRequest,
  DescribeKeyResponse,
  KeyIdRequest,
  KeyMetadata,
  ListKeysRequest,
  ListKeysResponse,
  ScheduleKeyDeletionRequest,
  ScheduleKeyDeletionResponse,
} from './types.js';
import {
  validateCustomKeyStoreIdMember,
  validateDescription,
  validateGrantTokens,
  validateLimit,
  validateMarker,
  validatePendingWindowInDays,
} from './validation.js';

const log = debuglog('hsm-kms');
const DAY_MS = 24 * 60 * 60 * 1000;
const FIRST_BACKING_KEY_VERSION = 1;

/** The CKA_ID of a key's material: the 16 bytes of the key ID, then the backing-key version (uint32). */
export function backingKeyId(keyId: string, version: number): Buffer {
  const id = Buffer.alloc(20);
  id.set(keyIdToBytes(keyId), 0);
  id.writeUInt32BE(version, 16);
  return id;
}

export function keyMetadata(engine: Engine, key: KeyRecord): KeyMetadata {
  const store = engine.metadata.getCustomKeyStore(key.customKeyStoreId);
  const state = effectiveKeyState(engine, key);
  const metadata: KeyMetadata = {
    AWSAccountId: engine.scope.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: key.creationDate,
    Enabled: state === 'Enabled',
    Description: key.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: state,
    Origin: 'AWS_CLOUDHSM',
    CustomKeyStoreId: key.customKeyStoreId,
    CloudHsmClusterId: store?.cloudHsmClusterId ?? '',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
  if (key.keyState === 'PendingDeletion' && key.deletionDate) metadata.DeletionDate = key.deletionDate;
  return metadata;
}

/** Checks the members of CreateKey that this engine supports only in one form. */
function validateCreateKeyRequest(request: CreateKeyRequest): string {
  const origin = request.Origin ?? 'AWS_KMS';
  if (origin !== 'AWS_CLOUDHSM') {
    throw new UnsupportedOperationException(
      `Origin ${origin} is not supported: this engine creates keys only in custom key stores. ` +
        "Specify Origin 'AWS_CLOUDHSM' and a CustomKeyStoreId.",
    );
  }
  if (request.CustomKeyStoreId === undefined || request.CustomKeyStoreId === null) {
    throw new ValidationException(
      "CustomKeyStoreId is required when Origin is 'AWS_CLOUDHSM'. Specify the ID of a connected custom key store.",
    );
  }
  const spec = request.KeySpec ?? request.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
  if (spec !== 'SYMMETRIC_DEFAULT') {
    throw new UnsupportedOperationException(
      `KeySpec ${spec} is not supported in a custom key store. Omit KeySpec or specify SYMMETRIC_DEFAULT.`,
    );
  }
  if ((request.KeyUsage ?? 'ENCRYPT_DECRYPT') !== 'ENCRYPT_DECRYPT') {
    throw new UnsupportedOperationException(
      `KeyUsage ${request.KeyUsage} is not supported in a custom key store. Omit KeyUsage or specify ENCRYPT_DECRYPT.`,
    );
  }
  if (request.MultiRegion === true) {
    throw new UnsupportedOperationException('Multi-Region keys cannot be created in a custom key store.');
  }
  return validateCustomKeyStoreIdMember(request.CustomKeyStoreId);
}

/**
 * Creates a key whose material is generated in an HSM of the store's
 * cluster. A pending row is written first, so that a crash between the HSM
 * and the metadata leaves a row that the next start reconciles.
 */
export async function createKey(engine: Engine, request: CreateKeyRequest): Promise<CreateKeyResponse> {
  const customKeyStoreId = validateCreateKeyRequest(request);
  const description = validateDescription(request.Description);
  const cluster = engine.connectedStoreCluster(customKeyStoreId);
  const active = cluster.activeHsms();
  const needed = cluster.config.minimumKeyCopies;
  if (active.length < needed) {
    throw new CloudHsmClusterInvalidConfigurationException(
      `Cluster ${cluster.clusterId} has ${active.length} active HSM(s), and a new key must be stored on ${needed}. ` +
        'Bring another HSM of the cluster back into service, then retry.',
    );
  }
  const [generator, ...others] = active as [ClusterHsm, ...ClusterHsm[]];
  const replicated = cluster.config.replication === 'wrap';

  const keyId = newKeyId();
  const arn = keyArn(engine.scope.region, engine.scope.accountId, keyId, engine.scope.partition);
  const material = backingKeyId(keyId, FIRST_BACKING_KEY_VERSION);
  engine.metadata.insertPendingKey({
    keyId,
    arn,
    description,
    customKeyStoreId,
    backingKeyId: material,
    backingKeyVersion: FIRST_BACKING_KEY_VERSION,
    creationDate: engine.now(),
  });
  try {
    await cluster.run(generator.hsm, (hsm) => hsm.generateKey(material, Buffer.from(arn, 'utf8'), replicated));
  } catch (error) {
    engine.metadata.abandonKeyCreation(keyId);
    throw new KMSInternalException(`The HSM failed to generate the key material. Retry later.`, { cause: error });
  }
  cluster.markPresent(generator.hsm, material);

  if (replicated) {
    // Copies that fail now are repaired later by syncKeyMaterial, as long as
    // enough HSMs hold the key.
    const { reached, failed } = await copyKey(cluster, generator.hsm, others, material, arn);
    if (1 + reached.length < needed) {
      await Promise.all(
        [generator, ...others].map(({ hsm }) => hsm.destroyKey(material).catch(() => false)),
      );
      engine.metadata.abandonKeyCreation(keyId);
      throw new KMSInternalException(
        `The key material could be stored on only ${1 + reached.length} HSM(s) of cluster ${cluster.clusterId}, ` +
          `and a new key needs ${needed} (${failed.map((failure) => `${failure.TokenLabel}: ${failure.Reason}`).join('; ')}). Retry later.`,
      );
    }
  }
  const key = engine.metadata.completeKeyCreation(keyId);
  log('created key %s in custom key store %s', arn, customKeyStoreId);
  return { KeyMetadata: keyMetadata(engine, key) };
}

export function describeKey(engine: Engine, request: DescribeKeyRequest): DescribeKeyResponse {
  validateGrantTokens(request.GrantTokens);
  const key = resolveKey(engine, request.KeyId, { malformedArnError: 'InvalidArnException' });
  return { KeyMetadata: keyMetadata(engine, key) };
}

export function listKeys(engine: Engine, request: ListKeysRequest): ListKeysResponse {
  const limit = validateLimit(request.Limit, 100);
  const marker = validateMarker(request.Marker);
  const page = engine.metadata.listKeys({ limit, marker });
  const response: ListKeysResponse = {
    Keys: page.items.map((key) => ({ KeyId: key.keyId, KeyArn: key.arn })),
    Truncated: page.truncated,
  };
  if (page.nextMarker) response.NextMarker = page.nextMarker;
  return response;
}

/** Resolves the KeyId of a management operation, which takes a key ID or key ARN but no alias. */
function managedKey(engine: Engine, keyId: unknown): KeyRecord {
  return resolveKey(engine, keyId, { acceptAliases: false, malformedArnError: 'InvalidArnException' });
}

/**
 * Enables a key. On an Unavailable key it succeeds, and the key is Enabled
 * once its store is connected again, as in AWS KMS.
 */
export function enableKey(engine: Engine, request: KeyIdRequest): void {
  const key = managedKey(engine, request.KeyId);
  rejectPendingDeletion(key);
  engine.metadata.updateKeyState(key.keyId, { keyState: 'Enabled' });
}

export function disableKey(engine: Engine, request: KeyIdRequest): void {
  const key = managedKey(engine, request.KeyId);
  rejectPendingDeletion(key);
  engine.metadata.updateKeyState(key.keyId, { keyState: 'Disabled' });
}

export function scheduleKeyDeletion(engine: Engine, request: ScheduleKeyDeletionRequest): ScheduleKeyDeletionResponse {
  const key = managedKey(engine, request.KeyId);
  const pendingWindowInDays = validatePendingWindowInDays(request.PendingWindowInDays);
  rejectPendingDeletion(key);
  const deletionDate = new Date(engine.now().getTime() + pendingWindowInDays * DAY_MS);
  engine.metadata.updateKeyState(key.keyId, { keyState: 'PendingDeletion', deletionDate, pendingWindowInDays });
  log('scheduled deletion of key %s on %s', key.arn, deletionDate.toISOString());
  return { KeyId: key.arn, DeletionDate: deletionDate, KeyState: 'PendingDeletion', PendingWindowInDays: pendingWindowInDays };
}

/** Cancels a scheduled deletion; the key returns Disabled, as in AWS KMS. */
export function cancelKeyDeletion(engine: Engine, request: KeyIdRequest): CancelKeyDeletionResponse {
  const key = managedKey(engine, request.KeyId);
  if (key.keyState !== 'PendingDeletion') {
    throw new KMSInvalidStateException(`${key.arn} is not pending deletion, so there is no deletion to cancel.`);
  }
  engine.metadata.updateKeyState(key.keyId, { keyState: 'Disabled' });
  return { KeyId: key.arn };
}

/**
 * Deletes every key whose waiting period has passed: its material in each
 * open HSM of its cluster, then its metadata and aliases. Material on an HSM
 * that is not connected stays there, as with AWS KMS, and is logged.
 * Returns the ARNs of the deleted keys.
 */
export async function deleteDueKeys(engine: Engine): Promise<string[]> {
  const deleted: string[] = [];
  for (const key of engine.metadata.listKeysDueForDeletion(engine.now())) {
    const cluster = engine.connection(key.customKeyStoreId).connectedCluster;
    const hsms = cluster?.activeHsms() ?? [];
    for (const { hsm } of hsms) {
      try {
        await hsm.destroyKey(key.backingKeyId);
      } catch (error) {
        log('key %s: destroying its material on HSM %s failed: %s', key.arn, hsm.token.label, (error as Error).message);
      }
    }
    if (!cluster || hsms.length < cluster.configuredHsmCount) {
      log('key %s deleted while some HSMs of its cluster are not active; their material remains and must be removed by hand', key.arn);
    }
    engine.metadata.deleteKey(key.keyId);
    deleted.push(key.arn);
    log('deleted key %s', key.arn);
  }
  return deleted;
}
