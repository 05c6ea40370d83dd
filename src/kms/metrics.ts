// Counts and times the operations of one cluster, so callers can see its
// load and failures (`Kms.metrics()`); the HTTP endpoint exports them too.

export interface OperationMetrics {
  /** Requests that reached the operation, whatever their outcome. */
  requests: number;
  /** Requests that failed, by exception name (ThrottlingException included). */
  errors: Record<string, number>;
  /** Sum of the durations of all requests, in seconds. */
  totalSeconds: number;
  /** Duration of the slowest request, in seconds. */
  maxSeconds: number;
}

export interface ClusterMetricsSnapshot {
  clusterId: string;
  operations: Record<string, OperationMetrics>;
}

export class ClusterMetrics {
  readonly clusterId: string;
  readonly #operations = new Map<string, OperationMetrics>();

  constructor(clusterId: string) {
    this.clusterId = clusterId;
  }

  /** Records one request of `operation` that took `seconds`; `errorName` is set when it failed. */
  record(operation: string, seconds: number, errorName?: string): void {
    let metrics = this.#operations.get(operation);
    if (!metrics) {
      metrics = { requests: 0, errors: {}, totalSeconds: 0, maxSeconds: 0 };
      this.#operations.set(operation, metrics);
    }
    metrics.requests += 1;
    metrics.totalSeconds += seconds;
    if (seconds > metrics.maxSeconds) metrics.maxSeconds = seconds;
    if (errorName) metrics.errors[errorName] = (metrics.errors[errorName] ?? 0) + 1;
  }

  snapshot(): ClusterMetricsSnapshot {
    const operations: Record<string, OperationMetrics> = {};
    for (const [name, metrics] of this.#operations) {
      operations[name] = { ...metrics, errors: { ...metrics.errors } };
    }
    return { clusterId: this.clusterId, operations };
  }
}
