/**
 * The ciphertext blob that Encrypt, GenerateDataKey and ReEncrypt return.
 *
 * Layout, with integers big-endian:
 *
 *   offset  length  content
 *        0       2  magic 0x48 0x4B ('HK')
 *        2       1  format version 0x01
 *        3      16  key ID as raw UUID bytes
 *       19       4  backing-key version (uint32)
 *       23      12  AES-GCM IV
 *       35     n+16 ciphertext (n = 1 to 4096 bytes) followed by the 16-byte GCM tag
 *
 * Bytes 0 to 22 form the header. The header is authenticated as part of the
 * GCM AAD, followed by the encoded encryption context, so changing the key ID
 * or version makes decryption fail. The encryption context itself is not
 * stored: the caller supplies it again on Decrypt, as with AWS KMS.
 */
import { InvalidCiphertextException, KMSInternalException } from './errors.js';
import { keyIdFromBytes, keyIdToBytes } from './identifiers.js';
import { MAX_PLAINTEXT_LENGTH, validateCiphertextBlobMember } from './validation.js';

export const BLOB_MAGIC = Uint8Array.of(0x48, 0x4b);
export const BLOB_FORMAT_VERSION = 0x01;
export const HEADER_LENGTH = 23;
export const IV_LENGTH = 12;
export const TAG_LENGTH = 16;

const KEY_ID_OFFSET = 3;
const BACKING_KEY_VERSION_OFFSET = 19;
const MAX_BACKING_KEY_VERSION = 0xffff_ffff;

/** Bounds of the ciphertext-plus-tag part: 1 to 4096 bytes of ciphertext, then the tag. */
export const MIN_CIPHERTEXT_AND_TAG_LENGTH = 1 + TAG_LENGTH;
export const MAX_CIPHERTEXT_AND_TAG_LENGTH = MAX_PLAINTEXT_LENGTH + TAG_LENGTH;

/** Total blob length bounds: 52 to 4147 bytes. */
export const MIN_BLOB_LENGTH = HEADER_LENGTH + IV_LENGTH + MIN_CIPHERTEXT_AND_TAG_LENGTH;
export const MAX_BLOB_LENGTH = HEADER_LENGTH + IV_LENGTH + MAX_CIPHERTEXT_AND_TAG_LENGTH;

export interface ParsedCiphertextBlob {
  /** Bytes 0 to 22, the first part of the GCM AAD. */
  readonly header: Uint8Array;
  readonly keyId: string;
  readonly backingKeyVersion: number;
  readonly iv: Uint8Array;
  readonly ciphertextAndTag: Uint8Array;
  /** IV, ciphertext and tag in one view: the same layout that the native encrypt returns. */
  readonly ivCiphertextTag: Uint8Array;
}

/** Encodes the 23-byte blob header for a key ID and backing-key version (uint32). */
export function encodeBlobHeader(keyId: string, backingKeyVersion: number): Uint8Array {
  if (!Number.isInteger(backingKeyVersion) || backingKeyVersion < 0 || backingKeyVersion > MAX_BACKING_KEY_VERSION) {
    throw new TypeError(`Expected a uint32 backing-key version but received ${backingKeyVersion}`);
  }

  const header = Buffer.alloc(HEADER_LENGTH);
  header.set(BLOB_MAGIC, 0);
  header[2] = BLOB_FORMAT_VERSION;
  header.set(keyIdToBytes(keyId), KEY_ID_OFFSET);
  header.writeUInt32BE(backingKeyVersion, BACKING_KEY_VERSION_OFFSET);
  return header;
}

/** Concatenates the blob header and the encoded encryption context into the GCM AAD. */
export function blobAad(header: Uint8Array, encodedContext: Uint8Array): Uint8Array {
  return Buffer.concat([header, encodedContext]);
}

/**
 * Concatenates a header and the output of the native encrypt (IV, ciphertext,
 * tag) into a ciphertext blob. Raises KMSInternalException when either part
 * has an impossible length, because both come from this engine.
 */
