// Public entry point of hsm-kms.
export { Kms, type KmsOptions, type ClusterStatus } from './kms/kms.js';
export type { ClusterConfig, HsmConfig, EngineConfig } from './kms/config.js';
export type { ClusterMetricsSnapshot, OperationMetrics } from './kms/metrics.js';
export type { HsmStatus } from './kms/cluster.js';
export type { ReconcileReport } from './kms/reconcile.js';
export type { KeySyncResult, SyncKeyMaterialResult } from './kms/key-replication.js';
export * from './kms/errors.js';
export type * from './kms/types.js';
export {
  createServer,
  KmsServer,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type KmsServerOptions,
  type ListeningAddress,
} from './server/server.js';
export { loadAccessKeys, type AccessKey } from './server/access-keys.js';
export type { HealthReport, HealthStatus, StoreHealth } from './server/health.js';
export * from './server/errors.js';
