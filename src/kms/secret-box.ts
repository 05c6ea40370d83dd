/**
 * Local encryption of secrets that must be stored on disk, such as the
 * KeyStorePassword of a custom key store, so that metadata.db never contains
 * them in clear.
 *
 * Secrets are sealed with AES-256-GCM under a random 32-byte key in
 * `<dataDir>/local-secret.key`. This protects against a leaked or backed-up
 * database file, not against someone who can read the whole data directory.
 *
 * Sealed format: version byte 0x01, 12-byte IV, ciphertext, 16-byte tag.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { debuglog } from 'node:util';

import { KMSInternalException } from './errors.js';

const log = debuglog('hsm-kms');

export const LOCAL_SECRET_KEY_FILE = 'local-secret.key';

const KEY_LENGTH = 32;
const SEALED_FORMAT_VERSION = 0x01;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const SEALED_OVERHEAD = 1 + IV_LENGTH + TAG_LENGTH;

export class SecretBox {
  readonly #key: KeyObject;

  private constructor(key: KeyObject) {
    this.#key = key;
  }

  /**
   * Opens the secret box of `dataDir`, creating `local-secret.key` with mode
   * 0600 if it does not exist. The directory must exist. Safe to call from
   * several processes at once: exactly one of them creates the key, and the
   * others read it.
   */
  static open(dataDir: string): SecretBox {
    const keyPath = path.join(dataDir, LOCAL_SECRET_KEY_FILE);
    const keyBytes = readKeyFile(keyPath) ?? createKeyFile(keyPath);
    try {
      return new SecretBox(createSecretKey(keyBytes));
    } finally {
      keyBytes.fill(0);
    }
  }

  /**
   * Encrypts `secret`. `associatedData` binds the sealed value to its use,
   * for example the custom key store ID, so that a sealed value copied to
   * another row fails to unseal.
   */
  seal(secret: Uint8Array, associatedData: string): Buffer {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_LENGTH });
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()]);
    return Buffer.concat([Buffer.of(SEALED_FORMAT_VERSION), iv, ciphertext, cipher.getAuthTag()]);
  }

  /**
   * Decrypts a value from seal with the same `associatedData`. The caller
   * must wipe the returned buffer (`buffer.fill(0)`) once it is done with it.
   * Raises KMSInternalException when the value is malformed or fails
   * authentication, which means it was sealed under another local-secret.key
   * or for another use.
   */
  unseal(sealed: Uint8Array, associatedData: string): Buffer {
    if (sealed.length < SEALED_OVERHEAD || sealed[0] !== SEALED_FORMAT_VERSION) {
      throw new KMSInternalException('A sealed secret in the metadata database is malformed.');
    }

    const iv = sealed.subarray(1, 1 + IV_LENGTH);
    const ciphertext = sealed.subarray(1 + IV_LENGTH, sealed.length - TAG_LENGTH);
    const tag = sealed.subarray(sealed.length - TAG_LENGTH);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_LENGTH });
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(tag);

    const plaintext = decipher.update(ciphertext);
    try {
      return Buffer.concat([plaintext, decipher.final()]);
    } catch (error) {
      throw new KMSInternalException(
        `Cannot unseal a stored secret: ${LOCAL_SECRET_KEY_FILE} is not the key it was sealed with, ` +
          'or the stored value was changed. Restore the original key file, or set the secret again ' +
          '(for a key store password, with UpdateCustomKeyStore).',
        { cause: error },
      );
    } finally {
      plaintext.fill(0);
    }
  }
}

/** Reads the key file, or returns undefined if it does not exist. */
function readKeyFile(keyPath: string): Buffer | undefined {
  let keyBytes: Buffer;
  try {
    keyBytes = fs.readFileSync(keyPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }

  if (keyBytes.length !== KEY_LENGTH) {
    const length = keyBytes.length;
    keyBytes.fill(0);
    throw new Error(
      `${keyPath} is ${length} bytes long instead of ${KEY_LENGTH}. ` +
        'Restore the original file; deleting it makes every stored key store password unreadable.',
    );
  }
  return keyBytes;
}

/**
 * Creates the key file atomically. The key is written to a temporary file
 * opened with O_EXCL and mode 0600 and then hard-linked to its final name.
 * link() fails with EEXIST when another process won the race, and readers
 * never see a partly written file.
 */
function createKeyFile(keyPath: string): Buffer {
  const keyBytes = randomBytes(KEY_LENGTH);
  const temporaryPath = `${keyPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const descriptor = fs.openSync(temporaryPath, 'wx', 0o600);
  try {
    fs.writeSync(descriptor, keyBytes);
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }

  try {
    fs.linkSync(temporaryPath, keyPath);
    log('created %s', keyPath);
    return keyBytes;
  } catch (error) {
    keyBytes.fill(0);
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }
    const existing = readKeyFile(keyPath);
    if (existing === undefined) {
      throw new Error(`${keyPath} disappeared while it was being opened`, { cause: error });
    }
    return existing;
  } finally {
    fs.unlinkSync(temporaryPath);
  }
}
