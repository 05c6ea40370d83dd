// `hsm-kms init` and `hsm-kms serve` as child processes: init writes an
// access key pair, serve accepts requests signed with it and stops cleanly on
// SIGTERM, and serve without a key refuses to start.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KMS } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';
import { sendRaw } from '../helpers/kms-server.js';
import { waitFor } from '../helpers/tokens.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '../../src/cli.ts');
const root = process.env.HSM_KMS_TEST_ROOT!;

const children: ChildProcessWithoutNullStreams[] = [];

/** Starts `hsm-kms serve` on a free port and resolves once it logs its URL. */
async function startServe(dataDir: string, ...flags: string[]): Promise<{ child: ChildProcessWithoutNullStreams; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--data-dir', dataDir, 'serve', '--port', '0', ...flags]);
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  let url: string | undefined;
  await waitFor(() => {
    const listening = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; url?: string })
      .find((line) => line.msg === 'hsm-kms server listening');
    url = listening?.url;
    return url !== undefined || child.exitCode !== null;
  }, 20_000);
  if (url === undefined) throw new Error(`hsm-kms serve did not start:\n${output}`);
  return { child, url, output: () => output };
}

function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

describe('hsm-kms serve', () => {
  const dataDir = mkdtempSync(join(root, 'serve-'));

  it('init writes an access key pair', async () => {
    await run(process.execPath, ['--import', 'tsx', cli, '--data-dir', dataDir, 'init', '--hsms', '1']);

    const credentials = JSON.parse(readFileSync(join(dataDir, 'credentials.json'), 'utf8')) as Record<string, string>;
    expect(credentials.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(credentials.secretAccessKey).toHaveLength(40);
    expect(statSync(join(dataDir, 'credentials.json')).mode & 0o777).toBe(0o600);
  });

  it('serves signed requests and stops on SIGTERM', async () => {
    const credentials = JSON.parse(readFileSync(join(dataDir, 'credentials.json'), 'utf8')) as Record<string, string>;
    const { child, url, output } = await startServe(dataDir);

    expect(new URL(url).hostname).toBe('127.0.0.1');
    const client = new KMS({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: credentials.accessKeyId!, secretAccessKey: credentials.secretAccessKey! },
      maxAttempts: 1,
    });
    expect((await client.listKeys({})).Keys).toEqual([]);
    const metrics = await sendRaw(url, { method: 'GET', path: '/metrics' });
    expect(metrics.text).toContain('hsm_kms_process_cpu_user_seconds_total');

    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    expect(output()).toContain('"msg":"hsm-kms server closed"');
    expect(output()).not.toContain(credentials.secretAccessKey);
    expect(output()).not.toContain(credentials.keyStorePassword);
  });

  it('accepts unsigned requests with --insecure-no-auth', async () => {
    const { child, url, output } = await startServe(dataDir, '--insecure-no-auth');

    const response = await sendRaw(url, {
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.ListKeys' },
      body: '{}',
    });

    expect(response.status).toBe(200);
    expect(output()).toContain('Authentication is off (insecure-no-auth)');
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
  });

  it('refuses to start without an access key', async () => {
    const emptyDir = mkdtempSync(join(root, 'serve-empty-'));
    const child = spawn(process.execPath, ['--import', 'tsx', cli, '--data-dir', emptyDir, 'serve', '--port', '0'], {
      env: { ...process.env, HSM_KMS_ACCESS_KEY_ID: '', HSM_KMS_SECRET_ACCESS_KEY: '' },
    });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

    expect(await exitOf(child)).toBe(1);
    expect(stderr).toContain('No access key for SigV4 requests: run "hsm-kms init');
  });
});
