// The fault-injection PKCS#11 module between the addon and SoftHSM2: each
// fault mode, and how the addon recovers from it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HsmError, openHsm, Pkcs11Error, type Hsm } from '../../src/native.js';
import { CONTROL_FILE_BYTES, FaultControl, useFaultModule, type FaultMode } from '../helpers/fault-control.js';
import { useTestTokens, waitFor, type TestTokens } from '../helpers/tokens.js';

const keyId = Buffer.from('fault-key');
const otherKeyId = Buffer.from('fault-other-key');
const aad = Buffer.from('fault aad');

let tokens: TestTokens;
let control: FaultControl;
let faultModule: string;
/** Token fault-0, which most tests break. */
let first: Hsm;
/** Token fault-1, which shows that faults stay with their token. */
let second: Hsm;

beforeAll(async () => {
  tokens = useTestTokens('fault', 3);
  control = FaultControl.create(join(tokens.dir, 'fault-control'));
  faultModule = useFaultModule(control, tokens.modulePath);
  first = await openHsm({ module: faultModule, tokenLabel: 'fault-0', pin: tokens.pin });
  second = await openHsm({ module: faultModule, tokenLabel: 'fault-1', pin: tokens.pin });
  await first.generateKey(keyId, Buffer.from('fault key'));
  await first.generateKey(otherKeyId, Buffer.from('other fault key'));
  await second.generateKey(keyId, Buffer.from('fault key'));
});

afterEach(() => {
  control.clear();
});

afterAll(async () => {
  await first?.close();
  await second?.close();
  control?.close();
});

type NativeError = Error & { code?: string; function?: string; category?: string };

/** Returns the error that `promise` rejects with, and fails when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<NativeError> {
  try {
    await promise;
  } catch (error) {
    return error as NativeError;
  }
  throw new Error('expected the promise to reject');
}

/**
 * Retries a round trip until it succeeds: after a token comes back, the
 * addon reconnects on the first job after its reconnect backoff.
 */
async function waitForRoundTrip(hsm: Hsm): Promise<void> {
  await waitFor(async () => {
    try {
      await expectRoundTrip(hsm);
      return true;
    } catch {
      return false;
    }
  });
}

/** Encrypts and decrypts one message, which also caches the key's handles in the addon. */
async function expectRoundTrip(hsm: Hsm, message = 'fault message'): Promise<void> {
  const sealed = await hsm.encrypt(keyId, aad, Buffer.from(message));
  const opened = await hsm.decrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12));
  expect(opened.toString()).toBe(message);
}

describe('fault module without faults', () => {
  it('forwards crypto to SoftHSM2', async () => {
    await expectRoundTrip(first);

    expect((await first.generateRandom(32)).length).toBe(32);
    expect(await first.hasKey(keyId)).toBe(true);
    expect((await first.keyAttributes(keyId)).label).toBe('fault key');
    expect(first.token.label).toBe('fault-0');
    expect(first.token.manufacturer).toBe('SoftHSM project');
  });

  it('serves four sessions at once', async () => {
    // Other options than `second`, so the addon opens a new executor with
    // four threads that call the module concurrently.
    const wide = await openHsm({ module: faultModule, tokenLabel: 'fault-1', pin: tokens.pin, sessions: 4 });
    try {
      const sealed = await Promise.all(
        Array.from({ length: 2000 }, (_, index) => wide.encrypt(keyId, aad, Buffer.from(`message ${index}`))),
      );
      const opened = await Promise.all(
        sealed.map((buffer) => wide.decrypt(keyId, aad, buffer.subarray(0, 12), buffer.subarray(12))),
      );

      opened.forEach((plaintext, index) => expect(plaintext.toString()).toBe(`message ${index}`));
      // Each thread opens its session with its first job; which threads
      // took a batch depends on timing.
      expect(wide.stats().threads).toBe(4);
      expect(wide.stats().sessions).toBeLessThanOrEqual(4);
    } finally {
      await wide.close();
    }
  });
});

