// The KMS facade: one method per AWS KMS operation, each taking and
// returning the AWS request and response shapes.
import { mkdirSync } from 'node:fs';
import { debuglog } from 'node:util';
import * as aliases from './aliases.js';
import type { HsmStatus } from './cluster.js';
import {
  DEFAULT_ACCOUNT_ID,
  DEFAULT_REGION,
  readConfigFile,
  resolveClusters,
  type ClusterConfig,
} from './config.js';
import * as crypto from './crypto-operations.js';
import * as keyStores from './custom-key-stores.js';
import { Engine } from './engine.js';
import { KMSInvalidStateException, ValidationException } from './errors.js';
import * as keys from './key-lifecycle.js';
import { MetadataStore } from './metadata-store.js';
import type { ClusterMetricsSnapshot } from './metrics.js';
import { reconcilePendingKeys, type ReconcileReport } from './reconcile.js';
import { syncKeyMaterial, type SyncKeyMaterialResult } from './key-replication.js';
import type * as T from './types.js';

const log = debuglog('hsm-kms');

export interface KmsOptions {
  /** Folder for the metadata database, the local secret key and config.json. */
  dataDir: string;
  /** HSM clusters; read from `<dataDir>/config.json` when omitted. */
  clusters?: ClusterConfig[];
  region?: string;
  accountId?: string;
  partition?: string;
  /** Clock for timestamps and deletion dates; tests pass one to move time forward. */
  now?: () => Date;
  /** How often scheduled deletions are carried out, in ms; default 60000. 0 turns the timer off. */
  deletionIntervalMs?: number;
  /**
   * Share each cluster's rate limit with every process that opens the same
   * data folder (default true), as AWS applies its key store quota to all
   * callers. The bucket then lives in `<dataDir>/rate-limit-<clusterId>.bucket`.
   */
  shareRateLimits?: boolean;
}

export interface ClusterStatus {
  clusterId: string;
  customKeyStoreId?: string;
  connectionState?: T.ConnectionState;
  activeHsms: number;
  hsms: HsmStatus[];
}

