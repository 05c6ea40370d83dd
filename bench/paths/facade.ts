// The full engine: the `Kms` facade in this process, with a custom key store
// connected to a cluster of one or two SoftHSM2 tokens. Requests go through
// validation, key resolution in the metadata store, key-state rules, the
// cluster's token bucket and blob assembly, as an application's calls would.
import { setTimeout as sleep } from 'node:timers/promises';
import { Kms, type ClusterConfig } from '../../dist/index.js';
import type { RequestFunction } from '../closed-loop.js';
import type { Operation } from '../workloads.js';
import type { BenchPath, PathContext } from './bench-path.js';

export const BENCH_CLUSTER_ID = 'bench-cluster';

/**
 * Rate and burst of the benchmark cluster's token bucket: the largest values
 * the addon accepts. Every request still charges the bucket, but none is
 * throttled.
 */
const UNTHROTTLED_RATE = 1e9;

/** Time in ms to wait for the custom key store to reach CONNECTED. */
const CONNECT_TIMEOUT_MS = 60_000;

/** Builds the configuration of a cluster whose HSMs are the given tokens. */
export function benchClusterConfig(context: Pick<PathContext, 'modulePath' | 'confPath' | 'tokenLabels'>): ClusterConfig {
  return {
    clusterId: BENCH_CLUSTER_ID,
    pkcs11Module: context.modulePath,
    hsms: context.tokenLabels.map((tokenLabel) => ({ tokenLabel })),
    environment: { SOFTHSM2_CONF: context.confPath },
    requestsPerSecond: UNTHROTTLED_RATE,
    burst: UNTHROTTLED_RATE,
  };
}

/** Polls the store until it leaves CONNECTING, and throws unless it is then CONNECTED. */
export async function waitUntilConnected(kms: Kms, customKeyStoreId: string): Promise<void> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  for (;;) {
    const { CustomKeyStores } = await kms.describeCustomKeyStores({ CustomKeyStoreId: customKeyStoreId });
    const store = CustomKeyStores[0];
    if (store?.ConnectionState === 'CONNECTED') return;
    if (store?.ConnectionState !== 'CONNECTING' || Date.now() > deadline) {
      const state = store ? `${store.ConnectionState} (${store.ConnectionErrorCode ?? 'no error code'})` : 'missing';
      throw new Error(`Custom key store ${customKeyStoreId} is ${state}, not CONNECTED`);
    }
    await sleep(20);
  }
}

/** A Kms with a connected store and the two keys the workloads use. */
export interface FacadeEngine {
  kms: Kms;
  keyArn: string;
  destinationArn: string;
  /** Destroys the keys and closes the Kms. */
  close(): Promise<void>;
}

/**
 * Opens a Kms on `context.workDir`, creates and connects a store on the
 * tokens, and creates two keys: the one every request uses, and the
 * destination of ReEncrypt.
 */
export async function openFacadePath(context: PathContext): Promise<BenchPath> {
  const engine = await openFacadeEngine(context);
  return {
    prepare: (operation, bytes) =>
      prepareFacadeRequests(engine.kms, operation, bytes, engine.keyArn, engine.destinationArn),
    close: () => engine.close(),
  };
}

export async function openFacadeEngine(context: PathContext): Promise<FacadeEngine> {
  // Keys cannot be destroyed at once through the KMS API, only scheduled for
  // deletion at least 7 days ahead. The clock of this Kms moves forward by
  // `clockOffsetMs` at close, so deleteDueKeys destroys the HSM keys.
  let clockOffsetMs = 0;
  const kms = await Kms.open({
    dataDir: context.workDir,
    clusters: [benchClusterConfig(context)],
    deletionIntervalMs: 0,
    now: () => new Date(Date.now() + clockOffsetMs),
  });

  const { CustomKeyStoreId } = await kms.createCustomKeyStore({
    CustomKeyStoreName: 'bench-store',
    CloudHsmClusterId: BENCH_CLUSTER_ID,
    TrustAnchorCertificate: 'benchmark trust anchor',
    KeyStorePassword: context.pin,
  });
  await kms.connectCustomKeyStore({ CustomKeyStoreId });
  await waitUntilConnected(kms, CustomKeyStoreId);

  const createKey = async (): Promise<string> => {
    const { KeyMetadata } = await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId });
    return KeyMetadata.Arn;
  };
  const keyArn = await createKey();
  const destinationArn = await createKey();

  return {
    kms,
    keyArn,
    destinationArn,
    async close() {
      for (const KeyId of [keyArn, destinationArn]) {
        await kms.scheduleKeyDeletion({ KeyId, PendingWindowInDays: 7 });
      }
      clockOffsetMs = 8 * 24 * 60 * 60 * 1000;
      await kms.deleteDueKeys();
      await kms.close();
    },
  };
}

/** Returns request functions for one operation through `kms`. Every worker sends the same request. */
export async function prepareFacadeRequests(
  kms: Kms,
  operation: Operation,
  bytes: number,
  keyArn: string,
  destinationArn: string,
): Promise<(workerIndex: number) => RequestFunction> {
  const plaintext = Buffer.alloc(bytes, 1);
  let request: RequestFunction;
  switch (operation) {
    case 'Encrypt':
      request = () => kms.encrypt({ KeyId: keyArn, Plaintext: plaintext });
      break;
    case 'Decrypt': {
      const { CiphertextBlob } = await kms.encrypt({ KeyId: keyArn, Plaintext: plaintext });
      request = () => kms.decrypt({ CiphertextBlob });
      break;
    }
    case 'GenerateDataKey':
      request = () => kms.generateDataKey({ KeyId: keyArn, NumberOfBytes: bytes });
      break;
    case 'ReEncrypt': {
      const { CiphertextBlob } = await kms.encrypt({ KeyId: keyArn, Plaintext: plaintext });
      request = () => kms.reEncrypt({ CiphertextBlob, DestinationKeyId: destinationArn });
      break;
    }
  }
  return () => request;
}
