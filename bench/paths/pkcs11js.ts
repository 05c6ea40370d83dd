// The alternative a Node.js developer would write instead of this engine:
// pkcs11js (PeculiarVentures' N-API binding of PKCS#11) on the same module
// and tokens.
//
// Setup: C_Initialize with CKF_OS_LOCKING_OK, because the async forms run on
// libuv's thread pool and SoftHSM2 turns its locks off without that flag. One
// read-write session per token logs in and generates two AES-256 token keys
// (private, sensitive, not extractable), used directly as a pkcs11js user
// would, without session-object copies. Every encryption draws a random
// 96-bit IV with crypto.randomBytes and passes 32 bytes of AAD.
//
// - async: each closed-loop worker owns a session, so requests in flight
//   never share one. C_EncryptInit and C_DecryptInit run on the event loop
//   (pkcs11js has no async form of them). C_Encrypt and C_Decrypt run through
//   C_EncryptAsync and C_DecryptAsync, on libuv's pool (4 threads unless
//   UV_THREADPOOL_SIZE sets another count).
// - sync: one session per token, every call on the event loop.
//
// GenerateDataKey is C_GenerateRandom (synchronous in pkcs11js) followed by an
// encryption of the random bytes. ReEncrypt decrypts into a JavaScript Buffer
// and encrypts that under the second key.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import type { Handle, Mechanism, PKCS11 } from 'pkcs11js';
import type { RequestFunction } from '../closed-loop.js';
import type { Operation } from '../workloads.js';
import { BENCH_AAD, inOwnTurn, type BenchPath, type PathContext } from './bench-path.js';

const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');

const KEY_LABEL = 'hsm-kms benchmark key (pkcs11js)';
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface Token {
  slot: Handle;
  /** Read-write session that logs in, generates the keys and serves the synchronous calls. */
  anchor: Handle;
  key: Handle;
  destinationKey: Handle;
}

function gcmMechanism(iv: Buffer): Mechanism {
  // CK_PARAMS_AES_GCM_v240 is the six-field CK_GCM_PARAMS of PKCS#11 2.40
  // with ulIvBits set. pkcs11js's CK_PARAMS_AES_GCM leaves ulIvBits unset.
  return {
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: IV_BYTES * 8, aad: BENCH_AAD, tagBits: TAG_BYTES * 8 },
  } as Mechanism;
}

function findSlot(module: PKCS11, label: string): Handle {
  for (const slot of module.C_GetSlotList(true)) {
    if (module.C_GetTokenInfo(slot).label.trimEnd() === label) return slot;
  }
  throw new Error(`pkcs11js: no slot has a token labeled "${label}". Check SOFTHSM2_CONF.`);
}

function generateKey(module: PKCS11, session: Handle): Handle {
  return module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_LABEL, value: KEY_LABEL },
  ]);
}

/** Encryption and decryption on one session, synchronous or on libuv's pool. The four operations are built from them. */
interface Calls {
  encrypt(session: Handle, key: Handle, plaintext: Buffer): Buffer | Promise<Buffer>;
  decrypt(session: Handle, key: Handle, sealed: Buffer): Buffer | Promise<Buffer>;
}

function syncCalls(module: PKCS11): Calls {
  return {
    encrypt(session, key, plaintext) {
      const iv = randomBytes(IV_BYTES);
      module.C_EncryptInit(session, gcmMechanism(iv), key);
      const ciphertext = module.C_Encrypt(session, plaintext, Buffer.allocUnsafe(plaintext.length + TAG_BYTES));
      return Buffer.concat([iv, ciphertext]);
    },
    decrypt(session, key, sealed) {
      module.C_DecryptInit(session, gcmMechanism(sealed.subarray(0, IV_BYTES)), key);
      // SoftHSM2 2.6 needs an output buffer as long as ciphertext and tag.
      const body = sealed.subarray(IV_BYTES);
      return module.C_Decrypt(session, body, Buffer.allocUnsafe(body.length));
    },
  };
}

