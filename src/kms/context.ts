/**
 * Canonical encoding of a KMS encryption context, which becomes part of the
 * AES-GCM additional authenticated data (AAD).
 *
 * Decrypt must succeed when the caller passes the same pairs in any order, so
 * the encoding sorts the pairs. Two different contexts must never encode to
 * the same bytes, so every string is length-prefixed. The encoding is:
 *
 *   uint32 BE  number of pairs
 *   for each pair, sorted by the UTF-8 bytes of the key:
 *     uint32 BE  key length in bytes,   UTF-8 key bytes
 *     uint32 BE  value length in bytes, UTF-8 value bytes
 *
 * An absent or empty context encodes as four zero bytes.
 */
import { ValidationException, quoteForMessage } from './errors.js';

export type EncryptionContext = Readonly<Record<string, string>>;

const UINT32_LENGTH = 4;

// A high surrogate not followed by a low one, or a low surrogate without a
// high one before it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Upper bound of an encoded context. The KMS API model sets no limit, and
 * an encryption context is meant for short identifiers; 64 KiB is an
 * estimate that keeps the GCM AAD well inside the HSM layer's 1 MiB bound.
 */
export const MAX_ENCODED_CONTEXT_BYTES = 64 * 1024;

/**
 * Validates an encryption context and encodes it canonically.
 * `field` names the request member in messages, for example
 * 'SourceEncryptionContext' for ReEncrypt.
 *
 * Raises ValidationException when the context is not a plain object, when a
 * value is not a string, or when a key or value contains a lone UTF-16
 * surrogate, which UTF-8 cannot represent. Messages name the offending key
 * but never show a value. Empty keys and values are accepted, because the
 * length prefixes keep them unambiguous.
 */
export function encodeEncryptionContext(context: unknown, field = 'EncryptionContext'): Uint8Array {
  const pairs = validatedPairs(context, field);
  pairs.sort((a, b) => Buffer.compare(a.key, b.key));

  let length = UINT32_LENGTH;
  for (const pair of pairs) {
    length += 2 * UINT32_LENGTH + pair.key.length + pair.value.length;
  }
  if (length > MAX_ENCODED_CONTEXT_BYTES) {
    throw new ValidationException(
      `${field} is too large: it encodes to ${length} bytes, and this engine accepts at most ` +
        `${MAX_ENCODED_CONTEXT_BYTES}. Keep the context to short identifiers, not data.`,
    );
  }

  const encoded = Buffer.alloc(length);
  let offset = encoded.writeUInt32BE(pairs.length, 0);
  for (const pair of pairs) {
    offset = encoded.writeUInt32BE(pair.key.length, offset);
    offset += pair.key.copy(encoded, offset);
    offset = encoded.writeUInt32BE(pair.value.length, offset);
    offset += pair.value.copy(encoded, offset);
  }
  return encoded;
}

interface EncodedPair {
  readonly key: Buffer;
  readonly value: Buffer;
}

function validatedPairs(context: unknown, field: string): EncodedPair[] {
  if (context === undefined || context === null) {
    return [];
  }
  if (!isPlainObject(context)) {
    throw new ValidationException(
      `${field} must be a map of string keys to string values, such as {"Department": "Finance"}.`,
    );
  }

  const pairs: EncodedPair[] = [];
  for (const [key, value] of Object.entries(context)) {
    const quotedKey = quoteForMessage(key);
    if (typeof value !== 'string') {
      throw new ValidationException(
        `${field} value for key ${quotedKey} must be a string but is of type ${describeType(value)}. ` +
          'Convert the value to a string.',
      );
    }
    if (LONE_SURROGATE.test(key)) {
      throw new ValidationException(
        `${field} key ${quotedKey} contains an unpaired UTF-16 surrogate, which cannot be encoded as UTF-8. ` +
          'Use well-formed Unicode text.',
      );
    }
    if (LONE_SURROGATE.test(value)) {
      throw new ValidationException(
        `${field} value for key ${quotedKey} contains an unpaired UTF-16 surrogate, which cannot be ` +
          'encoded as UTF-8. Use well-formed Unicode text.',
      );
    }
    pairs.push({ key: Buffer.from(key, 'utf8'), value: Buffer.from(value, 'utf8') });
  }
  return pairs;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describeType(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  return Array.isArray(value) ? 'array' : typeof value;
}
