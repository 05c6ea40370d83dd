// A configured HSM cluster at run time: its HSM handles while its key store
// is connected, its token bucket, and which HSMs hold which key material.
import { debuglog } from 'node:util';
import {
  HsmError,
  openHsm,
  Pkcs11Error,
  tokenBucket,
  type Hsm,
  type TokenBucket,
} from '../native.js';
import type { ResolvedClusterConfig } from './config.js';
import type { ConnectionErrorCode } from './types.js';
import { ClusterMetrics } from './metrics.js';

const log = debuglog('hsm-kms');

/** One HSM of the cluster and the engine's record of it. */
interface HsmSlot {
  readonly tokenLabel: string;
  readonly pkcs11Module: string;
  hsm: Hsm | undefined;
  lastError: string | undefined;
  /** CKA_IDs (hex) that a request found missing on this HSM. */
  readonly missingKeys: Set<string>;
}

export interface HsmStatus {
  tokenLabel: string;
  active: boolean;
  /** Reason the HSM is not active, when it is not. */
  reason?: string;
  sessions: number;
  queued: number;
  requestsServed: number;
  lastError?: string;
}

/** A connection attempt that found no usable HSM; `code` is the KMS ConnectionErrorCode. */
export class ClusterConnectError extends Error {
  readonly code: ConnectionErrorCode;

  constructor(code: ConnectionErrorCode, message: string) {
    super(message);
    this.name = 'ClusterConnectError';
    this.code = code;
  }
}

/** Maps a failure to open one HSM to the ConnectionErrorCode KMS would report. */
function connectionErrorCode(error: unknown): ConnectionErrorCode {
  if (error instanceof Pkcs11Error || error instanceof HsmError) {
    switch (error.category) {
      case 'credentials':
        return 'INVALID_CREDENTIALS';
      case 'locked':
        return 'USER_LOCKED_OUT';
      case 'not-found':
        return 'CLUSTER_NOT_FOUND';
      case 'device':
      case 'session':
        return 'NETWORK_ERRORS';
      default:
        return 'INTERNAL_ERROR';
    }
  }
  return 'INTERNAL_ERROR';
}

// A credentials failure outranks an unreachable HSM in the reported code,
// because fixing the password is what the user must do first.
const CODE_PRIORITY: ConnectionErrorCode[] = [
  'USER_LOCKED_OUT',
  'INVALID_CREDENTIALS',
  'NETWORK_ERRORS',
  'INTERNAL_ERROR',
  'CLUSTER_NOT_FOUND',
];

export class Cluster {
  readonly config: ResolvedClusterConfig;
  readonly bucket: TokenBucket;
  readonly metrics: ClusterMetrics;
  readonly #hsms: HsmSlot[];

