/**
 * Finds the key and HSM cluster that a request used, for its audit line and
 * the `cluster` label of the metrics. The response names the key when the
 * request succeeded. Otherwise the key named in the request, or the key
 * recorded in its ciphertext blob, is looked up, then the key store or
 * cluster it names. Requests that name none of them, or only unknown ones,
 * get the cluster 'none'.
 *
 * The lookups read the metadata database only and never call an HSM.
 */
import { parseCiphertextBlob } from '../kms/blob.js';
import type { Kms } from '../kms/kms.js';

export const NO_CLUSTER = 'none';

export interface RequestTarget {
  cluster: string;
  /** Full ARN of the key, when the request names or used a known key. */
  keyArn?: string;
}

/** Request members that name a key, in the order they are tried. */
const KEY_MEMBERS = ['KeyId', 'DestinationKeyId', 'TargetKeyId'];

type Members = Record<string, unknown>;

export async function targetOfRequest(kms: Kms, request: Members, response: object | undefined): Promise<RequestTarget> {
  const responseMembers = (response ?? {}) as Members;
  const metadata = responseMembers.KeyMetadata as { Arn?: unknown; CloudHsmClusterId?: unknown } | undefined;
  if (typeof metadata?.Arn === 'string' && typeof metadata.CloudHsmClusterId === 'string') {
    return { cluster: metadata.CloudHsmClusterId, keyArn: metadata.Arn };
  }

  const keyIds = [responseMembers.KeyId, ...KEY_MEMBERS.map((member) => request[member]), keyIdOfBlob(request.CiphertextBlob)];
  for (const keyId of keyIds) {
    const target = await targetOfKey(kms, keyId);
    if (target !== undefined) return target;
  }

  const storeCluster = await clusterOfStore(kms, request.CustomKeyStoreId);
  if (storeCluster !== undefined) return { cluster: storeCluster };

  const clusterId = request.CloudHsmClusterId;
  if (typeof clusterId === 'string' && kms.clusterStatus().some((cluster) => cluster.clusterId === clusterId)) {
    return { cluster: clusterId };
  }
  return { cluster: NO_CLUSTER };
}

/** Returns the key ID recorded in a ciphertext blob, or undefined when the blob is not one of this engine's. */
function keyIdOfBlob(blob: unknown): string | undefined {
  if (!(blob instanceof Uint8Array)) return undefined;
  try {
    return parseCiphertextBlob(blob).keyId;
  } catch {
    return undefined;
  }
}

async function targetOfKey(kms: Kms, keyId: unknown): Promise<RequestTarget | undefined> {
  if (typeof keyId !== 'string') return undefined;
  try {
    const { KeyMetadata } = await kms.describeKey({ KeyId: keyId });
    return { cluster: KeyMetadata.CloudHsmClusterId, keyArn: KeyMetadata.Arn };
  } catch {
    // An unknown or malformed key ID: the request's own error already reports it.
    return undefined;
  }
}

async function clusterOfStore(kms: Kms, customKeyStoreId: unknown): Promise<string | undefined> {
  if (typeof customKeyStoreId !== 'string') return undefined;
  try {
    const { CustomKeyStores } = await kms.describeCustomKeyStores({ CustomKeyStoreId: customKeyStoreId });
    return CustomKeyStores[0]?.CloudHsmClusterId;
  } catch {
    return undefined;
  }
}
