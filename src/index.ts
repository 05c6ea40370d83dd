// Public entry point of hsm-kms.
export { Kms, type KmsOptions, type ClusterStatus } from './kms/kms.js';
export type { ClusterConfig, HsmConfig, EngineConfig } from './kms/config.js';
export type { ClusterMetricsSnapshot, OperationMetrics } from './kms/metrics.js';
export type { HsmStatus } from './kms/cluster.js';
export type { ReconcileReport } from './kms/reconcile.js';
export * from './kms/errors.js';
export type * from './kms/types.js';
