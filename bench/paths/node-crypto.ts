// AES-256-GCM in node:crypto (Node's bundled OpenSSL) with the keys in
// process memory: no HSM, so it shows what the HSM boundary costs. The calls
// are synchronous, so each request runs in its own event-loop turn (see
// inOwnTurn), as in a server.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { RequestFunction } from '../closed-loop.js';
import type { Operation } from '../workloads.js';
import { BENCH_AAD, inOwnTurn, type BenchPath } from './bench-path.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Returns IV || ciphertext || tag, the layout of the addon's ciphertexts. */
function encrypt(key: Buffer, plaintext: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(BENCH_AAD);
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(key: Buffer, sealed: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(BENCH_AAD);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plaintext = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
  decipher.final();
  return plaintext;
}

export function openNodeCryptoPath(): BenchPath {
  const key = randomBytes(32);
  const destinationKey = randomBytes(32);

  return {
    async prepare(operation: Operation, bytes: number) {
      const plaintext = Buffer.alloc(bytes, 1);
      const sealed = encrypt(key, plaintext);
      let request: RequestFunction;
      switch (operation) {
        case 'Encrypt':
          request = inOwnTurn(() => encrypt(key, plaintext));
          break;
        case 'Decrypt':
          request = inOwnTurn(() => decrypt(key, sealed));
          break;
        case 'GenerateDataKey':
          request = inOwnTurn(() => {
            const dataKey = randomBytes(bytes);
            return { plaintext: dataKey, ciphertext: encrypt(key, dataKey) };
          });
          break;
        case 'ReEncrypt':
          request = inOwnTurn(() => encrypt(destinationKey, decrypt(key, sealed)));
          break;
      }
      return () => request;
    },
    async close() {
      key.fill(0);
      destinationKey.fill(0);
    },
  };
}
