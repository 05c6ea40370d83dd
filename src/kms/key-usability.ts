// The rules that decide whether a key may be used, in one place:
//
// - the effective key state. A key pending deletion stays PendingDeletion.
//   Any other key whose custom key store is not CONNECTED is Unavailable.
//   Otherwise the key has its stored state, Enabled or Disabled.
// - a cryptographic operation needs an Enabled key whose store is
//   CONNECTED and whose cluster has at least one active HSM. Whether an
//   active HSM has the key material is known only when an HSM is asked,
//   and cluster.ts handles that.
import type { Cluster } from './cluster.js';
import { connectAdvice, type Engine } from './engine.js';
import { DisabledException, KMSInvalidStateException } from './errors.js';
import type { KeyRecord } from './metadata-records.js';
import type { KeyState } from './types.js';

export function effectiveKeyState(engine: Engine, key: KeyRecord): KeyState {
  if (key.keyState === 'PendingDeletion') return 'PendingDeletion';
  if (engine.connection(key.customKeyStoreId).state !== 'CONNECTED') return 'Unavailable';
  return key.keyState;
}

/**
 * Checks that `key` may be used for a cryptographic operation and returns
 * the cluster to run it on. Throws the exception AWS KMS returns for the
 * effective key state: DisabledException for a disabled key,
 * KMSInvalidStateException for every other reason, with the cause in the
 * message. A disabled key whose store is not CONNECTED is Unavailable, so
 * it gets KMSInvalidStateException.
 */
export function clusterForCrypto(engine: Engine, key: KeyRecord): Cluster {
  if (key.keyState === 'PendingDeletion') {
    throw new KMSInvalidStateException(
      `${key.arn} is pending deletion. Cancel the deletion with CancelKeyDeletion to use it again.`,
    );
  }

  const connection = engine.connection(key.customKeyStoreId);
  const cluster = connection.connectedCluster;
  if (!cluster) {
    throw new KMSInvalidStateException(
      `${key.arn} is unavailable because its custom key store ${key.customKeyStoreId} is ${connection.state}, ` +
        `not CONNECTED. ${connectAdvice(connection.state)}`,
    );
  }
  if (key.keyState === 'Disabled') {
    throw new DisabledException(`${key.arn} is disabled. Enable it with EnableKey.`);
  }
  if (cluster.activeHsmCount === 0) {
    throw new KMSInvalidStateException(
      `${key.arn} is unavailable because cluster ${cluster.clusterId} has no active HSM. ` +
        'KMS cannot communicate with the cluster; check its HSMs, then retry.',
    );
  }
  return cluster;
}

/** Throws KMSInvalidStateException when the key is pending deletion; used by operations that allow every other state. */
export function rejectPendingDeletion(key: KeyRecord): void {
  if (key.keyState === 'PendingDeletion') {
    throw new KMSInvalidStateException(`${key.arn} is pending deletion. Cancel the deletion with CancelKeyDeletion first.`);
  }
}
