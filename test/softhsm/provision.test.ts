// SoftHSM2 provisioning: input checks and secret-free error messages.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { provisionSoftHsm } from '../../src/softhsm.js';

const root = process.env.HSM_KMS_TEST_ROOT!;

describe('provisionSoftHsm', () => {
  it('rejects a PIN shorter than 4 bytes without naming it', () => {
    const call = () =>
      provisionSoftHsm({ dir: mkdtempSync(join(root, 'prov-')), tokenLabels: ['p'], userPin: '12', soPin: 'so-secret-PIN-4242' });
    expect(call).toThrow('Invalid userPin: a SoftHSM2 PIN has 4 to 255 bytes');
    expect(call).not.toThrow(/so-secret-PIN-4242/);
  });

  it('rejects a label longer than 32 bytes', () => {
    const call = () =>
      provisionSoftHsm({ dir: mkdtempSync(join(root, 'prov-')), tokenLabels: ['x'.repeat(33)], userPin: '1234', soPin: '5678' });
    expect(call).toThrow('a SoftHSM2 label has 1 to 32 bytes');
  });

  it('creates tokens once and keeps them on a second call', () => {
    const dir = mkdtempSync(join(root, 'prov-'));
    const first = provisionSoftHsm({ dir, tokenLabels: ['again-0'], userPin: '1234', soPin: '5678' });
    const second = provisionSoftHsm({ dir, tokenLabels: ['again-0', 'again-1'], userPin: '1234', soPin: '5678' });
    expect(second.confPath).toBe(first.confPath);
    expect(second.tokenLabels).toEqual(['again-0', 'again-1']);
  });
});
