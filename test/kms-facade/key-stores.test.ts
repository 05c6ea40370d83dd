// The custom key store state machine and the rules of the store
// operations: which connection states each one needs, and the name,
// cluster and password checks.
//
// The main store (cluster-local) stays CONNECTED for the whole file. Each
// test that needs a store of its own creates it on cluster-spare and
// removes it afterwards, because a cluster takes only one store.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../../src/index.js';
import type { CustomKeyStoreEntry } from '../../src/kms/types.js';
import {
  clusterConfig,
  connectStore,
  DAY_MS,
  MAIN_CLUSTER_ID,
  MAIN_STORE_NAME,
  openFacade,
  settledStore,
  type Facade,
} from './fixture.js';

const SPARE_CLUSTER_ID = 'cluster-spare';
const OTHER_CLUSTER_ID = 'cluster-other';
const MISSING_TOKEN_CLUSTER_ID = 'cluster-missing-token';
const WRONG_PASSWORD = 'wrong-password-1';

let facade: Facade;
let kms: Kms;
/** Stores created by the running test, removed after it. */
let createdStores: string[] = [];

beforeAll(async () => {
  facade = await openFacade('facade-stores', {
    tokenCount: 3,
    extraClusters: (tokens) => [
      clusterConfig(tokens, SPARE_CLUSTER_ID, ['facade-stores-1']),
      clusterConfig(tokens, OTHER_CLUSTER_ID, ['facade-stores-2']),
      clusterConfig(tokens, MISSING_TOKEN_CLUSTER_ID, ['facade-stores-absent']),
    ],
  });
  kms = facade.kms;
});

afterEach(async () => {
  for (const customKeyStoreId of createdStores) {
    const { CustomKeyStores } = await kms.describeCustomKeyStores();
    const entry = CustomKeyStores.find((store) => store.CustomKeyStoreId === customKeyStoreId);
    if (!entry) continue;
    if (entry.ConnectionState !== 'DISCONNECTED') {
      await kms.disconnectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    }
    await kms.deleteCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
  }
  createdStores = [];
});

afterAll(async () => {
  await facade?.close();
});

async function createStore(
  options: { clusterId?: string; password?: string; name?: string } = {},
): Promise<string> {
  const { CustomKeyStoreId } = await kms.createCustomKeyStore({
    CustomKeyStoreName: options.name ?? `store-${randomUUID()}`,
    CloudHsmClusterId: options.clusterId ?? SPARE_CLUSTER_ID,
    TrustAnchorCertificate: 'test trust anchor',
    KeyStorePassword: options.password ?? facade.tokens.pin,
  });
  createdStores.push(CustomKeyStoreId);
  return CustomKeyStoreId;
}

async function describeStore(customKeyStoreId: string): Promise<CustomKeyStoreEntry> {
  const { CustomKeyStores } = await kms.describeCustomKeyStores({ CustomKeyStoreId: customKeyStoreId });
  expect(CustomKeyStores).toHaveLength(1);
  return CustomKeyStores[0]!;
}

async function createKeyIn(customKeyStoreId: string) {
  return kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: customKeyStoreId });
}

const INVALID_STATE = { name: 'CustomKeyStoreInvalidStateException' };

