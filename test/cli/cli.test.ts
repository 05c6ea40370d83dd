// The hsm-kms command: init, the demo (the main job of `npm start`) and
// error reporting, each run as a child process on a fresh data folder.
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '../../src/cli.ts');
const root = process.env.HSM_KMS_TEST_ROOT!;

async function hsmKms(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8' });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

describe('hsm-kms CLI', () => {
  const dataDir = mkdtempSync(join(root, 'cli-'));

  it('runs the demo on a fresh data folder', async () => {
    const { stdout, code } = await hsmKms('demo', '--data-dir', dataDir, '--hsms', '1');

    expect(code).toBe(0);
    for (const step of [
      'init: created cluster-local',
      'ConnectCustomKeyStore:',
      'CreateKey: arn:aws:kms:',
      'Encrypt: 42 bytes',
      'Decrypt: "Hello from a key that never leaves the HSM"',
      'different encryption context: InvalidCiphertextException',
      'GenerateDataKey: 32-byte data key',
      'GenerateDataKeyWithoutPlaintext: 64-byte',
      'ReEncrypt: new context',
      'GenerateRandom: ',
      'clusterStatus: cluster-local CONNECTED, 1 active HSM(s)',
    ]) {
      expect(stdout).toContain(step);
    }
  });

  it('keeps credentials readable by the owner only', () => {
    expect(statSync(join(dataDir, 'credentials.json')).mode & 0o777).toBe(0o600);
  });

  it('reuses the store and key on a second demo run', async () => {
    const { stdout, code } = await hsmKms('demo', '--data-dir', dataDir);
    expect(code).toBe(0);
    expect(stdout).toContain('init: using the existing configuration');
    expect(stdout).toContain('DescribeKey: reusing');
  });

  it('round-trips encrypt and decrypt', async () => {
    const encrypted = await hsmKms(
      'encrypt', '--data-dir', dataDir, '--key-id', 'alias/hsm-kms-demo', '--plaintext', 'cli message', '--context', 'a=b',
    );
    const blob = JSON.parse(encrypted.stdout).CiphertextBlob as string;

    const decrypted = await hsmKms('decrypt', '--data-dir', dataDir, '--ciphertext-blob', blob, '--context', 'a=b');
    expect(Buffer.from(JSON.parse(decrypted.stdout).Plaintext, 'base64').toString()).toBe('cli message');
  });

  it('reports a KMS exception by name with exit code 1', async () => {
    const { stderr, code } = await hsmKms('describe-key', '--data-dir', dataDir, '--key-id', 'alias/missing');
    expect(code).toBe(1);
    expect(stderr).toBe("NotFoundException: Alias 'alias/missing' does not exist. List aliases with ListAliases.\n");
  });

  it('rejects encrypt without plaintext', async () => {
    const { stderr, code } = await hsmKms('encrypt', '--data-dir', dataDir, '--key-id', 'alias/hsm-kms-demo');
    expect(code).toBe(1);
    expect(stderr).toContain('give --plaintext TEXT or --plaintext-file FILE');
  });

  it('rejects an init PIN outside 7 to 32 characters', async () => {
    const { stderr, code } = await hsmKms('init', '--data-dir', mkdtempSync(join(root, 'cli-pin-')), '--pin', 'short');
    expect(code).toBe(1);
    expect(stderr).toContain('Invalid --pin');
    expect(stderr).not.toContain('short');
  });
});
