/**
 * Validators for KMS request members. Each one checks a single member against
 * the constraints of the KMS API model and returns the value, with defaults
 * applied, or throws.
 *
 * Messages follow the AWS request-validation format, for example
 * "1 validation error detected: Value at 'plaintext' failed to satisfy
 * constraint: Member must have length less than or equal to 4096". The member
 * path is the member name with a lowercase first letter, as AWS writes it.
 * AWS lists every violation of a request, but these validators stop at the
 * first one. Values of secret members (plaintext,
 * passwords, grant tokens) and of binary members never appear in a message.
 *
 * Optional members treat `null` like `undefined`, because the AWS JSON
 * protocol gives a JSON null the meaning of an absent member. Unknown extra
 * members of a request are ignored, because SDKs send members that newer API
 * versions added.
 */
import { InvalidKeyUsageException, ValidationException, quoteForMessage } from './errors.js';

export const MAX_KEY_ID_LENGTH = 2048;
export const MAX_PLAINTEXT_LENGTH = 4096;
export const MAX_CIPHERTEXT_BLOB_LENGTH = 6144;
export const MAX_NUMBER_OF_BYTES = 1024;
export const MAX_GRANT_TOKENS = 10;
export const MAX_GRANT_TOKEN_LENGTH = 8192;
export const MAX_DESCRIPTION_LENGTH = 8192;
export const MAX_LIST_LIMIT = 1000;
export const MAX_MARKER_LENGTH = 1024;
export const DEFAULT_PENDING_WINDOW_IN_DAYS = 30;
export const MIN_PENDING_WINDOW_IN_DAYS = 7;

export interface LengthLimits {
  readonly min: number;
  readonly max: number;
}

/** Options for a member whose value must never appear in an error message. */
export interface SecretOption {
  readonly secret?: boolean;
}

/**
 * Builds a ValidationException in the AWS format. `value` appears in the
 * message only when given, so pass it only for non-secret scalars. `hint`,
 * the fix for the caller, is appended as a separate sentence.
 */
export function validationError(
  field: string,
  constraint: string,
  options: { value?: string | number | null; hint?: string } = {},
): ValidationException {
  let valueText = '';
  if (options.value === null) {
    valueText = ' null';
  } else if (typeof options.value === 'number') {
    valueText = ` '${options.value}'`;
  } else if (typeof options.value === 'string') {
    valueText = ` ${quoteForMessage(options.value)}`;
  }

  let message =
    `1 validation error detected: Value${valueText} at '${memberPath(field)}' ` +
    `failed to satisfy constraint: ${constraint}`;
  if (options.hint !== undefined) {
    message += `. ${options.hint}`;
  }
  return new ValidationException(message);
}

/** Converts an API member name to the path AWS messages use: 'KeyId' becomes 'keyId'. */
function memberPath(field: string): string {
  return field.charAt(0).toLowerCase() + field.slice(1);
}

function isAbsent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

// Strings

/** Validates a required string member of `limits.min` to `limits.max` UTF-16 code units. */
export function validateRequiredString(
  value: unknown,
  field: string,
  limits: LengthLimits,
  options: SecretOption = {},
): string {
  if (isAbsent(value)) {
    throw validationError(field, 'Member must not be null', { value: null });
  }
  return checkString(value, field, limits, options);
}

/** Validates an optional string member and returns undefined when it is absent. */
export function validateOptionalString(
  value: unknown,
  field: string,
  limits: LengthLimits,
  options: SecretOption = {},
): string | undefined {
  if (isAbsent(value)) {
    return undefined;
  }
  return checkString(value, field, limits, options);
}

function checkString(
  value: unknown,
  field: string,
  limits: LengthLimits,
  options: SecretOption,
): string {
  if (typeof value !== 'string') {
    throw validationError(field, 'Member must be a string');
  }
  // A too-short value appears in the message unless the member is secret.
  // Too-long values are left out, because they can be large.
  const displayedValue = options.secret === true ? undefined : value;
  if (value.length < limits.min) {
    throw validationError(
      field,
      `Member must have length greater than or equal to ${limits.min}`,
      { value: displayedValue },
    );
  }
  if (value.length > limits.max) {
    throw validationError(field, `Member must have length less than or equal to ${limits.max}`);
  }
  return value;
}

/** Validates a `KeyId`-style member (also `SourceKeyId`, `TargetKeyId`, ...): 1 to 2048 characters. */
export function validateKeyIdMember(value: unknown, field = 'KeyId'): string {
  return validateRequiredString(value, field, { min: 1, max: MAX_KEY_ID_LENGTH });
}

/** Validates an optional key identifier, such as the `KeyId` of Decrypt. */
export function validateOptionalKeyIdMember(value: unknown, field = 'KeyId'): string | undefined {
  return validateOptionalString(value, field, { min: 1, max: MAX_KEY_ID_LENGTH });
}

