// Crash reconciliation. CreateKey writes a pending row, generates the key
// in the HSM, then completes the row. The test builds the state a crash
// between the last two steps leaves behind (a pending row and an HSM
// object) and checks what the next start does with it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyArn, newKeyId } from '../../src/kms/identifiers.js';
import { backingKeyId } from '../../src/kms/key-lifecycle.js';
import { MetadataStore } from '../../src/kms/metadata-store.js';
import { openHsm, type Hsm } from '../../src/native.js';
import { waitFor } from '../helpers/tokens.js';
import { openFacade, settledStore, START_TIME, type Facade } from './fixture.js';

const MINUTE_MS = 60 * 1000;
const RESTART_TIME = new Date(START_TIME.getTime() + 2 * MINUTE_MS);

let facade: Facade;
let metadata: MetadataStore;
let token: Hsm;
/** A creation interrupted two minutes before the restart, so older than the one-minute grace period. */
let staleKey: { keyId: string; arn: string; material: Buffer };
/** A creation interrupted ten seconds before the restart, which may still be running in another process. */
let recentKey: { keyId: string; arn: string; material: Buffer };
const repairWarnings: string[] = [];

function recordRepairWarning(warning: Error): void {
  if (warning.name === 'HsmKmsRepair') repairWarnings.push(warning.message);
}

/** Generates key material in the token and writes the pending row, as an interrupted CreateKey leaves them. */
async function interruptedCreation(creationDate: Date): Promise<{ keyId: string; arn: string; material: Buffer }> {
  const keyId = newKeyId();
  const arn = keyArn('us-east-1', '111122223333', keyId);
  const material = backingKeyId(keyId, 1);
  await token.generateKey(material, Buffer.from(arn, 'utf8'));
  metadata.insertPendingKey({
    keyId,
    arn,
    description: '',
    customKeyStoreId: facade.customKeyStoreId,
    backingKeyId: material,
    creationDate,
  });
  return { keyId, arn, material };
}

beforeAll(async () => {
  facade = await openFacade('facade-reconcile');
  await facade.kms.close();

  metadata = MetadataStore.open(facade.dataDir);
  token = await openHsm({ module: facade.tokens.modulePath, tokenLabel: 'facade-reconcile-0', pin: facade.tokens.pin });
  staleKey = await interruptedCreation(START_TIME);
  recentKey = await interruptedCreation(new Date(RESTART_TIME.getTime() - 10_000));

  process.on('warning', recordRepairWarning);
  facade.clock.set(RESTART_TIME);
  await facade.reopen();
});

afterAll(async () => {
  process.off('warning', recordRepairWarning);
  await token?.close();
  metadata?.close();
  await facade?.close();
});

function pendingKeyIds(): string[] {
  return metadata.listPendingKeys().map((key) => key.keyId);
}

describe('restart after interrupted CreateKey', () => {
  it('removes the stale pending key', async () => {
    expect((await settledStore(facade.kms, facade.customKeyStoreId)).ConnectionState).toBe('CONNECTED');

    await waitFor(() => !pendingKeyIds().includes(staleKey.keyId));

    expect(await token.hasKey(staleKey.material)).toBe(false);
    await waitFor(() => repairWarnings.length > 0);
    expect(repairWarnings).toEqual([expect.stringContaining(staleKey.arn)]);
  });

  it('keeps the recent pending key', async () => {
    await waitFor(() => !pendingKeyIds().includes(staleKey.keyId));

    expect(pendingKeyIds()).toEqual([recentKey.keyId]);
    expect(await token.hasKey(recentKey.material)).toBe(true);
  });

  it('pending keys never appear', async () => {
    const { Keys } = await facade.kms.listKeys();

    expect(Keys).toEqual([]);
    await expect(facade.kms.describeKey({ KeyId: staleKey.arn })).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(facade.kms.describeKey({ KeyId: recentKey.arn })).rejects.toMatchObject({
      name: 'NotFoundException',
    });
  });

  it('reconcile removes it once past the grace period', async () => {
    facade.clock.set(new Date(RESTART_TIME.getTime() + MINUTE_MS));

    const report = await facade.kms.reconcile();

    expect(report).toEqual({ removedKeys: [recentKey.arn], deferredKeys: [] });
    expect(pendingKeyIds()).toEqual([]);
    expect(await token.hasKey(recentKey.material)).toBe(false);
  });
});
