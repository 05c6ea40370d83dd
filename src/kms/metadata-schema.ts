/**
 * Schema of metadata.db and the code that opens and migrates it.
 *
 * Migrations are applied in order at open, inside one IMMEDIATE transaction,
 * and each applied version is recorded in `schema_version`. Opening is
 * idempotent, and several processes can open the same file at once. The
 * first one to take the write lock migrates. The others wait for the lock,
 * up to the busy timeout, and then find nothing left to apply.
 *
 * Append new migrations to MIGRATIONS and never edit an applied one.
 */
import Database from 'better-sqlite3';
import { debuglog } from 'node:util';

const log = debuglog('hsm-kms');

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

// Dates are integer milliseconds since the Unix epoch. Key states are the
// stored ones: Unavailable is derived from the custom key store's
// connection, so a reconnect restores the stored state.
const CREATE_TABLES_SQL = `
CREATE TABLE custom_key_stores (
  custom_key_store_id      TEXT PRIMARY KEY NOT NULL,
  custom_key_store_name    TEXT NOT NULL UNIQUE,
  cloud_hsm_cluster_id     TEXT NOT NULL UNIQUE,
  trust_anchor_certificate TEXT NOT NULL,
  desired_connection_state TEXT NOT NULL DEFAULT 'DISCONNECTED'
    CHECK (desired_connection_state IN ('CONNECTED', 'DISCONNECTED')),
  creation_date            INTEGER NOT NULL,
  sealed_password          BLOB NOT NULL
) STRICT;

CREATE TABLE keys (
  key_id                 TEXT PRIMARY KEY NOT NULL,
  arn                    TEXT NOT NULL UNIQUE,
  description            TEXT NOT NULL DEFAULT '',
  key_state              TEXT NOT NULL
    CHECK (key_state IN ('Enabled', 'Disabled', 'PendingDeletion')),
  creation_date          INTEGER NOT NULL,
  deletion_date          INTEGER,
  pending_window_in_days INTEGER,
  custom_key_store_id    TEXT NOT NULL REFERENCES custom_key_stores (custom_key_store_id),
  backing_key_version    INTEGER NOT NULL DEFAULT 1,
  backing_key_id         BLOB NOT NULL UNIQUE,
  creating               INTEGER NOT NULL DEFAULT 1 CHECK (creating IN (0, 1)),
  CHECK ((key_state = 'PendingDeletion') =
         (deletion_date IS NOT NULL AND pending_window_in_days IS NOT NULL))
) STRICT;

CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id);

CREATE TABLE aliases (
  alias_name        TEXT PRIMARY KEY NOT NULL,
  target_key_id     TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
  creation_date     INTEGER NOT NULL,
  last_updated_date INTEGER NOT NULL
) STRICT;

CREATE INDEX aliases_by_target_key ON aliases (target_key_id, alias_name);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'create custom_key_stores, keys and aliases', sql: CREATE_TABLES_SQL },
];

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating if needed) the SQLite database at `file` in WAL mode with
 * foreign keys on, and applies pending migrations.
 */
export function openMetadataDatabase(file: string, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS): Database.Database {
  // better-sqlite3 passes `timeout` to sqlite3_busy_timeout(). It must be set
  // before the first statement, because switching to WAL already needs a lock.
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    withBusyRetries(() => db.pragma('journal_mode = WAL'));
    // FULL syncs the WAL on every commit, so a committed key or state change
    // survives power loss. The write rate of key metadata is low.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    withBusyRetries(() => applyMigrations(db, MIGRATIONS));
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Runs `step`, retrying it while SQLite reports SQLITE_BUSY. When several
 * processes open a new database at once, switching it to WAL or migrating
 * it can fail with SQLITE_BUSY at once, without the busy handler, because
 * SQLite reports a lock that waiting could not resolve. Retrying after a
 * short pause lets the other process finish.
 */
function withBusyRetries<T>(step: () => T): T {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 1; ; attempt++) {
    try {
      return step();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'SQLITE_BUSY' || attempt >= 50) throw error;
      Atomics.wait(pause, 0, 0, 10 + Math.floor(Math.random() * 20));
    }
  }
}

/**
 * Applies the migrations newer than the recorded schema version, in one
 * IMMEDIATE transaction, and returns the versions applied. Raises an error
 * if the database has a version newer than the newest migration.
 */
export function applyMigrations(db: Database.Database, migrations: readonly Migration[]): number[] {
  const latestVersion = migrations.at(-1)?.version ?? 0;

  const migrate = db.transaction((): number[] => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
      version     INTEGER PRIMARY KEY NOT NULL,
      description TEXT NOT NULL,
      applied_at  INTEGER NOT NULL
    ) STRICT`);

    const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as {
      version: number | null;
    };
    const currentVersion = row.version ?? 0;
    if (currentVersion > latestVersion) {
      throw new Error(
        `${db.name} has schema version ${currentVersion}, but this hsm-kms supports at most ` +
          `version ${latestVersion}. Upgrade hsm-kms to open this data directory.`,
      );
    }

    const record = db.prepare(
      'INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)',
    );
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version > currentVersion) {
        db.exec(migration.sql);
        record.run(migration.version, migration.description, Date.now());
        applied.push(migration.version);
      }
    }
    return applied;
  });

  const applied = migrate.immediate();
  if (applied.length > 0) {
    log('applied schema migrations %o to %s', applied, db.name);
  }
  return applied;
}
