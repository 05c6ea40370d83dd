// Child tasks of the multi-process mode. 'store-setup' creates, in a data
// folder that all serving processes share, a connected custom key store and
// two keys. 'serve' is one of N processes that serve requests at once. It
// opens the engine (a Kms on the shared data folder) or the addon on its own
// copy of the token set, and warms up. Then it reports 'ready' and measures
// once the parent releases every process together.
import { randomBytes } from 'node:crypto';
import { runClosedLoop, warmUp, type ClosedLoopResult, type RequestFunction } from './closed-loop.js';
import type { PathContext } from './paths/bench-path.js';
import type { Timing } from './scenario.js';
import type { Operation } from './workloads.js';

export interface StoreSetupTask {
  kind: 'store-setup';
  context: PathContext;
}

export interface StoreKeys {
  customKeyStoreId: string;
  keyArn: string;
  destinationArn: string;
}

export interface ServeTask {
  kind: 'serve';
  path: 'facade' | 'addon';
  operation: Operation;
  bytes: number;
  inFlight: number;
  timing: Timing;
  /** For the facade: workDir is the shared data folder. */
  context: PathContext;
  /** For the facade: the keys that store-setup created. */
  keys?: StoreKeys;
  waitForStart: true;
}

export async function runStoreSetupTask(task: StoreSetupTask): Promise<StoreKeys> {
  const { Kms } = await import('../dist/index.js');
  const { benchClusterConfig, waitUntilConnected } = await import('./paths/facade.js');
  const kms = await Kms.open({ dataDir: task.context.workDir, clusters: [benchClusterConfig(task.context)], deletionIntervalMs: 0 });
  try {
    const { CustomKeyStoreId } = await kms.createCustomKeyStore({
      CustomKeyStoreName: 'bench-shared-store',
      CloudHsmClusterId: benchClusterConfig(task.context).clusterId,
      TrustAnchorCertificate: 'benchmark trust anchor',
      KeyStorePassword: task.context.pin,
    });
    await kms.connectCustomKeyStore({ CustomKeyStoreId });
    await waitUntilConnected(kms, CustomKeyStoreId);
    const createKey = async () =>
      (await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId })).KeyMetadata.Arn;
    return { customKeyStoreId: CustomKeyStoreId, keyArn: await createKey(), destinationArn: await createKey() };
  } finally {
    await kms.close();
  }
}

interface OpenedServer {
  requestFor: (workerIndex: number) => RequestFunction;
  close(): Promise<void>;
}

async function openFacadeServer(task: ServeTask): Promise<OpenedServer> {
  if (!task.keys) throw new Error('A facade serve task needs the keys of store-setup');
  const { Kms } = await import('../dist/index.js');
  const { benchClusterConfig, prepareFacadeRequests, waitUntilConnected } = await import('./paths/facade.js');
  // Kms keeps the cluster's token bucket in a file of the data folder
  // (shareRateLimits defaults to true), so all serving processes charge one
  // bucket. Its rate never throttles here, but every request pays the
  // cross-process acquire.
  const kms = await Kms.open({ dataDir: task.context.workDir, clusters: [benchClusterConfig(task.context)], deletionIntervalMs: 0 });
  // The store was CONNECTED when store-setup closed, so Kms.open reconnects it.
  await kms.ready();
  await waitUntilConnected(kms, task.keys.customKeyStoreId);
  const requestFor = await prepareFacadeRequests(kms, task.operation, task.bytes, task.keys.keyArn, task.keys.destinationArn);
  return { requestFor, close: () => kms.close() };
}

async function openAddonServer(task: ServeTask): Promise<OpenedServer> {
  const { openHsm } = await import('../dist/native.js');
  const { prepareAddonRequests } = await import('./paths/addon.js');
  const hsm = await openHsm({ module: task.context.modulePath, tokenLabel: task.context.tokenLabels[0]!, pin: task.context.pin });
  const keyId = randomBytes(16);
  const destinationKeyId = randomBytes(16);
  await hsm.generateKey(keyId, Buffer.from('hsm-kms benchmark key (serve)'));
  await hsm.generateKey(destinationKeyId, Buffer.from('hsm-kms benchmark key (serve)'));
  const requestFor = await prepareAddonRequests([hsm], task.operation, task.bytes, keyId, destinationKeyId);
  return {
    requestFor,
    async close() {
      await hsm.destroyKey(keyId);
      await hsm.destroyKey(destinationKeyId);
      await hsm.close();
    },
  };
}

/** Opens the server, warms it up, waits for the parent's start and measures. */
export async function runServeTask(task: ServeTask, waitForStart: () => Promise<void>): Promise<ClosedLoopResult> {
  const server = task.path === 'facade' ? await openFacadeServer(task) : await openAddonServer(task);
  try {
    const loop = { requestFor: server.requestFor, inFlight: task.inFlight };
    await warmUp(loop, task.timing.warmupSeconds);
    await waitForStart();
    return await runClosedLoop({ ...loop, warmupSeconds: 0, samples: task.timing.samples, sampleSeconds: task.timing.sampleSeconds });
  } finally {
    await server.close();
  }
}
