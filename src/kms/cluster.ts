// A configured HSM cluster at run time: its HSM handles while its key store
// is connected, which of them are active, which key material each one lacks,
// and its token bucket.
//
// An HSM is active while its handle is open and its last request did not
// fail with a device or session error. An HSM that fails is marked inactive
// at once and probed in the background with a small request, with backoff.
// When a probe succeeds, the HSM rejoins without a restart.
import { performance } from 'node:perf_hooks';
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

const FIRST_PROBE_DELAY_MS = 100;
const MAX_PROBE_DELAY_MS = 5_000;

/** One HSM of the cluster and the engine's record of it. */
interface HsmSlot {
  readonly tokenLabel: string;
  readonly pkcs11Module: string;
  hsm: Hsm | undefined;
  active: boolean;
  lastError: string | undefined;
  /** CKA_IDs (hex) that a request found missing on this HSM. */
  readonly missingKeys: Set<string>;
  /** Requests sent to this HSM and not yet settled. */
  inFlight: number;
  nextProbeAt: number;
  probeDelayMs: number;
  probing: boolean;
}

export interface HsmStatus {
  tokenLabel: string;
  active: boolean;
  /** Reason the HSM is not active, when it is not. */
  reason?: string;
  sessions: number;
  queued: number;
  inFlight: number;
  requestsServed: number;
  lastError?: string;
}

/** A request in flight on one HSM, from Cluster.begin() to Cluster.end(). */
export interface ClusterRequest {
  readonly hsm: Hsm;
  readonly slot: unknown;
}

