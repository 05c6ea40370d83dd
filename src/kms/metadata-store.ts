/**
 * Persistent metadata of custom key stores, keys and aliases in
 * `<dataDir>/metadata.db` (SQLite through better-sqlite3).
 *
 * Every method is synchronous and binds all values as statement parameters.
 * Each write runs in an IMMEDIATE transaction, so its existence checks and
 * its write see the same data even when other processes share the file.
 * Wrap a read-check-write sequence, such as a key-state transition, in
 * `transaction()` for the same guarantee.
 *
 * Key store passwords are sealed with the SecretBox of the data directory
 * before they are stored, and no returned record contains them.
 */
import type Database from 'better-sqlite3';
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as path from 'node:path';

import {
  AlreadyExistsException,
  CloudHsmClusterInUseException,
  CustomKeyStoreHasCMKsException,
  CustomKeyStoreNameInUseException,
  CustomKeyStoreNotFoundException,
  NotFoundException,
  quoteForMessage,
} from './errors.js';
import {
  CUSTOM_KEY_STORE_COLUMNS,
  toAliasRecord,
  toCustomKeyStoreRecord,
  toKeyRecord,
  toMillis,
  type AliasRecord,
  type AliasRow,
  type CustomKeyStoreRecord,
  type CustomKeyStoreRow,
  type DesiredConnectionState,
  type KeyRecord,
  type KeyRow,
} from './metadata-records.js';
import { DEFAULT_BUSY_TIMEOUT_MS, openMetadataDatabase } from './metadata-schema.js';
import { decodeMarker, toPage, type Page, type PageRequest } from './pagination.js';
import { SecretBox } from './secret-box.js';

export const METADATA_DB_FILE = 'metadata.db';

/** Maximum age, in ms, of a cached key or alias after another process changed it. */
export const CACHE_CHECK_INTERVAL_MS = 100;

export interface MetadataStoreOptions {
  /** Maximum time in ms to wait for another connection's lock before failing with SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
}

export interface NewCustomKeyStore {
  readonly customKeyStoreId: string;
  readonly customKeyStoreName: string;
  readonly cloudHsmClusterId: string;
  readonly trustAnchorCertificate: string;
  readonly keyStorePassword: string;
  readonly creationDate: Date;
}

/** Changes of UpdateCustomKeyStore; absent members stay unchanged. */
export interface CustomKeyStoreChanges {
  readonly customKeyStoreName?: string;
  readonly cloudHsmClusterId?: string;
  readonly trustAnchorCertificate?: string;
  readonly keyStorePassword?: string;
}

export interface NewPendingKey {
  readonly keyId: string;
  readonly arn: string;
  readonly description: string;
  readonly customKeyStoreId: string;
  /** CKA_ID that the HSM key object will get. */
  readonly backingKeyId: Uint8Array;
  /** Default 1. */
  readonly backingKeyVersion?: number;
  readonly creationDate: Date;
}

export type KeyStateChange =
  | { readonly keyState: 'Enabled' | 'Disabled' }
  | { readonly keyState: 'PendingDeletion'; readonly deletionDate: Date; readonly pendingWindowInDays: number };

export interface NewAlias {
  readonly aliasName: string;
  readonly targetKeyId: string;
  readonly creationDate: Date;
}

export interface AliasPageRequest extends PageRequest {
  /** Lists only the aliases of this key when given. */
  readonly keyId?: string | undefined;
}

/** Associated data that ties a sealed password to its custom key store row. */
function passwordAssociatedData(customKeyStoreId: string): string {
  return `custom-key-store-password:${customKeyStoreId}`;
}

export class MetadataStore {
  readonly #db: Database.Database;
  readonly #secretBox: SecretBox;
  readonly #statements = new Map<string, Database.Statement>();
  /**
   * Keys and aliases by 'key:<id>' and 'alias:<name>', null for a known
   * absence. Crypto requests read them on every call, and a SQLite query
   * per request would cost more than the rest of the request.
   */
  readonly #cache = new Map<string, KeyRecord | AliasRecord | null>();
  #cacheCheckedAt = -Infinity;
  #dataVersion = -1;

  private constructor(db: Database.Database, secretBox: SecretBox) {
    this.#db = db;
    this.#secretBox = secretBox;
  }

