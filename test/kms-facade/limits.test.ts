// Every request limit at its boundary and one past it, and the members
// that are rejected whatever their size (reserved alias names, asymmetric
// algorithms, DryRun).
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../../src/index.js';
import { clusterConfig, DAY_MS, MAIN_CLUSTER_ID, openFacade, type Facade } from './fixture.js';

// A cluster for stores that are created and deleted but never connected.
const SPARE_CLUSTER_ID = 'cluster-spare';

let facade: Facade;
let kms: Kms;
let keyArn: string;

beforeAll(async () => {
  facade = await openFacade('facade-limits', {
    extraClusters: (tokens) => [clusterConfig(tokens, SPARE_CLUSTER_ID, ['facade-limits-absent'])],
  });
  kms = facade.kms;
  keyArn = (await facade.createKey()).Arn;
});

afterAll(async () => {
  await facade?.close();
});

const VALIDATION = { name: 'ValidationException' };

/** Generates a random password of `length` characters, so that it appears nowhere else in the test. */
function uniquePassword(length: number): string {
  return randomBytes(32).toString('hex').slice(0, length);
}

/** Returns the requests served by the main cluster's HSM, to show that a call did no HSM work. */
function hsmRequestsServed(): number {
  const cluster = kms.clusterStatus().find((status) => status.clusterId === MAIN_CLUSTER_ID);
  return cluster!.hsms[0]!.requestsServed;
}

describe('request object', () => {
  it.each([
    ['undefined', undefined, 'it is undefined'],
    ['null', null, 'it is null'],
    ['a string', 'alias/name', 'it is a string'],
    ['an array', [], 'it is an array'],
  ])('%s is rejected', async (_kind, request, problem) => {
    const encrypt = kms.encrypt as (request: unknown) => Promise<unknown>;
    await expect(encrypt.call(kms, request)).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining(`must be an object of the operation's members, but ${problem}. Pass an object`),
    });
  });

  it('missing for DescribeKey is rejected', async () => {
    const describeKey = kms.describeKey as (request?: unknown) => Promise<unknown>;
    await expect(describeKey.call(kms)).rejects.toMatchObject(VALIDATION);
  });
});

describe('Plaintext', () => {
  it.each([1, 4096])('%i bytes round-trips', async (length) => {
    const plaintext = randomBytes(length);

    const { CiphertextBlob } = await kms.encrypt({ KeyId: keyArn, Plaintext: plaintext });
    const { Plaintext } = await kms.decrypt({ CiphertextBlob });

    expect(Buffer.from(Plaintext).equals(plaintext)).toBe(true);
  });

  it.each([0, 4097])('%i bytes is rejected', async (length) => {
    await expect(kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.alloc(length) })).rejects.toMatchObject(VALIDATION);
  });
});

describe('NumberOfBytes', () => {
  it.each([1, 1024])('GenerateDataKey of %i bytes', async (length) => {
    const { Plaintext, CiphertextBlob } = await kms.generateDataKey({ KeyId: keyArn, NumberOfBytes: length });

    expect(Plaintext.length).toBe(length);
    const decrypted = await kms.decrypt({ CiphertextBlob });
    expect(Buffer.from(decrypted.Plaintext).equals(Buffer.from(Plaintext))).toBe(true);
  });

  it.each([1, 1024])('GenerateDataKeyWithoutPlaintext of %i bytes', async (length) => {
    const { CiphertextBlob } = await kms.generateDataKeyWithoutPlaintext({ KeyId: keyArn, NumberOfBytes: length });

    const { Plaintext } = await kms.decrypt({ CiphertextBlob });
    expect(Plaintext.length).toBe(length);
  });

  it.each([1, 1024])('GenerateRandom of %i bytes', async (length) => {
    const { Plaintext } = await kms.generateRandom({ NumberOfBytes: length });

    expect(Plaintext.length).toBe(length);
  });

  it.each([0, 1025])('%i bytes is rejected', async (length) => {
    await expect(kms.generateDataKey({ KeyId: keyArn, NumberOfBytes: length })).rejects.toMatchObject(VALIDATION);
    await expect(
      kms.generateDataKeyWithoutPlaintext({ KeyId: keyArn, NumberOfBytes: length }),
    ).rejects.toMatchObject(VALIDATION);
    await expect(kms.generateRandom({ NumberOfBytes: length })).rejects.toMatchObject(VALIDATION);
  });

  it('KeySpec and NumberOfBytes together', async () => {
    const request = { KeyId: keyArn, KeySpec: 'AES_256', NumberOfBytes: 32 } as const;

    await expect(kms.generateDataKey(request)).rejects.toMatchObject(VALIDATION);
    await expect(kms.generateDataKeyWithoutPlaintext(request)).rejects.toMatchObject(VALIDATION);
  });

  it('neither KeySpec nor NumberOfBytes', async () => {
    await expect(kms.generateDataKey({ KeyId: keyArn })).rejects.toMatchObject(VALIDATION);
    await expect(kms.generateDataKeyWithoutPlaintext({ KeyId: keyArn })).rejects.toMatchObject(VALIDATION);
  });
});

