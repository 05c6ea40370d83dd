// The main job on a fresh machine (`npm start`): sets up a local cluster
// when there is none, creates and connects a key store, creates a key, and
// runs every crypto operation on real input, reporting each step.
import { Kms } from './kms/kms.js';
import type { KeyMetadata } from './kms/types.js';
import { initLocalCluster, LOCAL_CLUSTER_ID, readLocalCredentials } from './local-cluster.js';

const STORE_NAME = 'demo-store';
const ALIAS_NAME = 'alias/hsm-kms-demo';

export interface DemoOptions {
  dataDir: string;
  hsms?: number;
  /** Receives one line per step. */
  report: (line: string) => void;
}

async function ensureConnectedStore(kms: Kms, password: string, report: (line: string) => void): Promise<string> {
  const existing = await kms.describeCustomKeyStores({});
  let store = existing.CustomKeyStores.find((candidate) => candidate.CustomKeyStoreName === STORE_NAME);
  if (!store) {
    const { CustomKeyStoreId } = await kms.createCustomKeyStore({
      CustomKeyStoreName: STORE_NAME,
      CloudHsmClusterId: LOCAL_CLUSTER_ID,
      TrustAnchorCertificate: 'local SoftHSM2 cluster: no certificate',
      KeyStorePassword: password,
    });
    report(`CreateCustomKeyStore: ${CustomKeyStoreId} on ${LOCAL_CLUSTER_ID}`);
    store = (await kms.describeCustomKeyStores({ CustomKeyStoreId })).CustomKeyStores[0]!;
  }

  if (store.ConnectionState === 'FAILED') await kms.disconnectCustomKeyStore({ CustomKeyStoreId: store.CustomKeyStoreId });
  await kms.connectCustomKeyStore({ CustomKeyStoreId: store.CustomKeyStoreId });
  await kms.ready();
  const [connected] = (await kms.describeCustomKeyStores({ CustomKeyStoreId: store.CustomKeyStoreId })).CustomKeyStores;
  if (connected?.ConnectionState !== 'CONNECTED') {
    throw new Error(
      `Custom key store ${store.CustomKeyStoreId} did not connect: ${connected?.ConnectionState} ` +
        `(${connected?.ConnectionErrorCode ?? 'no error code'})`,
    );
  }
  report(`ConnectCustomKeyStore: ${store.CustomKeyStoreId} is CONNECTED`);
  return store.CustomKeyStoreId;
}

async function ensureDemoKey(kms: Kms, customKeyStoreId: string, report: (line: string) => void): Promise<KeyMetadata> {
  const aliases = await kms.listAliases({});
  const alias = aliases.Aliases.find((candidate) => candidate.AliasName === ALIAS_NAME);
  if (alias) {
    const { KeyMetadata } = await kms.describeKey({ KeyId: ALIAS_NAME });
    if (KeyMetadata.KeyState === 'Enabled') {
      report(`DescribeKey: reusing ${KeyMetadata.Arn} (${ALIAS_NAME})`);
      return KeyMetadata;
    }
    await kms.deleteAlias({ AliasName: ALIAS_NAME });
  }
  const { KeyMetadata } = await kms.createKey({
    Origin: 'AWS_CLOUDHSM',
    CustomKeyStoreId: customKeyStoreId,
    Description: 'hsm-kms demo key',
  });
  await kms.createAlias({ AliasName: ALIAS_NAME, TargetKeyId: KeyMetadata.KeyId });
  report(`CreateKey: ${KeyMetadata.Arn}, generated in the HSM, alias ${ALIAS_NAME}`);
  return KeyMetadata;
}

async function runCryptoOperations(kms: Kms, key: KeyMetadata, report: (line: string) => void): Promise<void> {
  const context = { purpose: 'demo', tenant: 'example' };
  const message = Buffer.from('Hello from a key that never leaves the HSM');

  const encrypted = await kms.encrypt({ KeyId: ALIAS_NAME, Plaintext: message, EncryptionContext: context });
  report(`Encrypt: ${message.length} bytes -> ${encrypted.CiphertextBlob.length}-byte ciphertext blob under ${encrypted.KeyId}`);

  const decrypted = await kms.decrypt({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context });
  report(`Decrypt: "${Buffer.from(decrypted.Plaintext).toString()}" (key found from the blob: ${decrypted.KeyId})`);

  try {
    await kms.decrypt({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: { purpose: 'other' } });
    throw new Error('Decrypt with a different encryption context succeeded');
  } catch (error) {
    report(`Decrypt with a different encryption context: ${(error as Error).name}, as expected`);
  }

  const dataKey = await kms.generateDataKey({ KeyId: key.Arn, KeySpec: 'AES_256', EncryptionContext: context });
  report(`GenerateDataKey: ${dataKey.Plaintext.length}-byte data key from the HSM's RNG, encrypted in a ${dataKey.CiphertextBlob.length}-byte blob`);
  Buffer.from(dataKey.Plaintext.buffer, dataKey.Plaintext.byteOffset, dataKey.Plaintext.byteLength).fill(0);

  const withoutPlaintext = await kms.generateDataKeyWithoutPlaintext({ KeyId: key.KeyId, NumberOfBytes: 64 });
  report(`GenerateDataKeyWithoutPlaintext: 64-byte data key, returned only encrypted (${withoutPlaintext.CiphertextBlob.length} bytes)`);

  const reEncrypted = await kms.reEncrypt({
    CiphertextBlob: encrypted.CiphertextBlob,
    SourceEncryptionContext: context,
    DestinationKeyId: ALIAS_NAME,
    DestinationEncryptionContext: { purpose: 'rotated' },
  });
  const check = await kms.decrypt({ CiphertextBlob: reEncrypted.CiphertextBlob, EncryptionContext: { purpose: 'rotated' } });
  report(`ReEncrypt: new context in one native call, the plaintext never reaching JavaScript; decrypts to the same ${check.Plaintext.length} bytes`);

  const random = await kms.generateRandom({ NumberOfBytes: 32 });
  report(`GenerateRandom: ${Buffer.from(random.Plaintext).toString('hex')}`);
}

/** Runs the demo end to end against `options.dataDir`. */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { report } = options;
  const init = await initLocalCluster({ dataDir: options.dataDir, hsms: options.hsms ?? 2 });
  report(
    init.created
      ? `init: created ${LOCAL_CLUSTER_ID} with SoftHSM2 tokens ${init.tokenLabels.join(', ')}; config in ${init.configPath}`
      : `init: using the existing configuration in ${init.configPath}`,
  );
  const credentials = readLocalCredentials(options.dataDir);
  if (!credentials) {
    throw new Error(`${options.dataDir} has a config.json but no credentials.json; run the demo on a fresh data folder`);
  }

  const kms = await Kms.open({ dataDir: options.dataDir });
  try {
    const customKeyStoreId = await ensureConnectedStore(kms, credentials.keyStorePassword, report);
    const key = await ensureDemoKey(kms, customKeyStoreId, report);
    await runCryptoOperations(kms, key, report);

    for (const cluster of kms.clusterStatus()) {
      const hsms = cluster.hsms
        .map((hsm) => `${hsm.tokenLabel} ${hsm.active ? 'active' : `inactive (${hsm.reason})`}, ${hsm.requestsServed} requests`)
        .join('; ');
      report(`clusterStatus: ${cluster.clusterId} ${cluster.connectionState ?? 'no store'}, ${cluster.activeHsms} active HSM(s): ${hsms}`);
    }
  } finally {
    await kms.close();
  }
}
