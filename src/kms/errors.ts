/**
 * AWS KMS exceptions, one class per exception shape of the KMS API.
 *
 * Each instance carries the AWS exception name as `name`, the HTTP status of
 * the Smithy `httpError` trait as `httpStatusCode`, and `$fault`: 'server'
 * for 5xx statuses, else 'client'. The AWS JSON 1.1 layer builds the error
 * response from these fields. ThrottlingException, ValidationException,
 * AccessDeniedException and UnknownOperationException are errors common to
 * all AWS services rather than KMS shapes, and AWS returns them with HTTP 400.
 */

/**
 * Brand shared by every copy of this module, so `instanceof` works even when a
 * process loads two copies (for example, two package versions). undici uses
 * the same `Symbol.for` scheme for its errors.
 */
const KMS_ERROR_BRAND: unique symbol = Symbol.for('hsm-kms.KmsError');

export type KmsFault = 'client' | 'server';

/** Static members that every concrete exception class defines. */
export interface KmsErrorClass {
  new (message: string, options?: ErrorOptions): KmsError;
  readonly exceptionName: string;
  readonly httpStatusCode: number;
}

function hasKmsErrorBrand(value: unknown): value is KmsError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [KMS_ERROR_BRAND]?: unknown })[KMS_ERROR_BRAND] === true
  );
}

/**
 * Base class of all KMS exceptions. Construct a subclass, never this class:
 * the subclass supplies the exception name and HTTP status.
 * `options.cause` is kept as the standard `Error.cause`.
 */
export abstract class KmsError extends Error {
  static readonly exceptionName: string = 'KmsError';
  static readonly httpStatusCode: number = 500;

  override readonly name: string;
  readonly $fault: KmsFault;
  readonly httpStatusCode: number;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    const errorClass = new.target as unknown as KmsErrorClass;
    this.name = errorClass.exceptionName;
    this.httpStatusCode = errorClass.httpStatusCode;
    this.$fault = errorClass.httpStatusCode >= 500 ? 'server' : 'client';
  }

  get [KMS_ERROR_BRAND](): true {
    return true;
  }

  /**
   * Matches any branded KMS error for `KmsError`, and for a subclass only the
   * errors with that subclass's exception name. Comparing names instead of
   * prototypes is what makes duplicate module copies agree.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (!hasKmsErrorBrand(value)) {
      return false;
    }
    return this === KmsError || value.name === this.exceptionName;
  }
}

// 400: client errors modeled by KMS.

export class CloudHsmClusterInUseException extends KmsError {
  static override readonly exceptionName = 'CloudHsmClusterInUseException';
  static override readonly httpStatusCode = 400;
}

export class CloudHsmClusterInvalidConfigurationException extends KmsError {
  static override readonly exceptionName = 'CloudHsmClusterInvalidConfigurationException';
  static override readonly httpStatusCode = 400;
}

export class CloudHsmClusterNotActiveException extends KmsError {
  static override readonly exceptionName = 'CloudHsmClusterNotActiveException';
  static override readonly httpStatusCode = 400;
}

export class CloudHsmClusterNotFoundException extends KmsError {
  static override readonly exceptionName = 'CloudHsmClusterNotFoundException';
  static override readonly httpStatusCode = 400;
}

export class CloudHsmClusterNotRelatedException extends KmsError {
  static override readonly exceptionName = 'CloudHsmClusterNotRelatedException';
  static override readonly httpStatusCode = 400;
}

export class CustomKeyStoreHasCMKsException extends KmsError {
  static override readonly exceptionName = 'CustomKeyStoreHasCMKsException';
  static override readonly httpStatusCode = 400;
}

export class CustomKeyStoreInvalidStateException extends KmsError {
  static override readonly exceptionName = 'CustomKeyStoreInvalidStateException';
  static override readonly httpStatusCode = 400;
}

export class CustomKeyStoreNameInUseException extends KmsError {
  static override readonly exceptionName = 'CustomKeyStoreNameInUseException';
  static override readonly httpStatusCode = 400;
}

export class CustomKeyStoreNotFoundException extends KmsError {
  static override readonly exceptionName = 'CustomKeyStoreNotFoundException';
  static override readonly httpStatusCode = 400;
}

export class IncorrectKeyException extends KmsError {
  static override readonly exceptionName = 'IncorrectKeyException';
  static override readonly httpStatusCode = 400;
}

export class IncorrectTrustAnchorException extends KmsError {
  static override readonly exceptionName = 'IncorrectTrustAnchorException';
  static override readonly httpStatusCode = 400;
}

export class InvalidAliasNameException extends KmsError {
  static override readonly exceptionName = 'InvalidAliasNameException';
  static override readonly httpStatusCode = 400;
}

export class InvalidArnException extends KmsError {
  static override readonly exceptionName = 'InvalidArnException';
  static override readonly httpStatusCode = 400;
}

export class InvalidCiphertextException extends KmsError {
  static override readonly exceptionName = 'InvalidCiphertextException';
  static override readonly httpStatusCode = 400;
}

export class InvalidGrantIdException extends KmsError {
  static override readonly exceptionName = 'InvalidGrantIdException';
  static override readonly httpStatusCode = 400;
}

export class InvalidGrantTokenException extends KmsError {
  static override readonly exceptionName = 'InvalidGrantTokenException';
  static override readonly httpStatusCode = 400;
}

export class InvalidKeyUsageException extends KmsError {
  static override readonly exceptionName = 'InvalidKeyUsageException';
  static override readonly httpStatusCode = 400;
}

export class InvalidMarkerException extends KmsError {
  static override readonly exceptionName = 'InvalidMarkerException';
  static override readonly httpStatusCode = 400;
}

/** The AWS SDKs retry this error as throttling, like ThrottlingException. */
export class LimitExceededException extends KmsError {
  static override readonly exceptionName = 'LimitExceededException';
  static override readonly httpStatusCode = 400;
}

