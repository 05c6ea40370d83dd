// Repairs what a crash between the HSM and the metadata can leave behind.
// Key creation writes a pending row, generates the key in an HSM, then marks
// the row complete. A pending row found later belongs to a creation whose
// caller never received the key ID, so the key is removed: its material is
// destroyed in every open HSM of the store's cluster and the row deleted.
import { debuglog } from 'node:util';
import type { Engine } from './engine.js';

const log = debuglog('hsm-kms');

/**
 * A pending row younger than this may belong to a creation still running in
 * another process that shares the data folder, so it is left alone. Creation
 * takes milliseconds, so a minute is ample.
 */
const PENDING_GRACE_MS = 60_000;

export interface ReconcileReport {
  /** ARNs of half-created keys that were removed. */
  removedKeys: string[];
  /** ARNs of pending keys left for later, because their store is not connected or they are recent. */
  deferredKeys: string[];
}

export async function reconcilePendingKeys(engine: Engine, graceMs = PENDING_GRACE_MS): Promise<ReconcileReport> {
  const report: ReconcileReport = { removedKeys: [], deferredKeys: [] };
  const now = engine.now().getTime();

  for (const key of engine.metadata.listPendingKeys()) {
    const cluster = engine.connection(key.customKeyStoreId).connectedCluster;
    if (!cluster || now - key.creationDate.getTime() < graceMs) {
      report.deferredKeys.push(key.arn);
      continue;
    }
    let destroyed = 0;
    for (const { hsm } of cluster.activeHsms()) {
      try {
        if (await hsm.destroyKey(key.backingKeyId)) destroyed += 1;
      } catch (error) {
        log('reconcile: destroying material of %s on HSM %s failed: %s', key.arn, hsm.token.label, (error as Error).message);
      }
    }
    engine.metadata.abandonKeyCreation(key.keyId);
    report.removedKeys.push(key.arn);
    // A repair is worth a line in any log, not only under NODE_DEBUG.
    process.emitWarning(
      `Removed half-created key ${key.arn}: its creation did not complete, and its HSM material was destroyed on ${destroyed} HSM(s)`,
      { type: 'HsmKmsRepair' },
    );
  }
  return report;
}
