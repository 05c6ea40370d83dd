// Custom key stores of the AWS CloudHSM type: each one binds a configured
// HSM cluster and the password of its crypto user. The connection states
// are in key-store-state.ts.
import { debuglog } from 'node:util';
import type { Engine } from './engine.js';
import {
  CustomKeyStoreHasCMKsException,
  CustomKeyStoreInvalidStateException,
  CustomKeyStoreNotFoundException,
  quoteForMessage,
  UnsupportedOperationException,
} from './errors.js';
import { newCustomKeyStoreId } from './identifiers.js';
import { reconcilePendingKeys } from './reconcile.js';
import type { CustomKeyStoreRecord } from './metadata-records.js';
import type {
  CreateCustomKeyStoreRequest,
  CreateCustomKeyStoreResponse,
  CustomKeyStoreEntry,
  CustomKeyStoreIdRequest,
  DescribeCustomKeyStoresRequest,
  DescribeCustomKeyStoresResponse,
  UpdateCustomKeyStoreRequest,
} from './types.js';
import {
  validateCloudHsmClusterId,
  validateCustomKeyStoreIdMember,
  validateCustomKeyStoreName,
  validateKeyStorePassword,
  validateLimit,
  validateMarker,
  validateTrustAnchorCertificate,
} from './validation.js';

const log = debuglog('hsm-kms');

function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

export function createCustomKeyStore(
  engine: Engine,
  request: CreateCustomKeyStoreRequest,
): CreateCustomKeyStoreResponse {
  const type = request.CustomKeyStoreType ?? 'AWS_CLOUDHSM';
  if (type !== 'AWS_CLOUDHSM') {
    throw new UnsupportedOperationException(
      `CustomKeyStoreType ${type} is not supported: this engine offers AWS_CLOUDHSM key stores backed by PKCS#11 HSMs.`,
    );
  }
  const customKeyStoreName = validateCustomKeyStoreName(request.CustomKeyStoreName);
  const cloudHsmClusterId = validateCloudHsmClusterId(request.CloudHsmClusterId);
  const trustAnchorCertificate = validateTrustAnchorCertificate(request.TrustAnchorCertificate);
  const keyStorePassword = validateKeyStorePassword(request.KeyStorePassword);
  engine.cluster(cloudHsmClusterId);

  const record = engine.metadata.insertCustomKeyStore({
    customKeyStoreId: newCustomKeyStoreId(),
    customKeyStoreName,
    cloudHsmClusterId,
    trustAnchorCertificate,
    keyStorePassword,
    creationDate: engine.now(),
  });
  log('created custom key store %s on cluster %s', record.customKeyStoreId, cloudHsmClusterId);
  return { CustomKeyStoreId: record.customKeyStoreId };
}

/**
 * Starts connecting the store in the background and returns at once, as
 * ConnectCustomKeyStore does. Poll DescribeCustomKeyStores for the outcome.
 */
export function connectCustomKeyStore(engine: Engine, request: CustomKeyStoreIdRequest): void {
  const customKeyStoreId = validateCustomKeyStoreIdMember(request.CustomKeyStoreId);
  const record = engine.keyStore(customKeyStoreId);
  startConnection(engine, record);
  engine.metadata.setDesiredConnectionState(customKeyStoreId, 'CONNECTED');
}

/** Starts the connection of a store whose record is known, unsealing its password for the HSM login. */
export function startConnection(engine: Engine, record: CustomKeyStoreRecord): void {
  const cluster = engine.cluster(record.cloudHsmClusterId);
  const connection = engine.connection(record.customKeyStoreId);
  if (connection.state === 'CONNECTED' || connection.state === 'CONNECTING') return;
  connection.startConnect(cluster, engine.metadata.unsealKeyStorePassword(record.customKeyStoreId));
  // Keys whose creation a crash interrupted can be repaired once the HSMs
  // are reachable.
  void connection
    .settled()
    .then(() => (connection.state === 'CONNECTED' ? reconcilePendingKeys(engine) : undefined))
    .catch((error: Error) => log('reconciliation after connecting %s failed: %s', record.customKeyStoreId, error.message));
}

/**
 * Disconnects a store that is CONNECTED, CONNECTING or FAILED. A store that
 * is DISCONNECTED or DISCONNECTING is rejected, as in AWS KMS.
 */
export async function disconnectCustomKeyStore(engine: Engine, request: CustomKeyStoreIdRequest): Promise<void> {
  const customKeyStoreId = validateCustomKeyStoreIdMember(request.CustomKeyStoreId);
  engine.keyStore(customKeyStoreId);
  const connection = engine.connection(customKeyStoreId);
  if (connection.state === 'DISCONNECTED' || connection.state === 'DISCONNECTING') {
    throw new CustomKeyStoreInvalidStateException(
      `Custom key store ${customKeyStoreId} is already ${connection.state}. ` +
        'Disconnect a store only while it is CONNECTED, CONNECTING or FAILED.',
    );
  }
  engine.metadata.setDesiredConnectionState(customKeyStoreId, 'DISCONNECTED');
  await connection.disconnect();
}

