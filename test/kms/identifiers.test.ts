import { describe, expect, it } from 'vitest';

import {
  aliasArn,
  isCustomKeyStoreId,
  isKeyId,
  keyArn,
  keyIdFromBytes,
  keyIdToBytes,
  newCustomKeyStoreId,
  newKeyId,
  parseKeyIdentifier,
  validateAliasName,
  type ArnScope,
} from '../../src/kms/identifiers.js';

const SCOPE: ArnScope = { partition: 'aws', region: 'us-east-1', accountId: '111122223333' };
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ARN = `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`;
const ALIAS_ARN = 'arn:aws:kms:us-east-1:111122223333:alias/ExampleAlias';

function errorNamed(name: string): unknown {
  return expect.objectContaining({ name });
}

describe('key IDs', () => {
  it('newKeyId returns a lowercase version 4 UUID', () => {
    const keyId = newKeyId();
    expect(keyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(isKeyId(keyId)).toBe(true);
  });

  it('isKeyId rejects uppercase and malformed values', () => {
    expect(isKeyId(KEY_ID)).toBe(true);
    expect(isKeyId(KEY_ID.toUpperCase())).toBe(false);
    expect(isKeyId(KEY_ID.replaceAll('-', ''))).toBe(false);
    expect(isKeyId(`${KEY_ID}0`)).toBe(false);
    expect(isKeyId(`mrk-${'0'.repeat(32)}`)).toBe(false);
  });

  it('converts to bytes and back', () => {
    const bytes = keyIdToBytes(KEY_ID);
    expect(Buffer.from(bytes).toString('hex')).toBe('1234abcd12ab34cd56ef1234567890ab');
    expect(keyIdFromBytes(bytes)).toBe(KEY_ID);
  });

  it('reads bytes from an offset view', () => {
    const buffer = Buffer.concat([Buffer.from([9, 9, 9]), keyIdToBytes(KEY_ID)]);
    expect(keyIdFromBytes(buffer.subarray(3))).toBe(KEY_ID);
  });

  it('rejects wrong byte counts and malformed key IDs', () => {
    expect(() => keyIdFromBytes(new Uint8Array(15))).toThrow(TypeError);
    expect(() => keyIdToBytes('not-a-key-id')).toThrow(TypeError);
  });
});

describe('ARN formatting', () => {
  it('keyArn formats a key ARN', () => {
    expect(keyArn('us-east-1', '111122223333', KEY_ID)).toBe(KEY_ARN);
  });

  it('keyArn uses the given partition', () => {
    expect(keyArn('cn-north-1', '111122223333', KEY_ID, 'aws-cn')).toBe(
      `arn:aws-cn:kms:cn-north-1:111122223333:key/${KEY_ID}`,
    );
  });

  it('aliasArn formats an alias ARN', () => {
    expect(aliasArn('us-east-1', '111122223333', 'alias/ExampleAlias')).toBe(ALIAS_ARN);
  });

  it('rejects malformed components', () => {
    expect(() => keyArn('us-east-1', '1234', KEY_ID)).toThrow(TypeError);
    expect(() => keyArn('US_EAST', '111122223333', KEY_ID)).toThrow(TypeError);
    expect(() => keyArn('us-east-1', '111122223333', 'bad')).toThrow(TypeError);
    expect(() => keyArn('us-east-1', '111122223333', KEY_ID, 'aws:x')).toThrow(TypeError);
    expect(() => aliasArn('us-east-1', '111122223333', 'ExampleAlias')).toThrow(TypeError);
  });
});

describe('validateAliasName()', () => {
  it('accepts valid names', () => {
    expect(validateAliasName('alias/ExampleAlias')).toBe('alias/ExampleAlias');
    expect(validateAliasName('alias/a:b/c_d-e')).toBe('alias/a:b/c_d-e');
    expect(validateAliasName(`alias/${'x'.repeat(250)}`)).toHaveLength(256);
    expect(validateAliasName('alias/AWS/upper-case-is-not-reserved')).toBe('alias/AWS/upper-case-is-not-reserved');
  });

  it('rejects a name over 256 characters with ValidationException', () => {
    expect(() => validateAliasName(`alias/${'x'.repeat(251)}`)).toThrow(
      expect.objectContaining({
        name: 'ValidationException',
        message:
          "1 validation error detected: Value at 'aliasName' failed to satisfy constraint: " +
          'Member must have length less than or equal to 256',
      }),
    );
  });

  it('rejects missing and empty names with ValidationException', () => {
    expect(() => validateAliasName(undefined)).toThrow(errorNamed('ValidationException'));
    expect(() => validateAliasName('')).toThrow(errorNamed('ValidationException'));
    expect(() => validateAliasName(42)).toThrow(errorNamed('ValidationException'));
  });

  it('rejects characters outside the pattern with ValidationException', () => {
    expect(() => validateAliasName('alias/has space')).toThrow(
      expect.objectContaining({
        name: 'ValidationException',
        message: expect.stringContaining("Value 'alias/has space' at 'aliasName'"),
      }),
    );
    expect(() => validateAliasName('alias/ünicode')).toThrow(errorNamed('ValidationException'));
  });

  it('rejects a name without the alias/ prefix', () => {
    expect(() => validateAliasName('ExampleAlias')).toThrow(
      expect.objectContaining({
        name: 'InvalidAliasNameException',
        message: "AliasName 'ExampleAlias' is invalid: it must begin with 'alias/'. Use a name such as alias/ExampleAlias.",
      }),
    );
  });

  it('rejects alias/ alone', () => {
    expect(() => validateAliasName('alias/')).toThrow(errorNamed('InvalidAliasNameException'));
  });

  it('rejects the reserved alias/aws/ prefix', () => {
    expect(() => validateAliasName('alias/aws/s3')).toThrow(
      expect.objectContaining({
        name: 'InvalidAliasNameException',
        message: expect.stringContaining("the prefix 'alias/aws/' is reserved for AWS managed keys"),
      }),
    );
  });

  it('names the given field', () => {
    expect(() => validateAliasName('nope', 'TargetAlias')).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^TargetAlias 'nope'/) }),
    );
  });
});

