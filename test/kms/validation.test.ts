import { describe, expect, it } from 'vitest';

import {
  validateCiphertextBlobMember,
  validateCloudHsmClusterId,
  validateCustomKeyStoreIdMember,
  validateCustomKeyStoreName,
  validateDataKeyLength,
  validateDescription,
  validateDryRun,
  validateEncryptionAlgorithm,
  validateGrantTokens,
  validateKeyIdMember,
  validateKeyStorePassword,
  validateLimit,
  validateMarker,
  validateNumberOfBytes,
  validateOptionalKeyIdMember,
  validatePendingWindowInDays,
  validatePlaintext,
  validateTrustAnchorCertificate,
  validationError,
} from '../../src/kms/validation.js';
import { messageOf } from '../helpers/errors.js';

function errorNamed(name: string): unknown {
  return expect.objectContaining({ name });
}

function validationMessage(message: string): unknown {
  return expect.objectContaining({ name: 'ValidationException', message });
}

describe('validationError()', () => {
  it('formats the AWS message', () => {
    const error = validationError('Plaintext', 'Member must have length less than or equal to 4096');
    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe(
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: " +
        'Member must have length less than or equal to 4096',
    );
  });

  it('shows a given value and hint', () => {
    const error = validationError('KeySpec', 'Member must satisfy enum value set: [AES_256, AES_128]', {
      value: 'AES_512',
      hint: 'Use AES_256',
    });
    expect(error.message).toBe(
      "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: " +
        'Member must satisfy enum value set: [AES_256, AES_128]. Use AES_256',
    );
  });
});

describe('validateKeyIdMember()', () => {
  it('accepts 1 to 2048 characters', () => {
    expect(validateKeyIdMember('k')).toBe('k');
    expect(validateKeyIdMember('k'.repeat(2048))).toHaveLength(2048);
  });

  it('rejects a missing value', () => {
    expect(() => validateKeyIdMember(undefined)).toThrow(
      validationMessage(
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
      ),
    );
    expect(() => validateKeyIdMember(null)).toThrow(errorNamed('ValidationException'));
  });

  it('rejects empty and oversized values', () => {
    expect(() => validateKeyIdMember('')).toThrow(
      validationMessage(
        "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: " +
          'Member must have length greater than or equal to 1',
      ),
    );
    expect(() => validateKeyIdMember('k'.repeat(2049))).toThrow(
      validationMessage(
        "1 validation error detected: Value at 'keyId' failed to satisfy constraint: " +
          'Member must have length less than or equal to 2048',
      ),
    );
  });

  it('rejects a non-string', () => {
    expect(() => validateKeyIdMember(5)).toThrow(
      validationMessage(
        "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must be a string",
      ),
    );
  });

  it('names other members', () => {
    expect(messageOf(() => validateKeyIdMember('', 'DestinationKeyId'))).toContain("at 'destinationKeyId'");
  });

  it('optional form accepts absence', () => {
    expect(validateOptionalKeyIdMember(undefined)).toBeUndefined();
    expect(validateOptionalKeyIdMember(null)).toBeUndefined();
    expect(() => validateOptionalKeyIdMember('')).toThrow(errorNamed('ValidationException'));
  });
});

describe('validatePlaintext()', () => {
  it('accepts 1 to 4096 bytes', () => {
    expect(validatePlaintext(new Uint8Array(1))).toHaveLength(1);
    expect(validatePlaintext(Buffer.alloc(4096))).toHaveLength(4096);
  });

  it('rejects 4097 bytes and suggests a data key', () => {
    expect(() => validatePlaintext(new Uint8Array(4097))).toThrow(
      validationMessage(
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: " +
          'Member must have length less than or equal to 4096. ' +
          'To protect more data, encrypt it locally under a data key from GenerateDataKey',
      ),
    );
  });

  it('rejects empty, missing and non-binary values', () => {
    expect(() => validatePlaintext(new Uint8Array(0))).toThrow(errorNamed('ValidationException'));
    expect(() => validatePlaintext(undefined)).toThrow(errorNamed('ValidationException'));
    expect(() => validatePlaintext(new ArrayBuffer(4))).toThrow(errorNamed('ValidationException'));
    expect(() => validatePlaintext(new DataView(new ArrayBuffer(4)))).toThrow(errorNamed('ValidationException'));
  });

  it('never shows plaintext', () => {
    const message = messageOf(() => validatePlaintext('my secret text'));
    expect(message).toBe(
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: " +
        'Member must be binary data (a Uint8Array)',
    );
  });
});

