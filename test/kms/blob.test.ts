import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import {
  HEADER_LENGTH,
  IV_LENGTH,
  MAX_BLOB_LENGTH,
  MIN_BLOB_LENGTH,
  TAG_LENGTH,
  assembleCiphertextBlob,
  blobAad,
  encodeBlobHeader,
  parseCiphertextBlob,
} from '../../src/kms/blob.js';
import { encodeEncryptionContext } from '../../src/kms/context.js';

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Builds a blob whose ciphertext part has `ciphertextLength` bytes of filler. */
function blobWithCiphertextLength(ciphertextLength: number): Uint8Array {
  const ivCiphertextTag = Buffer.alloc(IV_LENGTH + ciphertextLength + TAG_LENGTH, 0xab);
  return assembleCiphertextBlob(encodeBlobHeader(KEY_ID, 1), ivCiphertextTag);
}

function errorNamed(name: string): unknown {
  return expect.objectContaining({ name });
}

describe('blob constants', () => {
  it('match the documented layout', () => {
    expect(HEADER_LENGTH).toBe(23);
    expect(IV_LENGTH).toBe(12);
    expect(TAG_LENGTH).toBe(16);
    expect(MIN_BLOB_LENGTH).toBe(52);
    expect(MAX_BLOB_LENGTH).toBe(4147);
  });
});

describe('encodeBlobHeader()', () => {
  it('writes magic, version, key ID and backing-key version', () => {
    const header = encodeBlobHeader(KEY_ID, 0x01020304);
    expect(hex(header)).toBe('484b01' + '1234abcd12ab34cd56ef1234567890ab' + '01020304');
  });

  it('accepts the uint32 bounds', () => {
    expect(hex(encodeBlobHeader(KEY_ID, 0)).slice(-8)).toBe('00000000');
    expect(hex(encodeBlobHeader(KEY_ID, 0xffffffff)).slice(-8)).toBe('ffffffff');
  });

  it('rejects versions outside uint32', () => {
    for (const version of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => encodeBlobHeader(KEY_ID, version), String(version)).toThrow(TypeError);
    }
  });

  it('rejects a malformed key ID', () => {
    expect(() => encodeBlobHeader('alias/foo', 1)).toThrow(TypeError);
  });
});

describe('blobAad()', () => {
  it('concatenates header and encoded context', () => {
    const header = encodeBlobHeader(KEY_ID, 1);
    const context = encodeEncryptionContext({ a: 'b' });
    expect(hex(blobAad(header, context))).toBe(hex(header) + hex(context));
  });
});

describe('assembleCiphertextBlob() and parseCiphertextBlob()', () => {
  it('round-trip every field', () => {
    const header = encodeBlobHeader(KEY_ID, 42);
    const iv = Buffer.alloc(IV_LENGTH, 0x11);
    const ciphertextAndTag = Buffer.alloc(5 + TAG_LENGTH, 0x22);
    const blob = assembleCiphertextBlob(header, Buffer.concat([iv, ciphertextAndTag]));

    expect(blob.length).toBe(HEADER_LENGTH + IV_LENGTH + 5 + TAG_LENGTH);
    const parsed = parseCiphertextBlob(blob);
    expect(parsed.keyId).toBe(KEY_ID);
    expect(parsed.backingKeyVersion).toBe(42);
    expect(hex(parsed.header)).toBe(hex(header));
    expect(hex(parsed.iv)).toBe(hex(iv));
    expect(hex(parsed.ciphertextAndTag)).toBe(hex(ciphertextAndTag));
    expect(hex(parsed.ivCiphertextTag)).toBe(hex(iv) + hex(ciphertextAndTag));
  });

  it('parses a blob inside a larger buffer', () => {
    const blob = blobWithCiphertextLength(3);
    const padded = Buffer.concat([Buffer.alloc(7), blob, Buffer.alloc(5)]);
    const parsed = parseCiphertextBlob(padded.subarray(7, 7 + blob.length));
    expect(parsed.keyId).toBe(KEY_ID);
    expect(parsed.ciphertextAndTag.length).toBe(3 + TAG_LENGTH);
  });

  it('binds header and context through AES-GCM', () => {
    const key = randomBytes(32);
    const header = encodeBlobHeader(KEY_ID, 1);
    const context = encodeEncryptionContext({ purpose: 'test' });
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(blobAad(header, context));
    const ciphertext = Buffer.concat([cipher.update('hello'), cipher.final()]);
    const blob = assembleCiphertextBlob(header, Buffer.concat([iv, ciphertext, cipher.getAuthTag()]));

    const decrypt = (aad: Uint8Array): string => {
      const parsed = parseCiphertextBlob(blob);
      const body = parsed.ciphertextAndTag;
      const decipher = createDecipheriv('aes-256-gcm', key, parsed.iv);
      decipher.setAAD(aad);
      decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_LENGTH)), decipher.final()]).toString();
    };
    const parsedHeader = parseCiphertextBlob(blob).header;
    expect(decrypt(blobAad(parsedHeader, context))).toBe('hello');
    expect(() => decrypt(blobAad(parsedHeader, encodeEncryptionContext({ purpose: 'other' })))).toThrow();
    expect(() => decrypt(blobAad(encodeBlobHeader(KEY_ID, 2), context))).toThrow();
  });

  it('accepts the minimum and maximum ciphertext lengths', () => {
    expect(parseCiphertextBlob(blobWithCiphertextLength(1)).ciphertextAndTag.length).toBe(17);
    expect(parseCiphertextBlob(blobWithCiphertextLength(4096)).ciphertextAndTag.length).toBe(4112);
  });

  it('rejects encrypt output of impossible length', () => {
    const header = encodeBlobHeader(KEY_ID, 1);
    expect(() => assembleCiphertextBlob(header, Buffer.alloc(IV_LENGTH + TAG_LENGTH))).toThrow(
      errorNamed('KMSInternalException'),
    );
    expect(() => assembleCiphertextBlob(header, Buffer.alloc(IV_LENGTH + 4097 + TAG_LENGTH))).toThrow(
      errorNamed('KMSInternalException'),
    );
    expect(() => assembleCiphertextBlob(header.subarray(1), Buffer.alloc(40))).toThrow(
      errorNamed('KMSInternalException'),
    );
  });
});

