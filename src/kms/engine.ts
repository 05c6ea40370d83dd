// State shared by the operations of one Kms instance: metadata, clusters,
// key store connections, the ARN scope and the clock.
import { join } from 'node:path';
import { Cluster } from './cluster.js';
import type { ResolvedClusterConfig } from './config.js';
import {
  CloudHsmClusterNotFoundException,
  CustomKeyStoreInvalidStateException,
  CustomKeyStoreNotFoundException,
} from './errors.js';
import type { ArnScope } from './identifiers.js';
import { KeyStoreConnection } from './key-store-state.js';
import type { CustomKeyStoreRecord } from './metadata-records.js';
import type { MetadataStore } from './metadata-store.js';

/** Returns what a caller should do to reach CONNECTED from `state`. */
export function connectAdvice(state: string): string {
  switch (state) {
    case 'CONNECTING':
      return 'Wait until the connection completes (await kms.ready(), or poll DescribeCustomKeyStores).';
    case 'FAILED':
      return 'Disconnect it with DisconnectCustomKeyStore, fix the cause in ConnectionErrorCode, then connect it again.';
    case 'DISCONNECTING':
      return 'Wait until it is DISCONNECTED, then connect it with ConnectCustomKeyStore.';
    default:
      return 'Connect it with ConnectCustomKeyStore.';
  }
}

export class Engine {
  readonly metadata: MetadataStore;
  readonly scope: ArnScope;
  readonly now: () => Date;
  readonly #clusters = new Map<string, Cluster>();
  readonly #connections = new Map<string, KeyStoreConnection>();

  /**
   * With `rateLimitDir`, each cluster's token bucket lives in a file there,
   * shared by every process that opens the same data folder.
   */
  constructor(
    metadata: MetadataStore,
    clusters: ResolvedClusterConfig[],
    scope: ArnScope,
    now: () => Date,
    rateLimitDir?: string,
  ) {
    this.metadata = metadata;
    this.scope = scope;
    this.now = now;
    for (const config of clusters) {
      const path = rateLimitDir === undefined ? undefined : join(rateLimitDir, `rate-limit-${config.clusterId}.bucket`);
      this.#clusters.set(config.clusterId, new Cluster(config, path));
    }
  }

  clusters(): Cluster[] {
    return [...this.#clusters.values()];
  }

  /** Returns the configured cluster, or throws CloudHsmClusterNotFoundException. */
  cluster(clusterId: string): Cluster {
    const cluster = this.#clusters.get(clusterId);
    if (!cluster) {
      const known = [...this.#clusters.keys()].join(', ') || 'none';
      throw new CloudHsmClusterNotFoundException(
        `Cluster ${clusterId} is not in this engine's configuration (configured clusters: ${known}). ` +
          'Add it to the clusters of config.json or of Kms.open.',
      );
    }
    return cluster;
  }

  /** Returns the store's connection state machine, creating it DISCONNECTED on first use. */
  connection(customKeyStoreId: string): KeyStoreConnection {
    let connection = this.#connections.get(customKeyStoreId);
    if (!connection) {
      connection = new KeyStoreConnection(customKeyStoreId);
      this.#connections.set(customKeyStoreId, connection);
    }
    return connection;
  }

  forgetConnection(customKeyStoreId: string): void {
    this.#connections.delete(customKeyStoreId);
  }

  connections(): KeyStoreConnection[] {
    return [...this.#connections.values()];
  }

  /**
   * Returns the cluster of a store that must be CONNECTED for the operation
   * (CreateKey, GenerateRandom), or throws CustomKeyStoreNotFoundException or
   * CustomKeyStoreInvalidStateException.
   */
  connectedStoreCluster(customKeyStoreId: string): Cluster {
    this.keyStore(customKeyStoreId);
    const connection = this.connection(customKeyStoreId);
    const cluster = connection.connectedCluster;
    if (!cluster) {
      throw new CustomKeyStoreInvalidStateException(
        `Custom key store ${customKeyStoreId} is ${connection.state}, not CONNECTED. ${connectAdvice(connection.state)}`,
      );
    }
    return cluster;
  }

  /** Returns the store's record, or throws CustomKeyStoreNotFoundException. */
  keyStore(customKeyStoreId: string): CustomKeyStoreRecord {
    const record = this.metadata.getCustomKeyStore(customKeyStoreId);
    if (!record) {
      throw new CustomKeyStoreNotFoundException(
        `Custom key store ${customKeyStoreId} does not exist. List the stores with DescribeCustomKeyStores.`,
      );
    }
    return record;
  }
}