describe('validateCiphertextBlobMember()', () => {
  it('accepts 1 to 6144 bytes', () => {
    expect(validateCiphertextBlobMember(new Uint8Array(6144))).toHaveLength(6144);
  });

  it('rejects 6145 bytes', () => {
    expect(() => validateCiphertextBlobMember(new Uint8Array(6145))).toThrow(
      validationMessage(
        "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: " +
          'Member must have length less than or equal to 6144',
      ),
    );
  });
});

describe('validateNumberOfBytes()', () => {
  it('accepts 1 to 1024', () => {
    expect(validateNumberOfBytes(1)).toBe(1);
    expect(validateNumberOfBytes(1024)).toBe(1024);
  });

  it('rejects out-of-range values and shows them', () => {
    expect(() => validateNumberOfBytes(0)).toThrow(
      validationMessage(
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: " +
          'Member must have value greater than or equal to 1',
      ),
    );
    expect(() => validateNumberOfBytes(1025)).toThrow(
      validationMessage(
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: " +
          'Member must have value less than or equal to 1024',
      ),
    );
  });

  it('rejects non-integers and absence', () => {
    for (const value of [1.5, Number.NaN, '32', undefined, 2 ** 60]) {
      expect(() => validateNumberOfBytes(value), String(value)).toThrow(errorNamed('ValidationException'));
    }
  });
});

describe('validateDataKeyLength()', () => {
  it('maps KeySpec to bytes', () => {
    expect(validateDataKeyLength({ KeySpec: 'AES_256' })).toBe(32);
    expect(validateDataKeyLength({ KeySpec: 'AES_128' })).toBe(16);
  });

  it('returns NumberOfBytes', () => {
    expect(validateDataKeyLength({ NumberOfBytes: 64 })).toBe(64);
    expect(validateDataKeyLength({ NumberOfBytes: 64, KeySpec: null })).toBe(64);
  });

  it('rejects both members', () => {
    expect(() => validateDataKeyLength({ KeySpec: 'AES_256', NumberOfBytes: 32 })).toThrow(
      validationMessage(
        'Please specify either number of bytes or key spec. The request contains both. ' +
          'Specify exactly one of KeySpec (AES_256 or AES_128) and NumberOfBytes (1 to 1024).',
      ),
    );
  });

  it('rejects neither member', () => {
    expect(messageOf(() => validateDataKeyLength({}))).toContain('The request contains neither.');
  });

  it('rejects an unknown KeySpec', () => {
    expect(() => validateDataKeyLength({ KeySpec: 'AES_512' })).toThrow(
      validationMessage(
        "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: " +
          'Member must satisfy enum value set: [AES_256, AES_128]',
      ),
    );
  });

  it('rejects an invalid NumberOfBytes', () => {
    expect(() => validateDataKeyLength({ NumberOfBytes: 2000 })).toThrow(errorNamed('ValidationException'));
  });
});

describe('validateGrantTokens()', () => {
  it('defaults to an empty list', () => {
    expect(validateGrantTokens(undefined)).toEqual([]);
  });

  it('accepts 10 tokens of up to 8192 characters', () => {
    const tokens = Array.from({ length: 10 }, () => 't'.repeat(8192));
    expect(validateGrantTokens(tokens)).toBe(tokens);
  });

  it('rejects 11 tokens', () => {
    expect(() => validateGrantTokens(Array.from({ length: 11 }, () => 't'))).toThrow(
      validationMessage(
        "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: " +
          'Member must have length less than or equal to 10',
      ),
    );
  });

  it('rejects a bad element without showing it', () => {
    const message = messageOf(() => validateGrantTokens(['good', '']));
    expect(message).toBe(
      "1 validation error detected: Value at 'grantTokens.2.member' failed to satisfy constraint: " +
        'Member must have length greater than or equal to 1',
    );
    expect(() => validateGrantTokens(['x'.repeat(8193)])).toThrow(errorNamed('ValidationException'));
    expect(() => validateGrantTokens([7])).toThrow(errorNamed('ValidationException'));
    expect(() => validateGrantTokens('token')).toThrow(errorNamed('ValidationException'));
  });
});

