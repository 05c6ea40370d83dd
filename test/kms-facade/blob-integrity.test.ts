// Tampering with a ciphertext blob or its encryption context must fail
// decryption with InvalidCiphertextException, and naming the wrong key with
// IncorrectKeyException.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../../src/index.js';
import type { EncryptionContext } from '../../src/kms/types.js';
import { openFacade, type Facade } from './fixture.js';

const PLAINTEXT = Buffer.from('sixteen bytes!!!');
const CONTEXT = { Department: 'Finance', Project: 'Alpha' };
// Offset of the 16 key ID bytes in the blob header.
const KEY_ID_OFFSET = 3;

let facade: Facade;
let kms: Kms;
let keyArn: string;
let otherKeyArn: string;
let otherKeyId: string;
let blob: Buffer;

beforeAll(async () => {
  facade = await openFacade('facade-blobs');
  kms = facade.kms;
  keyArn = (await facade.createKey()).Arn;
  const other = await facade.createKey();
  otherKeyArn = other.Arn;
  otherKeyId = other.KeyId;
  const { CiphertextBlob } = await kms.encrypt({ KeyId: keyArn, Plaintext: PLAINTEXT, EncryptionContext: CONTEXT });
  blob = Buffer.from(CiphertextBlob);
});

afterAll(async () => {
  await facade?.close();
});

/** Calls Decrypt or ReEncrypt on a blob and returns 'decrypted' or the exception name. */
async function outcomeOf(
  operation: 'Decrypt' | 'ReEncrypt',
  ciphertext: Uint8Array,
  context: EncryptionContext | undefined,
): Promise<string> {
  const call =
    operation === 'Decrypt'
      ? kms.decrypt({ CiphertextBlob: ciphertext, EncryptionContext: context })
      : kms.reEncrypt({ CiphertextBlob: ciphertext, SourceEncryptionContext: context, DestinationKeyId: keyArn });
  return call.then(
    () => 'decrypted',
    (error: Error) => error.name,
  );
}

describe.each(['Decrypt', 'ReEncrypt'] as const)('%s of a tampered blob', (operation) => {
  it('untouched blob decrypts', async () => {
    expect(await outcomeOf(operation, blob, CONTEXT)).toBe('decrypted');
  });

  it('every flipped byte', async () => {
    const accepted: string[] = [];
    for (let position = 0; position < blob.length; position++) {
      const tampered = Buffer.from(blob);
      tampered[position]! ^= 0x01;
      const outcome = await outcomeOf(operation, tampered, CONTEXT);
      if (outcome !== 'InvalidCiphertextException') accepted.push(`byte ${position}: ${outcome}`);
    }

    expect(blob.length).toBe(23 + 12 + PLAINTEXT.length + 16);
    expect(accepted).toEqual([]);
  });

  it('every truncation', async () => {
    const accepted: string[] = [];
    for (let length = 1; length < blob.length; length++) {
      const outcome = await outcomeOf(operation, blob.subarray(0, length), CONTEXT);
      if (outcome !== 'InvalidCiphertextException') accepted.push(`${length} bytes: ${outcome}`);
    }

    expect(accepted).toEqual([]);
  });

  it('appended byte', async () => {
    const extended = Buffer.concat([blob, Buffer.of(0)]);

    expect(await outcomeOf(operation, extended, CONTEXT)).toBe('InvalidCiphertextException');
  });

  it('key ID of another key', async () => {
    const swapped = Buffer.from(blob);
    swapped.set(Buffer.from(otherKeyId.replaceAll('-', ''), 'hex'), KEY_ID_OFFSET);

    expect(await outcomeOf(operation, swapped, CONTEXT)).toBe('InvalidCiphertextException');
  });
});

describe.each(['Decrypt', 'ReEncrypt'] as const)('%s with a changed context', (operation) => {
  it.each([
    ['added key', { ...CONTEXT, Extra: 'x' }],
    ['removed key', { Department: 'Finance' }],
    ['changed value', { Department: 'Finance', Project: 'Beta' }],
    ['changed key case', { department: 'Finance', Project: 'Alpha' }],
    ['changed value case', { Department: 'Finance', Project: 'alpha' }],
    ['empty value', { Department: 'Finance', Project: '' }],
    ['no context', undefined],
  ])('%s', async (_change, context) => {
    expect(await outcomeOf(operation, blob, context)).toBe('InvalidCiphertextException');
  });

  it('reordered pairs decrypt', async () => {
    const reordered = { Project: 'Alpha', Department: 'Finance' };
    expect(Object.keys(reordered)).not.toEqual(Object.keys(CONTEXT));

    expect(await outcomeOf(operation, blob, reordered)).toBe('decrypted');
  });
});

describe('wrong key named', () => {
  it('Decrypt with KeyId of another key', async () => {
    await expect(
      kms.decrypt({ CiphertextBlob: blob, EncryptionContext: CONTEXT, KeyId: otherKeyArn }),
    ).rejects.toMatchObject({ name: 'IncorrectKeyException' });
  });

  it('ReEncrypt with SourceKeyId of another key', async () => {
    await expect(
      kms.reEncrypt({
        CiphertextBlob: blob,
        SourceEncryptionContext: CONTEXT,
        SourceKeyId: otherKeyArn,
        DestinationKeyId: keyArn,
      }),
    ).rejects.toMatchObject({ name: 'IncorrectKeyException' });
  });

  it('Decrypt with KeyId of the right key', async () => {
    const { Plaintext } = await kms.decrypt({ CiphertextBlob: blob, EncryptionContext: CONTEXT, KeyId: keyArn });

    expect(Buffer.from(Plaintext).equals(PLAINTEXT)).toBe(true);
  });
});

describe('ReEncrypt output', () => {
  it('is bound to the destination context', async () => {
    const destinationContext = { Stage: 'archive' };
    const { CiphertextBlob } = await kms.reEncrypt({
      CiphertextBlob: blob,
      SourceEncryptionContext: CONTEXT,
      DestinationKeyId: otherKeyArn,
      DestinationEncryptionContext: destinationContext,
    });

    expect(await outcomeOf('Decrypt', CiphertextBlob, CONTEXT)).toBe('InvalidCiphertextException');
    const { Plaintext, KeyId } = await kms.decrypt({ CiphertextBlob, EncryptionContext: destinationContext });
    expect(KeyId).toBe(otherKeyArn);
    expect(Buffer.from(Plaintext).equals(PLAINTEXT)).toBe(true);
  });
});
