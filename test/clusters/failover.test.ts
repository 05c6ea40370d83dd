// HSM faults under load, injected by the fault module: an HSM dies while
// requests run, comes back, all HSMs die, a token is "restored from an old
// backup", and a slow HSM fills its queue.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kms } from '../../src/index.js';
import { DEFAULT_MAX_QUEUE_PER_HSM } from '../../src/kms/config.js';
import { backingKeyId } from '../../src/kms/key-lifecycle.js';
import { openHsm, type Hsm } from '../../src/native.js';
import { FaultControl, useFaultModule } from '../helpers/fault-control.js';
import { createTestWrappingKeys, useTestTokens, waitFor, type TestTokens } from '../helpers/tokens.js';
import { clusterConfig, connectStore } from '../kms-facade/fixture.js';

// Exceptions a KMS client retries; a failed request must end in one of them.
const RETRYABLE = new Set(['KMSInvalidStateException', 'KMSInternalException', 'ThrottlingException']);

let tokens: TestTokens;
let control: FaultControl;
let faultModule: string;
let kms: Kms;
let pairStoreId: string;
let slowStoreId: string;

beforeAll(async () => {
  tokens = useTestTokens('failover', 3);
  await createTestWrappingKeys(tokens, ['failover-0', 'failover-1']);

  control = FaultControl.create(join(tokens.dir, 'fault-control'));
  faultModule = useFaultModule(control, tokens.modulePath);
  kms = await Kms.open({
    dataDir: mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'failover-')),
    clusters: [
      clusterConfig(tokens, 'cluster-pair', ['failover-0', 'failover-1'], { pkcs11Module: faultModule }),
      clusterConfig(tokens, 'cluster-slow', ['failover-2'], { pkcs11Module: faultModule, maxQueuePerHsm: 8 }),
    ],
    deletionIntervalMs: 0,
  });
  for (const [name, clusterId] of [
    ['pair', 'cluster-pair'],
    ['slow', 'cluster-slow'],
  ] as const) {
    const { CustomKeyStoreId } = await kms.createCustomKeyStore({
      CustomKeyStoreName: name,
      CloudHsmClusterId: clusterId,
      TrustAnchorCertificate: 'none',
      KeyStorePassword: tokens.pin,
    });
    await connectStore(kms, CustomKeyStoreId);
    if (name === 'pair') pairStoreId = CustomKeyStoreId;
    else slowStoreId = CustomKeyStoreId;
  }
});

afterEach(async () => {
  control.clear();
  // Every test starts with both HSMs of the pair back in service.
  await waitFor(() => pairStatus().activeHsms === 2);
});

afterAll(async () => {
  await kms?.close();
  control?.close();
});

function pairStatus() {
  return kms.clusterStatus().find((cluster) => cluster.clusterId === 'cluster-pair')!;
}

function served(tokenLabel: string): number {
  return pairStatus().hsms.find((hsm) => hsm.tokenLabel === tokenLabel)!.requestsServed;
}

async function newPairKey(): Promise<{ arn: string; material: Buffer }> {
  const { KeyMetadata } = await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: pairStoreId });
  return { arn: KeyMetadata.Arn, material: backingKeyId(KeyMetadata.KeyId, 1) };
}

/** Outcome of one request: its result checked for correctness, or the name of its exception. */
type Outcome = { ok: true } | { ok: false; name: string };

