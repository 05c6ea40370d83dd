// Many requests in flight at once, from one thread and from worker_threads.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHsm, type Hsm } from '../../src/native.js';
import { useTestTokens, type TestTokens } from '../helpers/tokens.js';

let tokens: TestTokens;
let hsm: Hsm;
const keyId = Buffer.from('concurrency-key');
const aad = Buffer.from('concurrency aad');
const addonPath = process.env.HSM_KMS_ADDON ?? join(import.meta.dirname, '../../build/Release/hsm_kms.node');

beforeAll(async () => {
  tokens = useTestTokens('concurrency', 1);
  hsm = await openHsm({ module: tokens.modulePath, tokenLabel: 'concurrency-0', pin: tokens.pin, sessions: 2 });
  await hsm.generateKey(keyId, Buffer.from('concurrency key'));
});

afterAll(async () => {
  await hsm?.close();
});

async function expectAllDecrypt(sealed: Uint8Array[], expected: (index: number) => string): Promise<void> {
  const ivs = new Set(sealed.map((buffer) => Buffer.from(buffer.subarray(0, 12)).toString('hex')));
  expect(ivs.size).toBe(sealed.length);

  const opened = await Promise.all(
    sealed.map((buffer) => hsm.decrypt(keyId, aad, buffer.subarray(0, 12), buffer.subarray(12))),
  );
  opened.forEach((plaintext, index) => expect(plaintext.toString()).toBe(expected(index)));
}

describe('Hsm under concurrency', () => {
  it('encrypts 10,000 requests in flight on two sessions', async () => {
    const sealed = await Promise.all(
      Array.from({ length: 10_000 }, (_, index) => hsm.encrypt(keyId, aad, Buffer.from(`message ${index}`))),
    );

    await expectAllDecrypt(sealed, (index) => `message ${index}`);
    expect(hsm.stats().sessions).toBe(2);
  });

  it('serves two worker_threads sharing the token', async () => {
    const runWorker = (name: string) =>
      new Promise<Uint8Array[]>((resolve, reject) => {
        const worker = new Worker(join(import.meta.dirname, 'fixtures/encrypt-worker.mjs'), {
          workerData: {
            addonPath,
            module: tokens.modulePath,
            tokenLabel: 'concurrency-0',
            pin: tokens.pin,
            keyId: 'concurrency-key',
            aad: 'concurrency aad',
            count: 10_000,
            name,
          },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`worker ${name} exited with code ${code}`)));
      });

    const [first, second] = await Promise.all([runWorker('a'), runWorker('b')]);

    await expectAllDecrypt(first, (index) => `worker a message ${index}`);
    await expectAllDecrypt(second, (index) => `worker b message ${index}`);
  });

  it('keeps serving this thread after the workers closed their handles', async () => {
    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('after workers'));
    const opened = await hsm.decrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12));
    expect(opened.toString()).toBe('after workers');
  });
});

describe('Hsm and the event loop', () => {
  it('keeps the process alive until in-flight jobs settle', async () => {
    const { execFile } = await import('node:child_process');
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [join(import.meta.dirname, 'fixtures/exit-with-work.mjs')],
        {
          env: {
            ...process.env,
            ADDON_PATH: addonPath,
            MODULE_PATH: tokens.modulePath,
            TOKEN_LABEL: 'concurrency-0',
            PIN: tokens.pin,
          },
          timeout: 30_000,
        },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
    });
    expect(output).toBe('settled 100\n');
  });
});

describe('Hsm at process and worker exit', () => {
  const runChild = (mode: 'exit' | 'throw') =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/exit-mid-flight.ts')], {
        env: { ...process.env, MODULE_PATH: tokens.modulePath, TOKEN_LABEL: 'concurrency-0', PIN: tokens.pin, EXIT_MODE: mode },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
    });

  it.each([1, 2, 3])('exits cleanly through process.exit mid-flight (run %i)', async () => {
    const { code, signal } = await runChild('exit');
    expect(signal).toBeNull();
    expect(code).toBe(0);
  });

  it.each([1, 2, 3])('exits cleanly on an uncaught exception mid-flight (run %i)', async () => {
    const { code, signal, stderr } = await runChild('throw');
    expect(signal).toBeNull();
    expect(code).toBe(1);
    expect(stderr).toContain('deliberate uncaught exception');
  });

  it('survives terminating a worker with jobs in flight', async () => {
    const worker = new Worker(join(import.meta.dirname, 'fixtures/terminate-worker.mjs'), {
      workerData: { addonPath, module: tokens.modulePath, tokenLabel: 'concurrency-0', pin: tokens.pin, keyId: 'concurrency-key' },
    });
    await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();

    const sealed = await hsm.encrypt(keyId, aad, Buffer.from('after terminate'));
    const opened = await hsm.decrypt(keyId, aad, sealed.subarray(0, 12), sealed.subarray(12));
    expect(opened.toString()).toBe('after terminate');
  });
});

describe('addon loaded first by a worker_thread', () => {
  it('lets the process exit cleanly after the worker exits', async () => {
    const { execFile } = await import('node:child_process');
    const script = `
      const { Worker } = require('node:worker_threads');
      const code = 'require(' + JSON.stringify(${JSON.stringify(addonPath)}) + ').setErrorClasses(class extends Error {}, class extends Error {});';
      (async () => {
        for (let i = 0; i < 3; i++) {
          await new Promise((resolve, reject) => {
            const worker = new Worker(code, { eval: true });
            worker.on('exit', resolve);
            worker.on('error', reject);
          });
        }
        process.stdout.write('done');
      })();
    `;
    const outcome = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['-e', script], (_error, stdout) => resolve({ code: child.exitCode, signal: child.signalCode, stdout }));
    });
    expect(outcome.signal).toBeNull();
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toBe('done');
  });
});
