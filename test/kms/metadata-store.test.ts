import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { keyArn, newKeyId } from '../../src/kms/identifiers.js';
import { MIGRATIONS, applyMigrations } from '../../src/kms/metadata-schema.js';
import { CACHE_CHECK_INTERVAL_MS, METADATA_DB_FILE, MetadataStore, type NewCustomKeyStore } from '../../src/kms/metadata-store.js';
import { waitFor } from '../helpers/tokens.js';
import { performance } from 'node:perf_hooks';

const PASSWORD = 'kmsuser-Pa55word';

let temporaryRoot: string;
let dataDir: string;
const openStores: MetadataStore[] = [];

function openStore(): MetadataStore {
  const store = MetadataStore.open(dataDir);
  openStores.push(store);
  return store;
}

function closeStore(store: MetadataStore): void {
  store.close();
  openStores.splice(openStores.indexOf(store), 1);
}

beforeEach(() => {
  temporaryRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hsm-kms-metadata-'));
  dataDir = temporaryRoot;
});

afterEach(() => {
  for (const store of openStores.splice(0)) {
    store.close();
  }
  fs.rmSync(temporaryRoot, { recursive: true, force: true });
});

function newStoreInput(suffix: string, overrides: Partial<NewCustomKeyStore> = {}): NewCustomKeyStore {
  return {
    customKeyStoreId: `cks-${suffix.padStart(17, '0')}`,
    customKeyStoreName: `store-${suffix}`,
    cloudHsmClusterId: `cluster-${suffix.padStart(11, 'a')}`,
    trustAnchorCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    keyStorePassword: PASSWORD,
    creationDate: new Date(1_700_000_000_123),
    ...overrides,
  };
}

function insertKey(
  store: MetadataStore,
  customKeyStoreId: string,
  options: { keyId?: string; complete?: boolean } = {},
): string {
  const keyId = options.keyId ?? newKeyId();
  store.insertPendingKey({
    keyId,
    arn: keyArn('us-east-1', '111122223333', keyId),
    description: `key ${keyId}`,
    customKeyStoreId,
    backingKeyId: Buffer.from(keyId.replaceAll('-', ''), 'hex'),
    creationDate: new Date(1_700_000_000_000),
  });
  if (options.complete ?? true) {
    store.completeKeyCreation(keyId);
  }
  return keyId;
}

function errorNamed(name: string): unknown {
  return expect.objectContaining({ name });
}

