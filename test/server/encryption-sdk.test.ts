// The AWS Encryption SDK for JavaScript against the server. Its KMS keyring
// calls GenerateDataKey and Decrypt through an AWS SDK client whose endpoint
// is the server. A message encrypted under a key in a SoftHSM2 token then
// decrypts only with the encryption context it was made with.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import type { KMS } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kms } from '../../src/kms/kms.js';
import { kmsClient, startServer, type RunningServer } from '../helpers/kms-server.js';
import { useTestTokens, waitFor } from '../helpers/tokens.js';

const root = process.env.HSM_KMS_TEST_ROOT!;
const tokens = useTestTokens('server-esdk', 1);
const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

const CONTEXT = { purpose: 'encryption-sdk-test', tenant: 'tenant-0042' };

let kms: Kms;
let running: RunningServer;
let client: KMS;
let keyring: KmsKeyringNode;

beforeAll(async () => {
  kms = await Kms.open({
    dataDir: mkdtempSync(join(root, 'server-esdk-')),
    clusters: [{ clusterId: 'cluster-esdk', pkcs11Module: tokens.modulePath, hsms: [{ tokenLabel: 'server-esdk-0' }] }],
    deletionIntervalMs: 0,
  });
  running = await startServer(kms);
  client = kmsClient(running.url);

  const { CustomKeyStoreId } = await client.createCustomKeyStore({
    CustomKeyStoreName: 'esdk-store',
    CloudHsmClusterId: 'cluster-esdk',
    TrustAnchorCertificate: 'test cluster: no certificate',
    KeyStorePassword: tokens.pin,
  });
  await client.connectCustomKeyStore({ CustomKeyStoreId: CustomKeyStoreId! });
  await waitFor(async () => {
    const { CustomKeyStores } = await client.describeCustomKeyStores({ CustomKeyStoreId: CustomKeyStoreId! });
    return CustomKeyStores?.[0]?.ConnectionState === 'CONNECTED';
  });
  const { KeyMetadata } = await client.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: CustomKeyStoreId! });
  keyring = new KmsKeyringNode({ generatorKeyId: KeyMetadata!.Arn!, clientProvider: () => client });
});

afterAll(async () => {
  await running?.server.close();
  await kms?.close();
});

describe('AWS Encryption SDK through the server', () => {
  const message = randomBytes(1024 * 1024);
  let ciphertext: Buffer;

  it('encrypts and decrypts a 1 MiB message', async () => {
    ciphertext = (await encrypt(keyring, message, { encryptionContext: CONTEXT })).result;

    const { plaintext, messageHeader } = await decrypt(keyring, ciphertext);

    expect(plaintext.equals(message)).toBe(true);
    expect(messageHeader.encryptionContext).toMatchObject(CONTEXT);
    const audit = running.logs.filter((line) => line.log === 'audit');
    expect(audit.map((line) => [line.operation, line.result])).toEqual(
      expect.arrayContaining([
        ['GenerateDataKey', 'success'],
        ['Decrypt', 'success'],
      ]),
    );
  });

  it('fails to decrypt after the context changed', async () => {
    // The message header stores the context in clear; changing one value
    // (same length) makes KMS Decrypt of the data key fail.
    const original = Buffer.from(CONTEXT.tenant);
    const offset = ciphertext.indexOf(original);
    expect(offset).toBeGreaterThan(0);
    const tampered = Buffer.from(ciphertext);
    Buffer.from('tenant-0043').copy(tampered, offset);

    await expect(decrypt(keyring, tampered)).rejects.toThrow(/InvalidCiphertextException/);

    const lastDecrypt = running.logs.filter((line) => line.operation === 'Decrypt').at(-1);
    expect(lastDecrypt?.result).toBe('InvalidCiphertextException');
    expect(lastDecrypt?.status).toBe(400);
  });
});
