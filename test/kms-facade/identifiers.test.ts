// The four ways to name a key (key ID, key ARN, alias name, alias ARN),
// which operations accept which, and the key ARN in every response.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../../src/index.js';
import type { KeyMetadata } from '../../src/kms/types.js';
import { openFacade, type Facade } from './fixture.js';

// The Region and account that Kms.open uses by default.
const REGION = 'us-east-1';
const ACCOUNT_ID = '111122223333';
const PLAINTEXT = Buffer.from('identifier forms');

let facade: Facade;
let kms: Kms;
let key: KeyMetadata;
let aliasName: string;

beforeAll(async () => {
  facade = await openFacade('facade-identifiers');
  kms = facade.kms;
  key = await facade.createKey();
  aliasName = `alias/identifiers-${randomUUID()}`;
  await kms.createAlias({ AliasName: aliasName, TargetKeyId: key.KeyId });
});

afterAll(async () => {
  await facade?.close();
});

const FORMS = ['key ID', 'key ARN', 'alias name', 'alias ARN'] as const;
type Form = (typeof FORMS)[number];

/** Names the shared key in one of the four identifier forms. */
function identifierOf(form: Form): string {
  switch (form) {
    case 'key ID':
      return key.KeyId;
    case 'key ARN':
      return key.Arn;
    case 'alias name':
      return aliasName;
    case 'alias ARN':
      return `arn:aws:kms:${REGION}:${ACCOUNT_ID}:${aliasName}`;
  }
}

const NOT_FOUND = { name: 'NotFoundException' };

