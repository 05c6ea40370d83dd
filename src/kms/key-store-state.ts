// The connection state machine of one custom key store in this process.
//
//   DISCONNECTED --connect--> CONNECTING --HSM opened--> CONNECTED
//                                  |
//                                  +--no HSM opened--> FAILED (ConnectionErrorCode)
//   CONNECTED, CONNECTING or FAILED --disconnect--> DISCONNECTING --> DISCONNECTED
//
// A FAILED store must be disconnected before it can connect again, as in
// AWS KMS. The state lives in memory; the state the user last asked for is
// stored in the metadata, so a restarted engine connects again by itself.
import { debuglog } from 'node:util';
import { ClusterConnectError, type Cluster } from './cluster.js';
import { CustomKeyStoreInvalidStateException } from './errors.js';
import type { ConnectionErrorCode, ConnectionState } from './types.js';

const log = debuglog('hsm-kms');

export class KeyStoreConnection {
  readonly customKeyStoreId: string;
  #state: ConnectionState = 'DISCONNECTED';
  #errorCode: ConnectionErrorCode | undefined;
  #cluster: Cluster | undefined;
  /** Settles when the current connection attempt ends, either way. */
  #attempt: Promise<void> = Promise.resolve();

  constructor(customKeyStoreId: string) {
    this.customKeyStoreId = customKeyStoreId;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** ConnectionErrorCode of a FAILED store; undefined in every other state. */
  get errorCode(): ConnectionErrorCode | undefined {
    return this.#state === 'FAILED' ? this.#errorCode : undefined;
  }

  /** The cluster this store is connected to, only while CONNECTED. */
  get connectedCluster(): Cluster | undefined {
    return this.#state === 'CONNECTED' ? this.#cluster : undefined;
  }

  /** Settles when the connection attempt in progress, if any, has ended. */
  settled(): Promise<void> {
    return this.#attempt;
  }

  /**
   * Starts connecting to `cluster` with the crypto user's PIN and returns at
   * once. Connecting a store that is CONNECTED or CONNECTING does nothing.
   * `pin` is wiped when the attempt ends.
   */
  startConnect(cluster: Cluster, pin: Buffer): void {
    if (this.#state === 'CONNECTED' || this.#state === 'CONNECTING') {
      pin.fill(0);
      return;
    }
    if (this.#state === 'FAILED' || this.#state === 'DISCONNECTING') {
      pin.fill(0);
      throw new CustomKeyStoreInvalidStateException(
        `Custom key store ${this.customKeyStoreId} is ${this.#state}. ` +
          (this.#state === 'FAILED'
            ? 'Disconnect it (DisconnectCustomKeyStore), fix the cause, then connect it again.'
            : 'Wait until it is DISCONNECTED, then connect it.'),
      );
    }

    this.#state = 'CONNECTING';
    this.#errorCode = undefined;
    this.#cluster = cluster;
    this.#attempt = this.#connect(cluster, pin);
  }

  async #connect(cluster: Cluster, pin: Buffer): Promise<void> {
    try {
      await cluster.connect(pin);
      if (this.#state !== 'CONNECTING') {
        // A disconnect arrived while the HSMs were opening.
        await cluster.disconnect();
        return;
      }
      this.#state = 'CONNECTED';
      log('custom key store %s connected to cluster %s', this.customKeyStoreId, cluster.clusterId);
    } catch (error) {
      await cluster.disconnect();
      if (this.#state !== 'CONNECTING') return;
      this.#state = 'FAILED';
      this.#errorCode = error instanceof ClusterConnectError ? error.code : 'INTERNAL_ERROR';
      log('custom key store %s failed to connect (%s): %s', this.customKeyStoreId, this.#errorCode, (error as Error).message);
    } finally {
      pin.fill(0);
    }
  }

  /** Closes the store's HSM sessions; resolves once it is DISCONNECTED. */
  async disconnect(): Promise<void> {
    if (this.#state === 'DISCONNECTED') return;
    const cluster = this.#cluster;
    this.#state = 'DISCONNECTING';
    await this.#attempt;
    await cluster?.disconnect();
    this.#state = 'DISCONNECTED';
    this.#errorCode = undefined;
    this.#cluster = undefined;
    log('custom key store %s disconnected', this.customKeyStoreId);
  }
}
