import { describe, expect, it } from 'vitest';

import * as errors from '../../src/kms/errors.js';
import {
  AlreadyExistsException,
  DisabledException,
  KMSInternalException,
  KmsError,
  NotFoundException,
  ValidationException,
  kmsErrorByName,
  quoteForMessage,
  type KmsErrorClass,
} from '../../src/kms/errors.js';

const EXPECTED_STATUS: Record<string, number> = {
  AccessDeniedException: 400,
  AlreadyExistsException: 409,
  CloudHsmClusterInUseException: 400,
  CloudHsmClusterInvalidConfigurationException: 400,
  CloudHsmClusterNotActiveException: 400,
  CloudHsmClusterNotFoundException: 400,
  CloudHsmClusterNotRelatedException: 400,
  ConflictException: 409,
  CustomKeyStoreHasCMKsException: 400,
  CustomKeyStoreInvalidStateException: 400,
  CustomKeyStoreNameInUseException: 400,
  CustomKeyStoreNotFoundException: 400,
  DependencyTimeoutException: 503,
  DisabledException: 409,
  DryRunOperationException: 412,
  IncorrectKeyException: 400,
  IncorrectTrustAnchorException: 400,
  InvalidAliasNameException: 400,
  InvalidArnException: 400,
  InvalidCiphertextException: 400,
  InvalidGrantIdException: 400,
  InvalidGrantTokenException: 400,
  InvalidKeyUsageException: 400,
  InvalidMarkerException: 400,
  KMSInternalException: 500,
  KMSInvalidStateException: 409,
  KeyUnavailableException: 500,
  LimitExceededException: 400,
  MalformedPolicyDocumentException: 400,
  NotFoundException: 404,
  TagException: 400,
  ThrottlingException: 400,
  UnknownOperationException: 400,
  UnsupportedOperationException: 400,
  ValidationException: 400,
};

describe('KMS exception classes', () => {
  it.each(Object.entries(EXPECTED_STATUS))('%s has its name, status and fault', (name, status) => {
    const errorClass = (errors as unknown as Record<string, KmsErrorClass>)[name];
    expect(errorClass).toBeDefined();

    const error = new (errorClass as KmsErrorClass)('message text');
    expect(error.name).toBe(name);
    expect(error.httpStatusCode).toBe(status);
    expect(error.$fault).toBe(status >= 500 ? 'server' : 'client');
    expect(error.message).toBe('message text');
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(KmsError);
  });

  it('exports no exception without an expected status', () => {
    const exported = (Object.values(errors) as unknown[]).filter(
      (value): value is KmsErrorClass => typeof value === 'function' && 'exceptionName' in value && value !== KmsError,
    );
    expect(exported.map((errorClass) => errorClass.exceptionName).sort()).toEqual(
      Object.keys(EXPECTED_STATUS).sort(),
    );
  });

  it('instanceof distinguishes subclasses', () => {
    const error = new NotFoundException('missing');
    expect(error instanceof NotFoundException).toBe(true);
    expect(error instanceof DisabledException).toBe(false);
    expect(new Error('plain') instanceof KmsError).toBe(false);
    expect((null as unknown) instanceof KmsError).toBe(false);
    expect({ name: 'NotFoundException' } instanceof NotFoundException).toBe(false);
  });

  it('instanceof works across module copies', async () => {
    // The query string makes Vite load and evaluate a second, separate copy.
    const specifier = '../../src/kms/errors.ts?copy';
    const copy = (await import(/* @vite-ignore */ specifier)) as typeof errors;
    expect(copy.NotFoundException).not.toBe(NotFoundException);

    const fromCopy = new copy.NotFoundException('missing');
    expect(fromCopy instanceof NotFoundException).toBe(true);
    expect(fromCopy instanceof KmsError).toBe(true);
    expect(fromCopy instanceof DisabledException).toBe(false);
    expect(new NotFoundException('missing') instanceof copy.NotFoundException).toBe(true);
    expect(new ValidationException('bad') instanceof copy.KmsError).toBe(true);
  });

  it('keeps the cause', () => {
    const cause = new Error('CKR_DEVICE_ERROR');
    const error = new KMSInternalException('The HSM failed.', { cause });
    expect(error.cause).toBe(cause);
  });

  it('has a stack trace naming the exception', () => {
    const error = new AlreadyExistsException('exists');
    expect(error.stack).toMatch(/^AlreadyExistsException: exists/);
  });
});

describe('kmsErrorByName()', () => {
  it('finds a bare shape name', () => {
    expect(kmsErrorByName('NotFoundException')).toBe(NotFoundException);
  });

  it('strips a namespace prefix', () => {
    expect(kmsErrorByName('com.amazonaws.kms#DisabledException')).toBe(DisabledException);
  });

  it('strips a colon suffix', () => {
    expect(kmsErrorByName('ValidationException:http://internal.amazon.com/coral/')).toBe(ValidationException);
  });

  it('returns undefined for unknown names', () => {
    expect(kmsErrorByName('NoSuchException')).toBeUndefined();
    expect(kmsErrorByName('toString')).toBeUndefined();
    expect(kmsErrorByName('KmsError')).toBeUndefined();
    expect(kmsErrorByName('')).toBeUndefined();
  });
});

describe('quoteForMessage()', () => {
  it('quotes a short value', () => {
    expect(quoteForMessage('alias/test')).toBe("'alias/test'");
  });

  it('escapes line breaks', () => {
    expect(quoteForMessage('a\nb')).toBe("'a\\nb'");
  });

  it('cuts long values', () => {
    const quoted = quoteForMessage('x'.repeat(1000));
    expect(quoted).toBe(`'${'x'.repeat(256)}...' (1000 characters)`);
  });
});