describe('accepted forms', () => {
  it('KeyMetadata names key ID and ARN', () => {
    expect(key.KeyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(key.Arn).toBe(`arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${key.KeyId}`);
  });

  it.each(FORMS)('Encrypt by %s', async (form) => {
    const keyId = identifierOf(form);

    const response = await kms.encrypt({ KeyId: keyId, Plaintext: PLAINTEXT });

    expect(response.KeyId).toBe(key.Arn);
  });

  it.each(FORMS)('DescribeKey by %s', async (form) => {
    const keyId = identifierOf(form);

    const { KeyMetadata } = await kms.describeKey({ KeyId: keyId });

    expect(KeyMetadata.KeyId).toBe(key.KeyId);
    expect(KeyMetadata.Arn).toBe(key.Arn);
  });

  it.each(FORMS)('Decrypt KeyId by %s', async (form) => {
    const keyId = identifierOf(form);
    const { CiphertextBlob } = await kms.encrypt({ KeyId: key.Arn, Plaintext: PLAINTEXT });

    const response = await kms.decrypt({ CiphertextBlob, KeyId: keyId });

    expect(response.KeyId).toBe(key.Arn);
  });

  it('ReEncrypt by aliases', async () => {
    const { CiphertextBlob } = await kms.encrypt({ KeyId: key.Arn, Plaintext: PLAINTEXT });

    const response = await kms.reEncrypt({ CiphertextBlob, SourceKeyId: aliasName, DestinationKeyId: aliasName });

    expect(response.SourceKeyId).toBe(key.Arn);
    expect(response.KeyId).toBe(key.Arn);
  });
});

describe('key ARN in responses', () => {
  it('crypto operations called by key ID', async () => {
    const encrypted = await kms.encrypt({ KeyId: key.KeyId, Plaintext: PLAINTEXT });
    const decrypted = await kms.decrypt({ CiphertextBlob: encrypted.CiphertextBlob });
    const dataKey = await kms.generateDataKey({ KeyId: key.KeyId, KeySpec: 'AES_256' });
    const dataKeyOnly = await kms.generateDataKeyWithoutPlaintext({ KeyId: key.KeyId, KeySpec: 'AES_256' });
    const reEncrypted = await kms.reEncrypt({ CiphertextBlob: encrypted.CiphertextBlob, DestinationKeyId: key.KeyId });

    expect(encrypted.KeyId).toBe(key.Arn);
    expect(decrypted.KeyId).toBe(key.Arn);
    expect(dataKey.KeyId).toBe(key.Arn);
    expect(dataKeyOnly.KeyId).toBe(key.Arn);
    expect(reEncrypted.KeyId).toBe(key.Arn);
    expect(reEncrypted.SourceKeyId).toBe(key.Arn);
  });

  it('deletion operations called by key ID', async () => {
    const other = await facade.createKey();

    const scheduled = await kms.scheduleKeyDeletion({ KeyId: other.KeyId, PendingWindowInDays: 7 });
    const cancelled = await kms.cancelKeyDeletion({ KeyId: other.KeyId });

    expect(scheduled.KeyId).toBe(other.Arn);
    expect(cancelled.KeyId).toBe(other.Arn);
  });
});

describe('aliases rejected', () => {
  it.each([
    ['EnableKey', (keyId: string) => kms.enableKey({ KeyId: keyId })],
    ['DisableKey', (keyId: string) => kms.disableKey({ KeyId: keyId })],
    ['ScheduleKeyDeletion', (keyId: string) => kms.scheduleKeyDeletion({ KeyId: keyId })],
    ['CancelKeyDeletion', (keyId: string) => kms.cancelKeyDeletion({ KeyId: keyId })],
    ['CreateAlias', (keyId: string) => kms.createAlias({ AliasName: `alias/${randomUUID()}`, TargetKeyId: keyId })],
    ['UpdateAlias', (keyId: string) => kms.updateAlias({ AliasName: aliasName, TargetKeyId: keyId })],
    ['ListAliases', (keyId: string) => kms.listAliases({ KeyId: keyId })],
  ])('%s by alias', async (_operation, call) => {
    await expect(call(identifierOf('alias name'))).rejects.toMatchObject(NOT_FOUND);
    await expect(call(identifierOf('alias ARN'))).rejects.toMatchObject(NOT_FOUND);
    expect((await kms.describeKey({ KeyId: key.Arn })).KeyMetadata.KeyState).toBe('Enabled');
  });
});

describe('keys that do not exist here', () => {
  const unknownKeyId = randomUUID();

  it.each([
    ['unknown key ID', unknownKeyId],
    ['unknown key ARN', `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${unknownKeyId}`],
    ['unknown alias', 'alias/does-not-exist'],
    ['uppercase key ID', unknownKeyId.toUpperCase()],
  ])('%s', async (_case, keyId) => {
    await expect(kms.encrypt({ KeyId: keyId, Plaintext: PLAINTEXT })).rejects.toMatchObject(NOT_FOUND);
    await expect(kms.describeKey({ KeyId: keyId })).rejects.toMatchObject(NOT_FOUND);
  });

  it.each([
    ['other Region', () => `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/${key.KeyId}`],
    ['other account', () => `arn:aws:kms:${REGION}:444455556666:key/${key.KeyId}`],
    ['other partition', () => `arn:aws-cn:kms:${REGION}:${ACCOUNT_ID}:key/${key.KeyId}`],
    ['alias ARN of other Region', () => `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:${aliasName}`],
  ])('ARN of %s', async (_case, arn) => {
    await expect(kms.encrypt({ KeyId: arn(), Plaintext: PLAINTEXT })).rejects.toMatchObject(NOT_FOUND);
    await expect(kms.describeKey({ KeyId: arn() })).rejects.toMatchObject(NOT_FOUND);
    await expect(kms.enableKey({ KeyId: arn() })).rejects.toMatchObject(NOT_FOUND);
  });

  it('malformed ARN', async () => {
    const arn = `arn:aws:s3:${REGION}:${ACCOUNT_ID}:key/${key.KeyId}`;

    await expect(kms.describeKey({ KeyId: arn })).rejects.toMatchObject({ name: 'InvalidArnException' });
    await expect(kms.encrypt({ KeyId: arn, Plaintext: PLAINTEXT })).rejects.toMatchObject(NOT_FOUND);
  });

  it.each([
    ['not a UUID', () => 'bad'],
    ['empty', () => ''],
    ['with a trailing space', () => `${key.KeyId} `],
  ])('key ARN whose key ID is %s', async (_case, keyId) => {
    const arn = `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${keyId()}`;
    const quoted = `'${keyId()}'`;

    await expect(kms.encrypt({ KeyId: arn, Plaintext: PLAINTEXT })).rejects.toMatchObject({
      name: 'NotFoundException',
      message: expect.stringContaining(`the key ID after key/ is ${quoted}, not a lowercase UUID`),
    });
  });
});
