// AES-256-GCM, keys and random numbers inside a real SoftHSM2 token.
import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmError, openHsm, Pkcs11Error, type Hsm } from '../../src/native.js';
import { useTestTokens, type TestTokens } from '../helpers/tokens.js';

let tokens: TestTokens;
let hsm: Hsm;
let otherHsm: Hsm;
const keyId = Buffer.from('gcm-test-key-1');
const otherKeyId = Buffer.from('gcm-test-key-2');
const aad = Buffer.from('header and context');

beforeAll(async () => {
  tokens = useTestTokens('gcm', 3);
  hsm = await openHsm({ module: tokens.modulePath, tokenLabel: 'gcm-0', pin: tokens.pin });
  otherHsm = await openHsm({ module: tokens.modulePath, tokenLabel: 'gcm-1', pin: tokens.pin });
  await hsm.generateKey(keyId, Buffer.from('arn:test:key-1'));
  await otherHsm.generateKey(otherKeyId, Buffer.from('arn:test:key-2'));
});

afterAll(async () => {
  await hsm?.close();
  await otherHsm?.close();
});

function split(sealed: Buffer): { iv: Buffer; body: Buffer } {
  return { iv: sealed.subarray(0, 12), body: sealed.subarray(12) };
}

async function expectRejection(promise: Promise<unknown>): Promise<Pkcs11Error & HsmError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Pkcs11Error & HsmError;
}

describe('Hsm encrypt and decrypt', () => {
  it.each([1, 16, 4096, randomInt(2, 4096), randomInt(2, 4096)])('round-trips %i bytes', async (size) => {
    const plaintext = randomBytes(size);
    const sealed = await hsm.encrypt(keyId, aad, plaintext);
    expect(sealed.length).toBe(12 + size + 16);

    const { iv, body } = split(sealed);
    const opened = await hsm.decrypt(keyId, aad, iv, body);
    expect(opened.equals(plaintext)).toBe(true);
  });

  it('round-trips an empty plaintext', async () => {
    const sealed = await hsm.encrypt(keyId, aad, Buffer.alloc(0));
    expect(sealed.length).toBe(12 + 16);
    const opened = await hsm.decrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12));
    expect(opened.length).toBe(0);
  });

  it('uses a fresh IV for every encryption', async () => {
    const plaintext = Buffer.from('same input');
    const first = await hsm.encrypt(keyId, aad, plaintext);
    const second = await hsm.encrypt(keyId, aad, plaintext);
    expect(first.subarray(0, 12).equals(second.subarray(0, 12))).toBe(false);
  });

  it.each([
    ['tag', (sealed: Buffer) => (sealed[sealed.length - 1] ^= 0x01)],
    ['IV', (sealed: Buffer) => (sealed[0] ^= 0x80)],
    ['ciphertext', (sealed: Buffer) => (sealed[12] ^= 0x01)],
  ])('rejects a changed %s as an authentication failure', async (_part, tamper) => {
    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('attack at dawn'));
    tamper(sealed);
    const { iv, body } = split(sealed);

    const error = await expectRejection(hsm.decrypt(keyId, aad, iv, body));
    expect(error).toBeInstanceOf(Pkcs11Error);
    expect(error.function).toBe('C_Decrypt');
    expect(error.category).toBe('authentication');
    expect(error.message).toContain('the AES-GCM tag did not verify');
  });

  it('carries nothing from one request into the next', async () => {
    // The addon reuses the native buffers of settled requests. A large
    // request with every optional part, then small ones without them, must
    // give outputs of exactly their own size and content.
    const large = randomBytes(1000);
    const prefix = Buffer.from('prefix-bytes');
    const tail = Buffer.from('aad-tail');
    const sealedLarge = await hsm.encrypt(keyId, aad, large, tail, prefix);
    expect(sealedLarge.subarray(0, prefix.length).equals(prefix)).toBe(true);
    expect(sealedLarge.length).toBe(prefix.length + 12 + 1000 + 16);

    const small = Buffer.from('tiny');
    const sealedSmall = await hsm.encrypt(keyId, aad, small);
    expect(sealedSmall.length).toBe(12 + 4 + 16);

    const bodyLarge = sealedLarge.subarray(prefix.length);
    const openedLarge = await hsm.decrypt(keyId, aad, bodyLarge.subarray(0, 12), bodyLarge.subarray(12), tail);
    expect(openedLarge.equals(large)).toBe(true);
    const openedSmall = await hsm.decrypt(keyId, aad, sealedSmall.subarray(0, 12), sealedSmall.subarray(12));
    expect(openedSmall.toString()).toBe('tiny');
  });

  it('rejects changed AAD as an authentication failure', async () => {
    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('attack at dawn'));
    const { iv, body } = split(sealed);

    const error = await expectRejection(hsm.decrypt(keyId, Buffer.from('header and contexT'), iv, body));
    expect(error.category).toBe('authentication');
  });

  it('keeps working after failed decryptions', async () => {
    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('still fine'));
    const { iv, body } = split(sealed);
    await expectRejection(hsm.decrypt(keyId, Buffer.from('x'), iv, body));

    const opened = await hsm.decrypt(keyId, aad, iv, body);
    expect(opened.toString()).toBe('still fine');
  });

  it('rejects empty AAD before calling the token', () => {
    expect(() => hsm.encrypt(keyId, Buffer.alloc(0), Buffer.from('x'))).toThrow(RangeError);
  });

  it('rejects an IV of the wrong length', () => {
    expect(() => hsm.decrypt(keyId, aad, Buffer.alloc(16), Buffer.alloc(32))).toThrow(
      'Expected iv to have 12 to 12 bytes, but it has 16',
    );
  });

  it('rejects a string where bytes are expected', () => {
    expect(() => hsm.encrypt(keyId, aad, 'text' as unknown as Uint8Array)).toThrow(
      'Expected plaintext to be a Uint8Array',
    );
  });

  it('reports an unknown key as not found', async () => {
    const error = await expectRejection(hsm.encrypt(Buffer.from('no-such-key'), aad, Buffer.from('x')));
    expect(error).toBeInstanceOf(HsmError);
    expect(error.category).toBe('not-found');
  });
});