export class Kms {
  readonly #engine: Engine;
  #deletionTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(engine: Engine) {
    this.#engine = engine;
  }

  /**
   * Opens the engine on `options.dataDir`. Stores that were connected when
   * the engine last ran start connecting again in the background.
   */
  static async open(options: KmsOptions): Promise<Kms> {
    if (typeof options?.dataDir !== 'string' || options.dataDir.length === 0) {
      throw new TypeError('Kms.open needs options.dataDir, the folder for metadata and configuration');
    }
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const fileConfig = options.clusters ? undefined : readConfigFile(options.dataDir);
    const clusters = resolveClusters(options.clusters ?? fileConfig?.clusters ?? []);
    const scope = {
      partition: options.partition ?? 'aws',
      region: options.region ?? fileConfig?.region ?? DEFAULT_REGION,
      accountId: options.accountId ?? fileConfig?.accountId ?? DEFAULT_ACCOUNT_ID,
    };
    const metadata = MetadataStore.open(options.dataDir);
    const rateLimitDir = options.shareRateLimits === false ? undefined : options.dataDir;
    const engine = new Engine(metadata, clusters, scope, options.now ?? (() => new Date()), rateLimitDir);
    const kms = new Kms(engine);

    kms.#resumeConnections();
    const interval = options.deletionIntervalMs ?? 60_000;
    if (interval > 0) {
      kms.#deletionTimer = setInterval(() => {
        kms.deleteDueKeys().catch((error: Error) => log('scheduled deletion failed: %s', error.message));
      }, interval);
      kms.#deletionTimer.unref();
    }
    return kms;
  }

  /**
   * Reconnects the stores whose last requested state was CONNECTED.
   * NOTE: this runs at open only. When another process sharing the data
   * folder connects or disconnects a store, this process follows at its
   * next open. Keys, aliases and key states are shared within 100 ms.
   */
  #resumeConnections(): void {
    let marker: string | undefined;
    do {
      const page = this.#engine.metadata.listCustomKeyStores({ limit: 100, marker });
      for (const record of page.items) {
        if (record.desiredConnectionState !== 'CONNECTED') continue;
        try {
          keyStores.startConnection(this.#engine, record);
        } catch (error) {
          log('custom key store %s did not start connecting: %s', record.customKeyStoreId, (error as Error).message);
        }
      }
      marker = page.nextMarker;
    } while (marker);
  }

  /**
   * Resolves once every connection attempt in progress has ended, CONNECTED
   * or FAILED. Kms.open starts reconnecting stores in the background, so a
   * short-lived program awaits this before its first crypto request.
   */
  async ready(): Promise<void> {
    await Promise.all(this.#engine.connections().map((connection) => connection.settled()));
  }

  /** Closes every HSM session and the metadata database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#deletionTimer);
    await Promise.all(this.#engine.connections().map((connection) => connection.disconnect()));
    this.#engine.metadata.close();
  }

  /**
   * Returns the engine for a request, after checking that this Kms is open
   * and that the request is an object. Without this, a call after close()
   * or without a request failed with a TypeError from deep inside.
   */
  #use(request: unknown): Engine {
    const engine = this.#openEngine();
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      let kind = `a ${typeof request}`;
      if (request === null || request === undefined) kind = String(request);
      else if (Array.isArray(request)) kind = 'an array';
      throw new ValidationException(
        `The request must be an object of the operation's members, but it is ${kind}. Pass an object, such as {} for an operation whose members are all optional.`,
      );
    }
    return engine;
  }

  #openEngine(): Engine {
    if (this.#closed) {
      throw new KMSInvalidStateException('This Kms is closed. Open a new one with Kms.open().');
    }
    return this.#engine;
  }

  /** Runs an operation that returns a promise, turning a failed #use check into a rejection. */
  #run<R, T>(request: R, operation: (engine: Engine, request: R) => Promise<T>): Promise<T> {
    let engine: Engine;
    try {
      engine = this.#use(request);
    } catch (error) {
      return Promise.reject(error);
    }
    return operation(engine, request);
  }

  // Cryptographic operations.

  encrypt(request: T.EncryptRequest): Promise<T.EncryptResponse> {
    return this.#run(request, crypto.encrypt);
  }

  decrypt(request: T.DecryptRequest): Promise<T.DecryptResponse> {
    return this.#run(request, crypto.decrypt);
  }

  generateDataKey(request: T.GenerateDataKeyRequest): Promise<T.GenerateDataKeyResponse> {
    return this.#run(request, crypto.generateDataKey);
  }

  generateDataKeyWithoutPlaintext(
    request: T.GenerateDataKeyWithoutPlaintextRequest,
  ): Promise<T.GenerateDataKeyWithoutPlaintextResponse> {
    return this.#run(request, crypto.generateDataKeyWithoutPlaintext);
  }

  reEncrypt(request: T.ReEncryptRequest): Promise<T.ReEncryptResponse> {
    return this.#run(request, crypto.reEncrypt);
  }

  generateRandom(request: T.GenerateRandomRequest): Promise<T.GenerateRandomResponse> {
    return this.#run(request, crypto.generateRandom);
  }

  // Keys.

  createKey(request: T.CreateKeyRequest): Promise<T.CreateKeyResponse> {
    return this.#run(request, keys.createKey);
  }

  async describeKey(request: T.DescribeKeyRequest): Promise<T.DescribeKeyResponse> {
    return keys.describeKey(this.#use(request), request);
  }

  async listKeys(request: T.ListKeysRequest = {}): Promise<T.ListKeysResponse> {
    return keys.listKeys(this.#use(request), request);
  }

  async enableKey(request: T.KeyIdRequest): Promise<T.EmptyResponse> {
    keys.enableKey(this.#use(request), request);
    return {};
  }

  async disableKey(request: T.KeyIdRequest): Promise<T.EmptyResponse> {
    keys.disableKey(this.#use(request), request);
    return {};
  }

  async scheduleKeyDeletion(request: T.ScheduleKeyDeletionRequest): Promise<T.ScheduleKeyDeletionResponse> {
    return keys.scheduleKeyDeletion(this.#use(request), request);
  }

  async cancelKeyDeletion(request: T.KeyIdRequest): Promise<T.CancelKeyDeletionResponse> {
    return keys.cancelKeyDeletion(this.#use(request), request);
  }

  /**
   * Deletes the keys whose waiting period has passed; a timer calls this
   * every `deletionIntervalMs`. Resolves to the ARNs of the deleted keys.
   */
  deleteDueKeys(): Promise<string[]> {
    return this.#run({}, (engine) => keys.deleteDueKeys(engine));
  }

  // Aliases.

  async createAlias(request: T.AliasRequest): Promise<T.EmptyResponse> {
    aliases.createAlias(this.#use(request), request);
    return {};
  }

  async updateAlias(request: T.AliasRequest): Promise<T.EmptyResponse> {
    aliases.updateAlias(this.#use(request), request);
    return {};
  }

  async deleteAlias(request: T.DeleteAliasRequest): Promise<T.EmptyResponse> {
    aliases.deleteAlias(this.#use(request), request);
    return {};
  }

  async listAliases(request: T.ListAliasesRequest = {}): Promise<T.ListAliasesResponse> {
    return aliases.listAliases(this.#use(request), request);
  }

  // Custom key stores.

  async createCustomKeyStore(request: T.CreateCustomKeyStoreRequest): Promise<T.CreateCustomKeyStoreResponse> {
    return keyStores.createCustomKeyStore(this.#use(request), request);
  }

  async connectCustomKeyStore(request: T.CustomKeyStoreIdRequest): Promise<T.EmptyResponse> {
    keyStores.connectCustomKeyStore(this.#use(request), request);
    return {};
  }

  async disconnectCustomKeyStore(request: T.CustomKeyStoreIdRequest): Promise<T.EmptyResponse> {
    await keyStores.disconnectCustomKeyStore(this.#use(request), request);
    return {};
  }

  async describeCustomKeyStores(
    request: T.DescribeCustomKeyStoresRequest = {},
  ): Promise<T.DescribeCustomKeyStoresResponse> {
    return keyStores.describeCustomKeyStores(this.#use(request), request);
  }

  async updateCustomKeyStore(request: T.UpdateCustomKeyStoreRequest): Promise<T.EmptyResponse> {
    keyStores.updateCustomKeyStore(this.#use(request), request);
    return {};
  }

  async deleteCustomKeyStore(request: T.CustomKeyStoreIdRequest): Promise<T.EmptyResponse> {
    keyStores.deleteCustomKeyStore(this.#use(request), request);
    return {};
  }

  // Operations beyond the AWS API.

  /**
   * Removes keys whose creation was interrupted (see reconcile.ts). Runs
   * for stores that are connected; call it again after connecting others.
   */
  async reconcile(): Promise<ReconcileReport> {
    return reconcilePendingKeys(this.#openEngine());
  }

  /**
   * Copies key material that an active HSM lacks (after an HSM was restored
   * from an old backup, say) from an HSM that has it, for every key of
   * every connected store, and reports what it did per key.
   */
  syncKeyMaterial(): Promise<SyncKeyMaterialResult> {
    return this.#run({}, (engine) => syncKeyMaterial(engine));
  }

  /** Per-cluster HSM status: active or not, why not, sessions, queue and requests served. */
  clusterStatus(): ClusterStatus[] {
    return this.#engine.clusters().map((cluster) => {
      const connection = this.#engine
        .connections()
        .find((candidate) => candidate.connectedCluster === cluster || this.#storeCluster(candidate.customKeyStoreId) === cluster.clusterId);
      const status: ClusterStatus = {
        clusterId: cluster.clusterId,
        activeHsms: cluster.activeHsmCount,
        hsms: cluster.status(),
      };
      if (connection) {
        status.customKeyStoreId = connection.customKeyStoreId;
        status.connectionState = connection.state;
      }
      return status;
    });
  }

  #storeCluster(customKeyStoreId: string): string | undefined {
    return this.#engine.metadata.getCustomKeyStore(customKeyStoreId)?.cloudHsmClusterId;
  }

  /** Counts and durations of operations, per cluster. */
  metrics(): ClusterMetricsSnapshot[] {
    return this.#engine.clusters().map((cluster) => cluster.metrics.snapshot());
  }
}
