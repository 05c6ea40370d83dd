// Scheduled key deletion: the deletion date, the key, its aliases and its
// HSM material once the injected clock passes that date.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../../src/index.js';
import { backingKeyId } from '../../src/kms/key-lifecycle.js';
import type { KeyMetadata } from '../../src/kms/types.js';
import { openHsm, type Hsm } from '../../src/native.js';
import { clusterConfig, connectStore, DAY_MS, openFacade, type Facade } from './fixture.js';

const OFFLINE_CLUSTER_ID = 'cluster-offline';

let facade: Facade;
let kms: Kms;
/** The main store's token, opened directly to look for key material. */
let mainToken: Hsm;
let offlineToken: Hsm;
let offlineStoreId: string;

beforeAll(async () => {
  facade = await openFacade('facade-deletion', {
    tokenCount: 2,
    extraClusters: (tokens) => [clusterConfig(tokens, OFFLINE_CLUSTER_ID, ['facade-deletion-1'])],
  });
  kms = facade.kms;
  const { modulePath, pin } = facade.tokens;
  mainToken = await openHsm({ module: modulePath, tokenLabel: 'facade-deletion-0', pin });
  offlineToken = await openHsm({ module: modulePath, tokenLabel: 'facade-deletion-1', pin });
  ({ CustomKeyStoreId: offlineStoreId } = await kms.createCustomKeyStore({
    CustomKeyStoreName: 'offline-store',
    CloudHsmClusterId: OFFLINE_CLUSTER_ID,
    TrustAnchorCertificate: 'test trust anchor',
    KeyStorePassword: pin,
  }));
});

// Each test starts with no key pending deletion, so deleteDueKeys returns
// only the keys of the test at hand.
afterEach(async () => {
  facade.clock.advance(30 * DAY_MS);
  await kms.deleteDueKeys();
});

afterAll(async () => {
  await mainToken?.close();
  await offlineToken?.close();
  await facade?.close();
});

/** Returns the CKA_ID of the HSM object that contains a key's material. */
function materialOf(key: KeyMetadata): Buffer {
  return backingKeyId(key.KeyId, 1);
}

/**
 * Creates a key with an alias and schedules its deletion in 7 days. Returns
 * the key, the alias name and the deletion date.
 */
async function keyPendingDeletion(): Promise<{ key: KeyMetadata; aliasName: string; deletionDate: Date }> {
  const key = await facade.createKey();
  const aliasName = `alias/deletion-${randomUUID()}`;
  await kms.createAlias({ AliasName: aliasName, TargetKeyId: key.Arn });
  const { DeletionDate } = await kms.scheduleKeyDeletion({ KeyId: key.Arn, PendingWindowInDays: 7 });
  return { key, aliasName, deletionDate: DeletionDate };
}

describe('scheduled deletion', () => {
  it('DeletionDate is now plus the window', async () => {
    const scheduledAt = facade.clock.now();

    const { key, deletionDate } = await keyPendingDeletion();

    expect(deletionDate).toEqual(new Date(scheduledAt.getTime() + 7 * DAY_MS));
    expect((await kms.describeKey({ KeyId: key.Arn })).KeyMetadata.DeletionDate).toEqual(deletionDate);
  });

  it('nothing is deleted before the date', async () => {
    const { key, deletionDate } = await keyPendingDeletion();

    facade.clock.set(new Date(deletionDate.getTime() - 1));

    expect(await kms.deleteDueKeys()).toEqual([]);
    expect((await kms.describeKey({ KeyId: key.Arn })).KeyMetadata.KeyState).toBe('PendingDeletion');
    expect(await mainToken.hasKey(materialOf(key))).toBe(true);
  });

  it('key, aliases and material go at the date', async () => {
    const { key, aliasName, deletionDate } = await keyPendingDeletion();
    expect(await mainToken.hasKey(materialOf(key))).toBe(true);

    facade.clock.set(deletionDate);

    expect(await kms.deleteDueKeys()).toEqual([key.Arn]);
    await expect(kms.describeKey({ KeyId: key.Arn })).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(kms.describeKey({ KeyId: aliasName })).rejects.toMatchObject({ name: 'NotFoundException' });
    expect((await kms.listAliases()).Aliases.map((alias) => alias.AliasName)).not.toContain(aliasName);
    expect((await kms.listKeys()).Keys.map((listed) => listed.KeyArn)).not.toContain(key.Arn);
    expect(await mainToken.hasKey(materialOf(key))).toBe(false);
  });

  it('cancelled deletion never happens', async () => {
    const { key, deletionDate } = await keyPendingDeletion();
    await kms.cancelKeyDeletion({ KeyId: key.Arn });

    facade.clock.set(new Date(deletionDate.getTime() + DAY_MS));

    expect(await kms.deleteDueKeys()).toEqual([]);
    expect((await kms.describeKey({ KeyId: key.Arn })).KeyMetadata.KeyState).toBe('Disabled');
    expect(await mainToken.hasKey(materialOf(key))).toBe(true);
  });

  it('disconnected store keeps the material', async () => {
    await connectStore(kms, offlineStoreId);
    const { KeyMetadata: key } = await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: offlineStoreId });
    const { DeletionDate } = await kms.scheduleKeyDeletion({ KeyId: key.Arn, PendingWindowInDays: 7 });
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });

    facade.clock.set(DeletionDate);

    // As in AWS KMS, the key is deleted, and material the engine cannot
    // reach stays in the HSM for an operator to remove.
    expect(await kms.deleteDueKeys()).toEqual([key.Arn]);
    await expect(kms.describeKey({ KeyId: key.Arn })).rejects.toMatchObject({ name: 'NotFoundException' });
    expect(await offlineToken.hasKey(materialOf(key))).toBe(true);
  });
});
