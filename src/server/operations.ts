/**
 * The operations the server exposes, keyed by their X-Amz-Target name. Each
 * entry lists the request members that are binary (base64 on the wire) and
 * calls the facade method of the same operation.
 *
 * Requests reach the facade as parsed JSON. The facade validates every member
 * it reads, because it is written for untrusted input, so the casts below
 * only satisfy the compiler.
 */
import type { Kms } from '../kms/kms.js';
import type * as T from '../kms/types.js';

type WireRequest = Record<string, unknown>;

export interface OperationSpec {
  /** Request members that carry binary data, as base64 strings on the wire. */
  readonly blobMembers: readonly string[];
  invoke(kms: Kms, request: WireRequest): Promise<object>;
}

function operation<Request>(
  invoke: (kms: Kms, request: Request) => Promise<object>,
  blobMembers: readonly string[] = [],
): OperationSpec {
  return { blobMembers, invoke: (kms, request) => invoke(kms, request as Request) };
}

const OPERATIONS: ReadonlyMap<string, OperationSpec> = new Map([
  // Cryptographic operations.
  ['Encrypt', operation<T.EncryptRequest>((kms, request) => kms.encrypt(request), ['Plaintext'])],
  ['Decrypt', operation<T.DecryptRequest>((kms, request) => kms.decrypt(request), ['CiphertextBlob'])],
  ['GenerateDataKey', operation<T.GenerateDataKeyRequest>((kms, request) => kms.generateDataKey(request))],
  [
    'GenerateDataKeyWithoutPlaintext',
    operation<T.GenerateDataKeyWithoutPlaintextRequest>((kms, request) => kms.generateDataKeyWithoutPlaintext(request)),
  ],
  ['ReEncrypt', operation<T.ReEncryptRequest>((kms, request) => kms.reEncrypt(request), ['CiphertextBlob'])],
  ['GenerateRandom', operation<T.GenerateRandomRequest>((kms, request) => kms.generateRandom(request))],

  // Keys.
  ['CreateKey', operation<T.CreateKeyRequest>((kms, request) => kms.createKey(request))],
  ['DescribeKey', operation<T.DescribeKeyRequest>((kms, request) => kms.describeKey(request))],
  ['ListKeys', operation<T.ListKeysRequest>((kms, request) => kms.listKeys(request))],
  ['EnableKey', operation<T.KeyIdRequest>((kms, request) => kms.enableKey(request))],
  ['DisableKey', operation<T.KeyIdRequest>((kms, request) => kms.disableKey(request))],
  ['ScheduleKeyDeletion', operation<T.ScheduleKeyDeletionRequest>((kms, request) => kms.scheduleKeyDeletion(request))],
  ['CancelKeyDeletion', operation<T.KeyIdRequest>((kms, request) => kms.cancelKeyDeletion(request))],

  // Aliases.
  ['CreateAlias', operation<T.AliasRequest>((kms, request) => kms.createAlias(request))],
  ['UpdateAlias', operation<T.AliasRequest>((kms, request) => kms.updateAlias(request))],
  ['DeleteAlias', operation<T.DeleteAliasRequest>((kms, request) => kms.deleteAlias(request))],
  ['ListAliases', operation<T.ListAliasesRequest>((kms, request) => kms.listAliases(request))],

  // Custom key stores.
  [
    'CreateCustomKeyStore',
    operation<T.CreateCustomKeyStoreRequest>((kms, request) => kms.createCustomKeyStore(request)),
  ],
  [
    'ConnectCustomKeyStore',
    operation<T.CustomKeyStoreIdRequest>((kms, request) => kms.connectCustomKeyStore(request)),
  ],
  [
    'DisconnectCustomKeyStore',
    operation<T.CustomKeyStoreIdRequest>((kms, request) => kms.disconnectCustomKeyStore(request)),
  ],
  [
    'DescribeCustomKeyStores',
    operation<T.DescribeCustomKeyStoresRequest>((kms, request) => kms.describeCustomKeyStores(request)),
  ],
  [
    'UpdateCustomKeyStore',
    operation<T.UpdateCustomKeyStoreRequest>((kms, request) => kms.updateCustomKeyStore(request)),
  ],
  [
    'DeleteCustomKeyStore',
    operation<T.CustomKeyStoreIdRequest>((kms, request) => kms.deleteCustomKeyStore(request)),
  ],
]);

/** Names of every operation the server serves, in table order. */
export const OPERATION_NAMES: readonly string[] = [...OPERATIONS.keys()];

/** Returns the operation named `name`, or undefined when the server does not serve it. */
export function findOperation(name: string): OperationSpec | undefined {
  return OPERATIONS.get(name);
}