describe('Hsm keys', () => {
  it('generates keys that are sensitive and not extractable', async () => {
    const attributes = await hsm.keyAttributes(keyId);
    expect(attributes).toEqual({
      label: 'arn:test:key-1',
      valueLength: 32,
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      alwaysSensitive: true,
      neverExtractable: true,
      encrypt: true,
      decrypt: true,
      wrap: false,
      unwrap: false,
      sign: false,
      verify: false,
      derive: false,
      wrapWithTrusted: false,
    });
  });

  it('refuses a second key with the same CKA_ID', async () => {
    const error = await expectRejection(hsm.generateKey(keyId, Buffer.from('again')));
    expect(error).toBeInstanceOf(HsmError);
    expect(error.category).toBe('input');
  });

  it('destroys a key, after which it is not found', async () => {
    const doomed = Buffer.from('doomed-key');
    await hsm.generateKey(doomed, Buffer.from('doomed'));
    await hsm.encrypt(doomed, aad, Buffer.from('warm the cache'));

    expect(await hsm.destroyKey(doomed)).toBe(true);
    expect(await hsm.hasKey(doomed)).toBe(false);
    expect(await hsm.destroyKey(doomed)).toBe(false);
    const error = await expectRejection(hsm.encrypt(doomed, aad, Buffer.from('x')));
    expect(error.category).toBe('not-found');
  });
});

describe('Hsm reEncrypt', () => {
  it('moves a ciphertext to a key in the same token', async () => {
    const second = Buffer.from('gcm-test-key-3');
    await hsm.generateKey(second, Buffer.from('arn:test:key-3'));
    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('move me'));
    const { iv, body } = split(sealed);

    const moved = await hsm.reEncrypt(keyId, aad, iv, body, hsm, second, Buffer.from('new aad'));
    const opened = await hsm.decrypt(second, Buffer.from('new aad'), moved.subarray(0, 12), moved.subarray(12));
    expect(opened.toString()).toBe('move me');
  });

  it('moves a ciphertext to a key in another token', async () => {
    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('cross token'));
    const { iv, body } = split(sealed);

    const moved = await hsm.reEncrypt(keyId, aad, iv, body, otherHsm, otherKeyId, aad);
    const opened = await otherHsm.decrypt(otherKeyId, aad, moved.subarray(0, 12), moved.subarray(12));
    expect(opened.toString()).toBe('cross token');
  });

  it('fails as an authentication failure when the source AAD is wrong', async () => {
    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('x'));
    const { iv, body } = split(sealed);
    const error = await expectRejection(hsm.reEncrypt(keyId, Buffer.from('y'), iv, body, otherHsm, otherKeyId, aad));
    expect(error.category).toBe('authentication');
  });
});