export class MalformedPolicyDocumentException extends KmsError {
  static override readonly exceptionName = 'MalformedPolicyDocumentException';
  static override readonly httpStatusCode = 400;
}

export class TagException extends KmsError {
  static override readonly exceptionName = 'TagException';
  static override readonly httpStatusCode = 400;
}

export class UnsupportedOperationException extends KmsError {
  static override readonly exceptionName = 'UnsupportedOperationException';
  static override readonly httpStatusCode = 400;
}

// 400: errors common to all AWS services, not modeled by KMS.

export class AccessDeniedException extends KmsError {
  static override readonly exceptionName = 'AccessDeniedException';
  static override readonly httpStatusCode = 400;
}

export class ThrottlingException extends KmsError {
  static override readonly exceptionName = 'ThrottlingException';
  static override readonly httpStatusCode = 400;
}

export class UnknownOperationException extends KmsError {
  static override readonly exceptionName = 'UnknownOperationException';
  static override readonly httpStatusCode = 400;
}

export class ValidationException extends KmsError {
  static override readonly exceptionName = 'ValidationException';
  static override readonly httpStatusCode = 400;
}

// 404, 409 and 412: client errors with their own status.

export class NotFoundException extends KmsError {
  static override readonly exceptionName = 'NotFoundException';
  static override readonly httpStatusCode = 404;
}

export class AlreadyExistsException extends KmsError {
  static override readonly exceptionName = 'AlreadyExistsException';
  static override readonly httpStatusCode = 409;
}

export class ConflictException extends KmsError {
  static override readonly exceptionName = 'ConflictException';
  static override readonly httpStatusCode = 409;
}

export class DisabledException extends KmsError {
  static override readonly exceptionName = 'DisabledException';
  static override readonly httpStatusCode = 409;
}