describe('parseKeyIdentifier()', () => {
  it('classifies the four forms', () => {
    expect(parseKeyIdentifier(KEY_ID, SCOPE)).toEqual({ kind: 'keyId', keyId: KEY_ID });
    expect(parseKeyIdentifier(KEY_ARN, SCOPE)).toEqual({ kind: 'keyArn', keyId: KEY_ID, arn: KEY_ARN });
    expect(parseKeyIdentifier('alias/ExampleAlias', SCOPE)).toEqual({
      kind: 'aliasName',
      aliasName: 'alias/ExampleAlias',
    });
    expect(parseKeyIdentifier(ALIAS_ARN, SCOPE)).toEqual({
      kind: 'aliasArn',
      aliasName: 'alias/ExampleAlias',
      arn: ALIAS_ARN,
    });
  });

  it('keeps colons inside an alias ARN name', () => {
    const arn = 'arn:aws:kms:us-east-1:111122223333:alias/team:prod/db';
    expect(parseKeyIdentifier(arn, SCOPE)).toEqual({ kind: 'aliasArn', aliasName: 'alias/team:prod/db', arn });
  });

  it('rejects unrecognized values with NotFoundException', () => {
    for (const value of ['foo', 'key/1234', 'alias/', 'alias/has space', `${KEY_ID} `]) {
      expect(() => parseKeyIdentifier(value, SCOPE), value).toThrow(errorNamed('NotFoundException'));
    }
  });

  it('explains an uppercase key ID', () => {
    expect(() => parseKeyIdentifier(KEY_ID.toUpperCase(), SCOPE)).toThrow(
      expect.objectContaining({
        name: 'NotFoundException',
        message: expect.stringContaining('Key IDs are lowercase.'),
      }),
    );
  });

  it('rejects ARNs of another account, Region or partition with NotFoundException', () => {
    const foreign = [
      `arn:aws:kms:us-east-1:444455556666:key/${KEY_ID}`,
      `arn:aws:kms:eu-west-1:111122223333:key/${KEY_ID}`,
      `arn:aws-cn:kms:us-east-1:111122223333:key/${KEY_ID}`,
      'arn:aws:kms:eu-west-1:111122223333:alias/ExampleAlias',
    ];
    for (const arn of foreign) {
      expect(() => parseKeyIdentifier(arn, SCOPE, { malformedArnError: 'InvalidArnException' }), arn).toThrow(
        expect.objectContaining({
          name: 'NotFoundException',
          message: expect.stringContaining('this engine serves account 111122223333 in Region us-east-1'),
        }),
      );
    }
  });

  const malformedArns = [
    'arn:aws:kms:us-east-1:111122223333',
    `arn:aws:s3:us-east-1:111122223333:key/${KEY_ID}`,
    `arn:aws:kms:us-east-1:1111:key/${KEY_ID}`,
    `arn:aws:kms::111122223333:key/${KEY_ID}`,
    'arn:aws:kms:us-east-1:111122223333:key/not-a-uuid',
    'arn:aws:kms:us-east-1:111122223333:alias/has space',
    'arn:aws:kms:us-east-1:111122223333:grant/abc',
  ];

  it('rejects malformed ARNs with NotFoundException by default', () => {
    for (const arn of malformedArns) {
      expect(() => parseKeyIdentifier(arn, SCOPE), arn).toThrow(errorNamed('NotFoundException'));
    }
  });

  it('rejects malformed ARNs with InvalidArnException on request', () => {
    for (const arn of malformedArns) {
      expect(() => parseKeyIdentifier(arn, SCOPE, { malformedArnError: 'InvalidArnException' }), arn).toThrow(
        errorNamed('InvalidArnException'),
      );
    }
  });

  it('rejects aliases when acceptAliases is false', () => {
    for (const value of ['alias/ExampleAlias', ALIAS_ARN]) {
      expect(() => parseKeyIdentifier(value, SCOPE, { acceptAliases: false }), value).toThrow(
        expect.objectContaining({
          name: 'NotFoundException',
          message: expect.stringContaining('this operation does not accept an alias'),
        }),
      );
    }
    expect(parseKeyIdentifier(KEY_ARN, SCOPE, { acceptAliases: false }).kind).toBe('keyArn');
  });

  it('names the given field', () => {
    expect(() => parseKeyIdentifier('foo', SCOPE, { field: 'DestinationKeyId' })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^Invalid DestinationKeyId 'foo'\./) }),
    );
  });
});

describe('custom key store IDs', () => {
  it('newCustomKeyStoreId has the AWS form', () => {
    const id = newCustomKeyStoreId();
    expect(id).toMatch(/^cks-[0-9a-f]{17}$/);
    expect(isCustomKeyStoreId(id)).toBe(true);
  });

  it('newCustomKeyStoreId returns distinct IDs', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newCustomKeyStoreId()));
    expect(ids.size).toBe(100);
  });

  it('isCustomKeyStoreId rejects other forms', () => {
    expect(isCustomKeyStoreId('cks-1234567890abcdef0')).toBe(true);
    expect(isCustomKeyStoreId('cks-1234567890ABCDEF0')).toBe(false);
    expect(isCustomKeyStoreId('cks-1234567890abcdef')).toBe(false);
    expect(isCustomKeyStoreId('cluster-1a23b4cdefg')).toBe(false);
  });
});