describe('GrantTokens', () => {
  const tokens = (count: number) => Array.from({ length: count }, (_, index) => `grant-token-${index}`);

  it('10 tokens are accepted', async () => {
    const { KeyId } = await kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), GrantTokens: tokens(10) });
    const { KeyMetadata } = await kms.describeKey({ KeyId: keyArn, GrantTokens: tokens(10) });

    expect(KeyId).toBe(keyArn);
    expect(KeyMetadata.Arn).toBe(keyArn);
  });

  it('11 tokens are rejected', async () => {
    await expect(
      kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), GrantTokens: tokens(11) }),
    ).rejects.toMatchObject(VALIDATION);
    await expect(kms.describeKey({ KeyId: keyArn, GrantTokens: tokens(11) })).rejects.toMatchObject(VALIDATION);
  });
});

describe('PendingWindowInDays', () => {
  it.each([7, 30])('%i days is accepted', async (days) => {
    const key = await facade.createKey();

    const response = await kms.scheduleKeyDeletion({ KeyId: key.Arn, PendingWindowInDays: days });

    expect(response.PendingWindowInDays).toBe(days);
    expect(response.DeletionDate).toEqual(new Date(facade.clock.now().getTime() + days * DAY_MS));
  });

  it('absent means 30 days', async () => {
    const key = await facade.createKey();

    const response = await kms.scheduleKeyDeletion({ KeyId: key.Arn });

    expect(response.PendingWindowInDays).toBe(30);
  });

  it.each([6, 31])('%i days is rejected', async (days) => {
    const key = await facade.createKey();

    await expect(kms.scheduleKeyDeletion({ KeyId: key.Arn, PendingWindowInDays: days })).rejects.toMatchObject(
      VALIDATION,
    );
    expect((await kms.describeKey({ KeyId: key.Arn })).KeyMetadata.KeyState).toBe('Enabled');
  });
});

describe('KeyStorePassword', () => {
  it.each([7, 32])('%i characters is accepted', async (length) => {
    const { CustomKeyStoreId } = await kms.createCustomKeyStore({
      CustomKeyStoreName: `store-${randomUUID()}`,
      CloudHsmClusterId: SPARE_CLUSTER_ID,
      TrustAnchorCertificate: 'test trust anchor',
      KeyStorePassword: uniquePassword(length),
    });

    expect(CustomKeyStoreId).toMatch(/^cks-/);
    await kms.deleteCustomKeyStore({ CustomKeyStoreId });
  });

  it.each([6, 33])('%i characters is rejected', async (length) => {
    const password = uniquePassword(length);

    const error = await kms
      .createCustomKeyStore({
        CustomKeyStoreName: `store-${randomUUID()}`,
        CloudHsmClusterId: SPARE_CLUSTER_ID,
        TrustAnchorCertificate: 'test trust anchor',
        KeyStorePassword: password,
      })
      .then(
        () => undefined,
        (reason: Error) => reason,
      );

    expect(error).toMatchObject(VALIDATION);
    expect(error?.message).toMatch(/keyStorePassword/);
    expect(error?.message).not.toContain(password);
  });
});

describe('AliasName', () => {
  it('256 characters is accepted', async () => {
    const aliasName = `alias/${'a'.repeat(250)}`;

    await kms.createAlias({ AliasName: aliasName, TargetKeyId: keyArn });

    expect((await kms.describeKey({ KeyId: aliasName })).KeyMetadata.Arn).toBe(keyArn);
  });

  it('257 characters is rejected', async () => {
    const aliasName = `alias/${'b'.repeat(251)}`;

    await expect(kms.createAlias({ AliasName: aliasName, TargetKeyId: keyArn })).rejects.toMatchObject(VALIDATION);
  });

  it('existing name is rejected', async () => {
    const aliasName = `alias/${randomUUID()}`;
    await kms.createAlias({ AliasName: aliasName, TargetKeyId: keyArn });

    await expect(kms.createAlias({ AliasName: aliasName, TargetKeyId: keyArn })).rejects.toMatchObject({
      name: 'AlreadyExistsException',
    });
  });

  it('UpdateAlias of missing alias', async () => {
    await expect(kms.updateAlias({ AliasName: 'alias/missing', TargetKeyId: keyArn })).rejects.toMatchObject({
      name: 'NotFoundException',
    });
  });

  it.each(['alias/aws/x', 'alias/', 'no-prefix'])('%s is an invalid name', async (aliasName) => {
    await expect(kms.createAlias({ AliasName: aliasName, TargetKeyId: keyArn })).rejects.toMatchObject({
      name: 'InvalidAliasNameException',
    });
  });
});

