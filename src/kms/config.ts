// Configuration of the engine: the HSM clusters it may use, and the Region
// and account that its ARNs name. Clusters come from `Kms.open({ clusters })`
// or, when that is omitted, from `<dataDir>/config.json`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One HSM of a cluster: a PKCS#11 token, found by its label. */
export interface HsmConfig {
  tokenLabel: string;
  /** PKCS#11 module of this HSM when it differs from the cluster's. */
  pkcs11Module?: string;
}

export interface ClusterConfig {
  clusterId: string;
  /** Path of the PKCS#11 module (shared library) of the cluster's HSMs. */
  pkcs11Module: string;
  hsms: HsmConfig[];
  /** Crypto requests per second the cluster accepts; default 1800, the AWS CloudHSM key store quota. */
  requestsPerSecond?: number;
  /** Requests that may pass at once after an idle period; default a tenth of a second's worth, at least 1. */
  burst?: number;
  /** Sessions (and threads) per HSM; default 1, the fastest setting on SoftHSM2. */
  sessionsPerHsm?: number;
  /**
   * Environment variables the module reads at C_Initialize, such as
   * SOFTHSM2_CONF. They are set in this process before the module loads.
   */
  environment?: Record<string, string>;
  /** The module writes its own GCM IV (AWS CloudHSM, Luna in FIPS mode). */
  hsmGeneratesIv?: boolean;
  /** Requests that may wait for one HSM; beyond it the HSM is full. Default 4096. */
  maxQueuePerHsm?: number;
  /**
   * How key material reaches every HSM. 'wrap' (the default with several
   * HSMs) generates keys on one HSM and copies them to the others under the
   * cluster wrapping key; new keys need two active HSMs. 'module' is for
   * vendor libraries that replicate by themselves (one CloudHSM slot, say):
   * keys are generated once and one active HSM suffices.
   */
  replication?: 'wrap' | 'module';
  /** CKA_ID (UTF-8) of the cluster wrapping key on every HSM; default 'hsm-kms-wrapping-key'. */
  wrappingKeyId?: string;
}

export interface EngineConfig {
  clusters: ClusterConfig[];
  region?: string;
  accountId?: string;
}

export const CONFIG_FILE = 'config.json';
export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_ACCOUNT_ID = '111122223333';
export const DEFAULT_REQUESTS_PER_SECOND = 1800;
export const DEFAULT_WRAPPING_KEY_ID = 'hsm-kms-wrapping-key';
export const DEFAULT_MAX_QUEUE_PER_HSM = 4096;

/** A cluster with every default applied. */
export interface ResolvedClusterConfig {
  clusterId: string;
  pkcs11Module: string;
  hsms: Required<HsmConfig>[];
  requestsPerSecond: number;
  burst: number;
  sessionsPerHsm: number;
  environment: Record<string, string>;
  hsmGeneratesIv: boolean;
  maxQueuePerHsm: number;
  /** 'none' for a cluster of one HSM, where there is nothing to copy to. */
  replication: 'wrap' | 'module' | 'none';
  wrappingKeyId: string;
  /** HSMs that must hold the material of a new key: 2 with 'wrap', else 1. */
  minimumKeyCopies: number;
}

function invalid(where: string, problem: string): Error {
  return new TypeError(`Invalid cluster configuration at ${where}: ${problem}`);
}

function positiveNumber(value: unknown, where: string, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || (integer && !Number.isInteger(value))) {
    throw invalid(where, `expected a positive ${integer ? 'integer' : 'number'}, received ${JSON.stringify(value)}`);
  }
  return value;
}

function nonEmptyString(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(where, `expected a non-empty string, received ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks one cluster entry and fills in its defaults. */
export function resolveCluster(cluster: ClusterConfig, index: number): ResolvedClusterConfig {
  const where = `clusters[${index}]`;
  if (typeof cluster !== 'object' || cluster === null) throw invalid(where, 'expected an object');
  const clusterId = nonEmptyString(cluster.clusterId, `${where}.clusterId`);
  if (!/^[A-Za-z0-9-]{1,64}$/.test(clusterId)) {
    throw invalid(`${where}.clusterId`, 'use 1 to 64 letters, digits and hyphens');
  }
  const pkcs11Module = nonEmptyString(cluster.pkcs11Module, `${where}.pkcs11Module`);
  if (!Array.isArray(cluster.hsms)) throw invalid(`${where}.hsms`, 'expected an array of { tokenLabel }');

  const hsms = cluster.hsms.map((hsm, hsmIndex) => ({
    tokenLabel: nonEmptyString(hsm?.tokenLabel, `${where}.hsms[${hsmIndex}].tokenLabel`),
    pkcs11Module:
      hsm?.pkcs11Module === undefined
        ? pkcs11Module
        : nonEmptyString(hsm.pkcs11Module, `${where}.hsms[${hsmIndex}].pkcs11Module`),
  }));
  const requestsPerSecond = positiveNumber(
    cluster.requestsPerSecond,
    `${where}.requestsPerSecond`,
    DEFAULT_REQUESTS_PER_SECOND,
    false,
  );
  const burst = positiveNumber(cluster.burst, `${where}.burst`, Math.max(1, Math.ceil(requestsPerSecond / 10)), false);
  if (burst < 1) throw invalid(`${where}.burst`, 'expected at least 1');

  if (cluster.replication !== undefined && cluster.replication !== 'wrap' && cluster.replication !== 'module') {
    throw invalid(`${where}.replication`, `expected 'wrap' or 'module', received ${JSON.stringify(cluster.replication)}`);
  }
  const replication = cluster.replication ?? (hsms.length > 1 ? 'wrap' : 'none');

  return {
    clusterId,
    pkcs11Module,
    hsms,
    requestsPerSecond,
    burst,
    sessionsPerHsm: positiveNumber(cluster.sessionsPerHsm, `${where}.sessionsPerHsm`, 1, true),
    environment: { ...(cluster.environment ?? {}) },
    hsmGeneratesIv: cluster.hsmGeneratesIv === true,
    maxQueuePerHsm: positiveNumber(cluster.maxQueuePerHsm, `${where}.maxQueuePerHsm`, DEFAULT_MAX_QUEUE_PER_HSM, true),
    replication,
    wrappingKeyId:
      cluster.wrappingKeyId === undefined
        ? DEFAULT_WRAPPING_KEY_ID
        : nonEmptyString(cluster.wrappingKeyId, `${where}.wrappingKeyId`),
    minimumKeyCopies: replication === 'wrap' ? 2 : 1,
  };
}

/** Reads `<dataDir>/config.json`; returns an empty configuration when the file does not exist. */
export function readConfigFile(dataDir: string): EngineConfig {
  const path = join(dataDir, CONFIG_FILE);
  if (!existsSync(path)) return { clusters: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read ${path}: ${(error as Error).message}. Fix the JSON or run "hsm-kms init".`, {
      cause: error,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as EngineConfig).clusters)) {
    throw new Error(`Invalid ${path}: expected an object with a "clusters" array`);
  }
  return parsed as EngineConfig;
}

/** Resolves every cluster and rejects duplicate cluster IDs. */
export function resolveClusters(clusters: ClusterConfig[]): ResolvedClusterConfig[] {
  const resolved = clusters.map(resolveCluster);
  const seen = new Set<string>();
  for (const cluster of resolved) {
    if (seen.has(cluster.clusterId)) {
      throw new TypeError(`Invalid cluster configuration: cluster ID ${cluster.clusterId} appears twice`);
    }
    seen.add(cluster.clusterId);
  }
  return resolved;
}