describe('parseCiphertextBlob() rejects', () => {
  it('non-Uint8Array values with ValidationException', () => {
    const values: unknown[] = ['SEtBQUFB', new ArrayBuffer(60), Array.from({ length: 60 }, () => 0), undefined];
    for (const value of values) {
      expect(() => parseCiphertextBlob(value)).toThrow(errorNamed('ValidationException'));
    }
  });

  it('an empty blob with ValidationException', () => {
    expect(() => parseCiphertextBlob(new Uint8Array(0))).toThrow(
      expect.objectContaining({
        name: 'ValidationException',
        message:
          "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: " +
          'Member must have length greater than or equal to 1',
      }),
    );
  });

  it('a blob over 6144 bytes with ValidationException', () => {
    const blob = Buffer.alloc(6145);
    blob.set([0x48, 0x4b, 0x01]);
    expect(() => parseCiphertextBlob(blob)).toThrow(
      expect.objectContaining({
        name: 'ValidationException',
        message: expect.stringContaining('Member must have length less than or equal to 6144'),
      }),
    );
  });

  it('one byte over the maximum with InvalidCiphertextException', () => {
    const blob = Buffer.concat([blobWithCiphertextLength(4096), Buffer.of(0)]);
    expect(blob.length).toBe(MAX_BLOB_LENGTH + 1);
    expect(() => parseCiphertextBlob(blob)).toThrow(
      expect.objectContaining({ name: 'InvalidCiphertextException', message: expect.stringContaining('4148 bytes long') }),
    );
  });

  it('one byte under the minimum with InvalidCiphertextException', () => {
    const blob = blobWithCiphertextLength(1).subarray(0, MIN_BLOB_LENGTH - 1);
    expect(() => parseCiphertextBlob(blob)).toThrow(errorNamed('InvalidCiphertextException'));
  });

  it('blobs too short for the magic', () => {
    expect(() => parseCiphertextBlob(Buffer.of(0x48, 0x4b))).toThrow(errorNamed('InvalidCiphertextException'));
  });

  it('wrong magic', () => {
    const blob = Buffer.from(blobWithCiphertextLength(8));
    blob[0] = 0x01;
    expect(() => parseCiphertextBlob(blob)).toThrow(
      expect.objectContaining({
        name: 'InvalidCiphertextException',
        message: expect.stringContaining('does not start with the hsm-kms magic bytes'),
      }),
    );
  });

  it('an unknown format version', () => {
    const blob = Buffer.from(blobWithCiphertextLength(8));
    blob[2] = 0x02;
    expect(() => parseCiphertextBlob(blob)).toThrow(
      expect.objectContaining({
        name: 'InvalidCiphertextException',
        message: expect.stringContaining('format version 2 is not supported'),
      }),
    );
  });

  it('without showing blob bytes in the message', () => {
    const blob = Buffer.from(blobWithCiphertextLength(8));
    blob[2] = 0x09;
    try {
      parseCiphertextBlob(blob);
      expect.unreachable('parseCiphertextBlob accepted a blob with version 9');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).not.toContain(hex(blob).slice(0, 16));
      expect(message).not.toContain(KEY_ID);
      expect(message).not.toContain(blob.toString('base64').slice(0, 16));
    }
  });

  it('using the given field name', () => {
    expect(() => parseCiphertextBlob('x', 'SourceCiphertextBlob')).toThrow(
      expect.objectContaining({ message: expect.stringContaining("at 'sourceCiphertextBlob'") }),
    );
  });
});
