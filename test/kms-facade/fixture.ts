// Shared setup of the facade tests: a Kms on fresh SoftHSM2 tokens, with a
// connected custom key store and a clock that tests move by hand.
import { join } from 'node:path';
import { Kms, type ClusterConfig } from '../../src/index.js';
import type { CustomKeyStoreEntry, KeyMetadata } from '../../src/kms/types.js';
import { useTestTokens, waitFor, type TestTokens } from '../helpers/tokens.js';

/** Cluster of the store that every fixture creates and connects. */
export const MAIN_CLUSTER_ID = 'cluster-local';
export const MAIN_STORE_NAME = 'main-store';
export const START_TIME = new Date('2030-01-01T00:00:00.000Z');
export const DAY_MS = 24 * 60 * 60 * 1000;

/** A clock for `Kms.open({ now })` that moves only when a test moves it. */
export class TestClock {
  #millis: number;

  constructor(start: Date = START_TIME) {
    this.#millis = start.getTime();
  }

  now(): Date {
    return new Date(this.#millis);
  }

  advance(ms: number): void {
    this.#millis += ms;
  }

  set(date: Date): void {
    this.#millis = date.getTime();
  }
}

/**
 * Builds the configuration of a cluster whose HSMs are tokens of `tokens`.
 * The rate limit is high enough never to throttle unless a test sets it.
 */
export function clusterConfig(
  tokens: TestTokens,
  clusterId: string,
  tokenLabels: string[],
  overrides: Partial<ClusterConfig> = {},
): ClusterConfig {
  return {
    clusterId,
    pkcs11Module: tokens.modulePath,
    hsms: tokenLabels.map((tokenLabel) => ({ tokenLabel })),
    environment: { SOFTHSM2_CONF: tokens.confPath },
    requestsPerSecond: 100_000,
    burst: 100_000,
    ...overrides,
  };
}

/**
 * Polls DescribeCustomKeyStores until the store leaves CONNECTING and
 * DISCONNECTING, and returns its entry. Tests then assert the final state.
 */
export async function settledStore(kms: Kms, customKeyStoreId: string): Promise<CustomKeyStoreEntry> {
  let entry: CustomKeyStoreEntry | undefined;
  await waitFor(async () => {
    const { CustomKeyStores } = await kms.describeCustomKeyStores({ CustomKeyStoreId: customKeyStoreId });
    entry = CustomKeyStores[0];
    return entry !== undefined && entry.ConnectionState !== 'CONNECTING' && entry.ConnectionState !== 'DISCONNECTING';
  });
  return entry!;
}

/** Connects a store and waits until it is CONNECTED. Throws with the final state when the store ends in another one. */
export async function connectStore(kms: Kms, customKeyStoreId: string): Promise<void> {
  await kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
  const entry = await settledStore(kms, customKeyStoreId);
  if (entry.ConnectionState !== 'CONNECTED') {
    const code = entry.ConnectionErrorCode ?? 'no error code';
    throw new Error(`custom key store ${customKeyStoreId} is ${entry.ConnectionState} (${code}), not CONNECTED`);
  }
}

export interface FacadeOptions {
  /** Number of tokens, labelled `<name>-0`, `<name>-1` and so on. Default 1. Token 0 backs the main store. */
  tokenCount?: number;
  /** Settings of the main cluster, such as its rate limit. */
  mainCluster?: Partial<ClusterConfig>;
  /** Further clusters, built once the tokens exist. */
  extraClusters?: (tokens: TestTokens) => ClusterConfig[];
}

export interface Facade {
  /** The open Kms; `reopen()` replaces it. */
  kms: Kms;
  readonly tokens: TestTokens;
  readonly dataDir: string;
  readonly clock: TestClock;
  readonly clusters: ClusterConfig[];
  /** The store on MAIN_CLUSTER_ID, CONNECTED when the fixture is returned. */
  readonly customKeyStoreId: string;
  /** Creates an Enabled key in the main store. */
  createKey(): Promise<KeyMetadata>;
  /** Closes the Kms and opens a new one on the same data folder, clusters and clock. */
  reopen(): Promise<Kms>;
  close(): Promise<void>;
}

/** Opens a Kms with the given clusters, data folder and clock, as every facade test does. */
export function openKms(dataDir: string, clusters: ClusterConfig[], clock: TestClock): Promise<Kms> {
  return Kms.open({ dataDir, clusters, deletionIntervalMs: 0, now: () => clock.now() });
}

/**
 * Provisions tokens, opens a Kms, and creates and connects the main store.
 * Call it once per test file, in beforeAll, because SoftHSM2 reads its
 * configuration once per process.
 */
export async function openFacade(name: string, options: FacadeOptions = {}): Promise<Facade> {
  const tokens = useTestTokens(name, options.tokenCount ?? 1);
  const dataDir = join(process.env.HSM_KMS_TEST_ROOT!, `${name}-${process.pid}-data`);
  const clock = new TestClock();
  const clusters = [
    clusterConfig(tokens, MAIN_CLUSTER_ID, [tokens.tokenLabels[0]!], options.mainCluster),
    ...(options.extraClusters?.(tokens) ?? []),
  ];

  const kms = await openKms(dataDir, clusters, clock);
  const { CustomKeyStoreId } = await kms.createCustomKeyStore({
    CustomKeyStoreName: MAIN_STORE_NAME,
    CloudHsmClusterId: MAIN_CLUSTER_ID,
    TrustAnchorCertificate: 'test trust anchor',
    KeyStorePassword: tokens.pin,
  });
  await connectStore(kms, CustomKeyStoreId);

  const facade: Facade = {
    kms,
    tokens,
    dataDir,
    clock,
    clusters,
    customKeyStoreId: CustomKeyStoreId,
    async createKey() {
      const { KeyMetadata } = await facade.kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId });
      return KeyMetadata;
    },
    async reopen() {
      await facade.kms.close();
      facade.kms = await openKms(dataDir, clusters, clock);
      return facade.kms;
    },
    close: () => facade.kms.close(),
  };
  return facade;
}
