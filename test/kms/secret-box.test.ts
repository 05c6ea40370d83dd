import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { LOCAL_SECRET_KEY_FILE, SecretBox } from '../../src/kms/secret-box.js';
import { messageOf } from '../helpers/errors.js';

const SECRET = Buffer.from('kmsuser-Pa55word');
const ASSOCIATED_DATA = 'custom-key-store-password:cks-00000000000000001';

let dataDir: string;

beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsm-kms-secret-box-'));
});

afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('SecretBox.open()', () => {
  it('creates a 32-byte key file with mode 0600', () => {
    SecretBox.open(dataDir);
    const keyPath = path.join(dataDir, LOCAL_SECRET_KEY_FILE);
    expect(fs.statSync(keyPath).size).toBe(32);
    expect(fs.statSync(keyPath).mode & 0o777).toBe(0o600);
  });

  it('leaves no temporary files behind', () => {
    SecretBox.open(dataDir);
    SecretBox.open(dataDir);
    expect(fs.readdirSync(dataDir)).toEqual([LOCAL_SECRET_KEY_FILE]);
  });

  it('reuses the existing key', () => {
    const sealed = SecretBox.open(dataDir).seal(SECRET, ASSOCIATED_DATA);
    const keyBefore = fs.readFileSync(path.join(dataDir, LOCAL_SECRET_KEY_FILE));

    const unsealed = SecretBox.open(dataDir).unseal(sealed, ASSOCIATED_DATA);
    expect(unsealed.equals(SECRET)).toBe(true);
    expect(fs.readFileSync(path.join(dataDir, LOCAL_SECRET_KEY_FILE)).equals(keyBefore)).toBe(true);
  });

  it('rejects a key file of the wrong length', () => {
    fs.writeFileSync(path.join(dataDir, LOCAL_SECRET_KEY_FILE), Buffer.alloc(31));
    expect(() => SecretBox.open(dataDir)).toThrow(/is 31 bytes long instead of 32/);
  });

  it('fails for a missing directory', () => {
    expect(() => SecretBox.open(path.join(dataDir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe('SecretBox seal and unseal', () => {
  it('round-trip a secret', () => {
    const box = SecretBox.open(dataDir);
    const sealed = box.seal(SECRET, ASSOCIATED_DATA);
    expect(sealed.length).toBe(1 + 12 + SECRET.length + 16);
    expect(sealed[0]).toBe(0x01);
    expect(sealed.includes(SECRET)).toBe(false);
    expect(box.unseal(sealed, ASSOCIATED_DATA).equals(SECRET)).toBe(true);
  });

  it('uses a fresh IV for every seal', () => {
    const box = SecretBox.open(dataDir);
    expect(box.seal(SECRET, ASSOCIATED_DATA).equals(box.seal(SECRET, ASSOCIATED_DATA))).toBe(false);
  });

  it('seals an empty secret', () => {
    const box = SecretBox.open(dataDir);
    expect(box.unseal(box.seal(Buffer.alloc(0), ASSOCIATED_DATA), ASSOCIATED_DATA).length).toBe(0);
  });

  it('rejects other associated data', () => {
    const box = SecretBox.open(dataDir);
    const sealed = box.seal(SECRET, ASSOCIATED_DATA);
    expect(() => box.unseal(sealed, 'custom-key-store-password:cks-00000000000000002')).toThrow(
      expect.objectContaining({ name: 'KMSInternalException', message: expect.stringContaining('Cannot unseal') }),
    );
  });

  it('rejects a value sealed under another key file', () => {
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsm-kms-secret-box-other-'));
    try {
      const sealed = SecretBox.open(otherDir).seal(SECRET, ASSOCIATED_DATA);
      const message = messageOf(() => SecretBox.open(dataDir).unseal(sealed, ASSOCIATED_DATA));
      expect(message).toContain(`${LOCAL_SECRET_KEY_FILE} is not the key it was sealed with`);
      expect(message).not.toContain(SECRET.toString());
    } finally {
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('rejects a tampered value', () => {
    const box = SecretBox.open(dataDir);
    const sealed = box.seal(SECRET, ASSOCIATED_DATA);
    sealed[20] = (sealed[20] ?? 0) ^ 0x01;
    expect(() => box.unseal(sealed, ASSOCIATED_DATA)).toThrow(expect.objectContaining({ name: 'KMSInternalException' }));
  });

  it('rejects malformed values', () => {
    const box = SecretBox.open(dataDir);
    const wrongVersion = box.seal(SECRET, ASSOCIATED_DATA);
    wrongVersion[0] = 0x02;
    for (const sealed of [Buffer.alloc(0), Buffer.alloc(28, 1), wrongVersion]) {
      expect(() => box.unseal(sealed, ASSOCIATED_DATA)).toThrow(
        expect.objectContaining({ name: 'KMSInternalException', message: 'A sealed secret in the metadata database is malformed.' }),
      );
    }
  });
});