export function assembleCiphertextBlob(header: Uint8Array, ivCiphertextTag: Uint8Array): Uint8Array {
  if (header.length !== HEADER_LENGTH) {
    throw new KMSInternalException(
      `Cannot assemble a ciphertext blob: the header is ${header.length} bytes instead of ${HEADER_LENGTH}.`,
    );
  }
  const encryptedLength = ivCiphertextTag.length - IV_LENGTH;
  if (encryptedLength < MIN_CIPHERTEXT_AND_TAG_LENGTH || encryptedLength > MAX_CIPHERTEXT_AND_TAG_LENGTH) {
    throw new KMSInternalException(
      `Cannot assemble a ciphertext blob: the encrypt output is ${ivCiphertextTag.length} bytes, ` +
        `outside ${IV_LENGTH + MIN_CIPHERTEXT_AND_TAG_LENGTH} to ${IV_LENGTH + MAX_CIPHERTEXT_AND_TAG_LENGTH}.`,
    );
  }
  return Buffer.concat([header, ivCiphertextTag]);
}

function invalidCiphertext(problem: string): InvalidCiphertextException {
  return new InvalidCiphertextException(
    `The ciphertext blob is invalid: ${problem}. ` +
      'Pass the CiphertextBlob that Encrypt, GenerateDataKey or ReEncrypt returned, unchanged.',
  );
}

/**
 * Parses a ciphertext blob before any HSM call. The returned arrays are views
 * into `blob`, not copies.
 *
 * The request check comes first, as in KMS: a value that is not a Uint8Array
 * or that is outside 1 to 6144 bytes raises ValidationException. Every other
 * malformed blob (too short, wrong magic, unknown version, ciphertext outside
 * 1 to 4096 bytes) raises InvalidCiphertextException. Messages describe the
 * problem but never contain blob bytes.
 */
// Key IDs by their 16 bytes, read as a latin1 string. Formatting the UUID
// was about half the work of parseCiphertextBlob in a micro-benchmark on the
// development machine (an estimate, not from bench/). Services decrypt under
// a few keys, and the map is emptied when it reaches MAX_CACHED_KEY_IDS.
const MAX_CACHED_KEY_IDS = 10_000;
const keyIdsByBytes = new Map<string, string>();

function keyIdOfBlob(view: Buffer): string {
  const raw = view.toString('latin1', KEY_ID_OFFSET, BACKING_KEY_VERSION_OFFSET);
  let keyId = keyIdsByBytes.get(raw);
  if (keyId === undefined) {
    keyId = keyIdFromBytes(view.subarray(KEY_ID_OFFSET, BACKING_KEY_VERSION_OFFSET));
    if (keyIdsByBytes.size >= MAX_CACHED_KEY_IDS) keyIdsByBytes.clear();
    keyIdsByBytes.set(raw, keyId);
  }
  return keyId;
}

export function parseCiphertextBlob(blob: unknown, field = 'CiphertextBlob'): ParsedCiphertextBlob {
  const bytes = validateCiphertextBlobMember(blob, field);

  if (bytes.length < BLOB_MAGIC.length + 1) {
    throw invalidCiphertext(`it is ${bytes.length} bytes long, shorter than the ${MIN_BLOB_LENGTH}-byte minimum`);
  }
  if (bytes[0] !== BLOB_MAGIC[0] || bytes[1] !== BLOB_MAGIC[1]) {
    throw invalidCiphertext('it does not start with the hsm-kms magic bytes, so this engine did not produce it');
  }
  if (bytes[2] !== BLOB_FORMAT_VERSION) {
    throw invalidCiphertext(`format version ${bytes[2]} is not supported; this engine reads version ${BLOB_FORMAT_VERSION}`);
  }
  if (bytes.length < MIN_BLOB_LENGTH || bytes.length > MAX_BLOB_LENGTH) {
    throw invalidCiphertext(`it is ${bytes.length} bytes long, outside ${MIN_BLOB_LENGTH} to ${MAX_BLOB_LENGTH}`);
  }

  // Reading `.buffer` of a typed array is a slow call into V8, so a Buffer
  // (what the engine and the HTTP server produce) is used as it is.
  const view = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    header: view.subarray(0, HEADER_LENGTH),
    keyId: keyIdOfBlob(view),
    backingKeyVersion: view.readUInt32BE(BACKING_KEY_VERSION_OFFSET),
    iv: view.subarray(HEADER_LENGTH, HEADER_LENGTH + IV_LENGTH),
    ciphertextAndTag: view.subarray(HEADER_LENGTH + IV_LENGTH),
    ivCiphertextTag: view.subarray(HEADER_LENGTH),
  };
}
