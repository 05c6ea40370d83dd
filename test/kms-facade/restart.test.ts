// What survives Kms.close() and Kms.open() on the same data folder: keys
// and their states, aliases, stores, and the connection state each store
// was last asked for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../../src/index.js';
import type { CustomKeyStoreEntry, KeyMetadata } from '../../src/kms/types.js';
import { clusterConfig, connectStore, DAY_MS, openFacade, settledStore, type Facade } from './fixture.js';

const IDLE_CLUSTER_ID = 'cluster-idle';
const PLAINTEXT = Buffer.from('written before the restart');
const CONTEXT = { Purpose: 'restart' };
const ALIAS_NAME = 'alias/restart';

let facade: Facade;
let idleStoreId: string;
let enabledKey: KeyMetadata;
let disabledKey: KeyMetadata;
let pendingDeletionKey: KeyMetadata;
let ciphertext: Uint8Array;
let storesBefore: CustomKeyStoreEntry[];
/** The main store's state right after the reopened Kms returned. */
let mainStoreStateAtOpen: string;
/** The Kms of the first open, closed by the reopen. */
let closedKms: Kms;

beforeAll(async () => {
  facade = await openFacade('facade-restart', {
    tokenCount: 2,
    extraClusters: (tokens) => [clusterConfig(tokens, IDLE_CLUSTER_ID, ['facade-restart-1'])],
  });
  const kms = facade.kms;

  // The idle store was connected once, then disconnected on request.
  const created = await kms.createCustomKeyStore({
    CustomKeyStoreName: 'idle-store',
    CloudHsmClusterId: IDLE_CLUSTER_ID,
    TrustAnchorCertificate: 'test trust anchor',
    KeyStorePassword: facade.tokens.pin,
  });
  idleStoreId = created.CustomKeyStoreId;
  await connectStore(kms, idleStoreId);
  await kms.disconnectCustomKeyStore({ CustomKeyStoreId: idleStoreId });

  enabledKey = await facade.createKey();
  disabledKey = await facade.createKey();
  pendingDeletionKey = await facade.createKey();
  await kms.disableKey({ KeyId: disabledKey.Arn });
  await kms.scheduleKeyDeletion({ KeyId: pendingDeletionKey.Arn, PendingWindowInDays: 7 });
  await kms.createAlias({ AliasName: ALIAS_NAME, TargetKeyId: enabledKey.Arn });
  ({ CiphertextBlob: ciphertext } = await kms.encrypt({
    KeyId: enabledKey.Arn,
    Plaintext: PLAINTEXT,
    EncryptionContext: CONTEXT,
  }));
  storesBefore = (await kms.describeCustomKeyStores()).CustomKeyStores;

  closedKms = kms;
  const reopened = await facade.reopen();
  const { CustomKeyStores } = await reopened.describeCustomKeyStores({ CustomKeyStoreId: facade.customKeyStoreId });
  mainStoreStateAtOpen = CustomKeyStores[0]!.ConnectionState;
});

afterAll(async () => {
  await facade?.close();
});

describe('a closed Kms', () => {
  it.each([
    ['Encrypt', () => closedKms.encrypt({ KeyId: enabledKey.Arn, Plaintext: PLAINTEXT })],
    ['DescribeKey', () => closedKms.describeKey({ KeyId: enabledKey.Arn })],
    ['ListKeys', () => closedKms.listKeys()],
  ])('rejects %s with KMSInvalidStateException', async (_operation, call) => {
    await expect(call()).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
      message: 'This Kms is closed. Open a new one with Kms.open().',
    });
  });
});

function kms(): Kms {
  return facade.kms;
}

describe('after restart', () => {
  it('connected store reconnects by itself', async () => {
    expect(mainStoreStateAtOpen).toBe('CONNECTING');

    expect((await settledStore(kms(), facade.customKeyStoreId)).ConnectionState).toBe('CONNECTED');
  });

  it('disconnected store stays DISCONNECTED', async () => {
    await settledStore(kms(), facade.customKeyStoreId);

    expect((await settledStore(kms(), idleStoreId)).ConnectionState).toBe('DISCONNECTED');
  });

  it('stores keep their fields', async () => {
    await settledStore(kms(), facade.customKeyStoreId);

    const { CustomKeyStores } = await kms().describeCustomKeyStores();

    expect(CustomKeyStores).toEqual(storesBefore);
  });

  it('keys keep their states', async () => {
    await settledStore(kms(), facade.customKeyStoreId);

    const states: KeyMetadata[] = [];
    for (const key of [enabledKey, disabledKey, pendingDeletionKey]) {
      states.push((await kms().describeKey({ KeyId: key.Arn })).KeyMetadata);
    }

    expect(states.map((metadata) => metadata.KeyState)).toEqual(['Enabled', 'Disabled', 'PendingDeletion']);
    expect(states[0]!.CreationDate).toEqual(enabledKey.CreationDate);
    expect(states[2]!.DeletionDate).toEqual(new Date(facade.clock.now().getTime() + 7 * DAY_MS));
  });

  it('ListKeys lists every key', async () => {
    const { Keys } = await kms().listKeys();

    expect(Keys.map((key) => key.KeyArn).sort()).toEqual(
      [enabledKey.Arn, disabledKey.Arn, pendingDeletionKey.Arn].sort(),
    );
  });

  it('alias still names its key', async () => {
    const { Aliases } = await kms().listAliases();

    expect(Aliases.map((alias) => [alias.AliasName, alias.TargetKeyId])).toEqual([[ALIAS_NAME, enabledKey.KeyId]]);
  });

  it('old ciphertext decrypts', async () => {
    await settledStore(kms(), facade.customKeyStoreId);

    const { Plaintext, KeyId } = await kms().decrypt({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT });

    expect(KeyId).toBe(enabledKey.Arn);
    expect(Buffer.from(Plaintext).equals(PLAINTEXT)).toBe(true);
  });

  it('encrypts by alias', async () => {
    await settledStore(kms(), facade.customKeyStoreId);

    const { KeyId } = await kms().encrypt({ KeyId: ALIAS_NAME, Plaintext: PLAINTEXT });

    expect(KeyId).toBe(enabledKey.Arn);
  });
});
