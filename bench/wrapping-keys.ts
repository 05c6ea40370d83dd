// Child task that imports one cluster wrapping key into every token of the
// run. A cluster of two HSMs copies each new key from one token to the other
// under this key, so the facade needs it on both tokens before its first
// CreateKey. It runs in a child of its own because createWrappingKey must run
// before any user session of the process is open on the token.
import { randomBytes } from 'node:crypto';
import { DEFAULT_WRAPPING_KEY_ID } from '../dist/kms/config.js';
import { createWrappingKey } from '../dist/native.js';

export interface WrappingKeyTask {
  kind: 'wrapping-key';
  modulePath: string;
  tokenLabels: string[];
  soPin: string;
}

export async function runWrappingKeyTask(task: WrappingKeyTask): Promise<void> {
  const value = randomBytes(32);
  try {
    for (const tokenLabel of task.tokenLabels) {
      await createWrappingKey({
        module: task.modulePath,
        tokenLabel,
        soPin: Buffer.from(task.soPin),
        keyId: Buffer.from(DEFAULT_WRAPPING_KEY_ID),
        label: 'hsm-kms benchmark cluster wrapping key',
        value,
      });
    }
  } finally {
    value.fill(0);
  }
}
