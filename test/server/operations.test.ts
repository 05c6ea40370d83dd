// Every KMS operation through the official AWS SDK client against the
// server, on real SoftHSM2 tokens, with the error paths as the SDK reports
// them (exception name and HTTP status), the health and metrics endpoints, and
// the audit log. Tests run in order and build on each other's keys and stores.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { KMS } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kms } from '../../src/kms/kms.js';
import {
  ACCESS_KEY,
  kmsClient,
  rejectionOf,
  rewriteBeforeSigning,
  sendRaw,
  startServer,
  type RunningServer,
} from '../helpers/kms-server.js';
import { useTestTokens, waitFor } from '../helpers/tokens.js';

const root = process.env.HSM_KMS_TEST_ROOT!;
const tokens = useTestTokens('server-ops', 2);

// Distinctive values, so the audit-log test can check that none of them was logged.
const CONTEXT = { purpose: 'context-value-purpose-7f3a', tenant: 'context-value-tenant-91c2' };
const MESSAGE = 'plaintext that must never reach the log 5b8e';

let kms: Kms;
let running: RunningServer;
let client: KMS;

/** Polls DescribeCustomKeyStores until the store reaches `state`. */
async function waitForConnectionState(customKeyStoreId: string, state: string): Promise<void> {
  await waitFor(async () => {
    const { CustomKeyStores } = await client.describeCustomKeyStores({ CustomKeyStoreId: customKeyStoreId });
    return CustomKeyStores?.[0]?.ConnectionState === state;
  });
}

async function createConnectedStore(name: string, clusterId: string): Promise<string> {
  const { CustomKeyStoreId } = await client.createCustomKeyStore({
    CustomKeyStoreName: name,
    CloudHsmClusterId: clusterId,
    TrustAnchorCertificate: 'test cluster: no certificate',
    KeyStorePassword: tokens.pin,
  });
  await client.connectCustomKeyStore({ CustomKeyStoreId: CustomKeyStoreId! });
  await waitForConnectionState(CustomKeyStoreId!, 'CONNECTED');
  return CustomKeyStoreId!;
}

async function createKeyIn(customKeyStoreId: string): Promise<string> {
  const { KeyMetadata } = await client.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: customKeyStoreId });
  return KeyMetadata!.Arn!;
}

beforeAll(async () => {
  kms = await Kms.open({
    dataDir: mkdtempSync(join(root, 'server-ops-')),
    clusters: [
      { clusterId: 'cluster-main', pkcs11Module: tokens.modulePath, hsms: [{ tokenLabel: 'server-ops-0' }] },
      // One request per 1000 s after the first: the second crypto request is throttled.
      {
        clusterId: 'cluster-slow',
        pkcs11Module: tokens.modulePath,
        hsms: [{ tokenLabel: 'server-ops-1' }],
        requestsPerSecond: 0.001,
        burst: 1,
      },
      // Its token does not exist, so connecting its store fails.
      { clusterId: 'cluster-spare', pkcs11Module: tokens.modulePath, hsms: [{ tokenLabel: 'no-such-token' }] },
    ],
    deletionIntervalMs: 0,
  });
  running = await startServer(kms);
  client = kmsClient(running.url);
});

afterAll(async () => {
  await running?.server.close();
  await kms?.close();
});