describe('validateEncryptionAlgorithm()', () => {
  it('defaults to SYMMETRIC_DEFAULT', () => {
    expect(validateEncryptionAlgorithm(undefined)).toBe('SYMMETRIC_DEFAULT');
    expect(validateEncryptionAlgorithm('SYMMETRIC_DEFAULT')).toBe('SYMMETRIC_DEFAULT');
  });

  it('rejects asymmetric algorithms with InvalidKeyUsageException', () => {
    for (const algorithm of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE']) {
      expect(() => validateEncryptionAlgorithm(algorithm)).toThrow(
        expect.objectContaining({
          name: 'InvalidKeyUsageException',
          message: `EncryptionAlgorithm ${algorithm} is not valid for a symmetric encryption key. ` +
            'Omit EncryptionAlgorithm or specify SYMMETRIC_DEFAULT.',
        }),
      );
    }
  });

  it('rejects unknown values with ValidationException', () => {
    expect(() => validateEncryptionAlgorithm('AES_GCM')).toThrow(
      validationMessage(
        "1 validation error detected: Value 'AES_GCM' at 'encryptionAlgorithm' failed to satisfy constraint: " +
          'Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]',
      ),
    );
    expect(() => validateEncryptionAlgorithm(1)).toThrow(errorNamed('ValidationException'));
    expect(() => validateEncryptionAlgorithm('symmetric_default')).toThrow(errorNamed('ValidationException'));
  });

  it('names other members', () => {
    expect(messageOf(() => validateEncryptionAlgorithm('SM2PKE', 'DestinationEncryptionAlgorithm'))).toMatch(
      /^DestinationEncryptionAlgorithm SM2PKE/,
    );
  });
});

describe('validatePendingWindowInDays()', () => {
  it('defaults to 30', () => {
    expect(validatePendingWindowInDays(undefined)).toBe(30);
  });

  it('accepts 7 to 30', () => {
    expect(validatePendingWindowInDays(7)).toBe(7);
    expect(validatePendingWindowInDays(30)).toBe(30);
  });

  it('rejects 6 and 31', () => {
    expect(() => validatePendingWindowInDays(6)).toThrow(
      validationMessage(
        "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: " +
          'Member must have value greater than or equal to 7',
      ),
    );
    expect(() => validatePendingWindowInDays(31)).toThrow(errorNamed('ValidationException'));
    expect(() => validatePendingWindowInDays(7.5)).toThrow(errorNamed('ValidationException'));
  });
});

describe('validateLimit()', () => {
  it('applies the default', () => {
    expect(validateLimit(undefined, 50)).toBe(50);
  });

  it('accepts 1 to 1000', () => {
    expect(validateLimit(1, 50)).toBe(1);
    expect(validateLimit(1000, 50)).toBe(1000);
  });

  it('rejects 0 and 1001', () => {
    expect(() => validateLimit(0, 50)).toThrow(errorNamed('ValidationException'));
    expect(() => validateLimit(1001, 50)).toThrow(
      validationMessage(
        "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: " +
          'Member must have value less than or equal to 1000',
      ),
    );
  });
});

describe('validateMarker()', () => {
  it('accepts absence and printable Latin-1 text', () => {
    expect(validateMarker(undefined)).toBeUndefined();
    expect(validateMarker('a2V5czpf')).toBe('a2V5czpf');
  });

  it('rejects empty, oversized and out-of-range markers', () => {
    expect(() => validateMarker('')).toThrow(errorNamed('ValidationException'));
    expect(() => validateMarker('m'.repeat(1025))).toThrow(errorNamed('ValidationException'));
    expect(() => validateMarker('line\nbreak')).toThrow(
      expect.objectContaining({
        name: 'ValidationException',
        message: expect.stringContaining('Pass the NextMarker value from the previous response unchanged'),
      }),
    );
  });
});

