// Copying keys between tokens under a trusted wrapping key.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWrappingKey, openHsm, Pkcs11Error, type Hsm } from '../../src/native.js';
import { useTestTokens, type TestTokens } from '../helpers/tokens.js';

let tokens: TestTokens;
let source: Hsm;
let destination: Hsm;
const wrappingKeyId = Buffer.from('test-wrapping-key');
const aad = Buffer.from('replication aad');

beforeAll(async () => {
  tokens = useTestTokens('replication', 2);
  const value = randomBytes(32);
  for (const tokenLabel of tokens.tokenLabels) {
    const created = await createWrappingKey({
      module: tokens.modulePath,
      tokenLabel,
      soPin: Buffer.from(tokens.soPin),
      keyId: wrappingKeyId,
      label: 'test wrapping key',
      value,
    });
    expect(created).toBe(true);
  }
  const again = await createWrappingKey({
    module: tokens.modulePath,
    tokenLabel: 'replication-0',
    soPin: Buffer.from(tokens.soPin),
    keyId: wrappingKeyId,
    label: 'test wrapping key',
    value,
  });
  expect(again).toBe(false);
  value.fill(0);
  source = await openHsm({ module: tokens.modulePath, tokenLabel: 'replication-0', pin: tokens.pin });
  destination = await openHsm({ module: tokens.modulePath, tokenLabel: 'replication-1', pin: tokens.pin });
});

afterAll(async () => {
  await source?.close();
  await destination?.close();
});

describe('Hsm replicateKey', () => {
  it('copies a key that then decrypts the source ciphertext', async () => {
    const keyId = Buffer.from('replicated-key-1');
    await source.generateKey(keyId, Buffer.from('replicated key'), true);
    const sealed = await source.encrypt(keyId, aad, Buffer.from('made on the source'));

    expect(await source.replicateKey(keyId, wrappingKeyId, destination, Buffer.from('replicated key'))).toBe(true);

    const opened = await destination.decrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12));
    expect(opened.toString()).toBe('made on the source');
  });

  it('keeps the copy sensitive and wrappable only under trusted keys', async () => {
    const keyId = Buffer.from('replicated-key-2');
    await source.generateKey(keyId, Buffer.from('replicated key 2'), true);
    await source.replicateKey(keyId, wrappingKeyId, destination, Buffer.from('replicated key 2'));

    const copy = await destination.keyAttributes(keyId);
    expect(copy.sensitive).toBe(true);
    expect(copy.wrapWithTrusted).toBe(true);
    expect(copy.private).toBe(true);
    expect(copy.wrap).toBe(false);
    expect(copy.label).toBe('replicated key 2');
  });

  it('reports false when the destination already has the key', async () => {
    const keyId = Buffer.from('replicated-key-3');
    await source.generateKey(keyId, Buffer.from('k3'), true);
    expect(await source.replicateKey(keyId, wrappingKeyId, destination, Buffer.from('k3'))).toBe(true);
    expect(await source.replicateKey(keyId, wrappingKeyId, destination, Buffer.from('k3'))).toBe(false);
  });

  it('cannot copy a key that is not replicable', async () => {
    const keyId = Buffer.from('local-only-key');
    await source.generateKey(keyId, Buffer.from('local only'));
    const error = await source.replicateKey(keyId, wrappingKeyId, destination, Buffer.from('x')).catch((reason) => reason);
    expect(error).toBeInstanceOf(Pkcs11Error);
    expect(error.code).toBe('CKR_KEY_UNEXTRACTABLE');
    expect(await destination.hasKey(keyId)).toBe(false);
  });

  it('reports a missing wrapping key as not found', async () => {
    const keyId = Buffer.from('replicated-key-4');
    await source.generateKey(keyId, Buffer.from('k4'), true);
    const error = await source
      .replicateKey(keyId, Buffer.from('no-such-wrapping-key'), destination, Buffer.from('k4'))
      .catch((reason) => reason);
    expect(error.category).toBe('not-found');
    expect(error.message).toContain('No wrapping key with this CKA_ID');
  });
});

describe('createWrappingKey', () => {
  it('rejects SO login while users are logged in', async () => {
    const created = await createWrappingKey({
      module: tokens.modulePath,
      tokenLabel: 'replication-0',
      soPin: Buffer.from(tokens.soPin),
      keyId: wrappingKeyId,
      label: 'again',
      value: randomBytes(32),
    }).catch((reason) => reason);
    // The token has user sessions open in this process, so the SO cannot log in.
    expect(created).toBeInstanceOf(Pkcs11Error);
    expect(created.code).toBe('CKR_USER_ANOTHER_ALREADY_LOGGED_IN');
  });
});
