/**
 * Access keys that the server accepts in SigV4 signatures. They come from
 * `<dataDir>/credentials.json` (written by `hsm-kms init`) and from the
 * environment variables HSM_KMS_ACCESS_KEY_ID and HSM_KMS_SECRET_ACCESS_KEY.
 * Secrets never appear in messages or logs.
 */
import { readLocalCredentials } from '../local-cluster.js';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export const ACCESS_KEY_ID_VARIABLE = 'HSM_KMS_ACCESS_KEY_ID';
export const SECRET_ACCESS_KEY_VARIABLE = 'HSM_KMS_SECRET_ACCESS_KEY';

/** AWS access key IDs are 16 to 128 word characters; the ones `hsm-kms init` writes have 20. */
const ACCESS_KEY_ID_PATTERN = /^\w{16,128}$/;

/** Checks one access key and returns it, or throws a TypeError that names `source`. */
export function validateAccessKey(key: Partial<AccessKey>, source: string): AccessKey {
  if (typeof key.accessKeyId !== 'string' || !ACCESS_KEY_ID_PATTERN.test(key.accessKeyId)) {
    throw new TypeError(`Invalid access key ID in ${source}: use 16 to 128 letters, digits or underscores`);
  }
  if (typeof key.secretAccessKey !== 'string' || key.secretAccessKey.length < 16) {
    throw new TypeError(`Invalid secret access key for ${key.accessKeyId} in ${source}: use at least 16 characters`);
  }
  return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
}

/**
 * Reads the access keys of a data folder and the environment. Returns an
 * empty list when neither has one. An empty variable counts as unset.
 * Throws when only one of the two variables is set, or when a key is
 * malformed.
 */
export function loadAccessKeys(dataDir: string, environment: NodeJS.ProcessEnv = process.env): AccessKey[] {
  const keys: AccessKey[] = [];

  const credentials = readLocalCredentials(dataDir);
  if (credentials?.accessKeyId !== undefined || credentials?.secretAccessKey !== undefined) {
    keys.push(validateAccessKey(credentials, `${dataDir}/credentials.json`));
  }

  const accessKeyId = environment[ACCESS_KEY_ID_VARIABLE] || undefined;
  const secretAccessKey = environment[SECRET_ACCESS_KEY_VARIABLE] || undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new TypeError(`Set both ${ACCESS_KEY_ID_VARIABLE} and ${SECRET_ACCESS_KEY_VARIABLE}, or neither`);
  }
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    keys.push(validateAccessKey({ accessKeyId, secretAccessKey }, 'the environment'));
  }
  return keys;
}
