// Key material on every HSM of a cluster. With replication 'wrap', a key is
// generated on one HSM and copied to the others under the cluster wrapping
// key (see Hsm.replicateKey): the copy travels wrapped, between native
// threads, and its value never leaves an HSM in clear.
import { debuglog } from 'node:util';
import type { Hsm } from '../native.js';
import type { Cluster, ClusterHsm } from './cluster.js';
import type { Engine } from './engine.js';
import type { KeyRecord } from './metadata-records.js';

const log = debuglog('hsm-kms');

/** Outcome of copying one key's material to the HSMs that lack it. */
export interface KeySyncResult {
  KeyId: string;
  /** Token labels of the HSMs that held the key before the sync. */
  PresentOn: string[];
  /** Token labels of the HSMs the key was copied to. */
  CopiedTo: string[];
  /** Token labels of active HSMs that still lack the key, with the reason. */
  Failed: { TokenLabel: string; Reason: string }[];
}

export interface SyncKeyMaterialResult {
  Keys: KeySyncResult[];
  /** Custom key stores that were skipped because they are not CONNECTED. */
  SkippedKeyStores: string[];
  /** HSMs of connected stores' clusters that were skipped because they are not active. */
  InactiveHsms: { ClusterId: string; TokenLabel: string; Reason: string }[];
}

function wrappingKeyId(cluster: Cluster): Buffer {
  return Buffer.from(cluster.config.wrappingKeyId, 'utf8');
}

/**
 * Copies the key from `source` to each HSM in `targets`. Returns the token
 * labels it reached and the failures; a target that already had the key
 * counts as reached.
 */
export async function copyKey(
  cluster: Cluster,
  source: Hsm,
  targets: ClusterHsm[],
  backingKeyId: Uint8Array,
  label: string,
): Promise<{ reached: string[]; failed: { TokenLabel: string; Reason: string }[] }> {
  const reached: string[] = [];
  const failed: { TokenLabel: string; Reason: string }[] = [];
  const labelBytes = Buffer.from(label, 'utf8');
  await Promise.all(
    targets.map(async (target) => {
      try {
        await cluster.run(source, (hsm) => hsm.replicateKey(backingKeyId, wrappingKeyId(cluster), target.hsm, labelBytes));
        cluster.markPresent(target.hsm, backingKeyId);
        reached.push(target.tokenLabel);
      } catch (error) {
        failed.push({ TokenLabel: target.tokenLabel, Reason: (error as Error).message });
        log('cluster %s: copying a key to HSM %s failed: %s', cluster.clusterId, target.tokenLabel, (error as Error).message);
      }
    }),
  );
  return { reached, failed };
}

/** Finds which active HSMs of the cluster hold the key, by searching each token. */
async function holders(cluster: Cluster, backingKeyId: Uint8Array): Promise<{ present: ClusterHsm[]; missing: ClusterHsm[] }> {
  const present: ClusterHsm[] = [];
  const missing: ClusterHsm[] = [];
  await Promise.all(
    cluster.activeHsms().map(async (candidate) => {
      const has = await cluster.run(candidate.hsm, (hsm) => hsm.hasKey(backingKeyId)).catch(() => undefined);
      if (has === true) {
        present.push(candidate);
        cluster.markPresent(candidate.hsm, backingKeyId);
      } else if (has === false) {
        missing.push(candidate);
        cluster.markMissing(candidate.hsm, backingKeyId);
      }
    }),
  );
  return { present, missing };
}

async function syncKey(cluster: Cluster, key: KeyRecord): Promise<KeySyncResult> {
  const { present, missing } = await holders(cluster, key.backingKeyId);
  const result: KeySyncResult = {
    KeyId: key.arn,
    PresentOn: present.map((holder) => holder.tokenLabel),
    CopiedTo: [],
    Failed: [],
  };
  if (missing.length === 0) return result;
  if (present.length === 0) {
    result.Failed = missing.map((target) => ({
      TokenLabel: target.tokenLabel,
      Reason: 'no active HSM of the cluster holds this key material',
    }));
    return result;
  }
  const { reached, failed } = await copyKey(cluster, present[0]!.hsm, missing, key.backingKeyId, key.arn);
  result.CopiedTo = reached;
  result.Failed = failed;
  return result;
}

/**
 * Copies missing key material to every active HSM of every connected store
 * from an HSM that has it, and reports what it did per key.
 */
export async function syncKeyMaterial(engine: Engine): Promise<SyncKeyMaterialResult> {
  const result: SyncKeyMaterialResult = { Keys: [], SkippedKeyStores: [], InactiveHsms: [] };
  const skipped = new Set<string>();
  let marker: string | undefined;
  do {
    const page = engine.metadata.listKeys({ limit: 100, marker });
    for (const key of page.items) {
      const cluster = engine.connection(key.customKeyStoreId).connectedCluster;
      if (!cluster) {
        skipped.add(key.customKeyStoreId);
        continue;
      }
      if (cluster.config.replication !== 'wrap') continue;
      result.Keys.push(await syncKey(cluster, key));
    }
    marker = page.nextMarker;
  } while (marker);
  result.SkippedKeyStores = [...skipped];
  for (const connection of engine.connections()) {
    const cluster = connection.connectedCluster;
    if (!cluster) continue;
    for (const hsm of cluster.status()) {
      if (!hsm.active) {
        result.InactiveHsms.push({ ClusterId: cluster.clusterId, TokenLabel: hsm.tokenLabel, Reason: hsm.reason ?? 'inactive' });
      }
    }
  }
  return result;
}