describe('connection states', () => {
  it('new store is DISCONNECTED', async () => {
    const name = `store-${randomUUID()}`;
    const customKeyStoreId = await createStore({ name });

    expect(customKeyStoreId).toMatch(/^cks-[0-9a-f]{17}$/);
    expect(await describeStore(customKeyStoreId)).toEqual({
      CustomKeyStoreId: customKeyStoreId,
      CustomKeyStoreName: name,
      CloudHsmClusterId: SPARE_CLUSTER_ID,
      TrustAnchorCertificate: 'test trust anchor',
      ConnectionState: 'DISCONNECTED',
      CreationDate: facade.clock.now(),
      CustomKeyStoreType: 'AWS_CLOUDHSM',
    });
  });

  it('connect goes CONNECTING, then CONNECTED', async () => {
    const customKeyStoreId = await createStore();

    await kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    expect((await describeStore(customKeyStoreId)).ConnectionState).toBe('CONNECTING');

    const settled = await settledStore(kms, customKeyStoreId);
    expect(settled.ConnectionState).toBe('CONNECTED');
    expect(settled).not.toHaveProperty('ConnectionErrorCode');
  });

  it('connect of CONNECTED store is a no-op', async () => {
    await kms.connectCustomKeyStore({ CustomKeyStoreId: facade.customKeyStoreId });

    expect((await describeStore(facade.customKeyStoreId)).ConnectionState).toBe('CONNECTED');
  });

  it('disconnect goes to DISCONNECTED', async () => {
    const customKeyStoreId = await createStore();
    await connectStore(kms, customKeyStoreId);

    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });

    expect((await describeStore(customKeyStoreId)).ConnectionState).toBe('DISCONNECTED');
  });

  it('disconnect of DISCONNECTED store', async () => {
    const customKeyStoreId = await createStore();

    await expect(kms.disconnectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId })).rejects.toMatchObject(
      INVALID_STATE,
    );
  });

  it('wrong password: FAILED, INVALID_CREDENTIALS', async () => {
    const customKeyStoreId = await createStore({ password: WRONG_PASSWORD });

    await kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    const settled = await settledStore(kms, customKeyStoreId);

    expect(settled.ConnectionState).toBe('FAILED');
    expect(settled.ConnectionErrorCode).toBe('INVALID_CREDENTIALS');
  });

  it('missing token: FAILED, CLUSTER_NOT_FOUND', async () => {
    const customKeyStoreId = await createStore({ clusterId: MISSING_TOKEN_CLUSTER_ID });

    await kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    const settled = await settledStore(kms, customKeyStoreId);

    expect(settled.ConnectionState).toBe('FAILED');
    expect(settled.ConnectionErrorCode).toBe('CLUSTER_NOT_FOUND');
  });

  it('FAILED store connects only after disconnect', async () => {
    const customKeyStoreId = await createStore({ password: WRONG_PASSWORD });
    await kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    expect((await settledStore(kms, customKeyStoreId)).ConnectionState).toBe('FAILED');

    await expect(kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId })).rejects.toMatchObject(
      INVALID_STATE,
    );
    await expect(
      kms.updateCustomKeyStore({ CustomKeyStoreId: customKeyStoreId, KeyStorePassword: facade.tokens.pin }),
    ).rejects.toMatchObject(INVALID_STATE);

    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    const disconnected = await describeStore(customKeyStoreId);
    expect(disconnected.ConnectionState).toBe('DISCONNECTED');
    expect(disconnected).not.toHaveProperty('ConnectionErrorCode');

    await kms.updateCustomKeyStore({ CustomKeyStoreId: customKeyStoreId, KeyStorePassword: facade.tokens.pin });
    await connectStore(kms, customKeyStoreId);
    expect((await describeStore(customKeyStoreId)).ConnectionState).toBe('CONNECTED');
  });

  it('CreateKey on DISCONNECTED store', async () => {
    const customKeyStoreId = await createStore();

    await expect(createKeyIn(customKeyStoreId)).rejects.toMatchObject(INVALID_STATE);
  });

  it('CreateKey on FAILED store', async () => {
    const customKeyStoreId = await createStore({ password: WRONG_PASSWORD });
    await kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    expect((await settledStore(kms, customKeyStoreId)).ConnectionState).toBe('FAILED');

    await expect(createKeyIn(customKeyStoreId)).rejects.toMatchObject(INVALID_STATE);
  });

  it('GenerateRandom on DISCONNECTED store', async () => {
    const customKeyStoreId = await createStore();

    await expect(kms.generateRandom({ NumberOfBytes: 8, CustomKeyStoreId: customKeyStoreId })).rejects.toMatchObject(
      INVALID_STATE,
    );
  });

  it('CreateKey on unknown store', async () => {
    await expect(createKeyIn('cks-00000000000000000')).rejects.toMatchObject({
      name: 'CustomKeyStoreNotFoundException',
    });
  });
});

