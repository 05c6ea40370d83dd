// Makes sure SoftHSM2 is installed (installing the Debian package when
// running as root) and gives every test process one scratch folder, under
// which each test file provisions its own tokens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSoftHsmInstalled } from '../../src/softhsm.js';

export default function setup(): () => void {
  const { modulePath } = ensureSoftHsmInstalled();
  const root = mkdtempSync(join(tmpdir(), 'hsm-kms-test-'));
  process.env.HSM_KMS_TEST_ROOT = root;
  process.env.HSM_KMS_TEST_MODULE = modulePath;
  return () => {
    if (!process.env.HSM_KMS_KEEP_TEST_TOKENS) rmSync(root, { recursive: true, force: true });
  };
}
