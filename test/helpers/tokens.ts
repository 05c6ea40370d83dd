// Token sets for tests. Each test file runs in its own process and gets its
// own folder of SoftHSM2 tokens, so files never contend for token files.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { provisionSoftHsm, type SoftHsmTokenSet } from '../../src/softhsm.js';

export interface TestTokens extends SoftHsmTokenSet {
  pin: string;
  soPin: string;
}

/**
 * Provisions `count` tokens labelled `<name>-0`, `<name>-1`, ... and points
 * this process's SoftHSM2 at them. Call it before the first openHsm of the
 * process, because SoftHSM2 reads SOFTHSM2_CONF only at C_Initialize.
 */
export function useTestTokens(name: string, count: number): TestTokens {
  const root = process.env.HSM_KMS_TEST_ROOT;
  if (!root) throw new Error('HSM_KMS_TEST_ROOT is not set: run the tests through vitest and its global setup');
  const pin = randomBytes(8).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  const labels = Array.from({ length: count }, (_, index) => `${name}-${index}`);
  const tokenSet = provisionSoftHsm({
    dir: join(root, `${name}-${process.pid}`),
    tokenLabels: labels,
    userPin: pin,
    soPin,
  });
  process.env.SOFTHSM2_CONF = tokenSet.confPath;
  return { ...tokenSet, pin, soPin };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Imports one random cluster wrapping key, with the CKA_ID the KMS layer
 * uses by default, into each of `tokenLabels`, as `hsm-kms init` does.
 */
export async function createTestWrappingKeys(tokens: TestTokens, tokenLabels: string[]): Promise<void> {
  const { createWrappingKey } = await import('../../src/native.js');
  const { DEFAULT_WRAPPING_KEY_ID } = await import('../../src/kms/config.js');
  const value = randomBytes(32);
  try {
    for (const tokenLabel of tokenLabels) {
      await createWrappingKey({
        module: tokens.modulePath,
        tokenLabel,
        soPin: Buffer.from(tokens.soPin),
        keyId: Buffer.from(DEFAULT_WRAPPING_KEY_ID),
        label: 'cluster wrapping key',
        value,
      });
    }
  } finally {
    value.fill(0);
  }
}
