/**
 * Formats, parses and generates the identifiers of KMS keys, aliases and
 * custom key stores:
 *
 * - key ID: a lowercase UUID, `1234abcd-12ab-34cd-56ef-1234567890ab`
 * - key ARN: `arn:<partition>:kms:<region>:<account>:key/<key ID>`
 * - alias name: `alias/<name>`
 * - alias ARN: `arn:<partition>:kms:<region>:<account>:alias/<name>`
 * - custom key store ID: `cks-` followed by 17 lowercase hex digits
 */
import { randomBytes, randomUUID } from 'node:crypto';

import {
  InvalidAliasNameException,
  InvalidArnException,
  NotFoundException,
  quoteForMessage,
} from './errors.js';
import { validateRequiredString, validationError } from './validation.js';

/** Partition, Region and AWS account that this engine serves. */
export interface ArnScope {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

const KEY_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALIAS_NAME_PATTERN = /^[a-zA-Z0-9:/_-]+$/;
const ALIAS_PREFIX = 'alias/';
const RESERVED_ALIAS_PREFIX = 'alias/aws/';
const MAX_ALIAS_NAME_LENGTH = 256;
const ACCOUNT_ID_PATTERN = /^\d{12}$/;
// Lowercase words joined by hyphens, as in `aws-us-gov` or `ap-southeast-2`.
const PARTITION_OR_REGION_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const CUSTOM_KEY_STORE_ID_PATTERN = /^cks-[0-9a-f]{17}$/;

// Key IDs

/**
 * Returns whether `value` is a key ID in canonical form: a lowercase UUID of
 * any version. Keys created here are version 4, but the format does not
 * depend on it.
 */
export function isKeyId(value: string): boolean {
  return KEY_ID_PATTERN.test(value);
}

/** Generates a key ID: a random (version 4) UUID in lowercase. */
export function newKeyId(): string {
  return randomUUID();
}

/** Converts a key ID to its 16 raw UUID bytes. Throws TypeError for a malformed key ID. */
export function keyIdToBytes(keyId: string): Uint8Array {
  if (!isKeyId(keyId)) {
    throw new TypeError(`Expected a lowercase UUID key ID but received ${quoteForMessage(keyId)}`);
  }
  return Buffer.from(keyId.replaceAll('-', ''), 'hex');
}

/** Formats 16 raw UUID bytes as a key ID. Throws TypeError unless exactly 16 bytes are given. */
export function keyIdFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) {
    throw new TypeError(`Expected 16 key ID bytes but received ${bytes.length}`);
  }
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20, 32),
  ].join('-');
}

// ARNs

function checkArnScope(partition: string, region: string, accountId: string): void {
  if (!PARTITION_OR_REGION_PATTERN.test(partition)) {
    throw new TypeError(`Invalid ARN partition ${quoteForMessage(partition)}: expected a value such as 'aws'`);
  }
  if (!PARTITION_OR_REGION_PATTERN.test(region)) {
    throw new TypeError(`Invalid ARN region ${quoteForMessage(region)}: expected a value such as 'us-east-1'`);
  }
  if (!ACCOUNT_ID_PATTERN.test(accountId)) {
    throw new TypeError(`Invalid AWS account ID ${quoteForMessage(accountId)}: expected 12 digits`);
  }
}

/**
 * Formats a key ARN. Throws TypeError for a malformed component, since every
 * component comes from configuration or from this engine, not from a request.
 */
export function keyArn(region: string, accountId: string, keyId: string, partition = 'aws'): string {
  checkArnScope(partition, region, accountId);
  if (!isKeyId(keyId)) {
    throw new TypeError(`Expected a lowercase UUID key ID but received ${quoteForMessage(keyId)}`);
  }
  return `arn:${partition}:kms:${region}:${accountId}:key/${keyId}`;
}

/** Formats an alias ARN from an alias name such as `alias/ExampleAlias`. Throws TypeError like keyArn. */
export function aliasArn(region: string, accountId: string, aliasName: string, partition = 'aws'): string {
  checkArnScope(partition, region, accountId);
  if (!isAliasNameFormat(aliasName)) {
    throw new TypeError(`Expected an alias name such as 'alias/ExampleAlias' but received ${quoteForMessage(aliasName)}`);
  }
  return `arn:${partition}:kms:${region}:${accountId}:${aliasName}`;
}

// Alias names

