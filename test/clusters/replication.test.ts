// Clusters of two HSMs: key material replicated under the cluster wrapping
// key, requests served by any HSM that has the key, and syncKeyMaterial.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kms } from '../../src/index.js';
import { backingKeyId } from '../../src/kms/key-lifecycle.js';
import { openHsm, type Hsm } from '../../src/native.js';
import { clusterConfig, connectStore } from '../kms-facade/fixture.js';
import { createTestWrappingKeys, useTestTokens, type TestTokens } from '../helpers/tokens.js';

let tokens: TestTokens;
let kms: Kms;
let storeId: string;
// Handles on the same tokens, to inspect and damage what each HSM holds.
// They are opened with the options the cluster uses, so they share its
// executors and their key handle caches.
const direct: Record<string, Hsm> = {};

beforeAll(async () => {
  tokens = useTestTokens('replica', 3);
  await createTestWrappingKeys(tokens, ['replica-0', 'replica-1']);

  kms = await Kms.open({
    dataDir: mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'replica-')),
    clusters: [
      clusterConfig(tokens, 'cluster-pair', ['replica-0', 'replica-1']),
      // The second HSM of this cluster does not exist, so only one is active.
      clusterConfig(tokens, 'cluster-half', ['replica-2', 'replica-missing']),
    ],
    deletionIntervalMs: 0,
  });
  ({ CustomKeyStoreId: storeId } = await kms.createCustomKeyStore({
    CustomKeyStoreName: 'pair',
    CloudHsmClusterId: 'cluster-pair',
    TrustAnchorCertificate: 'none',
    KeyStorePassword: tokens.pin,
  }));
  await connectStore(kms, storeId);
  for (const tokenLabel of ['replica-0', 'replica-1']) {
    direct[tokenLabel] = await openHsm({ module: tokens.modulePath, tokenLabel, pin: tokens.pin, maxQueue: 4096 });
  }
});

afterAll(async () => {
  await Promise.all(Object.values(direct).map((hsm) => hsm.close()));
  await kms?.close();
});

async function newKey(): Promise<{ arn: string; material: Buffer }> {
  const { KeyMetadata } = await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId });
  return { arn: KeyMetadata.Arn, material: backingKeyId(KeyMetadata.KeyId, 1) };
}

describe('two-HSM cluster', () => {
  it('stores a new key on both HSMs', async () => {
    const { material } = await newKey();
    expect(await direct['replica-0']!.hasKey(material)).toBe(true);
    expect(await direct['replica-1']!.hasKey(material)).toBe(true);
  });

  it('keeps copies sensitive and wrappable only under trusted keys', async () => {
    const { material } = await newKey();
    for (const hsm of Object.values(direct)) {
      const attributes = await hsm.keyAttributes(material);
      expect(attributes.sensitive).toBe(true);
      expect(attributes.wrapWithTrusted).toBe(true);
    }
  });

  it('serves a key missing from one HSM through the other', async () => {
    const { arn, material } = await newKey();
    const { CiphertextBlob } = await kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('before') });
    expect(await direct['replica-0']!.destroyKey(material)).toBe(true);

    for (let attempt = 0; attempt < 5; attempt++) {
      const { Plaintext } = await kms.decrypt({ CiphertextBlob });
      expect(Buffer.from(Plaintext).toString()).toBe('before');
    }
  });

  it('restores missing material with syncKeyMaterial', async () => {
    const { arn, material } = await newKey();
    expect(await direct['replica-1']!.destroyKey(material)).toBe(true);

    const report = await kms.syncKeyMaterial();
    const entry = report.Keys.find((key) => key.KeyId === arn);
    expect(entry).toEqual({ KeyId: arn, PresentOn: ['replica-0'], CopiedTo: ['replica-1'], Failed: [] });
    expect(await direct['replica-1']!.hasKey(material)).toBe(true);
  });

  it('rejects with KMSInvalidStateException once no HSM holds the key', async () => {
    const { arn, material } = await newKey();
    await direct['replica-0']!.destroyKey(material);
    await direct['replica-1']!.destroyKey(material);

    const error = await kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('x') }).catch((reason) => reason);
    expect(error.name).toBe('KMSInvalidStateException');
    expect(error.message).toContain('key material is missing from every active HSM');
  });

  it('re-encrypts into a key missing from one HSM', async () => {
    const source = await newKey();
    const destination = await newKey();
    const { CiphertextBlob } = await kms.encrypt({ KeyId: source.arn, Plaintext: Buffer.from('move me') });
    expect(await direct['replica-0']!.destroyKey(destination.material)).toBe(true);

    for (let attempt = 0; attempt < 4; attempt++) {
      const moved = await kms.reEncrypt({ CiphertextBlob, DestinationKeyId: destination.arn });
      const { Plaintext } = await kms.decrypt({ CiphertextBlob: moved.CiphertextBlob });
      expect(Buffer.from(Plaintext).toString()).toBe('move me');
    }
    // The source key stays usable on both HSMs.
    const again = await kms.encrypt({ KeyId: source.arn, Plaintext: Buffer.from('still usable') });
    expect(again.KeyId).toBe(source.arn);
  });

  it('spreads requests over both HSMs', async () => {
    const { arn } = await newKey();
    const before = kms.clusterStatus().find((cluster) => cluster.clusterId === 'cluster-pair')!;
    await Promise.all(Array.from({ length: 400 }, () => kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('spread') })));
    const after = kms.clusterStatus().find((cluster) => cluster.clusterId === 'cluster-pair')!;

    for (const index of [0, 1]) {
      expect(after.hsms[index]!.requestsServed - before.hsms[index]!.requestsServed).toBeGreaterThan(0);
    }
  });
});

describe('cluster with one active HSM of two', () => {
  it('rejects CreateKey with CloudHsmClusterInvalidConfigurationException', async () => {
    const { CustomKeyStoreId } = await kms.createCustomKeyStore({
      CustomKeyStoreName: 'half',
      CloudHsmClusterId: 'cluster-half',
      TrustAnchorCertificate: 'none',
      KeyStorePassword: tokens.pin,
    });
    await connectStore(kms, CustomKeyStoreId);

    const status = kms.clusterStatus().find((cluster) => cluster.clusterId === 'cluster-half')!;
    expect(status.activeHsms).toBe(1);
    expect(status.hsms[1]!.active).toBe(false);
    expect(status.hsms[1]!.reason).toContain('No token labelled "replica-missing"');

    const error = await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId }).catch((reason) => reason);
    expect(error.name).toBe('CloudHsmClusterInvalidConfigurationException');
  });
});