function describeEntry(engine: Engine, record: CustomKeyStoreRecord): CustomKeyStoreEntry {
  const connection = engine.connection(record.customKeyStoreId);
  const entry: CustomKeyStoreEntry = {
    CustomKeyStoreId: record.customKeyStoreId,
    CustomKeyStoreName: record.customKeyStoreName,
    CloudHsmClusterId: record.cloudHsmClusterId,
    TrustAnchorCertificate: record.trustAnchorCertificate,
    ConnectionState: connection.state,
    CreationDate: record.creationDate,
    CustomKeyStoreType: 'AWS_CLOUDHSM',
  };
  if (connection.errorCode) entry.ConnectionErrorCode = connection.errorCode;
  return entry;
}

/** Describes one store (by ID or name) or a page of all stores. The password is never part of the output. */
export function describeCustomKeyStores(
  engine: Engine,
  request: DescribeCustomKeyStoresRequest,
): DescribeCustomKeyStoresResponse {
  const limit = validateLimit(request.Limit, 100);
  const marker = validateMarker(request.Marker);

  if (!isAbsent(request.CustomKeyStoreId)) {
    const record = engine.keyStore(validateCustomKeyStoreIdMember(request.CustomKeyStoreId));
    return { CustomKeyStores: [describeEntry(engine, record)], Truncated: false };
  }
  if (!isAbsent(request.CustomKeyStoreName)) {
    const name = validateCustomKeyStoreName(request.CustomKeyStoreName);
    const record = engine.metadata.getCustomKeyStoreByName(name);
    if (!record) {
      throw new CustomKeyStoreNotFoundException(
        `No custom key store is named ${quoteForMessage(name)}. List the stores with DescribeCustomKeyStores.`,
      );
    }
    return { CustomKeyStores: [describeEntry(engine, record)], Truncated: false };
  }

  const page = engine.metadata.listCustomKeyStores({ limit, marker });
  const response: DescribeCustomKeyStoresResponse = {
    CustomKeyStores: page.items.map((record) => describeEntry(engine, record)),
    Truncated: page.truncated,
  };
  if (page.nextMarker) response.NextMarker = page.nextMarker;
  return response;
}

/**
 * Renames a store (in any state) or changes its password or cluster (only
 * while DISCONNECTED, as in AWS KMS).
 */
export function updateCustomKeyStore(engine: Engine, request: UpdateCustomKeyStoreRequest): void {
  const customKeyStoreId = validateCustomKeyStoreIdMember(request.CustomKeyStoreId);
  const customKeyStoreName = isAbsent(request.NewCustomKeyStoreName)
    ? undefined
    : validateCustomKeyStoreName(request.NewCustomKeyStoreName, 'NewCustomKeyStoreName');
  const keyStorePassword = isAbsent(request.KeyStorePassword)
    ? undefined
    : validateKeyStorePassword(request.KeyStorePassword);
  const cloudHsmClusterId = isAbsent(request.CloudHsmClusterId)
    ? undefined
    : validateCloudHsmClusterId(request.CloudHsmClusterId);
  engine.keyStore(customKeyStoreId);

  const state = engine.connection(customKeyStoreId).state;
  if ((keyStorePassword !== undefined || cloudHsmClusterId !== undefined) && state !== 'DISCONNECTED') {
    throw new CustomKeyStoreInvalidStateException(
      `Custom key store ${customKeyStoreId} is ${state}. Its password and cluster can change only while it is ` +
        'DISCONNECTED; disconnect it with DisconnectCustomKeyStore first.',
    );
  }
  if (cloudHsmClusterId !== undefined) engine.cluster(cloudHsmClusterId);

  const changes: { customKeyStoreName?: string; keyStorePassword?: string; cloudHsmClusterId?: string } = {};
  if (customKeyStoreName !== undefined) changes.customKeyStoreName = customKeyStoreName;
  if (keyStorePassword !== undefined) changes.keyStorePassword = keyStorePassword;
  if (cloudHsmClusterId !== undefined) changes.cloudHsmClusterId = cloudHsmClusterId;
  engine.metadata.updateCustomKeyStore(customKeyStoreId, changes);
}

/** Deletes a DISCONNECTED store that contains no keys. */
export function deleteCustomKeyStore(engine: Engine, request: CustomKeyStoreIdRequest): void {
  const customKeyStoreId = validateCustomKeyStoreIdMember(request.CustomKeyStoreId);
  engine.keyStore(customKeyStoreId);
  const state = engine.connection(customKeyStoreId).state;
  if (state !== 'DISCONNECTED') {
    throw new CustomKeyStoreInvalidStateException(
      `Custom key store ${customKeyStoreId} is ${state}. Disconnect it with DisconnectCustomKeyStore before deleting it.`,
    );
  }
  const keys = engine.metadata.countKeysInCustomKeyStore(customKeyStoreId);
  if (keys > 0) {
    throw new CustomKeyStoreHasCMKsException(
      `Custom key store ${customKeyStoreId} contains ${keys} key(s). Schedule their deletion and wait until ` +
        'they are deleted before deleting the store.',
    );
  }
  engine.metadata.deleteCustomKeyStore(customKeyStoreId);
  engine.forgetConnection(customKeyStoreId);
  log('deleted custom key store %s', customKeyStoreId);
}