describe('KMS operations over the wire', () => {
  let storeId: string;
  let keyArn: string;
  let secondKeyArn: string;

  it('connects a store created over the wire', async () => {
    storeId = await createConnectedStore('main-store', 'cluster-main');

    const { CustomKeyStores } = await client.describeCustomKeyStores({ CustomKeyStoreId: storeId });
    expect(storeId).toMatch(/^cks-/);
    expect(CustomKeyStores?.[0]?.CloudHsmClusterId).toBe('cluster-main');
    expect(CustomKeyStores?.[0]?.CreationDate).toBeInstanceOf(Date);
    expect(Math.abs(CustomKeyStores![0]!.CreationDate!.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('creates, describes and lists keys', async () => {
    const created = await client.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, Description: 'wire key' });
    keyArn = created.KeyMetadata!.Arn!;

    expect(keyArn).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\/[0-9a-f-]{36}$/);
    expect(created.KeyMetadata?.KeyState).toBe('Enabled');
    expect(created.KeyMetadata?.CreationDate).toBeInstanceOf(Date);
    const described = await client.describeKey({ KeyId: keyArn });
    expect(described.KeyMetadata?.Description).toBe('wire key');
    expect(described.KeyMetadata?.CloudHsmClusterId).toBe('cluster-main');
    const listed = await client.listKeys({});
    expect(listed.Keys?.map((key) => key.KeyArn)).toContain(keyArn);
  });

  it('creates, updates, lists and deletes aliases', async () => {
    secondKeyArn = await createKeyIn(storeId);
    await client.createAlias({ AliasName: 'alias/server-test', TargetKeyId: keyArn });

    const { Aliases } = await client.listAliases({ KeyId: keyArn });
    expect(Aliases?.map((alias) => alias.AliasName)).toEqual(['alias/server-test']);
    expect(Aliases?.[0]?.CreationDate).toBeInstanceOf(Date);

    await client.updateAlias({ AliasName: 'alias/server-test', TargetKeyId: secondKeyArn });
    expect((await client.describeKey({ KeyId: 'alias/server-test' })).KeyMetadata?.Arn).toBe(secondKeyArn);

    await client.deleteAlias({ AliasName: 'alias/server-test' });
    const error = await rejectionOf(client.describeKey({ KeyId: 'alias/server-test' }));
    expect(error.name).toBe('NotFoundException');
    expect(error.$metadata.httpStatusCode).toBe(404);
  });

  it('encrypts and decrypts with a context', async () => {
    const encrypted = await client.encrypt({ KeyId: keyArn, Plaintext: Buffer.from(MESSAGE), EncryptionContext: CONTEXT });
    const decrypted = await client.decrypt({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: CONTEXT });

    expect(encrypted.KeyId).toBe(keyArn);
    expect(encrypted.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
    expect(Buffer.from(decrypted.Plaintext!).toString()).toBe(MESSAGE);
    expect(decrypted.KeyId).toBe(keyArn);
  });

  it('generates data keys with and without plaintext', async () => {
    const dataKey = await client.generateDataKey({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: CONTEXT });
    const decrypted = await client.decrypt({ CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: CONTEXT });
    expect(dataKey.Plaintext).toHaveLength(32);
    expect(Buffer.from(decrypted.Plaintext!).equals(Buffer.from(dataKey.Plaintext!))).toBe(true);

    const withoutPlaintext = await client.generateDataKeyWithoutPlaintext({ KeyId: keyArn, NumberOfBytes: 64 });
    expect(Object.keys(withoutPlaintext)).not.toContain('Plaintext');
    expect(withoutPlaintext.KeyId).toBe(keyArn);
    const unwrapped = await client.decrypt({ CiphertextBlob: withoutPlaintext.CiphertextBlob });
    expect(unwrapped.Plaintext).toHaveLength(64);
  });

  it('re-encrypts under another key and context', async () => {
    const encrypted = await client.encrypt({ KeyId: keyArn, Plaintext: Buffer.from(MESSAGE), EncryptionContext: CONTEXT });

    const reEncrypted = await client.reEncrypt({
      CiphertextBlob: encrypted.CiphertextBlob,
      SourceEncryptionContext: CONTEXT,
      DestinationKeyId: secondKeyArn,
      DestinationEncryptionContext: { stage: 'rotated' },
    });

    expect(reEncrypted.SourceKeyId).toBe(keyArn);
    expect(reEncrypted.KeyId).toBe(secondKeyArn);
    const decrypted = await client.decrypt({ CiphertextBlob: reEncrypted.CiphertextBlob, EncryptionContext: { stage: 'rotated' } });
    expect(Buffer.from(decrypted.Plaintext!).toString()).toBe(MESSAGE);
  });

  it('generates random bytes in the store', async () => {
    const { Plaintext } = await client.generateRandom({ NumberOfBytes: 48, CustomKeyStoreId: storeId });
    expect(Plaintext).toHaveLength(48);
  });

  it('rejects a disabled key with DisabledException', async () => {
    await client.disableKey({ KeyId: keyArn });

    const error = await rejectionOf(client.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x') }));
    expect(error.name).toBe('DisabledException');
    expect(error.$metadata.httpStatusCode).toBe(409);

    await client.enableKey({ KeyId: keyArn });
    expect((await client.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x') })).KeyId).toBe(keyArn);
  });

  it('schedules and cancels key deletion', async () => {
    const doomed = await createKeyIn(storeId);

    const scheduled = await client.scheduleKeyDeletion({ KeyId: doomed, PendingWindowInDays: 7 });
    expect(scheduled.KeyState).toBe('PendingDeletion');
    expect(scheduled.PendingWindowInDays).toBe(7);
    expect(scheduled.DeletionDate).toBeInstanceOf(Date);
    const daysAhead = (scheduled.DeletionDate!.getTime() - Date.now()) / 86_400_000;
    expect(daysAhead).toBeGreaterThan(6.9);
    expect(daysAhead).toBeLessThanOrEqual(7);

    const error = await rejectionOf(client.encrypt({ KeyId: doomed, Plaintext: Buffer.from('x') }));
    expect(error.name).toBe('KMSInvalidStateException');
    expect(error.$metadata.httpStatusCode).toBe(409);

    expect((await client.cancelKeyDeletion({ KeyId: doomed })).KeyId).toBe(doomed);
    expect((await client.describeKey({ KeyId: doomed })).KeyMetadata?.KeyState).toBe('Disabled');
  });

  it('reports an unknown key with NotFoundException', async () => {
    const error = await rejectionOf(client.encrypt({ KeyId: randomUUID(), Plaintext: Buffer.from('x') }));
    expect(error.name).toBe('NotFoundException');
    expect(error.$metadata.httpStatusCode).toBe(404);
  });

  it('rejects a changed context with InvalidCiphertextException', async () => {
    const encrypted = await client.encrypt({ KeyId: keyArn, Plaintext: Buffer.from(MESSAGE), EncryptionContext: CONTEXT });

    const error = await rejectionOf(
      client.decrypt({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: { ...CONTEXT, tenant: 'other' } }),
    );
    expect(error.name).toBe('InvalidCiphertextException');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  it('rejects oversized plaintext with ValidationException', async () => {
    const error = await rejectionOf(client.encrypt({ KeyId: keyArn, Plaintext: new Uint8Array(4097) }));

    expect(error.name).toBe('ValidationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain("at 'plaintext' failed to satisfy constraint");
    expect(error.message).toContain('4096');
  });

  it('rejects DryRun with DryRunOperationException', async () => {
    const error = await rejectionOf(client.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), DryRun: true }));
    expect(error.name).toBe('DryRunOperationException');
    expect(error.$metadata.httpStatusCode).toBe(412);
  });

  it('rejects an unknown operation', async () => {
    const renamed = kmsClient(running.url);
    rewriteBeforeSigning(renamed, (request) => {
      request.headers['x-amz-target'] = 'TrentService.SignMessage';
    });

    const error = await rejectionOf(renamed.listKeys({}));
    expect(error.name).toBe('UnknownOperationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain("'TrentService.SignMessage' is not an operation of this server");
  });

  it('rejects a blob member that is not base64 text', async () => {
    const rewritten = kmsClient(running.url);
    rewriteBeforeSigning(rewritten, (request) => {
      request.body = JSON.stringify({ KeyId: keyArn, Plaintext: 42 });
    });

    const error = await rejectionOf(rewritten.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x') }));
    expect(error.name).toBe('SerializationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe(
      'Plaintext must be a base64 string, but the request has a JSON number. Send binary members as base64 text, as the AWS SDKs do.',
    );
  });

  it('rejects a body that is not JSON', async () => {
    const rewritten = kmsClient(running.url);
    rewriteBeforeSigning(rewritten, (request) => {
      request.body = '{"KeyId": ';
    });

    const error = await rejectionOf(rewritten.listKeys({}));
    expect(error.name).toBe('SerializationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain('The request body is not valid JSON');
  });

  it('throttles a cluster over its rate with ThrottlingException', async () => {
    const slowStore = await createConnectedStore('slow-store', 'cluster-slow');
    const slowKey = await createKeyIn(slowStore);
    await client.encrypt({ KeyId: slowKey, Plaintext: Buffer.from('x') });

    const error = await rejectionOf(client.encrypt({ KeyId: slowKey, Plaintext: Buffer.from('x') }));
    expect(error.name).toBe('ThrottlingException');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  it('reports a failed store as degraded health', async () => {
    const { CustomKeyStoreId } = await client.createCustomKeyStore({
      CustomKeyStoreName: 'spare-store',
      CloudHsmClusterId: 'cluster-spare',
      TrustAnchorCertificate: 'test cluster: no certificate',
      KeyStorePassword: tokens.pin,
    });
    await client.connectCustomKeyStore({ CustomKeyStoreId: CustomKeyStoreId! });
    await waitForConnectionState(CustomKeyStoreId!, 'FAILED');

    const health = await sendRaw(running.url, { method: 'GET', path: '/health' });
    expect(health.status).toBe(503);
    expect(health.json?.status).toBe('degraded');
    expect((health.json?.problems as string[])[0]).toContain(`Custom key store ${CustomKeyStoreId} is FAILED`);
  });

  it('updates, disconnects and deletes a store', async () => {
    const { CustomKeyStores } = await client.describeCustomKeyStores({ CustomKeyStoreName: 'spare-store' });
    const spareId = CustomKeyStores![0]!.CustomKeyStoreId!;

    await client.disconnectCustomKeyStore({ CustomKeyStoreId: spareId });
    await waitForConnectionState(spareId, 'DISCONNECTED');
    await client.updateCustomKeyStore({ CustomKeyStoreId: spareId, NewCustomKeyStoreName: 'renamed-store' });
    const renamed = await client.describeCustomKeyStores({ CustomKeyStoreName: 'renamed-store' });
    expect(renamed.CustomKeyStores?.[0]?.CustomKeyStoreId).toBe(spareId);

    await client.deleteCustomKeyStore({ CustomKeyStoreId: spareId });
    const error = await rejectionOf(client.describeCustomKeyStores({ CustomKeyStoreId: spareId }));
    expect(error.name).toBe('CustomKeyStoreNotFoundException');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  it('reports clusters and stores on GET /health', async () => {
    const health = await sendRaw(running.url, { method: 'GET', path: '/health' });

    expect(health.status).toBe(200);
    expect(health.headers['content-type']).toBe('application/json');
    expect(health.json?.status).toBe('ok');
    const clusters = health.json?.clusters as { clusterId: string; activeHsms: number; connectionState?: string }[];
    const main = clusters.find((cluster) => cluster.clusterId === 'cluster-main');
    expect(main?.activeHsms).toBe(1);
    expect(main?.connectionState).toBe('CONNECTED');
    const stores = health.json?.customKeyStores as { customKeyStoreName: string; connectionState: string }[];
    // DescribeCustomKeyStores lists stores by ID, which is random, so the names are sorted here.
    const states = stores.map((store) => [store.customKeyStoreName, store.connectionState]).sort();
    expect(states).toEqual([
      ['main-store', 'CONNECTED'],
      ['slow-store', 'CONNECTED'],
    ]);
    expect(health.text).not.toContain(tokens.pin);
  });

  it('exports Prometheus metrics on GET /metrics', async () => {
    const metrics = await sendRaw(running.url, { method: 'GET', path: '/metrics' });

    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    const text = metrics.text;
    expect(text).toMatch(/^hsm_kms_requests_total\{operation="Encrypt",cluster="cluster-main"\} \d+$/m);
    expect(text).toContain(
      'hsm_kms_request_errors_total{operation="Encrypt",cluster="cluster-main",exception="DisabledException"} 1',
    );
    expect(text).toContain('hsm_kms_throttled_requests_total{operation="Encrypt",cluster="cluster-slow"} 1');
    expect(text).toContain('hsm_kms_request_errors_total{operation="Decrypt",cluster="cluster-main",exception="InvalidCiphertextException"} 1');
    expect(text).toMatch(/^hsm_kms_request_duration_seconds_bucket\{le="\+Inf",operation="Decrypt",cluster="cluster-main"\} \d+$/m);
    expect(text).toContain('hsm_kms_active_hsms{cluster="cluster-main"} 1');
    expect(text).toContain('hsm_kms_active_hsms{cluster="cluster-spare"} 0');
    expect(text).toMatch(/^hsm_kms_custom_key_store_connected\{cluster="cluster-main",custom_key_store_id="cks-[0-9a-f]+"\} 1$/m);
  });

  it('audits requests without secrets', () => {
    const audit = running.logs.filter((line) => line.log === 'audit');
    const encrypt = audit.find((line) => line.operation === 'Encrypt' && line.result === 'success');
    expect(encrypt?.keyArn).toBe(keyArn);
    expect(encrypt?.encryptionContextKeys).toEqual(['purpose', 'tenant']);
    expect(encrypt?.accessKeyId).toBe(ACCESS_KEY.accessKeyId);
    expect(encrypt?.cluster).toBe('cluster-main');
    expect(typeof encrypt?.durationMs).toBe('number');
    const disabled = audit.find((line) => line.result === 'DisabledException');
    expect(disabled?.status).toBe(409);
    expect(disabled?.keyArn).toBe(keyArn);

    const logText = running.logText();
    for (const secret of [
      MESSAGE,
      Buffer.from(MESSAGE).toString('base64'),
      CONTEXT.purpose,
      CONTEXT.tenant,
      tokens.pin,
      ACCESS_KEY.secretAccessKey,
    ]) {
      expect(logText).not.toContain(secret);
    }
  });
});