describe('fault modes', () => {
  const deviceModes: [FaultMode, string][] = [
    ['device-removed', 'CKR_DEVICE_REMOVED'],
    ['device-error', 'CKR_DEVICE_ERROR'],
  ];

  it.each(deviceModes)('%s fails calls until cleared', async (mode, code) => {
    await expectRoundTrip(first);
    const reconnects = first.stats().reconnects;
    control.setFault('fault-0', mode);

    // The addon treats the error as a lost token and reconnects at once, but
    // that reconnect fails at C_OpenSession, so the job fails without a retry.
    const error = await rejectionOf(first.encrypt(keyId, aad, Buffer.from('lost')));
    expect(error).toBeInstanceOf(Pkcs11Error);
    expect(error.code).toBe(code);
    expect(error.function).toBe('C_EncryptInit');
    expect(error.category).toBe('device');

    // Later jobs fail fast as a device failure while the reconnect backs off.
    const next = await rejectionOf(first.encrypt(keyId, aad, Buffer.from('still lost')));
    expect(next).toBeInstanceOf(HsmError);
    expect(next.category).toBe('device');
    expect(next.message).toContain('Token "fault-0" is unavailable');

    control.clear('fault-0');
    await waitForRoundTrip(first);
    expect(first.stats().reconnects).toBe(reconnects + 1);
  });

  it('session-handle-invalid fails the retry too', async () => {
    await expectRoundTrip(first);
    const reconnects = first.stats().reconnects;
    control.setFault('fault-0', 'session-handle-invalid');

    // The addon retries once on a new session, whose calls fail the same way.
    const error = await rejectionOf(first.encrypt(keyId, aad, Buffer.from('lost')));
    expect(error).toBeInstanceOf(Pkcs11Error);
    expect(error.code).toBe('CKR_SESSION_HANDLE_INVALID');
    expect(error.function).toBe('C_EncryptInit');
    expect(error.category).toBe('session');

    control.clear('fault-0');
    await expectRoundTrip(first);
    // A lost session is replaced without reconnecting to the token.
    expect(first.stats().reconnects).toBe(reconnects);
  });

  it('token-not-present hides the token from reconnects', async () => {
    await expectRoundTrip(first);
    const reconnects = first.stats().reconnects;
    control.setFault('fault-0', 'token-not-present');

    const error = await rejectionOf(first.encrypt(keyId, aad, Buffer.from('lost')));
    expect(error).toBeInstanceOf(Pkcs11Error);
    expect(error.code).toBe('CKR_TOKEN_NOT_PRESENT');
    expect(error.function).toBe('C_EncryptInit');
    expect(error.category).toBe('device');

    // The reconnect searches the slot list, which omits the token. A missing
    // token is a device failure, not a missing key.
    const next = await rejectionOf(first.encrypt(keyId, aad, Buffer.from('still lost')));
    expect(next).toBeInstanceOf(HsmError);
    expect(next.category).toBe('device');
    expect(next.message).toContain('Token "fault-0" is unavailable');
    expect(next.message).toContain('No token labelled "fault-0"');

    control.clear('fault-0');
    await waitForRoundTrip(first);
    expect(first.stats().reconnects).toBe(reconnects + 1);
  });

  it('token-not-present makes openHsm fail', async () => {
    // fault-2 has no executor yet, so openHsm must search the slots.
    control.setFault('fault-2', 'token-not-present');

    const error = await rejectionOf(openHsm({ module: faultModule, tokenLabel: 'fault-2', pin: tokens.pin }));
    expect(error).toBeInstanceOf(HsmError);
    expect(error.category).toBe('not-found');
    expect(error.message).toContain('No token labelled "fault-2"');

    control.clear('fault-2');
    const third = await openHsm({ module: faultModule, tokenLabel: 'fault-2', pin: tokens.pin });
    try {
      expect(third.token.label).toBe('fault-2');
      expect((await third.generateRandom(16)).length).toBe(16);
    } finally {
      await third.close();
    }
  });

  it('latency delays every call', async () => {
    await expectRoundTrip(first);
    control.setLatency('fault-0', 20_000);

    const started = performance.now();
    await first.encrypt(keyId, aad, Buffer.from('slow'));
    const elapsed = performance.now() - started;

    // An encryption with a cached key makes two delayed calls, C_EncryptInit
    // and C_Encrypt.
    expect(elapsed).toBeGreaterThanOrEqual(40);
  });

  it('hidden CKA_ID makes the key missing', async () => {
    const sealed = await first.encrypt(keyId, aad, Buffer.from('before hiding'));
    control.hideObjects('fault-0', [keyId]);

    expect(await first.hasKey(keyId)).toBe(false);
    expect(await first.hasKey(otherKeyId)).toBe(true);
    // The cached session copy of the key fails C_EncryptInit with
    // CKR_KEY_HANDLE_INVALID, and the addon's new search finds nothing.
    const error = await rejectionOf(first.encrypt(keyId, aad, Buffer.from('hidden')));
    expect(error).toBeInstanceOf(HsmError);
    expect(error.category).toBe('not-found');
    const decryptError = await rejectionOf(first.decrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12)));
    expect(decryptError).toBeInstanceOf(HsmError);
    expect(decryptError.category).toBe('not-found');

    control.clear('fault-0');
    expect(await first.hasKey(keyId)).toBe(true);
    const opened = await first.decrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12));
    expect(opened.toString()).toBe('before hiding');
  });

  it('faults of one token leave another alone', async () => {
    // Both tokens hold a key with CKA_ID keyId.
    control.setFault('fault-0', 'device-error');
    control.setLatency('fault-0', 2_000_000);
    control.hideObjects('fault-0', [keyId]);

    const started = performance.now();
    await expectRoundTrip(second);
    expect(await second.hasKey(keyId)).toBe(true);
    const elapsed = performance.now() - started;

    // Far below one call of fault-0, which would take 2 s.
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('FaultControl', () => {
  it('creates the file with its header', () => {
    const file = readFileSync(control.path);

    expect(file.length).toBe(CONTROL_FILE_BYTES);
    expect(file.subarray(0, 4).toString('latin1')).toBe('FKP1');
    expect(file.readUInt32LE(4)).toBe(1);
    expect(file.readUInt32LE(8)).toBe(16);
    expect(file.readUInt32LE(12)).toBe(336);
  });

  it('writes an entry at its fixed offset', () => {
    const scratch = FaultControl.create(join(tokens.dir, 'layout-control'));
    try {
      scratch.setFault('layout', 'device-error');
      scratch.hideObjects('layout', [Buffer.from([1, 2, 3])]);
      const entry = readFileSync(scratch.path).subarray(16, 16 + 336);

      expect(entry.readUInt32LE(0)).toBe(4); // two writes, each adding 2
      expect(entry.readUInt32LE(4)).toBe(2);
      expect(entry.readUInt32LE(12)).toBe(1);
      expect(entry.subarray(16, 22).toString()).toBe('layout');
      expect(entry.readUInt32LE(48)).toBe(3);
      expect([...entry.subarray(80, 84)]).toEqual([1, 2, 3, 0]);

      scratch.clear('layout');
      const cleared = readFileSync(scratch.path).subarray(16, 16 + 336);
      expect(cleared.readUInt32LE(0)).toBe(6);
      expect(cleared.subarray(4).every((byte) => byte === 0)).toBe(true);
    } finally {
      scratch.close();
    }
  });

  it('rejects an existing path', () => {
    expect(() => FaultControl.create(control.path)).toThrow(/does not exist yet/);
  });

  it('rejects invalid arguments', () => {
    const scratch = FaultControl.create(join(tokens.dir, 'invalid-control'));
    try {
      expect(() => scratch.setFault('x'.repeat(33), 'device-error')).toThrow(/Token label/);
      expect(() => scratch.setFault('   ', 'device-error')).toThrow(/Token label/);
      expect(() => scratch.setFault('t', 'unplugged' as FaultMode)).toThrow(/Unknown fault mode/);
      expect(() => scratch.setLatency('t', -1)).toThrow(/Latency -1/);
      expect(() => scratch.setLatency('t', 1.5)).toThrow(/Latency 1.5/);
      expect(() => scratch.hideObjects('t', Array.from({ length: 9 }, () => Buffer.from('id')))).toThrow(/at most 8/);
      expect(() => scratch.hideObjects('t', [Buffer.alloc(33)])).toThrow(/33 bytes/);
      expect(() => scratch.hideObjects('t', [Buffer.alloc(0)])).toThrow(/0 bytes/);

      for (let index = 0; index < 16; index++) scratch.setLatency(`token-${index}`, 0);
      expect(() => scratch.setLatency('token-16', 0)).toThrow(/already set for 16 tokens/);
    } finally {
      scratch.close();
    }
  });
});