describe('MetadataStore.open()', () => {
  it('creates the database, WAL mode and schema version 1', () => {
    const store = openStore();
    closeStore(store);

    expect(fs.existsSync(path.join(dataDir, METADATA_DB_FILE))).toBe(true);
    const db = new Database(path.join(dataDir, METADATA_DB_FILE), { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const versions = db.prepare('SELECT version FROM schema_version ORDER BY version').all();
      expect(versions).toEqual([{ version: 1 }]);
    } finally {
      db.close();
    }
  });

  it('creates the data directory with mode 0700', () => {
    dataDir = path.join(dataDir, 'nested', 'data');
    openStore();
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
  });

  it('reopens without applying migrations again', () => {
    closeStore(openStore());
    closeStore(openStore());

    const db = new Database(path.join(dataDir, METADATA_DB_FILE));
    try {
      expect(applyMigrations(db, MIGRATIONS)).toEqual([]);
      expect(db.prepare('SELECT COUNT(*) AS count FROM schema_version').get()).toEqual({ count: 1 });
    } finally {
      db.close();
    }
  });

  it('rejects a database from a newer version', () => {
    closeStore(openStore());
    const db = new Database(path.join(dataDir, METADATA_DB_FILE));
    db.prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'future', 0)").run();
    db.close();

    expect(() => openStore()).toThrow(/has schema version 99, but this hsm-kms supports at most version 1/);
  });

  it('succeeds in several processes at once', async () => {
    const childScript = fileURLToPath(new URL('./fixtures/open-store-child.ts', import.meta.url));
    const children = Array.from({ length: 4 }, (_, index) =>
      spawn(process.execPath, ['--import', 'tsx', childScript, dataDir, String(index)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    const outputs = children.map((child) => collectOutput(child));

    // Release the children only after all of them have loaded, so their
    // open calls overlap.
    await Promise.all(children.map((child) => waitForLine(child, 'ready')));
    for (const child of children) {
      child.stdin.end('go\n');
    }
    const results = await Promise.all(outputs);

    for (const [index, result] of results.entries()) {
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe(`ready\ncks-${String(index).padStart(17, '0')}\n`);
    }

    // Every child used the same local secret key, so all passwords unseal.
    const store = openStore();
    for (let index = 0; index < children.length; index++) {
      const id = `cks-${String(index).padStart(17, '0')}`;
      const password = store.unsealKeyStorePassword(id);
      expect(password.toString('utf8')).toBe(`password-${index}`);
      password.fill(0);
    }
  });
});

describe('custom key stores', () => {
  it('insert and get return the record without the password', () => {
    const store = openStore();
    const inserted = store.insertCustomKeyStore(newStoreInput('1'));

    expect(inserted).toEqual({
      customKeyStoreId: 'cks-00000000000000001',
      customKeyStoreName: 'store-1',
      cloudHsmClusterId: 'cluster-aaaaaaaaaa1',
      trustAnchorCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      desiredConnectionState: 'DISCONNECTED',
      creationDate: new Date(1_700_000_000_123),
    });
    expect(store.getCustomKeyStore('cks-00000000000000001')).toEqual(inserted);
    expect(store.getCustomKeyStoreByName('store-1')).toEqual(inserted);
    expect(store.getCustomKeyStore('cks-00000000000000009')).toBeUndefined();
    expect(JSON.stringify(inserted)).not.toContain(PASSWORD);
  });

  it('stores the password sealed', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    closeStore(store);

    const db = new Database(path.join(dataDir, METADATA_DB_FILE), { readonly: true });
    try {
      const row = db.prepare('SELECT * FROM custom_key_stores').get() as Record<string, unknown>;
      const sealed = row.sealed_password as Buffer;
      expect(sealed.length).toBe(1 + 12 + PASSWORD.length + 16);
      expect(sealed.includes(Buffer.from(PASSWORD))).toBe(false);
      for (const value of Object.values(row)) {
        expect(String(value)).not.toContain(PASSWORD);
      }
    } finally {
      db.close();
    }
    for (const file of fs.readdirSync(dataDir)) {
      expect(fs.readFileSync(path.join(dataDir, file)).includes(Buffer.from(PASSWORD)), file).toBe(false);
    }
  });

  it('unseals the password into a buffer', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    const password = store.unsealKeyStorePassword('cks-00000000000000001');
    expect(password.toString('utf8')).toBe(PASSWORD);
    password.fill(0);
    expect(() => store.unsealKeyStorePassword('cks-00000000000000009')).toThrow(
      errorNamed('CustomKeyStoreNotFoundException'),
    );
  });

  it('rejects a name in use', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    expect(() => store.insertCustomKeyStore(newStoreInput('2', { customKeyStoreName: 'store-1' }))).toThrow(
      expect.objectContaining({
        name: 'CustomKeyStoreNameInUseException',
        message:
          "Custom key store name 'store-1' is already used by cks-00000000000000001. " +
          'Choose a different CustomKeyStoreName.',
      }),
    );
    expect(store.getCustomKeyStore('cks-00000000000000002')).toBeUndefined();
  });

  it('rejects a cluster in use', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    expect(() =>
      store.insertCustomKeyStore(newStoreInput('2', { cloudHsmClusterId: 'cluster-aaaaaaaaaa1' })),
    ).toThrow(
      expect.objectContaining({
        name: 'CloudHsmClusterInUseException',
        message: expect.stringContaining('is already associated with custom key store cks-00000000000000001'),
      }),
    );
  });

  it('updates name, cluster, certificate and password', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    const updated = store.updateCustomKeyStore('cks-00000000000000001', {
      customKeyStoreName: 'renamed',
      cloudHsmClusterId: 'cluster-bbbbbbbbbbb',
      trustAnchorCertificate: 'new certificate',
      keyStorePassword: 'new-password',
    });

    expect(updated.customKeyStoreName).toBe('renamed');
    expect(updated.cloudHsmClusterId).toBe('cluster-bbbbbbbbbbb');
    expect(updated.trustAnchorCertificate).toBe('new certificate');
    const password = store.unsealKeyStorePassword('cks-00000000000000001');
    expect(password.toString('utf8')).toBe('new-password');
    password.fill(0);
  });

  it('update keeps absent members and allows its own name', () => {
    const store = openStore();
    const original = store.insertCustomKeyStore(newStoreInput('1'));
    expect(store.updateCustomKeyStore('cks-00000000000000001', { customKeyStoreName: 'store-1' })).toEqual(original);
  });

  it('update rejects names and clusters of other stores', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    store.insertCustomKeyStore(newStoreInput('2'));
    expect(() => store.updateCustomKeyStore('cks-00000000000000002', { customKeyStoreName: 'store-1' })).toThrow(
      errorNamed('CustomKeyStoreNameInUseException'),
    );
    expect(() =>
      store.updateCustomKeyStore('cks-00000000000000002', { cloudHsmClusterId: 'cluster-aaaaaaaaaa1' }),
    ).toThrow(errorNamed('CloudHsmClusterInUseException'));
    expect(() => store.updateCustomKeyStore('cks-00000000000000009', {})).toThrow(
      errorNamed('CustomKeyStoreNotFoundException'),
    );
  });

  it('keeps the desired connection state across reopen', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    expect(store.setDesiredConnectionState('cks-00000000000000001', 'CONNECTED').desiredConnectionState).toBe(
      'CONNECTED',
    );
    closeStore(store);

    expect(openStore().getCustomKeyStore('cks-00000000000000001')?.desiredConnectionState).toBe('CONNECTED');
  });

  it('delete fails while the store has keys', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    const keyId = insertKey(store, 'cks-00000000000000001', { complete: false });

    expect(() => store.deleteCustomKeyStore('cks-00000000000000001')).toThrow(
      expect.objectContaining({
        name: 'CustomKeyStoreHasCMKsException',
        message: expect.stringContaining('contains 1 KMS key(s)'),
      }),
    );
    store.abandonKeyCreation(keyId);
    store.deleteCustomKeyStore('cks-00000000000000001');
    expect(store.getCustomKeyStore('cks-00000000000000001')).toBeUndefined();
    expect(() => store.deleteCustomKeyStore('cks-00000000000000001')).toThrow(
      errorNamed('CustomKeyStoreNotFoundException'),
    );
  });

  it('lists stores in pages', () => {
    const store = openStore();
    for (const suffix of ['3', '1', '2']) {
      store.insertCustomKeyStore(newStoreInput(suffix));
    }
    expect(store.countCustomKeyStores()).toBe(3);

    const first = store.listCustomKeyStores({ limit: 2 });
    expect(first.items.map((item) => item.customKeyStoreName)).toEqual(['store-1', 'store-2']);
    expect(first.truncated).toBe(true);

    const second = store.listCustomKeyStores({ limit: 2, marker: first.nextMarker });
    expect(second.items.map((item) => item.customKeyStoreName)).toEqual(['store-3']);
    expect(second.truncated).toBe(false);
    expect(second.nextMarker).toBeUndefined();
  });
});