/** Returns whether `value` has the alias-name format, without the check for reserved names. */
function isAliasNameFormat(value: string): boolean {
  return (
    value.length <= MAX_ALIAS_NAME_LENGTH &&
    value.length > ALIAS_PREFIX.length &&
    value.startsWith(ALIAS_PREFIX) &&
    ALIAS_NAME_PATTERN.test(value)
  );
}

/**
 * Validates the alias name of a request that creates or changes an alias,
 * such as the `AliasName` of CreateAlias, and returns it.
 *
 * Violations of the API model constraints (type, 1 to 256 characters, the
 * pattern `^[a-zA-Z0-9:/_-]+$`) raise ValidationException, as KMS request
 * validation does. The KMS naming rules raise InvalidAliasNameException: the
 * name must begin with `alias/`, must contain a name after it, and must not
 * begin with `alias/aws/`, which is reserved for AWS managed keys.
 */
export function validateAliasName(value: unknown, field = 'AliasName'): string {
  const aliasName = validateRequiredString(value, field, { min: 1, max: MAX_ALIAS_NAME_LENGTH });
  if (!ALIAS_NAME_PATTERN.test(aliasName)) {
    throw validationError(field, `Member must satisfy regular expression pattern: ${ALIAS_NAME_PATTERN.source}`, {
      value: aliasName,
      hint: 'Use only letters, digits, slashes (/), underscores (_), hyphens (-) and colons (:)',
    });
  }

  const quoted = quoteForMessage(aliasName);
  if (!aliasName.startsWith(ALIAS_PREFIX)) {
    throw new InvalidAliasNameException(
      `${field} ${quoted} is invalid: it must begin with 'alias/'. Use a name such as alias/ExampleAlias.`,
    );
  }
  if (aliasName.length === ALIAS_PREFIX.length) {
    throw new InvalidAliasNameException(
      `${field} 'alias/' is invalid: it contains no name after 'alias/'. Use a name such as alias/ExampleAlias.`,
    );
  }
  if (aliasName.startsWith(RESERVED_ALIAS_PREFIX)) {
    throw new InvalidAliasNameException(
      `${field} ${quoted} is invalid: the prefix 'alias/aws/' is reserved for AWS managed keys. ` +
        'Choose a name that does not begin with alias/aws/.',
    );
  }
  return aliasName;
}

// Key identifiers in requests

/** A parsed key identifier from a request member such as `KeyId`. */
export type KeyIdentifier =
  | { readonly kind: 'keyId'; readonly keyId: string }
  | { readonly kind: 'keyArn'; readonly keyId: string; readonly arn: string }
  | { readonly kind: 'aliasName'; readonly aliasName: string }
  | { readonly kind: 'aliasArn'; readonly aliasName: string; readonly arn: string };

export interface ParseKeyIdentifierOptions {
  /** Request member name for messages. Default 'KeyId'. */
  readonly field?: string;
  /**
   * Whether alias names and alias ARNs are accepted. KMS accepts them only in
   * cryptographic operations and DescribeKey. Default true.
   */
  readonly acceptAliases?: boolean;
  /**
   * Exception for a string that starts with `arn:` but is not a valid KMS key
   * or alias ARN. Operations whose modeled errors include InvalidArnException
   * (DescribeKey, EnableKey, DisableKey, ScheduleKeyDeletion,
   * CancelKeyDeletion, ListAliases) pass 'InvalidArnException'. The
   * cryptographic operations do not model it, so they use the default,
   * 'NotFoundException'.
   */
  readonly malformedArnError?: 'NotFoundException' | 'InvalidArnException';
}

/**
 * Parses a caller-supplied key identifier: a key ID, key ARN, alias name or
 * alias ARN. Call validateKeyIdMember first for the length limits.
 *
 * Raises NotFoundException when the value has none of the four forms, when
 * it names an alias but `acceptAliases` is false, and when a well-formed ARN
 * names another partition, Region or account. This engine serves one account
 * in one Region, so no key exists there. A malformed ARN raises the exception
 * chosen by `malformedArnError`.
 */
