// The native addon without the KMS layer: one `Hsm` handle per token with
// its default options (one session and executor thread, session-object key
// copies), and requests spread over the tokens by worker index.
import { randomBytes } from 'node:crypto';
import { openHsm, type Hsm } from '../../dist/native.js';
import type { RequestFunction } from '../closed-loop.js';
import type { Operation } from '../workloads.js';
import { BENCH_AAD, type BenchPath, type PathContext } from './bench-path.js';

const KEY_LABEL = Buffer.from('hsm-kms benchmark key (addon)');

/** IV length of the ciphertexts the addon returns (IV || ciphertext || tag). */
const IV_BYTES = 12;

export async function openAddonPath(context: PathContext): Promise<BenchPath> {
  const hsms: Hsm[] = [];
  for (const tokenLabel of context.tokenLabels) {
    hsms.push(await openHsm({ module: context.modulePath, tokenLabel, pin: context.pin }));
  }
  // The same two CKA_IDs on every token: the key of every request, and the
  // destination of ReEncrypt.
  const keyId = randomBytes(16);
  const destinationKeyId = randomBytes(16);
  for (const hsm of hsms) {
    await hsm.generateKey(keyId, KEY_LABEL);
    await hsm.generateKey(destinationKeyId, KEY_LABEL);
  }

  return {
    prepare: (operation, bytes) => prepareAddonRequests(hsms, operation, bytes, keyId, destinationKeyId),
    async close() {
      for (const hsm of hsms) {
        await hsm.destroyKey(keyId);
        await hsm.destroyKey(destinationKeyId);
        await hsm.close();
      }
    },
  };
}

/** Returns request functions. Worker i sends its requests to HSM i mod the HSM count. */
export async function prepareAddonRequests(
  hsms: Hsm[],
  operation: Operation,
  bytes: number,
  keyId: Uint8Array,
  destinationKeyId: Uint8Array,
): Promise<(workerIndex: number) => RequestFunction> {
  const plaintext = Buffer.alloc(bytes, 1);
  const requests: RequestFunction[] = [];
  for (const hsm of hsms) {
    switch (operation) {
      case 'Encrypt':
        requests.push(() => hsm.encrypt(keyId, BENCH_AAD, plaintext));
        break;
      case 'Decrypt': {
        const sealed = await hsm.encrypt(keyId, BENCH_AAD, plaintext);
        const iv = sealed.subarray(0, IV_BYTES);
        const body = sealed.subarray(IV_BYTES);
        requests.push(() => hsm.decrypt(keyId, BENCH_AAD, iv, body));
        break;
      }
      case 'GenerateDataKey':
        requests.push(() => hsm.generateDataKey(keyId, BENCH_AAD, bytes, true));
        break;
      case 'ReEncrypt': {
        const sealed = await hsm.encrypt(keyId, BENCH_AAD, plaintext);
        const iv = sealed.subarray(0, IV_BYTES);
        const body = sealed.subarray(IV_BYTES);
        requests.push(() => hsm.reEncrypt(keyId, BENCH_AAD, iv, body, hsm, destinationKeyId, BENCH_AAD));
        break;
      }
    }
  }
  return (workerIndex) => requests[workerIndex % requests.length]!;
}