describe('validateDescription()', () => {
  it('defaults to an empty string', () => {
    expect(validateDescription(undefined)).toBe('');
    expect(validateDescription('')).toBe('');
  });

  it('rejects more than 8192 characters', () => {
    expect(validateDescription('d'.repeat(8192))).toHaveLength(8192);
    expect(() => validateDescription('d'.repeat(8193))).toThrow(
      validationMessage(
        "1 validation error detected: Value at 'description' failed to satisfy constraint: " +
          'Member must have length less than or equal to 8192',
      ),
    );
  });
});

describe('validateKeyStorePassword()', () => {
  it('accepts 7 to 32 characters', () => {
    expect(validateKeyStorePassword('abcdefg')).toBe('abcdefg');
    expect(validateKeyStorePassword('p'.repeat(32))).toHaveLength(32);
  });

  it('never shows the password', () => {
    const shortPassword = 'hunter2'.slice(0, 6);
    const shortMessage = messageOf(() => validateKeyStorePassword(shortPassword));
    expect(shortMessage).toBe(
      "1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: " +
        'Member must have length greater than or equal to 7',
    );
    expect(shortMessage).not.toContain(shortPassword);

    const longPassword = 'correct-horse-battery-staple-12345';
    expect(messageOf(() => validateKeyStorePassword(longPassword))).not.toContain(longPassword);
  });

  it('rejects absence and non-strings', () => {
    expect(() => validateKeyStorePassword(undefined)).toThrow(errorNamed('ValidationException'));
    expect(() => validateKeyStorePassword(12345678)).toThrow(errorNamed('ValidationException'));
  });
});

describe('custom key store members', () => {
  it('validateCustomKeyStoreName accepts 1 to 256 characters', () => {
    expect(validateCustomKeyStoreName('store')).toBe('store');
    expect(() => validateCustomKeyStoreName('')).toThrow(errorNamed('ValidationException'));
    expect(() => validateCustomKeyStoreName('n'.repeat(257))).toThrow(errorNamed('ValidationException'));
  });

  it('validateCustomKeyStoreIdMember accepts 1 to 64 characters', () => {
    expect(validateCustomKeyStoreIdMember('cks-1234567890abcdef0')).toBe('cks-1234567890abcdef0');
    expect(() => validateCustomKeyStoreIdMember('c'.repeat(65))).toThrow(errorNamed('ValidationException'));
  });

  it('validateCloudHsmClusterId checks length and pattern', () => {
    expect(validateCloudHsmClusterId('cluster-jxhlf7644ne')).toBe('cluster-jxhlf7644ne');
    expect(validateCloudHsmClusterId('cluster-local')).toBe('cluster-local');
    expect(() => validateCloudHsmClusterId('')).toThrow(errorNamed('ValidationException'));
    expect(() => validateCloudHsmClusterId('c'.repeat(65))).toThrow(errorNamed('ValidationException'));
    expect(() => validateCloudHsmClusterId('cluster local')).toThrow(
      validationMessage(
        "1 validation error detected: Value 'cluster local' at 'cloudHsmClusterId' failed to satisfy " +
          'constraint: Member must satisfy regular expression pattern: [A-Za-z0-9-]+',
      ),
    );
  });

  it('validateTrustAnchorCertificate accepts 1 to 5000 characters', () => {
    expect(validateTrustAnchorCertificate('-----BEGIN CERTIFICATE-----')).toContain('BEGIN');
    expect(() => validateTrustAnchorCertificate('c'.repeat(5001))).toThrow(errorNamed('ValidationException'));
  });
});

describe('validateDryRun()', () => {
  it('defaults to false', () => {
    expect(validateDryRun(undefined)).toBe(false);
    expect(validateDryRun(true)).toBe(true);
  });

  it('rejects non-booleans', () => {
    expect(() => validateDryRun('true')).toThrow(
      validationMessage(
        "1 validation error detected: Value at 'dryRun' failed to satisfy constraint: Member must be a boolean",
      ),
    );
  });
});