  constructor(config: ResolvedClusterConfig) {
    this.config = config;
    this.bucket = tokenBucket(`cluster:${config.clusterId}`, config.requestsPerSecond, config.burst);
    this.metrics = new ClusterMetrics(config.clusterId);
    this.#hsms = config.hsms.map((hsm) => ({
      tokenLabel: hsm.tokenLabel,
      pkcs11Module: hsm.pkcs11Module,
      hsm: undefined,
      lastError: undefined,
      missingKeys: new Set(),
    }));
  }

  get clusterId(): string {
    return this.config.clusterId;
  }

  /** HSMs whose handle is open. */
  get activeHsmCount(): number {
    return this.#hsms.filter((slot) => slot.hsm?.isOpen).length;
  }

  /**
   * Opens every HSM of the cluster and logs in with `pin`. Succeeds when at
   * least one HSM opens; otherwise throws a ClusterConnectError whose code
   * describes the most telling failure.
   */
  async connect(pin: Uint8Array): Promise<void> {
    for (const [name, value] of Object.entries(this.config.environment)) {
      if (process.env[name] !== undefined && process.env[name] !== value) {
        log('cluster %s sets %s, replacing the value this process had', this.clusterId, name);
      }
      process.env[name] = value;
    }
    if (this.#hsms.length === 0) {
      throw new ClusterConnectError(
        'INSUFFICIENT_CLOUDHSM_HSMS',
        `Cluster ${this.clusterId} has no HSMs in its configuration; add at least one { tokenLabel }`,
      );
    }

    const codes: ConnectionErrorCode[] = [];
    await Promise.all(
      this.#hsms.map(async (slot) => {
        if (slot.hsm?.isOpen) return;
        try {
          slot.hsm = await openHsm({
            module: slot.pkcs11Module,
            tokenLabel: slot.tokenLabel,
            pin,
            sessions: this.config.sessionsPerHsm,
            hsmGeneratesIv: this.config.hsmGeneratesIv,
          });
          slot.lastError = undefined;
          slot.missingKeys.clear();
        } catch (error) {
          slot.hsm = undefined;
          slot.lastError = (error as Error).message;
          codes.push(connectionErrorCode(error));
          log('cluster %s: HSM %s did not open: %s', this.clusterId, slot.tokenLabel, slot.lastError);
        }
      }),
    );

    if (this.activeHsmCount > 0) return;
    const code = CODE_PRIORITY.find((candidate) => codes.includes(candidate)) ?? 'INTERNAL_ERROR';
    const reasons = this.#hsms.map((slot) => `${slot.tokenLabel}: ${slot.lastError ?? 'not opened'}`).join('; ');
    throw new ClusterConnectError(code, `No HSM of cluster ${this.clusterId} could be opened (${reasons})`);
  }

  /** Closes every HSM handle; queued requests still complete first. */
  async disconnect(): Promise<void> {
    await Promise.all(
      this.#hsms.map(async (slot) => {
        const hsm = slot.hsm;
        slot.hsm = undefined;
        if (hsm?.isOpen) await hsm.close();
      }),
    );
  }

  /** Returns the open HSMs that are not known to lack the key, in configuration order. */
  hsmsFor(backingKeyId: Uint8Array): Hsm[] {
    const hex = Buffer.from(backingKeyId).toString('hex');
    const candidates: Hsm[] = [];
    for (const slot of this.#hsms) {
      if (slot.hsm?.isOpen && !slot.missingKeys.has(hex)) candidates.push(slot.hsm);
    }
    return candidates;
  }

  /** Records that `hsm` lacks the key, so later requests skip it until it reconnects. */
  markMissing(hsm: Hsm, backingKeyId: Uint8Array): void {
    const slot = this.#hsms.find((candidate) => candidate.hsm === hsm);
    slot?.missingKeys.add(Buffer.from(backingKeyId).toString('hex'));
  }

  /** Records that `hsm` contains the key (after it generated or received it). */
  markPresent(hsm: Hsm, backingKeyId: Uint8Array): void {
    const slot = this.#hsms.find((candidate) => candidate.hsm === hsm);
    slot?.missingKeys.delete(Buffer.from(backingKeyId).toString('hex'));
  }

  /** Returns the first open HSM, for work that needs no key (random numbers, key generation). */
  anyHsm(): Hsm | undefined {
    return this.#hsms.find((slot) => slot.hsm?.isOpen)?.hsm;
  }

  /** Returns every open HSM. */
  openHsms(): Hsm[] {
    return this.#hsms.flatMap((slot) => (slot.hsm?.isOpen ? [slot.hsm] : []));
  }

  status(): HsmStatus[] {
    return this.#hsms.map((slot) => {
      const hsm = slot.hsm?.isOpen ? slot.hsm : undefined;
      if (!hsm) {
        const status: HsmStatus = {
          tokenLabel: slot.tokenLabel,
          active: false,
          reason: slot.lastError ?? 'the key store is not connected',
          sessions: 0,
          queued: 0,
          requestsServed: 0,
        };
        if (slot.lastError) status.lastError = slot.lastError;
        return status;
      }
      const stats = hsm.stats();
      const status: HsmStatus = {
        tokenLabel: slot.tokenLabel,
        active: true,
        sessions: stats.sessions,
        queued: stats.queued,
        requestsServed: stats.completed + stats.failed,
      };
      if (stats.lastError) status.lastError = stats.lastError;
      return status;
    });
  }
}