/** A handle to one HSM of a cluster, as requests see it. */
export interface ClusterHsm {
  readonly tokenLabel: string;
  readonly hsm: Hsm;
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

/** True for failures caused by the HSM rather than by the request. */
export function isHsmFailure(error: unknown): boolean {
  if (!(error instanceof Pkcs11Error) && !(error instanceof HsmError)) return false;
  return error.category === 'device' || error.category === 'session' || error.category === 'closed';
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
  #pin: Buffer | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #rotation = 0;

  /**
   * `rateLimitPath`, when given, is the file that contains the cluster's
   * token bucket, so that every process using it shares the cluster's rate.
   */
  constructor(config: ResolvedClusterConfig, rateLimitPath?: string) {
    this.config = config;
    this.bucket = tokenBucket(`cluster:${config.clusterId}`, config.requestsPerSecond, config.burst, rateLimitPath);
    this.metrics = new ClusterMetrics(config.clusterId);
    this.#hsms = config.hsms.map((hsm) => ({
      tokenLabel: hsm.tokenLabel,
      pkcs11Module: hsm.pkcs11Module,
      hsm: undefined,
      active: false,
      lastError: undefined,
      missingKeys: new Set(),
      inFlight: 0,
      nextProbeAt: 0,
      probeDelayMs: FIRST_PROBE_DELAY_MS,
      probing: false,
    }));
  }

  get clusterId(): string {
    return this.config.clusterId;
  }

  get activeHsmCount(): number {
    return this.#hsms.filter((slot) => slot.active).length;
  }

  get configuredHsmCount(): number {
    return this.#hsms.length;
  }

  /**
   * Opens every HSM of the cluster and logs in with `pin`. Succeeds when at
   * least one HSM opens; the others are probed in the background until they
   * open. Otherwise throws a ClusterConnectError whose code describes the
   * most telling failure. The cluster keeps a copy of the PIN while it is
   * connected, to open HSMs that come back.
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

    this.#pin = Buffer.from(pin);
    const codes: ConnectionErrorCode[] = [];
    await Promise.all(
      this.#hsms.map(async (slot) => {
        const code = await this.#open(slot);
        if (code) codes.push(code);
      }),
    );

    if (this.activeHsmCount > 0) {
      this.#startProbing();
      return;
    }
    this.#forgetPin();
    const code = CODE_PRIORITY.find((candidate) => codes.includes(candidate)) ?? 'INTERNAL_ERROR';
    const reasons = this.#hsms.map((slot) => `${slot.tokenLabel}: ${slot.lastError ?? 'not opened'}`).join('; ');
    throw new ClusterConnectError(code, `No HSM of cluster ${this.clusterId} could be opened (${reasons})`);
  }

  /** Opens one HSM; returns the ConnectionErrorCode of a failure, or undefined. */
  async #open(slot: HsmSlot): Promise<ConnectionErrorCode | undefined> {
    if (slot.hsm?.isOpen) {
      slot.active = true;
      return undefined;
    }
    try {
      slot.hsm = await openHsm({
        module: slot.pkcs11Module,
        tokenLabel: slot.tokenLabel,
        pin: this.#pin!,
        sessions: this.config.sessionsPerHsm,
        maxQueue: this.config.maxQueuePerHsm,
        hsmGeneratesIv: this.config.hsmGeneratesIv,
      });
      this.#markActive(slot);
      return undefined;
    } catch (error) {
      slot.hsm = undefined;
      slot.active = false;
      slot.lastError = (error as Error).message;
      log('cluster %s: HSM %s did not open: %s', this.clusterId, slot.tokenLabel, slot.lastError);
      return connectionErrorCode(error);
    }
  }

  #markActive(slot: HsmSlot): void {
    slot.active = true;
    slot.lastError = undefined;
    slot.probeDelayMs = FIRST_PROBE_DELAY_MS;
    // An HSM that comes back may have been restored from a backup, so its
    // key material is learned again from the requests it serves.
    slot.missingKeys.clear();
  }

  /** Closes every HSM handle; queued requests still complete first. */
  async disconnect(): Promise<void> {
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    this.#forgetPin();
    await Promise.all(
      this.#hsms.map(async (slot) => {
        const hsm = slot.hsm;
        slot.hsm = undefined;
        slot.active = false;
        slot.lastError = undefined;
        if (hsm?.isOpen) await hsm.close();
      }),
    );
  }

  #forgetPin(): void {
    this.#pin?.fill(0);
    this.#pin = undefined;
  }

  #slotOf(hsm: Hsm): HsmSlot | undefined {
    for (const slot of this.#hsms) {
      if (slot.hsm === hsm) return slot;
    }
    return undefined;
  }

  /**
   * Returns the active HSMs that are not known to lack the key, the least
   * busy first, so requests spread by current queue depth.
   */
  hsmsFor(backingKeyId: Uint8Array): ClusterHsm[] {
    if (this.#hsms.length === 1) {
      // The common case of one HSM needs no sorting, and it can only be
      // missing the key once a request found it so.
      const [only] = this.#hsms as [HsmSlot];
      if (!only.active || !only.hsm) return [];
      if (only.missingKeys.size > 0 && only.missingKeys.has(Buffer.from(backingKeyId).toString('hex'))) return [];
      return [{ tokenLabel: only.tokenLabel, hsm: only.hsm }];
    }
    const hex = Buffer.from(backingKeyId).toString('hex');
    return this.#ordered(this.#hsms.filter((slot) => slot.active && slot.hsm && !slot.missingKeys.has(hex)));
  }

  /**
   * Sorts slots by requests in flight. Ties rotate from one call to the
   * next, so sequential requests reach every HSM and a failing one is found
   * by traffic, not only at failover.
   */
  #ordered(slots: HsmSlot[]): ClusterHsm[] {
    const rotation = this.#rotation++;
    const rank = (slot: HsmSlot) => (this.#hsms.indexOf(slot) + rotation) % this.#hsms.length;
    return slots
      .sort((a, b) => a.inFlight - b.inFlight || rank(a) - rank(b))
      .map((slot) => ({ tokenLabel: slot.tokenLabel, hsm: slot.hsm! }));
  }

  /** Returns every active HSM, the least busy first. */
  activeHsms(): ClusterHsm[] {
    return this.#ordered(this.#hsms.filter((slot) => slot.active && slot.hsm));
  }

  /** Returns the least busy active HSM, for work that needs no key material. */
  anyHsm(): Hsm | undefined {
    return this.activeHsms()[0]?.hsm;
  }

  /**
   * Runs `call` on `hsm`, counting it in the HSM's in-flight requests. A
   * device or session failure marks the HSM inactive before it is rethrown.
   */
  run<T>(hsm: Hsm, call: (hsm: Hsm) => Promise<T>): Promise<T> {
    const request = this.begin(hsm);
    let pending: Promise<T>;
    try {
      pending = call(hsm);
    } catch (error) {
      this.end(request, error);
      throw error;
    }
    return pending.then(
      (result) => {
        this.end(request);
        return result;
      },
      (error: unknown) => {
        this.end(request, error);
        throw error;
      },
    );
  }

  /**
   * Counts a request sent to `hsm` as in flight until end() is called with
   * the returned handle. begin() and end() let the hot path do this in the
   * callbacks it has anyway, with no promise of its own.
   */
  begin(hsm: Hsm): ClusterRequest {
    const slot = this.#slotOf(hsm);
    if (slot) slot.inFlight += 1;
    return { hsm, slot };
  }

  /** Ends a request; a device or session failure takes its HSM out of service. */
  end(request: ClusterRequest, error?: unknown): void {
    const slot = request.slot as HsmSlot | undefined;
    if (!slot) return;
    slot.inFlight -= 1;
    if (error !== undefined && isHsmFailure(error)) this.markInactive(request.hsm, (error as Error).message);
  }

  /** Takes an HSM out of service until a background probe finds it working. */
  markInactive(hsm: Hsm, reason: string): void {
    const slot = this.#slotOf(hsm);
    if (!slot || !slot.active) return;
    slot.active = false;
    slot.lastError = reason;
    slot.nextProbeAt = performance.now() + slot.probeDelayMs;
    log('cluster %s: HSM %s is inactive: %s', this.clusterId, slot.tokenLabel, reason);
    this.#startProbing();
  }

  /** Records that `hsm` lacks the key, so later requests skip it until it reconnects. */
  markMissing(hsm: Hsm, backingKeyId: Uint8Array): void {
    this.#slotOf(hsm)?.missingKeys.add(Buffer.from(backingKeyId).toString('hex'));
  }

  /** Records that `hsm` contains the key (after it generated or received it). */
  markPresent(hsm: Hsm, backingKeyId: Uint8Array): void {
    this.#slotOf(hsm)?.missingKeys.delete(Buffer.from(backingKeyId).toString('hex'));
  }

  #startProbing(): void {
    if (this.#probeTimer || !this.#hsms.some((slot) => !slot.active)) return;
    this.#probeTimer = setInterval(() => this.#probeDue(), FIRST_PROBE_DELAY_MS);
    this.#probeTimer.unref();
  }

  #probeDue(): void {
    const now = performance.now();
    for (const slot of this.#hsms) {
      if (slot.active || slot.probing || now < slot.nextProbeAt || !this.#pin) continue;
      slot.probing = true;
      void this.#probe(slot).finally(() => {
        slot.probing = false;
      });
    }
    if (this.#hsms.every((slot) => slot.active)) {
      clearInterval(this.#probeTimer);
      this.#probeTimer = undefined;
    }
  }

  /** Asks an inactive HSM for one random byte; success brings it back. */
  async #probe(slot: HsmSlot): Promise<void> {
    try {
      if (slot.hsm?.isOpen) {
        await slot.hsm.generateRandom(1);
        this.#markActive(slot);
      } else if ((await this.#open(slot)) !== undefined) {
        throw new Error(slot.lastError);
      }
      log('cluster %s: HSM %s is active again', this.clusterId, slot.tokenLabel);
    } catch (error) {
      slot.lastError = (error as Error).message;
      slot.probeDelayMs = Math.min(slot.probeDelayMs * 2, MAX_PROBE_DELAY_MS);
      slot.nextProbeAt = performance.now() + slot.probeDelayMs;
    }
  }

  status(): HsmStatus[] {
    return this.#hsms.map((slot) => {
      const hsm = slot.hsm?.isOpen ? slot.hsm : undefined;
      const stats = hsm?.stats();
      const status: HsmStatus = {
        tokenLabel: slot.tokenLabel,
        active: slot.active,
        sessions: stats?.sessions ?? 0,
        queued: stats?.queued ?? 0,
        inFlight: slot.inFlight,
        requestsServed: stats ? stats.completed + stats.failed : 0,
      };
      if (!slot.active) status.reason = slot.lastError ?? 'the key store is not connected';
      const lastError = slot.lastError ?? stats?.lastError;
      if (lastError) status.lastError = lastError;
      return status;
    });
  }
}