/**
 * HTTP 409 follows the Smithy model, although one page of the KMS Developer
 * Guide describes this error as an HTTP 400.
 */
export class KMSInvalidStateException extends KmsError {
  static override readonly exceptionName = 'KMSInvalidStateException';
  static override readonly httpStatusCode = 409;
}

/** The result of a DryRun request that would have succeeded. */
export class DryRunOperationException extends KmsError {
  static override readonly exceptionName = 'DryRunOperationException';
  static override readonly httpStatusCode = 412;
}

// 5xx: server errors, which the AWS SDKs retry.

export class KMSInternalException extends KmsError {
  static override readonly exceptionName = 'KMSInternalException';
  static override readonly httpStatusCode = 500;
}

export class KeyUnavailableException extends KmsError {
  static override readonly exceptionName = 'KeyUnavailableException';
  static override readonly httpStatusCode = 500;
}

export class DependencyTimeoutException extends KmsError {
  static override readonly exceptionName = 'DependencyTimeoutException';
  static override readonly httpStatusCode = 503;
}

const ALL_ERROR_CLASSES: readonly KmsErrorClass[] = [
  AccessDeniedException,
  AlreadyExistsException,
  CloudHsmClusterInUseException,
  CloudHsmClusterInvalidConfigurationException,
  CloudHsmClusterNotActiveException,
  CloudHsmClusterNotFoundException,
  CloudHsmClusterNotRelatedException,
  ConflictException,
  CustomKeyStoreHasCMKsException,
  CustomKeyStoreInvalidStateException,
  CustomKeyStoreNameInUseException,
  CustomKeyStoreNotFoundException,
  DependencyTimeoutException,
  DisabledException,
  DryRunOperationException,
  IncorrectKeyException,
  IncorrectTrustAnchorException,
  InvalidAliasNameException,
  InvalidArnException,
  InvalidCiphertextException,
  InvalidGrantIdException,
  InvalidGrantTokenException,
  InvalidKeyUsageException,
  InvalidMarkerException,
  KMSInternalException,
  KMSInvalidStateException,
  KeyUnavailableException,
  LimitExceededException,
  MalformedPolicyDocumentException,
  NotFoundException,
  TagException,
  ThrottlingException,
  UnknownOperationException,
  UnsupportedOperationException,
  ValidationException,
];

const ERROR_CLASS_BY_NAME: ReadonlyMap<string, KmsErrorClass> = new Map(
  ALL_ERROR_CLASSES.map((errorClass) => [errorClass.exceptionName, errorClass]),
);

/**
 * Returns the exception class for an AWS error type, or undefined if the name
 * is not a known KMS exception.
 *
 * Accepts the bare shape name (`NotFoundException`) and the forms that AWS
 * JSON clients normalize: a namespace prefix ending in `#`
 * (`com.amazonaws.kms#NotFoundException`) and a suffix starting with `:`.
 */
export function kmsErrorByName(name: string): KmsErrorClass | undefined {
  const withoutSuffix = name.split(':', 1)[0] ?? '';
  const shapeName = withoutSuffix.slice(withoutSuffix.lastIndexOf('#') + 1);
  return ERROR_CLASS_BY_NAME.get(shapeName);
}

const MAX_QUOTED_LENGTH = 256;

/**
 * Quotes a caller-supplied, non-secret value for an error message, in single
 * quotes as AWS messages do. JSON escaping keeps control characters and line
 * breaks out of logs, and values longer than 256 characters are cut short.
 * Never pass secrets (passwords, plaintext, key bytes) to this function.
 */
export function quoteForMessage(value: string): string {
  const quotedPart = value.length <= MAX_QUOTED_LENGTH ? value : value.slice(0, MAX_QUOTED_LENGTH);
  const escaped = JSON.stringify(quotedPart).slice(1, -1);
  if (quotedPart.length === value.length) {
    return `'${escaped}'`;
  }
  return `'${escaped}...' (${value.length} characters)`;
}