describe('UpdateCustomKeyStore', () => {
  it('password change while CONNECTED', async () => {
    const newPassword = 'new-password-2';
    const update = kms.updateCustomKeyStore({
      CustomKeyStoreId: facade.customKeyStoreId,
      KeyStorePassword: newPassword,
    });

    const error = await update.then(
      () => undefined,
      (reason: Error) => reason,
    );
    expect(error).toMatchObject(INVALID_STATE);
    expect(error?.message).not.toContain(newPassword);
  });

  it('cluster change while CONNECTED', async () => {
    await expect(
      kms.updateCustomKeyStore({ CustomKeyStoreId: facade.customKeyStoreId, CloudHsmClusterId: OTHER_CLUSTER_ID }),
    ).rejects.toMatchObject(INVALID_STATE);

    expect((await describeStore(facade.customKeyStoreId)).CloudHsmClusterId).toBe(MAIN_CLUSTER_ID);
  });

  it('cluster change while DISCONNECTED', async () => {
    const customKeyStoreId = await createStore();

    await kms.updateCustomKeyStore({ CustomKeyStoreId: customKeyStoreId, CloudHsmClusterId: OTHER_CLUSTER_ID });

    expect((await describeStore(customKeyStoreId)).CloudHsmClusterId).toBe(OTHER_CLUSTER_ID);
    await connectStore(kms, customKeyStoreId);
  });

  it('rename while CONNECTED', async () => {
    const newName = `renamed-${randomUUID()}`;

    await kms.updateCustomKeyStore({ CustomKeyStoreId: facade.customKeyStoreId, NewCustomKeyStoreName: newName });
    const renamed = await describeStore(facade.customKeyStoreId);
    await kms.updateCustomKeyStore({
      CustomKeyStoreId: facade.customKeyStoreId,
      NewCustomKeyStoreName: MAIN_STORE_NAME,
    });

    expect(renamed.CustomKeyStoreName).toBe(newName);
    expect(renamed.ConnectionState).toBe('CONNECTED');
  });

  it('rename to a used name', async () => {
    const customKeyStoreId = await createStore();

    await expect(
      kms.updateCustomKeyStore({ CustomKeyStoreId: customKeyStoreId, NewCustomKeyStoreName: MAIN_STORE_NAME }),
    ).rejects.toMatchObject({ name: 'CustomKeyStoreNameInUseException' });
  });

  it('cluster change to a used cluster', async () => {
    const customKeyStoreId = await createStore();

    await expect(
      kms.updateCustomKeyStore({ CustomKeyStoreId: customKeyStoreId, CloudHsmClusterId: MAIN_CLUSTER_ID }),
    ).rejects.toMatchObject({ name: 'CloudHsmClusterInUseException' });
  });

  it('cluster change to an unknown cluster', async () => {
    const customKeyStoreId = await createStore();

    await expect(
      kms.updateCustomKeyStore({ CustomKeyStoreId: customKeyStoreId, CloudHsmClusterId: 'cluster-unknown' }),
    ).rejects.toMatchObject({ name: 'CloudHsmClusterNotFoundException' });
  });
});

describe('CreateCustomKeyStore', () => {
  it('duplicate name', async () => {
    await expect(createStore({ name: MAIN_STORE_NAME })).rejects.toMatchObject({
      name: 'CustomKeyStoreNameInUseException',
    });
  });

  it('second store on one cluster', async () => {
    await expect(createStore({ clusterId: MAIN_CLUSTER_ID })).rejects.toMatchObject({
      name: 'CloudHsmClusterInUseException',
    });
  });

  it('unknown cluster', async () => {
    await expect(createStore({ clusterId: 'cluster-unknown' })).rejects.toMatchObject({
      name: 'CloudHsmClusterNotFoundException',
    });
  });
});

describe('DeleteCustomKeyStore', () => {
  it('delete while CONNECTED', async () => {
    await expect(kms.deleteCustomKeyStore({ CustomKeyStoreId: facade.customKeyStoreId })).rejects.toMatchObject(
      INVALID_STATE,
    );
  });

  it('delete of store with keys', async () => {
    const customKeyStoreId = await createStore();
    await connectStore(kms, customKeyStoreId);
    const { KeyMetadata } = await createKeyIn(customKeyStoreId);
    await kms.scheduleKeyDeletion({ KeyId: KeyMetadata.Arn, PendingWindowInDays: 7 });
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });

    // A key pending deletion still counts.
    await expect(kms.deleteCustomKeyStore({ CustomKeyStoreId: customKeyStoreId })).rejects.toMatchObject({
      name: 'CustomKeyStoreHasCMKsException',
    });

    facade.clock.advance(7 * DAY_MS);
    expect(await kms.deleteDueKeys()).toEqual([KeyMetadata.Arn]);
    await kms.deleteCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    await expect(kms.describeCustomKeyStores({ CustomKeyStoreId: customKeyStoreId })).rejects.toMatchObject({
      name: 'CustomKeyStoreNotFoundException',
    });
  });
});

describe('DescribeCustomKeyStores', () => {
  it('unknown name', async () => {
    await expect(kms.describeCustomKeyStores({ CustomKeyStoreName: 'no-such-store' })).rejects.toMatchObject({
      name: 'CustomKeyStoreNotFoundException',
    });
  });

  it('output never contains a password', async () => {
    const customKeyStoreId = await createStore({ password: WRONG_PASSWORD });
    await kms.connectCustomKeyStore({ CustomKeyStoreId: customKeyStoreId });
    await settledStore(kms, customKeyStoreId);

    const listed = JSON.stringify(await kms.describeCustomKeyStores());
    const byName = JSON.stringify(await kms.describeCustomKeyStores({ CustomKeyStoreName: MAIN_STORE_NAME }));

    expect(listed).toContain(customKeyStoreId);
    expect(listed).not.toContain(WRONG_PASSWORD);
    expect(listed).not.toContain(facade.tokens.pin);
    expect(byName).not.toContain(facade.tokens.pin);
  });
});