export function parseKeyIdentifier(
  value: string,
  scope: ArnScope,
  options: ParseKeyIdentifierOptions = {},
): KeyIdentifier {
  const field = options.field ?? 'KeyId';
  const acceptAliases = options.acceptAliases ?? true;

  let identifier: KeyIdentifier;
  if (value.startsWith('arn:')) {
    identifier = parseArn(value, scope, field, options.malformedArnError ?? 'NotFoundException');
  } else if (isKeyId(value)) {
    identifier = { kind: 'keyId', keyId: value };
  } else if (value.startsWith(ALIAS_PREFIX) && isAliasNameFormat(value)) {
    identifier = { kind: 'aliasName', aliasName: value };
  } else {
    throw unrecognizedKeyIdentifier(value, field);
  }

  if (!acceptAliases && (identifier.kind === 'aliasName' || identifier.kind === 'aliasArn')) {
    throw new NotFoundException(
      `Invalid ${field} ${quoteForMessage(value)}: this operation does not accept an alias. ` +
        'Specify the key ID or key ARN.',
    );
  }
  return identifier;
}

function unrecognizedKeyIdentifier(value: string, field: string): NotFoundException {
  const caseHint = isKeyId(value.toLowerCase()) ? ' Key IDs are lowercase.' : '';
  return new NotFoundException(
    `Invalid ${field} ${quoteForMessage(value)}. Specify a key ID ` +
      '(a UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab), a key ARN, ' +
      `an alias name (alias/ExampleAlias) or an alias ARN.${caseHint}`,
  );
}

function parseArn(
  arn: string,
  scope: ArnScope,
  field: string,
  malformedArnError: 'NotFoundException' | 'InvalidArnException',
): KeyIdentifier {
  const malformed = (problem: string): Error => {
    const message =
      `Invalid ${field} ARN ${quoteForMessage(arn)}: ${problem}. A key ARN has the form ` +
      'arn:<partition>:kms:<region>:<account>:key/<key ID>, and an alias ARN ends in :alias/<name>.';
    return malformedArnError === 'InvalidArnException'
      ? new InvalidArnException(message)
      : new NotFoundException(message);
  };

  // The resource part can contain colons because alias names can, so only
  // the first five colons separate components.
  const parts = arn.split(':');
  if (parts.length < 6) {
    throw malformed('it has fewer than six colon-separated components');
  }
  const [, partition = '', service = '', region = '', accountId = ''] = parts;
  const resource = parts.slice(5).join(':');

  if (service !== 'kms') {
    throw malformed(`the service is ${quoteForMessage(service)}, not 'kms'`);
  }
  if (!PARTITION_OR_REGION_PATTERN.test(partition) || !PARTITION_OR_REGION_PATTERN.test(region)) {
    throw malformed('the partition or Region is not valid');
  }
  if (!ACCOUNT_ID_PATTERN.test(accountId)) {
    throw malformed('the account ID is not 12 digits');
  }

  const identifier = parseArnResource(arn, resource);
  if (identifier === undefined) {
    if (resource.startsWith('key/')) {
      throw malformed(
        `the key ID after key/ is ${quoteForMessage(resource.slice('key/'.length))}, ` +
          'not a lowercase UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab (check for spaces or a cut-off ID)',
      );
    }
    throw malformed('the resource is neither key/<key ID> nor alias/<name>');
  }

  if (partition !== scope.partition || region !== scope.region || accountId !== scope.accountId) {
    throw new NotFoundException(
      `${field} ${quoteForMessage(arn)} does not exist: this engine serves account ` +
        `${scope.accountId} in Region ${scope.region} (partition ${scope.partition}).`,
    );
  }
  return identifier;
}

function parseArnResource(arn: string, resource: string): KeyIdentifier | undefined {
  const keyPrefix = 'key/';
  if (resource.startsWith(keyPrefix)) {
    const keyId = resource.slice(keyPrefix.length);
    return isKeyId(keyId) ? { kind: 'keyArn', keyId, arn } : undefined;
  }
  if (isAliasNameFormat(resource)) {
    return { kind: 'aliasArn', aliasName: resource, arn };
  }
  return undefined;
}

// Custom key store IDs

/** Returns whether `value` has the form of a custom key store ID: `cks-` and 17 lowercase hex digits. */
export function isCustomKeyStoreId(value: string): boolean {
  return CUSTOM_KEY_STORE_ID_PATTERN.test(value);
}

/** Generates a custom key store ID with 68 random bits, such as `cks-1234567890abcdef0`. */
export function newCustomKeyStoreId(): string {
  return `cks-${randomBytes(9).toString('hex').slice(0, 17)}`;
}