/** Validates `Description`: 0 to 8192 characters, '' when absent. */
export function validateDescription(value: unknown, field = 'Description'): string {
  return validateOptionalString(value, field, { min: 0, max: MAX_DESCRIPTION_LENGTH }) ?? '';
}

/**
 * Validates `Marker`: 1 to 1024 characters in the range U+0020 to U+00FF.
 * Whether the marker belongs to the list being read is checked where it is
 * decoded, which raises InvalidMarkerException.
 */
export function validateMarker(value: unknown, field = 'Marker'): string | undefined {
  const marker = validateOptionalString(value, field, { min: 1, max: MAX_MARKER_LENGTH });
  if (marker !== undefined && !/^[\u0020-\u00FF]*$/.test(marker)) {
    throw validationError(
      field,
      'Member must satisfy regular expression pattern: [\\u0020-\\u00FF]*',
      { hint: 'Pass the NextMarker value from the previous response unchanged' },
    );
  }
  return marker;
}

// Binary members

function validateBlob(value: unknown, field: string, maxLength: number, hint?: string): Uint8Array {
  if (isAbsent(value)) {
    throw validationError(field, 'Member must not be null', { value: null });
  }
  if (!(value instanceof Uint8Array)) {
    throw validationError(field, 'Member must be binary data (a Uint8Array)');
  }
  if (value.length < 1) {
    throw validationError(field, 'Member must have length greater than or equal to 1');
  }
  if (value.length > maxLength) {
    throw validationError(
      field,
      `Member must have length less than or equal to ${maxLength}`,
      { hint },
    );
  }
  return value;
}

/** Validates `Plaintext`: 1 to 4096 bytes. */
export function validatePlaintext(value: unknown, field = 'Plaintext'): Uint8Array {
  return validateBlob(
    value,
    field,
    MAX_PLAINTEXT_LENGTH,
    'To protect more data, encrypt it locally under a data key from GenerateDataKey',
  );
}

/** Validates `CiphertextBlob`: 1 to 6144 bytes. */
export function validateCiphertextBlobMember(value: unknown, field = 'CiphertextBlob'): Uint8Array {
  return validateBlob(value, field, MAX_CIPHERTEXT_BLOB_LENGTH);
}

// Numbers and booleans

function checkInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    const displayedValue = typeof value === 'number' ? value : undefined;
    throw validationError(field, 'Member must be an integer', { value: displayedValue });
  }
  if (value < min) {
    throw validationError(field, `Member must have value greater than or equal to ${min}`, {
      value,
    });
  }
  if (value > max) {
    throw validationError(field, `Member must have value less than or equal to ${max}`, { value });
  }
  return value;
}

/** Validates a required `NumberOfBytes`: an integer from 1 to 1024. */
export function validateNumberOfBytes(value: unknown, field = 'NumberOfBytes'): number {
  if (isAbsent(value)) {
    throw validationError(field, 'Member must not be null', { value: null });
  }
  return checkInteger(value, field, 1, MAX_NUMBER_OF_BYTES);
}

/**
 * Validates `PendingWindowInDays`: an integer from 7 to 30, 30 when absent.
 * The API model allows 1 to 365, but the KMS documentation specifies 7 to 30.
 */
export function validatePendingWindowInDays(value: unknown, field = 'PendingWindowInDays'): number {
  if (isAbsent(value)) {
    return DEFAULT_PENDING_WINDOW_IN_DAYS;
  }
  return checkInteger(value, field, MIN_PENDING_WINDOW_IN_DAYS, DEFAULT_PENDING_WINDOW_IN_DAYS);
}

/**
 * Validates the `Limit` of a list operation: an integer from 1 to 1000, or
 * `defaultLimit` when absent. Each operation has its own default, for
 * example 50 for ListAliases and 100 for ListKeys.
 */
export function validateLimit(value: unknown, defaultLimit: number, field = 'Limit'): number {
  if (isAbsent(value)) {
    return defaultLimit;
  }
  return checkInteger(value, field, 1, MAX_LIST_LIMIT);
}

/** Validates `DryRun`: a boolean, false when absent. */
export function validateDryRun(value: unknown, field = 'DryRun'): boolean {
  if (isAbsent(value)) {
    return false;
  }
  if (typeof value !== 'boolean') {
    throw validationError(field, 'Member must be a boolean');
  }
  return value;
}

// Enumerations and related members

export type DataKeySpec = 'AES_256' | 'AES_128';

const DATA_KEY_LENGTH_BY_SPEC: Readonly<Record<DataKeySpec, number>> = {
  AES_256: 32,
  AES_128: 16,
};

/**
 * Validates the `KeySpec` and `NumberOfBytes` members of GenerateDataKey and
 * GenerateDataKeyWithoutPlaintext, and returns the data key length in bytes.
 * Exactly one of the two members must be present.
 */
