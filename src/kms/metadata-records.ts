/**
 * Records that the metadata store returns, and their mapping from SQLite
 * rows. Dates are stored as integer milliseconds and returned as Date.
 * No record contains a key store password, sealed or not.
 */

export type DesiredConnectionState = 'CONNECTED' | 'DISCONNECTED';

/** Key states that are stored. Unavailable is derived from the custom key store's connection state. */
export type StoredKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface CustomKeyStoreRecord {
  readonly customKeyStoreId: string;
  readonly customKeyStoreName: string;
  readonly cloudHsmClusterId: string;
  /** PEM text of the certificate that issued the cluster's HSM certificates. */
  readonly trustAnchorCertificate: string;
  /** Connection state that the user last requested, restored after a restart. */
  readonly desiredConnectionState: DesiredConnectionState;
  readonly creationDate: Date;
}

export interface KeyRecord {
  readonly keyId: string;
  readonly arn: string;
  readonly description: string;
  readonly keyState: StoredKeyState;
  readonly creationDate: Date;
  /** Date on which the key is deleted; set only in PendingDeletion. */
  readonly deletionDate: Date | undefined;
  /** Waiting period in days; set only in PendingDeletion. */
  readonly pendingWindowInDays: number | undefined;
  readonly customKeyStoreId: string;
  readonly backingKeyVersion: number;
  /** CKA_ID of the AES key object in the HSM. */
  readonly backingKeyId: Buffer;
  /**
   * True from the pending row written before the HSM generates the key until
   * the creation is marked complete. A pending row left after a crash is
   * reconciled at startup by looking for its CKA_ID in the HSM.
   */
  readonly creating: boolean;
}

export interface AliasRecord {
  readonly aliasName: string;
  readonly targetKeyId: string;
  readonly creationDate: Date;
  readonly lastUpdatedDate: Date;
}

export interface CustomKeyStoreRow {
  custom_key_store_id: string;
  custom_key_store_name: string;
  cloud_hsm_cluster_id: string;
  trust_anchor_certificate: string;
  desired_connection_state: DesiredConnectionState;
  creation_date: number;
}

export interface KeyRow {
  key_id: string;
  arn: string;
  description: string;
  key_state: StoredKeyState;
  creation_date: number;
  deletion_date: number | null;
  pending_window_in_days: number | null;
  custom_key_store_id: string;
  backing_key_version: number;
  backing_key_id: Buffer;
  creating: 0 | 1;
}

export interface AliasRow {
  alias_name: string;
  target_key_id: string;
  creation_date: number;
  last_updated_date: number;
}

/** Columns selected for custom key stores; sealed_password is left out on purpose. */
export const CUSTOM_KEY_STORE_COLUMNS =
  'custom_key_store_id, custom_key_store_name, cloud_hsm_cluster_id, trust_anchor_certificate, ' +
  'desired_connection_state, creation_date';

export function toCustomKeyStoreRecord(row: CustomKeyStoreRow): CustomKeyStoreRecord {
  return {
    customKeyStoreId: row.custom_key_store_id,
    customKeyStoreName: row.custom_key_store_name,
    cloudHsmClusterId: row.cloud_hsm_cluster_id,
    trustAnchorCertificate: row.trust_anchor_certificate,
    desiredConnectionState: row.desired_connection_state,
    creationDate: new Date(row.creation_date),
  };
}

export function toKeyRecord(row: KeyRow): KeyRecord {
  return {
    keyId: row.key_id,
    arn: row.arn,
    description: row.description,
    keyState: row.key_state,
    creationDate: new Date(row.creation_date),
    deletionDate: row.deletion_date === null ? undefined : new Date(row.deletion_date),
    pendingWindowInDays: row.pending_window_in_days ?? undefined,
    customKeyStoreId: row.custom_key_store_id,
    backingKeyVersion: row.backing_key_version,
    backingKeyId: row.backing_key_id,
    creating: row.creating === 1,
  };
}

export function toAliasRecord(row: AliasRow): AliasRecord {
  return {
    aliasName: row.alias_name,
    targetKeyId: row.target_key_id,
    creationDate: new Date(row.creation_date),
    lastUpdatedDate: new Date(row.last_updated_date),
  };
}

/** Converts a Date to stored milliseconds. Throws TypeError for an invalid Date. */
export function toMillis(date: Date): number {
  const millis = date.getTime();
  if (Number.isNaN(millis)) {
    throw new TypeError('Expected a valid Date but received an invalid one');
  }
  return millis;
}
