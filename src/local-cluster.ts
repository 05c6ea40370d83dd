// A local HSM cluster made of SoftHSM2 tokens, for development and the demo:
// `hsm-kms init` creates the tokens under the data folder and writes the
// engine's config.json and credentials.json.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONFIG_FILE, DEFAULT_WRAPPING_KEY_ID, type EngineConfig } from './kms/config.js';
import { createWrappingKey } from './native.js';
import { provisionSoftHsm } from './softhsm.js';

export const LOCAL_CLUSTER_ID = 'cluster-local';
export const CREDENTIALS_FILE = 'credentials.json';

/** Secrets of a local cluster, kept in `<dataDir>/credentials.json` with mode 0600. */
export interface LocalCredentials {
  /** PIN of the crypto user on every token; it is the KeyStorePassword of the key store. */
  keyStorePassword: string;
  /** PIN of the security officer on every token. */
  securityOfficerPin: string;
  /** Access key ID that `hsm-kms serve` accepts in SigV4 signatures; absent in files written before it existed. */
  accessKeyId?: string;
  /** Secret of `accessKeyId`. */
  secretAccessKey?: string;
}

export interface InitOptions {
  dataDir: string;
  /** Tokens (HSMs) in the cluster; default 2. */
  hsms?: number;
  /** Crypto user PIN (7 to 32 characters, the KeyStorePassword limits); random when omitted. */
  pin?: string;
}

export interface InitResult {
  configPath: string;
  credentialsPath: string;
  tokenLabels: string[];
  /** False when the data folder already had a configuration, which was kept. */
  created: boolean;
  /** Access key ID in credentials.json, for SigV4 requests to `hsm-kms serve`; the secret stays in the file. */
  accessKeyId?: string;
}

function randomPin(): string {
  // 24 characters of base64url: 144 bits, inside the 7 to 32 character limit.
  return randomBytes(18).toString('base64url');
}

/** Characters of AWS access key IDs after the 'AKIA' prefix: upper-case letters and the digits 2 to 7 (base32). */
const ACCESS_KEY_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Returns a new access key pair in the AWS format: a 20-character ID starting with AKIA and a 40-character secret. */
export function newAccessKey(): { accessKeyId: string; secretAccessKey: string } {
  const idBytes = randomBytes(16);
  let accessKeyId = 'AKIA';
  for (const byte of idBytes) accessKeyId += ACCESS_KEY_ID_ALPHABET[byte % ACCESS_KEY_ID_ALPHABET.length];
  // 30 random bytes are 40 base64 characters (240 bits).
  return { accessKeyId, secretAccessKey: randomBytes(30).toString('base64') };
}

function writeCredentials(path: string, credentials: LocalCredentials): void {
  writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
}

/**
 * Imports one cluster wrapping key, the same random value on every token,
 * so keys can be copied between the local HSMs. The value exists in this
 * process's memory only for the moment of the import, and is then wiped.
 * NOTE: if the import fails on some tokens, a later run generates a new
 * value for those only. Delete the data folder and run init again.
 */
async function createLocalWrappingKeys(
  tokens: { modulePath: string; confPath: string },
  tokenLabels: string[],
  securityOfficerPin: string,
): Promise<void> {
  // SoftHSM2 reads its configuration at C_Initialize, in this process.
  process.env.SOFTHSM2_CONF = tokens.confPath;
  const value = randomBytes(32);
  const soPin = Buffer.from(securityOfficerPin, 'utf8');
  try {
    for (const tokenLabel of tokenLabels) {
      await createWrappingKey({
        module: tokens.modulePath,
        tokenLabel,
        soPin,
        keyId: Buffer.from(DEFAULT_WRAPPING_KEY_ID, 'utf8'),
        label: 'hsm-kms cluster wrapping key',
        value,
      });
    }
  } finally {
    value.fill(0);
    soPin.fill(0);
  }
}

/** Reads the local cluster's credentials, or returns undefined when the file does not exist. */
export function readLocalCredentials(dataDir: string): LocalCredentials | undefined {
  const path = join(dataDir, CREDENTIALS_FILE);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as LocalCredentials;
}

/**
 * Creates the SoftHSM2 tokens of `cluster-local` under `<dataDir>/softhsm`,
 * then writes config.json and credentials.json. A data folder that already
 * has a config.json is left unchanged, except that a credentials.json
 * without an access key (written by an older version) gets one.
 */
export async function initLocalCluster(options: InitOptions): Promise<InitResult> {
  const dataDir = resolve(options.dataDir);
  const configPath = join(dataDir, CONFIG_FILE);
  const credentialsPath = join(dataDir, CREDENTIALS_FILE);
  if (existsSync(configPath)) {
    let config: EngineConfig;
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8')) as EngineConfig;
    } catch (error) {
      throw new Error(
        `Cannot read ${configPath}: ${(error as Error).message}. Fix the JSON, or move the file away to let init write a new one.`,
        { cause: error },
      );
    }
    const tokenLabels = config.clusters.flatMap((cluster) => cluster.hsms.map((hsm) => hsm.tokenLabel));
    const existing = readLocalCredentials(dataDir);
    if (existing && existing.accessKeyId === undefined) {
      Object.assign(existing, newAccessKey());
      writeCredentials(credentialsPath, existing);
    }
    const result: InitResult = { configPath, credentialsPath, tokenLabels, created: false };
    if (existing?.accessKeyId !== undefined) result.accessKeyId = existing.accessKeyId;
    return result;
  }

  const hsmCount = options.hsms ?? 2;
  if (!Number.isInteger(hsmCount) || hsmCount < 1 || hsmCount > 16) {
    throw new RangeError(`Invalid --hsms ${options.hsms}: use a whole number from 1 to 16`);
  }
  if (options.pin !== undefined && (options.pin.length < 7 || options.pin.length > 32)) {
    throw new RangeError('Invalid --pin: it becomes the KeyStorePassword, which has 7 to 32 characters');
  }

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const accessKey = newAccessKey();
  const credentials: LocalCredentials = {
    keyStorePassword: options.pin ?? randomPin(),
    securityOfficerPin: randomPin(),
    ...accessKey,
  };
  writeCredentials(credentialsPath, credentials);

  const tokenLabels = Array.from({ length: hsmCount }, (_, index) => `local-hsm-${index}`);
  const tokens = provisionSoftHsm({
    dir: join(dataDir, 'softhsm'),
    tokenLabels,
    userPin: credentials.keyStorePassword,
    soPin: credentials.securityOfficerPin,
  });

  if (hsmCount > 1) await createLocalWrappingKeys(tokens, tokenLabels, credentials.securityOfficerPin);

  const config: EngineConfig = {
    clusters: [
      {
        clusterId: LOCAL_CLUSTER_ID,
        pkcs11Module: tokens.modulePath,
        hsms: tokenLabels.map((tokenLabel) => ({ tokenLabel })),
        environment: { SOFTHSM2_CONF: tokens.confPath },
      },
    ],
  };
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return { configPath, credentialsPath, tokenLabels, created: true, accessKeyId: accessKey.accessKeyId };
}