describe('keys', () => {
  let store: MetadataStore;
  const storeId = 'cks-00000000000000001';

  beforeEach(() => {
    store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
  });

  it('hides a pending key until its creation completes', () => {
    const keyId = insertKey(store, storeId, { complete: false });
    expect(store.getKey(keyId)).toBeUndefined();
    expect(store.listKeys({ limit: 10 }).items).toEqual([]);
    expect(store.listPendingKeys().map((key) => key.keyId)).toEqual([keyId]);

    const completed = store.completeKeyCreation(keyId);
    expect(completed.creating).toBe(false);
    expect(store.getKey(keyId)).toEqual(completed);
    expect(store.listPendingKeys()).toEqual([]);
    expect(() => store.completeKeyCreation(keyId)).toThrow(errorNamed('NotFoundException'));
  });

  it('returns every field of a completed key', () => {
    const keyId = insertKey(store, storeId);
    expect(store.getKey(keyId)).toEqual({
      keyId,
      arn: `arn:aws:kms:us-east-1:111122223333:key/${keyId}`,
      description: `key ${keyId}`,
      keyState: 'Enabled',
      creationDate: new Date(1_700_000_000_000),
      deletionDate: undefined,
      pendingWindowInDays: undefined,
      customKeyStoreId: storeId,
      backingKeyVersion: 1,
      backingKeyId: Buffer.from(keyId.replaceAll('-', ''), 'hex'),
      creating: false,
    });
  });

  it('abandons a pending key only', () => {
    const pendingId = insertKey(store, storeId, { complete: false });
    const completedId = insertKey(store, storeId);
    expect(store.abandonKeyCreation(completedId)).toBe(false);
    expect(store.abandonKeyCreation(pendingId)).toBe(true);
    expect(store.abandonKeyCreation(pendingId)).toBe(false);
    expect(store.getKey(completedId)).toBeDefined();
  });

  it('rejects a key in an unknown store', () => {
    expect(() => insertKey(store, 'cks-00000000000000009')).toThrow(errorNamed('CustomKeyStoreNotFoundException'));
  });

  it('moves between states and clears deletion fields', () => {
    const keyId = insertKey(store, storeId);
    const deletionDate = new Date(1_700_600_000_000);

    const pending = store.updateKeyState(keyId, { keyState: 'PendingDeletion', deletionDate, pendingWindowInDays: 7 });
    expect(pending.keyState).toBe('PendingDeletion');
    expect(pending.deletionDate).toEqual(deletionDate);
    expect(pending.pendingWindowInDays).toBe(7);

    const disabled = store.updateKeyState(keyId, { keyState: 'Disabled' });
    expect(disabled.keyState).toBe('Disabled');
    expect(disabled.deletionDate).toBeUndefined();
    expect(disabled.pendingWindowInDays).toBeUndefined();

    expect(() => store.updateKeyState(newKeyId(), { keyState: 'Enabled' })).toThrow(errorNamed('NotFoundException'));
  });

  it('updates the description', () => {
    const keyId = insertKey(store, storeId);
    expect(store.updateKeyDescription(keyId, 'new').description).toBe('new');
  });

  it('lists keys due for deletion', () => {
    const dueId = insertKey(store, storeId);
    const laterId = insertKey(store, storeId);
    insertKey(store, storeId);
    store.updateKeyState(dueId, {
      keyState: 'PendingDeletion',
      deletionDate: new Date(1_000),
      pendingWindowInDays: 7,
    });
    store.updateKeyState(laterId, {
      keyState: 'PendingDeletion',
      deletionDate: new Date(3_000),
      pendingWindowInDays: 30,
    });

    expect(store.listKeysDueForDeletion(new Date(2_000)).map((key) => key.keyId)).toEqual([dueId]);
    expect(store.listKeysDueForDeletion(new Date(3_000)).map((key) => key.keyId)).toEqual([dueId, laterId]);
  });

  it('deletes a key with its aliases', () => {
    const keyId = insertKey(store, storeId);
    store.insertAlias({ aliasName: 'alias/a', targetKeyId: keyId, creationDate: new Date(5) });
    store.deleteKey(keyId);
    expect(store.getKey(keyId)).toBeUndefined();
    expect(store.getAlias('alias/a')).toBeUndefined();
    expect(store.countKeysInCustomKeyStore(storeId)).toBe(0);
    expect(() => store.deleteKey(keyId)).toThrow(errorNamed('NotFoundException'));
  });

  it('lists keys in pages', () => {
    const keyIds = Array.from({ length: 5 }, () => insertKey(store, storeId)).sort();

    const seen: string[] = [];
    let marker: string | undefined;
    const pageSizes: number[] = [];
    do {
      const page = store.listKeys({ limit: 2, marker });
      pageSizes.push(page.items.length);
      seen.push(...page.items.map((key) => key.keyId));
      expect(page.truncated).toBe(page.nextMarker !== undefined);
      marker = page.nextMarker;
    } while (marker !== undefined);

    expect(pageSizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(keyIds);
  });

  it('returns an untruncated page at the exact limit', () => {
    insertKey(store, storeId);
    insertKey(store, storeId);
    const page = store.listKeys({ limit: 2 });
    expect(page.items).toHaveLength(2);
    expect(page.truncated).toBe(false);
  });

  it('rejects foreign and garbage markers', () => {
    const keyId = insertKey(store, storeId);
    store.insertAlias({ aliasName: 'alias/a', targetKeyId: keyId, creationDate: new Date(5) });
    store.insertAlias({ aliasName: 'alias/b', targetKeyId: keyId, creationDate: new Date(5) });
    const aliasMarker = store.listAliases({ limit: 1 }).nextMarker;
    expect(aliasMarker).toBeDefined();

    for (const marker of [aliasMarker, 'not base64!', 'a2V5czo', '']) {
      expect(() => store.listKeys({ limit: 1, marker }), String(marker)).toThrow(
        expect.objectContaining({
          name: 'InvalidMarkerException',
          message: expect.stringContaining('The Marker is not valid for this list'),
        }),
      );
    }
  });

  it('rejects a page limit below 1', () => {
    expect(() => store.listKeys({ limit: 0 })).toThrow(TypeError);
  });
});

describe('aliases', () => {
  let store: MetadataStore;
  let firstKey: string;
  let secondKey: string;

  beforeEach(() => {
    store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    firstKey = insertKey(store, 'cks-00000000000000001');
    secondKey = insertKey(store, 'cks-00000000000000001');
  });

  it('inserts and gets an alias', () => {
    const alias = store.insertAlias({ aliasName: 'alias/a', targetKeyId: firstKey, creationDate: new Date(10) });
    expect(alias).toEqual({
      aliasName: 'alias/a',
      targetKeyId: firstKey,
      creationDate: new Date(10),
      lastUpdatedDate: new Date(10),
    });
    expect(store.getAlias('alias/a')).toEqual(alias);
    expect(store.getAlias('alias/A')).toBeUndefined();
  });

  it('rejects a duplicate name', () => {
    store.insertAlias({ aliasName: 'alias/a', targetKeyId: firstKey, creationDate: new Date(10) });
    expect(() =>
      store.insertAlias({ aliasName: 'alias/a', targetKeyId: secondKey, creationDate: new Date(11) }),
    ).toThrow(
      expect.objectContaining({
        name: 'AlreadyExistsException',
        message: expect.stringContaining("Alias 'alias/a' already exists."),
      }),
    );
    expect(store.getAlias('alias/a')?.targetKeyId).toBe(firstKey);
  });

  it('rejects unknown and pending target keys', () => {
    expect(() => store.insertAlias({ aliasName: 'alias/a', targetKeyId: newKeyId(), creationDate: new Date(1) })).toThrow(
      errorNamed('NotFoundException'),
    );
    const pendingKey = insertKey(store, 'cks-00000000000000001', { complete: false });
    expect(() => store.insertAlias({ aliasName: 'alias/a', targetKeyId: pendingKey, creationDate: new Date(1) })).toThrow(
      errorNamed('NotFoundException'),
    );
  });

  it('updates the target', () => {
    store.insertAlias({ aliasName: 'alias/a', targetKeyId: firstKey, creationDate: new Date(10) });
    const updated = store.updateAliasTarget('alias/a', secondKey, new Date(20));
    expect(updated.targetKeyId).toBe(secondKey);
    expect(updated.creationDate).toEqual(new Date(10));
    expect(updated.lastUpdatedDate).toEqual(new Date(20));
    expect(() => store.updateAliasTarget('alias/missing', secondKey, new Date(20))).toThrow(
      errorNamed('NotFoundException'),
    );
    expect(() => store.updateAliasTarget('alias/a', newKeyId(), new Date(20))).toThrow(errorNamed('NotFoundException'));
  });

  it('deletes an alias', () => {
    store.insertAlias({ aliasName: 'alias/a', targetKeyId: firstKey, creationDate: new Date(10) });
    store.deleteAlias('alias/a');
    expect(store.getAlias('alias/a')).toBeUndefined();
    expect(() => store.deleteAlias('alias/a')).toThrow(
      expect.objectContaining({ name: 'NotFoundException', message: "Alias 'alias/a' does not exist." }),
    );
  });

  it('lists aliases in pages, optionally by key', () => {
    for (const name of ['alias/c', 'alias/a', 'alias/b']) {
      store.insertAlias({ aliasName: name, targetKeyId: firstKey, creationDate: new Date(1) });
    }
    store.insertAlias({ aliasName: 'alias/d', targetKeyId: secondKey, creationDate: new Date(1) });

    const first = store.listAliases({ limit: 3 });
    expect(first.items.map((alias) => alias.aliasName)).toEqual(['alias/a', 'alias/b', 'alias/c']);
    expect(first.truncated).toBe(true);
    const rest = store.listAliases({ limit: 3, marker: first.nextMarker });
    expect(rest.items.map((alias) => alias.aliasName)).toEqual(['alias/d']);

    const ofFirstKey = store.listAliases({ keyId: firstKey, limit: 2 });
    expect(ofFirstKey.items.map((alias) => alias.aliasName)).toEqual(['alias/a', 'alias/b']);
    const ofFirstKeyRest = store.listAliases({ keyId: firstKey, limit: 2, marker: ofFirstKey.nextMarker });
    expect(ofFirstKeyRest.items.map((alias) => alias.aliasName)).toEqual(['alias/c']);
    expect(ofFirstKeyRest.truncated).toBe(false);
  });
});

describe('persistence and sharing', () => {
  it('keeps data across close and reopen', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    const keyId = insertKey(store, 'cks-00000000000000001');
    store.insertAlias({ aliasName: 'alias/kept', targetKeyId: keyId, creationDate: new Date(42) });
    closeStore(store);

    const reopened = openStore();
    expect(reopened.getCustomKeyStore('cks-00000000000000001')?.customKeyStoreName).toBe('store-1');
    expect(reopened.getKey(keyId)?.keyState).toBe('Enabled');
    expect(reopened.getAlias('alias/kept')?.creationDate).toEqual(new Date(42));
    const password = reopened.unsealKeyStorePassword('cks-00000000000000001');
    expect(password.toString('utf8')).toBe(PASSWORD);
    password.fill(0);
  });

  it('shows each handle the writes of the other', async () => {
    const first = openStore();
    const second = openStore();

    first.insertCustomKeyStore(newStoreInput('1'));
    expect(second.getCustomKeyStore('cks-00000000000000001')).toBeDefined();

    const keyId = insertKey(second, 'cks-00000000000000001');
    expect(first.getKey(keyId)).toBeDefined();

    // Keys are cached per connection, and another connection's commit is
    // seen within CACHE_CHECK_INTERVAL_MS.
    second.updateKeyState(keyId, { keyState: 'Disabled' });
    const started = performance.now();
    await waitFor(() => first.getKey(keyId)?.keyState === 'Disabled');
    expect(performance.now() - started).toBeLessThan(CACHE_CHECK_INTERVAL_MS + 1_000);

    expect(() => second.insertCustomKeyStore(newStoreInput('2', { customKeyStoreName: 'store-1' }))).toThrow(
      errorNamed('CustomKeyStoreNameInUseException'),
    );
  });

  it('rolls back a failed transaction', () => {
    const store = openStore();
    store.insertCustomKeyStore(newStoreInput('1'));
    const keyId = insertKey(store, 'cks-00000000000000001');

    expect(() =>
      store.transaction(() => {
        store.updateKeyState(keyId, { keyState: 'Disabled' });
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(store.getKey(keyId)?.keyState).toBe('Enabled');
  });
});

interface ChildResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

function collectOutput(child: ReturnType<typeof spawn>): Promise<ChildResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ stdout, stderr, exitCode }));
  });
}

function waitForLine(child: ReturnType<typeof spawn>, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      if (buffered.split('\n').includes(line)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.on('close', (code) => reject(new Error(`child exited with code ${code} before printing ${line}`)));
  });
}
