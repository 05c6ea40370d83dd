/**
 * Prometheus metrics of one server, in a Registry of its own so that several
 * servers (or an application's own metrics) in one process stay apart.
 * `GET /metrics` renders this registry. Label values come from fixed sets:
 * operation names of the table (or 'unknown'), configured cluster IDs (or
 * 'none') and exception names, so a client cannot create new series at will.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Kms } from '../kms/kms.js';

/** Latency buckets in seconds: an HSM call takes from under a millisecond (SoftHSM2) to tens of ms (network HSMs). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Exceptions counted as throttles: the AWS SDKs retry both as throttling. */
const THROTTLING_EXCEPTIONS = new Set(['ThrottlingException', 'LimitExceededException']);

export interface RequestOutcome {
  operation: string;
  cluster: string;
  /** Exception name when the request failed. */
  exception?: string;
  seconds: number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'operation' | 'cluster'>;
  readonly #errors: Counter<'operation' | 'cluster' | 'exception'>;
  readonly #throttles: Counter<'operation' | 'cluster'>;
  readonly #duration: Histogram<'operation' | 'cluster'>;

  constructor(kms: Kms) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'hsm_kms_requests_total',
      help: 'KMS API requests received, by operation and HSM cluster.',
      labelNames: ['operation', 'cluster'],
      registers,
    });
    this.#errors = new Counter({
      name: 'hsm_kms_request_errors_total',
      help: 'KMS API requests that failed, by operation, HSM cluster and exception name.',
      labelNames: ['operation', 'cluster', 'exception'],
      registers,
    });
    this.#throttles = new Counter({
      name: 'hsm_kms_throttled_requests_total',
      help: 'KMS API requests rejected with ThrottlingException or LimitExceededException.',
      labelNames: ['operation', 'cluster'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'hsm_kms_request_duration_seconds',
      help: 'Time from the first byte of a KMS API request to its response, in seconds.',
      labelNames: ['operation', 'cluster'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'hsm_kms_active_hsms',
      help: 'HSMs of the cluster whose sessions are open, read at scrape time.',
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const cluster of kms.clusterStatus()) this.set({ cluster: cluster.clusterId }, cluster.activeHsms);
      },
    });
    new Gauge({
      name: 'hsm_kms_custom_key_store_connected',
      help: '1 when the custom key store that uses the cluster is CONNECTED, else 0; read at scrape time.',
      labelNames: ['cluster', 'custom_key_store_id'],
      registers,
      collect() {
        this.reset();
        for (const cluster of kms.clusterStatus()) {
          if (cluster.customKeyStoreId === undefined) continue;
          const labels = { cluster: cluster.clusterId, custom_key_store_id: cluster.customKeyStoreId };
          this.set(labels, cluster.connectionState === 'CONNECTED' ? 1 : 0);
        }
      },
    });
  }

  record(outcome: RequestOutcome): void {
    const labels = { operation: outcome.operation, cluster: outcome.cluster };
    this.#requests.inc(labels);
    this.#duration.observe(labels, outcome.seconds);
    if (outcome.exception === undefined) return;
    this.#errors.inc({ ...labels, exception: outcome.exception });
    if (THROTTLING_EXCEPTIONS.has(outcome.exception)) this.#throttles.inc(labels);
  }
}