export function validateDataKeyLength(request: { KeySpec?: unknown; NumberOfBytes?: unknown }): number {
  const hasKeySpec = !isAbsent(request.KeySpec);
  const hasNumberOfBytes = !isAbsent(request.NumberOfBytes);
  if (hasKeySpec === hasNumberOfBytes) {
    const problem = hasKeySpec ? 'The request contains both.' : 'The request contains neither.';
    throw new ValidationException(
      'Please specify either number of bytes or key spec. ' +
        `${problem} Specify exactly one of KeySpec (AES_256 or AES_128) and NumberOfBytes (1 to 1024).`,
    );
  }

  if (hasNumberOfBytes) {
    return checkInteger(request.NumberOfBytes, 'NumberOfBytes', 1, MAX_NUMBER_OF_BYTES);
  }
  const keySpec = request.KeySpec;
  if (keySpec !== 'AES_256' && keySpec !== 'AES_128') {
    const displayedValue = typeof keySpec === 'string' ? keySpec : undefined;
    throw validationError('KeySpec', 'Member must satisfy enum value set: [AES_256, AES_128]', {
      value: displayedValue,
    });
  }
  return DATA_KEY_LENGTH_BY_SPEC[keySpec];
}

const ASYMMETRIC_ENCRYPTION_ALGORITHMS = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'];

/**
 * Validates `EncryptionAlgorithm` and returns 'SYMMETRIC_DEFAULT', the only
 * algorithm of the symmetric keys that a CloudHSM key store contains.
 *
 * An asymmetric algorithm is a valid enum value that does not fit the key, so
 * KMS raises InvalidKeyUsageException for it. Call this after the key has
 * been found, because KMS reports a missing key first. A value outside the
 * enum raises ValidationException.
 */
export function validateEncryptionAlgorithm(
  value: unknown,
  field = 'EncryptionAlgorithm',
): 'SYMMETRIC_DEFAULT' {
  if (isAbsent(value) || value === 'SYMMETRIC_DEFAULT') {
    return 'SYMMETRIC_DEFAULT';
  }
  if (typeof value === 'string' && ASYMMETRIC_ENCRYPTION_ALGORITHMS.includes(value)) {
    throw new InvalidKeyUsageException(
      `${field} ${value} is not valid for a symmetric encryption key. ` +
        `Omit ${field} or specify SYMMETRIC_DEFAULT.`,
    );
  }
  throw validationError(
    field,
    'Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]',
    { value: typeof value === 'string' ? value : undefined },
  );
}

/** Validates `GrantTokens`: at most 10 tokens of 1 to 8192 characters, [] when absent. */
export function validateGrantTokens(value: unknown, field = 'GrantTokens'): string[] {
  if (isAbsent(value)) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw validationError(field, 'Member must be a list of strings');
  }
  if (value.length > MAX_GRANT_TOKENS) {
    throw validationError(field, `Member must have length less than or equal to ${MAX_GRANT_TOKENS}`);
  }
  value.forEach((token: unknown, index) => {
    const elementField = `${field}.${index + 1}.member`;
    validateRequiredString(token, elementField, { min: 1, max: MAX_GRANT_TOKEN_LENGTH }, { secret: true });
  });
  return value as string[];
}

// Custom key store members

/** Validates `KeyStorePassword`: 7 to 32 characters. Messages never contain the password. */
export function validateKeyStorePassword(value: unknown, field = 'KeyStorePassword'): string {
  return validateRequiredString(value, field, { min: 7, max: 32 }, { secret: true });
}

/** Validates `CustomKeyStoreName`: 1 to 256 characters. */
export function validateCustomKeyStoreName(value: unknown, field = 'CustomKeyStoreName'): string {
  return validateRequiredString(value, field, { min: 1, max: 256 });
}

/** Validates a `CustomKeyStoreId` member: 1 to 64 characters. */
export function validateCustomKeyStoreIdMember(value: unknown, field = 'CustomKeyStoreId'): string {
  return validateRequiredString(value, field, { min: 1, max: 64 });
}

/**
 * Validates `CloudHsmClusterId`: 1 to 64 letters, digits and hyphens. AWS
 * cluster IDs match `cluster-[2-7a-zA-Z]{11,16}`, but here a cluster is named
 * in this engine's configuration (for example `cluster-local`), so any ID of
 * that alphabet is accepted and looked up there.
 */
export function validateCloudHsmClusterId(value: unknown, field = 'CloudHsmClusterId'): string {
  const clusterId = validateRequiredString(value, field, { min: 1, max: 64 });
  if (!/^[A-Za-z0-9-]+$/.test(clusterId)) {
    throw validationError(field, 'Member must satisfy regular expression pattern: [A-Za-z0-9-]+', {
      value: clusterId,
    });
  }
  return clusterId;
}

/** Validates `TrustAnchorCertificate`: 1 to 5000 characters of PEM text. */
export function validateTrustAnchorCertificate(value: unknown, field = 'TrustAnchorCertificate'): string {
  return validateRequiredString(value, field, { min: 1, max: 5000 });
}
