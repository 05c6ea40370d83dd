// Throughput of the addon alone: AES-256-GCM encryptions or decryptions of a
// fixed payload through `Hsm`, with a fixed number of requests in flight.
import { performance } from 'node:perf_hooks';
import type { Hsm } from '../dist/native.js';

export interface AddonLoopOptions {
  hsm: Hsm;
  keyId: Uint8Array;
  operation: 'encrypt' | 'decrypt';
  bytes: number;
  inFlight: number;
  seconds: number;
}

/** Runs the loop for `seconds` and returns operations per second. */
export async function runAddonLoop(options: AddonLoopOptions): Promise<number> {
  const { hsm, keyId, inFlight } = options;
  const aad = Buffer.alloc(32, 7);
  const payload = Buffer.alloc(options.bytes, 1);
  const sealed = await hsm.encrypt(keyId, aad, payload);
  const iv = sealed.subarray(0, 12);
  const body = sealed.subarray(12);
  const call =
    options.operation === 'encrypt'
      ? () => hsm.encrypt(keyId, aad, payload)
      : () => hsm.decrypt(keyId, aad, iv, body);

  let completed = 0;
  const deadline = performance.now() + options.seconds * 1000;
  const started = performance.now();
  // Each worker keeps one request in flight until the deadline.
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await call();
      completed += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return completed / ((performance.now() - started) / 1000);
}