  /**
   * Opens the metadata store of `dataDir`, creating the directory (mode
   * 0700), the database and the local secret key if they do not exist.
   */
  static open(dataDir: string, options: MetadataStoreOptions = {}): MetadataStore {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const secretBox = SecretBox.open(dataDir);
    const db = openMetadataDatabase(
      path.join(dataDir, METADATA_DB_FILE),
      options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    );
    return new MetadataStore(db, secretBox);
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }

  /**
   * Runs `fn` in an IMMEDIATE transaction, which takes the write lock at the
   * start. Commits when `fn` returns and rolls back when it throws. Nested
   * calls, including the store's own writes inside `fn`, become savepoints.
   */
  transaction<T>(fn: () => T): T {
    try {
      return this.#db.transaction(fn).immediate();
    } finally {
      // Reads inside a transaction that rolled back may have cached rows
      // that were never committed.
      this.#cache.clear();
    }
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    // Every write goes through here just before it runs, so this is where
    // the cache of this connection's reads is dropped.
    if (!statement.reader) this.#cache.clear();
    return statement;
  }

  /**
   * Drops the cache when another connection (another process sharing the
   * data folder) has committed since the last check. SQLite's data_version
   * changes only for other connections' commits; this connection's own
   * writes clear the cache in #statement. Checked at most every
   * CACHE_CHECK_INTERVAL_MS, which bounds how stale a read can be.
   */
  #refreshCache(): void {
    const now = performance.now();
    if (now - this.#cacheCheckedAt < CACHE_CHECK_INTERVAL_MS) return;
    this.#cacheCheckedAt = now;
    const version = this.#db.pragma('data_version', { simple: true }) as number;
    if (version !== this.#dataVersion) {
      this.#dataVersion = version;
      this.#cache.clear();
    }
  }

  // Custom key stores

  /**
   * Inserts a custom key store in the DISCONNECTED desired state, with its
   * password sealed. Raises CustomKeyStoreNameInUseException or
   * CloudHsmClusterInUseException when another store has the same name or
   * cluster.
   */
  insertCustomKeyStore(input: NewCustomKeyStore): CustomKeyStoreRecord {
    return this.transaction(() => {
      this.#assertNameAvailable(input.customKeyStoreName, undefined);
      this.#assertClusterAvailable(input.cloudHsmClusterId, undefined);

      const sealedPassword = this.#sealPassword(input.customKeyStoreId, input.keyStorePassword);
      this.#statement(
        `INSERT INTO custom_key_stores (custom_key_store_id, custom_key_store_name, cloud_hsm_cluster_id,
           trust_anchor_certificate, desired_connection_state, creation_date, sealed_password)
         VALUES (@id, @name, @clusterId, @certificate, 'DISCONNECTED', @creationDate, @sealedPassword)`,
      ).run({
        id: input.customKeyStoreId,
        name: input.customKeyStoreName,
        clusterId: input.cloudHsmClusterId,
        certificate: input.trustAnchorCertificate,
        creationDate: toMillis(input.creationDate),
        sealedPassword,
      });
      return this.#requireCustomKeyStore(input.customKeyStoreId);
    });
  }