function asyncCalls(module: PKCS11): Calls {
  return {
    async encrypt(session, key, plaintext) {
      const iv = randomBytes(IV_BYTES);
      module.C_EncryptInit(session, gcmMechanism(iv), key);
      const ciphertext = await module.C_EncryptAsync(session, plaintext, Buffer.allocUnsafe(plaintext.length + TAG_BYTES));
      return Buffer.concat([iv, ciphertext]);
    },
    async decrypt(session, key, sealed) {
      module.C_DecryptInit(session, gcmMechanism(sealed.subarray(0, IV_BYTES)), key);
      const body = sealed.subarray(IV_BYTES);
      return module.C_DecryptAsync(session, body, Buffer.allocUnsafe(body.length));
    },
  };
}

export async function openPkcs11jsPath(context: PathContext, mode: 'async' | 'sync'): Promise<BenchPath> {
  const module = new pkcs11js.PKCS11();
  module.load(context.modulePath);
  module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });

  const tokens: Token[] = context.tokenLabels.map((label) => {
    const slot = findSlot(module, label);
    const anchor = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    module.C_Login(anchor, pkcs11js.CKU_USER, context.pin);
    return { slot, anchor, key: generateKey(module, anchor), destinationKey: generateKey(module, anchor) };
  });

  // Async: worker i owns session i, on token i mod the token count. Sync:
  // one session per token, because synchronous calls never overlap.
  const workerSessions: Handle[] = [];
  const sessionOf = (workerIndex: number): Handle => {
    if (mode === 'sync') return tokens[workerIndex % tokens.length]!.anchor;
    while (workerSessions.length <= workerIndex) {
      const token = tokens[workerSessions.length % tokens.length]!;
      workerSessions.push(module.C_OpenSession(token.slot, pkcs11js.CKF_SERIAL_SESSION));
    }
    return workerSessions[workerIndex]!;
  };
  const calls = mode === 'async' ? asyncCalls(module) : syncCalls(module);

  return {
    async prepare(operation, bytes) {
      const plaintext = Buffer.alloc(bytes, 1);
      // One ciphertext per token, made by the synchronous calls.
      const setup = syncCalls(module);
      const sealed = tokens.map((token) => setup.encrypt(token.anchor, token.key, plaintext) as Buffer);
      return (workerIndex) => {
        const token = tokens[workerIndex % tokens.length]!;
        const tokenSealed = sealed[workerIndex % tokens.length]!;
        const session = sessionOf(workerIndex);
        const run = requestBody(calls, operation, session, token, plaintext, tokenSealed, bytes, module);
        return mode === 'async' ? run : inOwnTurn(run);
      };
    },
    async close() {
      for (const session of workerSessions) module.C_CloseSession(session);
      for (const token of tokens) {
        module.C_DestroyObject(token.anchor, token.key);
        module.C_DestroyObject(token.anchor, token.destinationKey);
        module.C_CloseSession(token.anchor);
      }
      module.C_Finalize();
      module.close();
    },
  };
}

function requestBody(
  calls: Calls,
  operation: Operation,
  session: Handle,
  token: Token,
  plaintext: Buffer,
  sealed: Buffer,
  bytes: number,
  module: PKCS11,
): RequestFunction {
  switch (operation) {
    case 'Encrypt':
      return async () => calls.encrypt(session, token.key, plaintext);
    case 'Decrypt':
      return async () => calls.decrypt(session, token.key, sealed);
    case 'GenerateDataKey':
      return async () => {
        const dataKey = module.C_GenerateRandom(session, Buffer.allocUnsafe(bytes));
        return { plaintext: dataKey, ciphertext: await calls.encrypt(session, token.key, dataKey) };
      };
    case 'ReEncrypt':
      return async () => {
        const recovered = await calls.decrypt(session, token.key, sealed);
        return calls.encrypt(session, token.destinationKey, recovered);
      };
  }
}