describe('Hsm random and data keys', () => {
  it('returns the requested number of random bytes', async () => {
    const first = await hsm.generateRandom(1024);
    const second = await hsm.generateRandom(1024);
    expect(first.length).toBe(1024);
    expect(first.equals(second)).toBe(false);
  });

  it('generates a data key whose ciphertext decrypts to its plaintext', async () => {
    const dataKey = await hsm.generateDataKey(keyId, aad, 32, true);
    expect(dataKey.plaintext?.length).toBe(32);
    const opened = await hsm.decrypt(keyId, aad, dataKey.ciphertext.subarray(0, 12), dataKey.ciphertext.subarray(12));
    expect(opened.equals(dataKey.plaintext!)).toBe(true);
  });

  it('requires a boolean returnPlaintext', () => {
    expect(() => hsm.generateDataKey(keyId, aad, 32, 'false' as unknown as boolean)).toThrow(
      'Expected returnPlaintext to be a boolean',
    );
  });

  it('omits the plaintext when not asked for', async () => {
    const dataKey = await hsm.generateDataKey(keyId, aad, 64, false);
    expect(dataKey.plaintext).toBeUndefined();
    expect(dataKey.ciphertext.length).toBe(12 + 64 + 16);
  });
});

describe('openHsm', () => {
  it('rejects a wrong PIN with CKR_PIN_INCORRECT from C_Login', async () => {
    const error = await expectRejection(openHsm({ module: tokens.modulePath, tokenLabel: 'gcm-2', pin: 'wrong-pin' }));
    expect(error).toBeInstanceOf(Pkcs11Error);
    expect(error.code).toBe('CKR_PIN_INCORRECT');
    expect(error.function).toBe('C_Login');
    expect(error.message).not.toContain('wrong-pin');
  });

  it('rejects a wrong PIN for a token this process is logged in to', async () => {
    const error = await expectRejection(
      openHsm({ module: tokens.modulePath, tokenLabel: 'gcm-1', pin: 'wrong-pin', sessions: 3 }),
    );
    expect(error).toBeInstanceOf(Pkcs11Error);
    expect(error.code).toBe('CKR_PIN_INCORRECT');
  });

  it('reports a missing token as not found', async () => {
    const error = await expectRejection(openHsm({ module: tokens.modulePath, tokenLabel: 'no-such-token', pin: tokens.pin }));
    expect(error).toBeInstanceOf(HsmError);
    expect(error.category).toBe('not-found');
    expect(error.message).toContain('no-such-token');
  });

  it('reports a module that cannot be loaded', async () => {
    const error = await expectRejection(openHsm({ module: '/nonexistent/libpkcs11.so', tokenLabel: 'x', pin: '1234' }));
    expect(error).toBeInstanceOf(HsmError);
    expect(error.message).toContain('Cannot load the PKCS#11 module /nonexistent/libpkcs11.so');
  });

  it('works with token objects instead of session copies', async () => {
    const direct = await openHsm({
      module: tokens.modulePath,
      tokenLabel: 'gcm-1',
      pin: tokens.pin,
      sessionKeyCopies: false,
    });
    const sealed = await direct.encrypt(otherKeyId, aad, Buffer.from('direct'));
    const opened = await direct.decrypt(otherKeyId, aad, sealed.subarray(0, 12), sealed.subarray(12));
    expect(opened.toString()).toBe('direct');
    expect(direct.stats().completed).toBe(2);
    await direct.close();
  });

  it('rejects calls after close without touching the token', async () => {
    const closing = await openHsm({ module: tokens.modulePath, tokenLabel: 'gcm-1', pin: tokens.pin, sessions: 2 });
    await closing.close();
    expect(closing.isOpen).toBe(false);
    const error = await expectRejection(closing.encrypt(otherKeyId, aad, Buffer.from('x')));
    expect(error.category).toBe('closed');
    expect(() => closing.stats()).toThrow(expect.objectContaining({ name: 'HsmError', category: 'closed' }));

    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('x'));
    const moved = hsm.reEncrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12), closing, otherKeyId, aad);
    expect((await expectRejection(moved)).category).toBe('closed');
  });
});