  getCustomKeyStore(customKeyStoreId: string): CustomKeyStoreRecord | undefined {
    const row = this.#statement(
      `SELECT ${CUSTOM_KEY_STORE_COLUMNS} FROM custom_key_stores WHERE custom_key_store_id = ?`,
    ).get(customKeyStoreId) as CustomKeyStoreRow | undefined;
    return row === undefined ? undefined : toCustomKeyStoreRecord(row);
  }

  getCustomKeyStoreByName(customKeyStoreName: string): CustomKeyStoreRecord | undefined {
    const row = this.#statement(
      `SELECT ${CUSTOM_KEY_STORE_COLUMNS} FROM custom_key_stores WHERE custom_key_store_name = ?`,
    ).get(customKeyStoreName) as CustomKeyStoreRow | undefined;
    return row === undefined ? undefined : toCustomKeyStoreRecord(row);
  }

  /** Lists custom key stores in ID order. Raises InvalidMarkerException for a foreign marker. */
  listCustomKeyStores(request: PageRequest): Page<CustomKeyStoreRecord> {
    const limit = checkLimit(request.limit);
    const after = decodeMarker('custom-key-stores', request.marker);
    const rows = this.#statement(
      `SELECT ${CUSTOM_KEY_STORE_COLUMNS} FROM custom_key_stores
       WHERE custom_key_store_id > ? ORDER BY custom_key_store_id LIMIT ?`,
    ).all(after, limit + 1) as CustomKeyStoreRow[];
    return toPage('custom-key-stores', rows.map(toCustomKeyStoreRecord), limit, (store) => store.customKeyStoreId);
  }

  countCustomKeyStores(): number {
    const row = this.#statement('SELECT COUNT(*) AS count FROM custom_key_stores').get() as { count: number };
    return row.count;
  }

  /**
   * Applies the changes of UpdateCustomKeyStore. Raises
   * CustomKeyStoreNotFoundException, CustomKeyStoreNameInUseException or
   * CloudHsmClusterInUseException. Connection-state rules are the caller's.
   */
  updateCustomKeyStore(customKeyStoreId: string, changes: CustomKeyStoreChanges): CustomKeyStoreRecord {
    return this.transaction(() => {
      const current = this.#requireCustomKeyStore(customKeyStoreId);
      if (changes.customKeyStoreName !== undefined) {
        this.#assertNameAvailable(changes.customKeyStoreName, customKeyStoreId);
      }
      if (changes.cloudHsmClusterId !== undefined) {
        this.#assertClusterAvailable(changes.cloudHsmClusterId, customKeyStoreId);
      }

      this.#statement(
        `UPDATE custom_key_stores
         SET custom_key_store_name = @name, cloud_hsm_cluster_id = @clusterId,
             trust_anchor_certificate = @certificate
         WHERE custom_key_store_id = @id`,
      ).run({
        id: customKeyStoreId,
        name: changes.customKeyStoreName ?? current.customKeyStoreName,
        clusterId: changes.cloudHsmClusterId ?? current.cloudHsmClusterId,
        certificate: changes.trustAnchorCertificate ?? current.trustAnchorCertificate,
      });
      if (changes.keyStorePassword !== undefined) {
        const sealedPassword = this.#sealPassword(customKeyStoreId, changes.keyStorePassword);
        this.#statement('UPDATE custom_key_stores SET sealed_password = ? WHERE custom_key_store_id = ?').run(
          sealedPassword,
          customKeyStoreId,
        );
      }
      return this.#requireCustomKeyStore(customKeyStoreId);
    });
  }

  /** Records the connection state that the user requested. Raises CustomKeyStoreNotFoundException. */
  setDesiredConnectionState(customKeyStoreId: string, state: DesiredConnectionState): CustomKeyStoreRecord {
    return this.transaction(() => {
      this.#requireCustomKeyStore(customKeyStoreId);
      this.#statement(
        'UPDATE custom_key_stores SET desired_connection_state = ? WHERE custom_key_store_id = ?',
      ).run(state, customKeyStoreId);
      return this.#requireCustomKeyStore(customKeyStoreId);
    });
  }

  /**
   * Returns the key store password in clear. The caller must wipe the buffer
   * (`buffer.fill(0)`) after use. Raises CustomKeyStoreNotFoundException.
   */
  unsealKeyStorePassword(customKeyStoreId: string): Buffer {
    const row = this.#statement('SELECT sealed_password FROM custom_key_stores WHERE custom_key_store_id = ?').get(
      customKeyStoreId,
    ) as { sealed_password: Buffer } | undefined;
    if (row === undefined) {
      throw customKeyStoreNotFound(customKeyStoreId);
    }
    return this.#secretBox.unseal(row.sealed_password, passwordAssociatedData(customKeyStoreId));
  }

  /**
   * Deletes a custom key store. Raises CustomKeyStoreNotFoundException, or
   * CustomKeyStoreHasCMKsException while it contains keys, including keys in
   * PendingDeletion and pending creations.
   */
  deleteCustomKeyStore(customKeyStoreId: string): void {
    this.transaction(() => {
      this.#requireCustomKeyStore(customKeyStoreId);
      const keyCount = this.countKeysInCustomKeyStore(customKeyStoreId);
      if (keyCount > 0) {
        throw new CustomKeyStoreHasCMKsException(
          `Custom key store ${customKeyStoreId} contains ${keyCount} KMS key(s). ` +
            'Schedule deletion of its keys and wait until they are deleted, then delete the key store.',
        );
      }
      this.#statement('DELETE FROM custom_key_stores WHERE custom_key_store_id = ?').run(customKeyStoreId);
    });
  }

  #requireCustomKeyStore(customKeyStoreId: string): CustomKeyStoreRecord {
    const record = this.getCustomKeyStore(customKeyStoreId);
    if (record === undefined) {
      throw customKeyStoreNotFound(customKeyStoreId);
    }
    return record;
  }

  #assertNameAvailable(customKeyStoreName: string, exceptId: string | undefined): void {
    const existing = this.getCustomKeyStoreByName(customKeyStoreName);
    if (existing !== undefined && existing.customKeyStoreId !== exceptId) {
      throw new CustomKeyStoreNameInUseException(
        `Custom key store name ${quoteForMessage(customKeyStoreName)} is already used by ` +
          `${existing.customKeyStoreId}. Choose a different CustomKeyStoreName.`,
      );
    }
  }

  #assertClusterAvailable(cloudHsmClusterId: string, exceptId: string | undefined): void {
    const row = this.#statement(
      'SELECT custom_key_store_id FROM custom_key_stores WHERE cloud_hsm_cluster_id = ?',
    ).get(cloudHsmClusterId) as { custom_key_store_id: string } | undefined;
    if (row !== undefined && row.custom_key_store_id !== exceptId) {
      throw new CloudHsmClusterInUseException(
        `Cluster ${quoteForMessage(cloudHsmClusterId)} is already associated with custom key store ` +
          `${row.custom_key_store_id}. Specify a cluster that no other custom key store uses.`,
      );
    }
  }

  #sealPassword(customKeyStoreId: string, password: string): Buffer {
    const passwordBytes = Buffer.from(password, 'utf8');
    try {
      return this.#secretBox.seal(passwordBytes, passwordAssociatedData(customKeyStoreId));
    } finally {
      passwordBytes.fill(0);
    }
  }

  // Keys

  /**
   * Inserts the pending row of a key that is about to be generated in the
   * HSM, in state Enabled with `creating` set. Complete it with
   * completeKeyCreation once the HSM key exists, or remove it with
   * abandonKeyCreation. Raises CustomKeyStoreNotFoundException.
   */
  insertPendingKey(input: NewPendingKey): KeyRecord {
    return this.transaction(() => {
      this.#requireCustomKeyStore(input.customKeyStoreId);
      this.#statement(
        `INSERT INTO keys (key_id, arn, description, key_state, creation_date, custom_key_store_id,
           backing_key_version, backing_key_id, creating)
         VALUES (@keyId, @arn, @description, 'Enabled', @creationDate, @customKeyStoreId,
           @backingKeyVersion, @backingKeyId, 1)`,
      ).run({
        keyId: input.keyId,
        arn: input.arn,
        description: input.description,
        creationDate: toMillis(input.creationDate),
        customKeyStoreId: input.customKeyStoreId,
        backingKeyVersion: input.backingKeyVersion ?? 1,
        backingKeyId: Buffer.from(input.backingKeyId),
      });
      return this.#requireKeyRow(input.keyId, { includePending: true });
    });
  }

  /** Clears the `creating` flag of a pending key. Raises NotFoundException without a pending row. */
  completeKeyCreation(keyId: string): KeyRecord {
    return this.transaction(() => {
      const result = this.#statement('UPDATE keys SET creating = 0 WHERE key_id = ? AND creating = 1').run(keyId);
      if (result.changes === 0) {
        throw new NotFoundException(`Key ${quoteForMessage(keyId)} has no pending creation to complete.`);
      }
      return this.#requireKeyRow(keyId, { includePending: false });
    });
  }

  /** Deletes the pending row of a key whose creation failed. Returns whether a row was deleted. */
  abandonKeyCreation(keyId: string): boolean {
    const result = this.#statement('DELETE FROM keys WHERE key_id = ? AND creating = 1').run(keyId);
    return result.changes > 0;
  }

  /** Lists pending key creations, oldest first, for reconciliation at startup. */
  listPendingKeys(): KeyRecord[] {
    const rows = this.#statement('SELECT * FROM keys WHERE creating = 1 ORDER BY creation_date, key_id').all() as KeyRow[];
    return rows.map(toKeyRecord);
  }

  /** Returns a key whose creation completed, or undefined. */
  getKey(keyId: string): KeyRecord | undefined {
    this.#refreshCache();
    const cached = this.#cache.get(`key:${keyId}`);
    if (cached !== undefined) return (cached as KeyRecord | null) ?? undefined;
    const row = this.#statement('SELECT * FROM keys WHERE key_id = ? AND creating = 0').get(keyId) as KeyRow | undefined;
    const record = row === undefined ? undefined : toKeyRecord(row);
    this.#cache.set(`key:${keyId}`, record ?? null);
    return record;
  }

  /** Lists keys whose creation completed, in key ID order. Raises InvalidMarkerException for a foreign marker. */
  listKeys(request: PageRequest): Page<KeyRecord> {
    const limit = checkLimit(request.limit);
    const after = decodeMarker('keys', request.marker);
    const rows = this.#statement(
      'SELECT * FROM keys WHERE creating = 0 AND key_id > ? ORDER BY key_id LIMIT ?',
    ).all(after, limit + 1) as KeyRow[];
    return toPage('keys', rows.map(toKeyRecord), limit, (key) => key.keyId);
  }

  /** Counts the keys of a custom key store, including pending creations. */
  countKeysInCustomKeyStore(customKeyStoreId: string): number {
    const row = this.#statement('SELECT COUNT(*) AS count FROM keys WHERE custom_key_store_id = ?').get(
      customKeyStoreId,
    ) as { count: number };
    return row.count;
  }

  /**
   * Sets the stored key state. Leaving PendingDeletion clears the deletion
   * date and window. Transition rules are the caller's. Raises
   * NotFoundException.
   */
  updateKeyState(keyId: string, change: KeyStateChange): KeyRecord {
    const pendingDeletion = change.keyState === 'PendingDeletion';
    return this.transaction(() => {
      this.#requireKeyRow(keyId, { includePending: false });
      this.#statement(
        `UPDATE keys SET key_state = @keyState, deletion_date = @deletionDate,
           pending_window_in_days = @pendingWindowInDays
         WHERE key_id = @keyId`,
      ).run({
        keyId,
        keyState: change.keyState,
        deletionDate: pendingDeletion ? toMillis(change.deletionDate) : null,
        pendingWindowInDays: pendingDeletion ? change.pendingWindowInDays : null,
      });
      return this.#requireKeyRow(keyId, { includePending: false });
    });
  }

  /** Sets a key's description. Raises NotFoundException. */
  updateKeyDescription(keyId: string, description: string): KeyRecord {
    return this.transaction(() => {
      this.#requireKeyRow(keyId, { includePending: false });
      this.#statement('UPDATE keys SET description = ? WHERE key_id = ?').run(description, keyId);
      return this.#requireKeyRow(keyId, { includePending: false });
    });
  }

  /** Lists keys in PendingDeletion whose deletion date is at or before `now`. */
  listKeysDueForDeletion(now: Date): KeyRecord[] {
    const rows = this.#statement(
      `SELECT * FROM keys WHERE key_state = 'PendingDeletion' AND deletion_date <= ?
       ORDER BY deletion_date, key_id`,
    ).all(toMillis(now)) as KeyRow[];
    return rows.map(toKeyRecord);
  }

  /** Deletes a key and, through the foreign key, its aliases. Raises NotFoundException. */
  deleteKey(keyId: string): void {
    this.transaction(() => {
      this.#requireKeyRow(keyId, { includePending: false });
      this.#statement('DELETE FROM keys WHERE key_id = ?').run(keyId);
    });
  }

  #requireKeyRow(keyId: string, options: { includePending: boolean }): KeyRecord {
    const sql = options.includePending
      ? 'SELECT * FROM keys WHERE key_id = ?'
      : 'SELECT * FROM keys WHERE key_id = ? AND creating = 0';
    const row = this.#statement(sql).get(keyId) as KeyRow | undefined;
    if (row === undefined) {
      throw keyNotFound(keyId);
    }
    return toKeyRecord(row);
  }

  // Aliases

  /**
   * Inserts an alias. Raises AlreadyExistsException when the name is taken
   * and NotFoundException when the target key does not exist.
   */
  insertAlias(input: NewAlias): AliasRecord {
    return this.transaction(() => {
      if (this.getAlias(input.aliasName) !== undefined) {
        throw new AlreadyExistsException(
          `Alias ${quoteForMessage(input.aliasName)} already exists. ` +
            'Choose a different AliasName, or use UpdateAlias to point the alias at another key.',
        );
      }
      this.#requireKeyRow(input.targetKeyId, { includePending: false });

      const creationDate = toMillis(input.creationDate);
      this.#statement(
        `INSERT INTO aliases (alias_name, target_key_id, creation_date, last_updated_date)
         VALUES (?, ?, ?, ?)`,
      ).run(input.aliasName, input.targetKeyId, creationDate, creationDate);
      return this.#requireAlias(input.aliasName);
    });
  }

  getAlias(aliasName: string): AliasRecord | undefined {
    this.#refreshCache();
    const cached = this.#cache.get(`alias:${aliasName}`);
    if (cached !== undefined) return (cached as AliasRecord | null) ?? undefined;
    const row = this.#statement('SELECT * FROM aliases WHERE alias_name = ?').get(aliasName) as AliasRow | undefined;
    const record = row === undefined ? undefined : toAliasRecord(row);
    this.#cache.set(`alias:${aliasName}`, record ?? null);
    return record;
  }

  /** Points an alias at another key. Raises NotFoundException for a missing alias or key. */
  updateAliasTarget(aliasName: string, targetKeyId: string, lastUpdatedDate: Date): AliasRecord {
    return this.transaction(() => {
      this.#requireAlias(aliasName);
      this.#requireKeyRow(targetKeyId, { includePending: false });
      this.#statement('UPDATE aliases SET target_key_id = ?, last_updated_date = ? WHERE alias_name = ?').run(
        targetKeyId,
        toMillis(lastUpdatedDate),
        aliasName,
      );
      return this.#requireAlias(aliasName);
    });
  }

  /** Deletes an alias. Raises NotFoundException. */
  deleteAlias(aliasName: string): void {
    const result = this.#statement('DELETE FROM aliases WHERE alias_name = ?').run(aliasName);
    if (result.changes === 0) {
      throw aliasNotFound(aliasName);
    }
  }

  /**
   * Lists aliases in name order, only those of `request.keyId` when given.
   * Raises InvalidMarkerException for a foreign marker.
   */
  listAliases(request: AliasPageRequest): Page<AliasRecord> {
    const limit = checkLimit(request.limit);
    const after = decodeMarker('aliases', request.marker);
    const rows = (
      request.keyId === undefined
        ? this.#statement('SELECT * FROM aliases WHERE alias_name > ? ORDER BY alias_name LIMIT ?').all(
            after,
            limit + 1,
          )
        : this.#statement(
            'SELECT * FROM aliases WHERE target_key_id = ? AND alias_name > ? ORDER BY alias_name LIMIT ?',
          ).all(request.keyId, after, limit + 1)
    ) as AliasRow[];
    return toPage('aliases', rows.map(toAliasRecord), limit, (alias) => alias.aliasName);
  }

  #requireAlias(aliasName: string): AliasRecord {
    const record = this.getAlias(aliasName);
    if (record === undefined) {
      throw aliasNotFound(aliasName);
    }
    return record;
  }
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new TypeError(`Expected a page limit of at least 1 but received ${limit}`);
  }
  return limit;
}

function customKeyStoreNotFound(customKeyStoreId: string): CustomKeyStoreNotFoundException {
  return new CustomKeyStoreNotFoundException(
    `Custom key store ${quoteForMessage(customKeyStoreId)} does not exist. ` +
      'Call DescribeCustomKeyStores to list the existing key stores.',
  );
}

function keyNotFound(keyId: string): NotFoundException {
  return new NotFoundException(`Key ${quoteForMessage(keyId)} does not exist.`);
}

function aliasNotFound(aliasName: string): NotFoundException {
  return new NotFoundException(`Alias ${quoteForMessage(aliasName)} does not exist.`);
}
