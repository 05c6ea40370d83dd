/**
 * The `GET /health` report: every configured cluster with its HSMs, and
 * every custom key store with its connection state. The status is 'ok'
 * (HTTP 200) unless a store is FAILED or a CONNECTED store's cluster has no
 * active HSM. Either makes it 'degraded' (HTTP 503), so a load balancer or a
 * probe can act on the status code alone.
 *
 * The report contains IDs, names, states and counters, never passwords or
 * key material.
 */
import type { ClusterStatus, Kms } from '../kms/kms.js';
import type { ConnectionErrorCode, ConnectionState } from '../kms/types.js';

export type HealthStatus = 'ok' | 'degraded' | 'shutting-down';

export interface StoreHealth {
  customKeyStoreId: string;
  customKeyStoreName: string;
  cloudHsmClusterId: string;
  connectionState: ConnectionState;
  connectionErrorCode?: ConnectionErrorCode;
}

export interface HealthReport {
  status: HealthStatus;
  /** Reasons for a 'degraded' status, one sentence each. */
  problems: string[];
  /**
   * Conditions that do not stop service yet, such as an inactive HSM in a
   * cluster whose other HSMs serve its keys; the status stays 'ok'.
   */
  warnings: string[];
  clusters: ClusterStatus[];
  customKeyStores: StoreHealth[];
}

/** Page size for reading every custom key store: the largest Limit that DescribeCustomKeyStores accepts. */
const STORE_PAGE_SIZE = 1000;

async function allStores(kms: Kms): Promise<StoreHealth[]> {
  const stores: StoreHealth[] = [];
  let marker: string | undefined;
  do {
    const page = await kms.describeCustomKeyStores(marker === undefined ? { Limit: STORE_PAGE_SIZE } : { Limit: STORE_PAGE_SIZE, Marker: marker });
    for (const store of page.CustomKeyStores) {
      const health: StoreHealth = {
        customKeyStoreId: store.CustomKeyStoreId,
        customKeyStoreName: store.CustomKeyStoreName,
        cloudHsmClusterId: store.CloudHsmClusterId,
        connectionState: store.ConnectionState,
      };
      if (store.ConnectionErrorCode !== undefined) health.connectionErrorCode = store.ConnectionErrorCode;
      stores.push(health);
    }
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker !== undefined);
  return stores;
}

/** Builds the health report; `shuttingDown` forces the 'shutting-down' status. */
export async function healthReport(kms: Kms, shuttingDown: boolean): Promise<HealthReport> {
  const clusters = kms.clusterStatus();
  const customKeyStores = await allStores(kms);

  const problems: string[] = [];
  for (const store of customKeyStores) {
    if (store.connectionState === 'FAILED') {
      problems.push(
        `Custom key store ${store.customKeyStoreId} is FAILED (${store.connectionErrorCode ?? 'no error code'}): ` +
          'disconnect it, fix the cause, and connect it again.',
      );
    }
    const cluster = clusters.find((candidate) => candidate.clusterId === store.cloudHsmClusterId);
    if (store.connectionState === 'CONNECTED' && cluster?.activeHsms === 0) {
      problems.push(`Custom key store ${store.customKeyStoreId} is CONNECTED, but cluster ${cluster.clusterId} has no active HSM.`);
    }
  }

  const warnings: string[] = [];
  for (const cluster of clusters) {
    if (cluster.connectionState !== 'CONNECTED' || cluster.activeHsms === 0) continue;
    for (const hsm of cluster.hsms) {
      if (!hsm.active) warnings.push(`HSM ${hsm.tokenLabel} of cluster ${cluster.clusterId} is inactive: ${hsm.reason ?? 'no reason recorded'}`);
    }
  }

  let status: HealthStatus = problems.length === 0 ? 'ok' : 'degraded';
  if (shuttingDown) status = 'shutting-down';
  return { status, problems, warnings, clusters, customKeyStores };
}

/** HTTP status of a health report: 200 when 'ok', 503 otherwise. */
export function healthHttpStatus(report: HealthReport): number {
  return report.status === 'ok' ? 200 : 503;
}