describe('EncryptionContext size', () => {
  // The encoding adds 4 bytes for the pair count and 8 per pair.
  const context = (valueBytes: number) => ({ k: 'v'.repeat(valueBytes) });

  it('65536 encoded bytes is accepted', async () => {
    const response = await kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), EncryptionContext: context(65536 - 13) });
    expect(response.KeyId).toBe(keyArn);
  });

  it('65537 encoded bytes is rejected', async () => {
    const call = kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), EncryptionContext: context(65536 - 12) });
    await expect(call).rejects.toMatchObject({ ...VALIDATION, message: expect.stringContaining('EncryptionContext is too large') });
  });
});

describe('CiphertextBlob', () => {
  it('6145 bytes is rejected', async () => {
    await expect(kms.decrypt({ CiphertextBlob: Buffer.alloc(6145) })).rejects.toMatchObject(VALIDATION);
    await expect(
      kms.reEncrypt({ CiphertextBlob: Buffer.alloc(6145), DestinationKeyId: keyArn }),
    ).rejects.toMatchObject(VALIDATION);
  });

  it('6144 bytes passes validation', async () => {
    await expect(kms.decrypt({ CiphertextBlob: Buffer.alloc(6144) })).rejects.toMatchObject({
      name: 'InvalidCiphertextException',
    });
  });

  it('0 bytes is rejected', async () => {
    await expect(kms.decrypt({ CiphertextBlob: Buffer.alloc(0) })).rejects.toMatchObject(VALIDATION);
  });
});

describe('EncryptionAlgorithm', () => {
  const asymmetric = 'RSAES_OAEP_SHA_256';

  it('asymmetric algorithm on Encrypt', async () => {
    await expect(
      kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), EncryptionAlgorithm: asymmetric }),
    ).rejects.toMatchObject({ name: 'InvalidKeyUsageException' });
  });

  it('asymmetric algorithm on Decrypt and ReEncrypt', async () => {
    const { CiphertextBlob } = await kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x') });
    const usage = { name: 'InvalidKeyUsageException' };

    await expect(kms.decrypt({ CiphertextBlob, EncryptionAlgorithm: asymmetric })).rejects.toMatchObject(usage);
    await expect(
      kms.reEncrypt({ CiphertextBlob, DestinationKeyId: keyArn, SourceEncryptionAlgorithm: asymmetric }),
    ).rejects.toMatchObject(usage);
    await expect(
      kms.reEncrypt({ CiphertextBlob, DestinationKeyId: keyArn, DestinationEncryptionAlgorithm: asymmetric }),
    ).rejects.toMatchObject(usage);
  });

  it('SYMMETRIC_DEFAULT is accepted', async () => {
    const response = await kms.encrypt({
      KeyId: keyArn,
      Plaintext: Buffer.from('x'),
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    });

    expect(response.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
  });
});

describe('DryRun', () => {
  it('every crypto operation, without HSM work', async () => {
    const { CiphertextBlob } = await kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x') });
    const servedBefore = hsmRequestsServed();
    const dryRun = { name: 'DryRunOperationException' };

    await expect(kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), DryRun: true })).rejects.toMatchObject(
      dryRun,
    );
    await expect(kms.decrypt({ CiphertextBlob, DryRun: true })).rejects.toMatchObject(dryRun);
    await expect(kms.generateDataKey({ KeyId: keyArn, KeySpec: 'AES_256', DryRun: true })).rejects.toMatchObject(
      dryRun,
    );
    await expect(
      kms.generateDataKeyWithoutPlaintext({ KeyId: keyArn, KeySpec: 'AES_128', DryRun: true }),
    ).rejects.toMatchObject(dryRun);
    await expect(kms.reEncrypt({ CiphertextBlob, DestinationKeyId: keyArn, DryRun: true })).rejects.toMatchObject(
      dryRun,
    );

    expect(hsmRequestsServed()).toBe(servedBefore);
  });

  it('DryRun: false runs the operation', async () => {
    const servedBefore = hsmRequestsServed();

    const response = await kms.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('x'), DryRun: false });

    expect(response.KeyId).toBe(keyArn);
    expect(hsmRequestsServed()).toBe(servedBefore + 1);
  });
});