describe('cluster of two HSMs under faults', () => {
  it('survives losing one HSM during 20,000 mixed requests', async () => {
    const { arn } = await newPairKey();
    const references = await Promise.all(
      Array.from({ length: 16 }, (_, index) =>
        kms.encrypt({ KeyId: arn, Plaintext: Buffer.from(`reference ${index}`), EncryptionContext: { index: `${index}` } }),
      ),
    );
    const sealedByRequests: { blob: Uint8Array; expected: string }[] = [];

    const runOne = async (index: number): Promise<Outcome> => {
      try {
        switch (index % 3) {
          case 0: {
            const plaintext = `request ${index}`;
            const { CiphertextBlob } = await kms.encrypt({ KeyId: arn, Plaintext: Buffer.from(plaintext) });
            sealedByRequests.push({ blob: CiphertextBlob, expected: plaintext });
            return { ok: true };
          }
          case 1: {
            const reference = index % references.length;
            const { Plaintext } = await kms.decrypt({
              CiphertextBlob: references[reference]!.CiphertextBlob,
              EncryptionContext: { index: `${reference}` },
            });
            expect(Buffer.from(Plaintext).toString()).toBe(`reference ${reference}`);
            return { ok: true };
          }
          default: {
            const dataKey = await kms.generateDataKey({ KeyId: arn, NumberOfBytes: 32 });
            const { Plaintext } = await kms.decrypt({ CiphertextBlob: dataKey.CiphertextBlob });
            expect(Buffer.from(Plaintext).equals(Buffer.from(dataKey.Plaintext))).toBe(true);
            return { ok: true };
          }
        }
      } catch (error) {
        return { ok: false, name: (error as Error).name };
      }
    };

    const servedBefore = served('failover-1');
    const outcomes: Outcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < 20_000) {
        const index = next++;
        if (index === 5_000) control.setFault('failover-0', 'device-removed');
        outcomes.push(await runOne(index));
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));

    const failures = outcomes.filter((outcome): outcome is { ok: false; name: string } => !outcome.ok);
    expect(outcomes.length).toBe(20_000);
    expect(failures.filter((failure) => !RETRYABLE.has(failure.name))).toEqual([]);
    expect(failures.length).toBeLessThan(200);

    // Traffic moved to the other HSM, and every ciphertext made under the
    // fault decrypts to its plaintext.
    const status = pairStatus();
    expect(status.hsms.find((hsm) => hsm.tokenLabel === 'failover-0')!.active).toBe(false);
    expect(served('failover-1') - servedBefore).toBeGreaterThan(10_000);
    for (const { blob, expected } of sealedByRequests) {
      const { Plaintext } = await kms.decrypt({ CiphertextBlob: blob });
      expect(Buffer.from(Plaintext).toString()).toBe(expected);
    }
  });

  it('brings a returning HSM back into service without a restart', async () => {
    const { arn } = await newPairKey();
    control.setFault('failover-0', 'device-error');
    await Promise.all(Array.from({ length: 50 }, () => kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('x') })));
    expect(pairStatus().hsms[0]!.active).toBe(false);

    control.clear('failover-0');
    await waitFor(() => pairStatus().hsms[0]!.active);
    const before = served('failover-0');
    await Promise.all(Array.from({ length: 200 }, () => kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('back') })));
    expect(served('failover-0')).toBeGreaterThan(before);
  });

  it('rejects while all HSMs are down and recovers by itself', async () => {
    const { arn } = await newPairKey();
    control.setFault('failover-0', 'device-error');
    control.setFault('failover-1', 'device-error');
    await Promise.all(
      Array.from({ length: 20 }, () => kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('x') }).catch(() => undefined)),
    );
    await waitFor(() => pairStatus().activeHsms === 0);

    const error = await kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('down') }).catch((reason) => reason);
    expect(error.name).toBe('KMSInvalidStateException');
    expect(error.message).toContain('cannot communicate with the cluster');

    control.clear();
    await waitFor(() => pairStatus().activeHsms === 2);
    const { KeyId } = await kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('up') });
    expect(KeyId).toBe(arn);
  });

  it('serves a key lost by a restored HSM, and syncKeyMaterial restores it', async () => {
    const { arn, material } = await newPairKey();
    // A handle with the cluster's options shares its executor, so the
    // destroyed key also leaves the executor's handle cache.
    const restored: Hsm = await openHsm({
      module: faultModule,
      tokenLabel: 'failover-0',
      pin: tokens.pin,
      maxQueue: DEFAULT_MAX_QUEUE_PER_HSM,
    });
    expect(await restored.destroyKey(material)).toBe(true);

    const { CiphertextBlob } = await kms.encrypt({ KeyId: arn, Plaintext: Buffer.from('old backup') });
    const { Plaintext } = await kms.decrypt({ CiphertextBlob });
    expect(Buffer.from(Plaintext).toString()).toBe('old backup');

    // With the key hidden on the other HSM as well, no HSM has it.
    control.hideObjects('failover-1', [material]);
    const missing = await kms.decrypt({ CiphertextBlob }).catch((reason) => reason);
    expect(missing.name).toBe('KMSInvalidStateException');
    expect(missing.message).toContain('key material is missing from every active HSM');

    control.clear('failover-1');
    const report = await kms.syncKeyMaterial();
    expect(report.Keys.find((key) => key.KeyId === arn)).toEqual({
      KeyId: arn,
      PresentOn: ['failover-1'],
      CopiedTo: ['failover-0'],
      Failed: [],
    });
    control.hideObjects('failover-1', [material]);
    const again = await kms.decrypt({ CiphertextBlob });
    expect(Buffer.from(again.Plaintext).toString()).toBe('old backup');
    await restored.close();
  });
});

describe('slow HSM', () => {
  it('throttles instead of queueing without bound', async () => {
    const { KeyMetadata } = await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: slowStoreId });
    control.setLatency('failover-2', 20_000);

    const started = performance.now();
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, () =>
        kms.encrypt({ KeyId: KeyMetadata.Arn, Plaintext: Buffer.from('slow') }).then(
          () => 'ok',
          (error: Error) => error.name,
        ),
      ),
    );
    const elapsedMs = performance.now() - started;

    const throttled = outcomes.filter((outcome) => outcome === 'ThrottlingException').length;
    expect(throttled).toBeGreaterThan(80);
    expect(outcomes.filter((outcome) => outcome !== 'ok' && outcome !== 'ThrottlingException')).toEqual([]);
    // 100 requests at 20 ms each would take 2 s if they all queued.
    expect(elapsedMs).toBeLessThan(1_000);
  });
});
