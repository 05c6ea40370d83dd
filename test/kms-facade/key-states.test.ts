// Which operations each key state allows, as a table of operation × key
// state → the KeyState afterwards or the exception. A key is Unavailable
// when its custom key store is not connected, so those keys live in a
// second store that stays disconnected between tests.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../../src/index.js';
import type { KeyState } from '../../src/kms/types.js';
import { clusterConfig, connectStore, DAY_MS, openFacade, type Facade } from './fixture.js';

const OFFLINE_CLUSTER_ID = 'cluster-offline';
const PLAINTEXT = Buffer.from('key state table');

let facade: Facade;
let kms: Kms;
let offlineStoreId: string;

beforeAll(async () => {
  facade = await openFacade('facade-states', {
    tokenCount: 2,
    extraClusters: (tokens) => [clusterConfig(tokens, OFFLINE_CLUSTER_ID, ['facade-states-1'])],
  });
  kms = facade.kms;
  const created = await kms.createCustomKeyStore({
    CustomKeyStoreName: 'offline-store',
    CloudHsmClusterId: OFFLINE_CLUSTER_ID,
    TrustAnchorCertificate: 'test trust anchor',
    KeyStorePassword: facade.tokens.pin,
  });
  offlineStoreId = created.CustomKeyStoreId;
});

afterAll(async () => {
  await facade?.close();
});

type State = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'Unavailable';

/** A key brought into a state, with a ciphertext made under it while it was Enabled. */
interface Subject {
  arn: string;
  ciphertext: Uint8Array;
}

async function createKeyIn(customKeyStoreId: string): Promise<Subject> {
  const { KeyMetadata } = await kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: customKeyStoreId });
  const { CiphertextBlob } = await kms.encrypt({ KeyId: KeyMetadata.Arn, Plaintext: PLAINTEXT });
  return { arn: KeyMetadata.Arn, ciphertext: CiphertextBlob };
}

/** Creates a key and brings it into `state`. Unavailable keys are Enabled keys of the disconnected store. */
async function keyInState(state: State): Promise<Subject> {
  if (state !== 'Unavailable') {
    const subject = await createKeyIn(facade.customKeyStoreId);
    if (state === 'Disabled') await kms.disableKey({ KeyId: subject.arn });
    if (state === 'PendingDeletion') await kms.scheduleKeyDeletion({ KeyId: subject.arn, PendingWindowInDays: 7 });
    return subject;
  }
  await connectStore(kms, offlineStoreId);
  const subject = await createKeyIn(offlineStoreId);
  await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });
  return subject;
}

async function keyStateOf(arn: string): Promise<KeyState> {
  const { KeyMetadata } = await kms.describeKey({ KeyId: arn });
  return KeyMetadata.KeyState;
}

function newAliasName(): string {
  return `alias/state-${randomUUID()}`;
}

// Each operation acts on the subject key. On success it checks that the
// response names the subject by its key ARN.
const OPERATIONS = {
  async Encrypt(subject: Subject) {
    const response = await kms.encrypt({ KeyId: subject.arn, Plaintext: PLAINTEXT });
    expect(response.KeyId).toBe(subject.arn);
  },
  async Decrypt(subject: Subject) {
    const response = await kms.decrypt({ CiphertextBlob: subject.ciphertext });
    expect(response.KeyId).toBe(subject.arn);
    expect(Buffer.from(response.Plaintext).equals(PLAINTEXT)).toBe(true);
  },
  async GenerateDataKey(subject: Subject) {
    const response = await kms.generateDataKey({ KeyId: subject.arn, KeySpec: 'AES_256' });
    expect(response.KeyId).toBe(subject.arn);
    expect(response.Plaintext.length).toBe(32);
  },
  async GenerateDataKeyWithoutPlaintext(subject: Subject) {
    const response = await kms.generateDataKeyWithoutPlaintext({ KeyId: subject.arn, NumberOfBytes: 16 });
    expect(response.KeyId).toBe(subject.arn);
    expect(response).not.toHaveProperty('Plaintext');
  },
  async 'ReEncrypt from'(subject: Subject) {
    const destination = await facade.createKey();
    const response = await kms.reEncrypt({ CiphertextBlob: subject.ciphertext, DestinationKeyId: destination.Arn });
    expect(response.SourceKeyId).toBe(subject.arn);
    expect(response.KeyId).toBe(destination.Arn);
  },
  async 'ReEncrypt to'(subject: Subject) {
    const source = await createKeyIn(facade.customKeyStoreId);
    const response = await kms.reEncrypt({ CiphertextBlob: source.ciphertext, DestinationKeyId: subject.arn });
    expect(response.SourceKeyId).toBe(source.arn);
    expect(response.KeyId).toBe(subject.arn);
  },
  async DescribeKey(subject: Subject) {
    const { KeyMetadata } = await kms.describeKey({ KeyId: subject.arn });
    expect(KeyMetadata.Arn).toBe(subject.arn);
  },
  async EnableKey(subject: Subject) {
    await kms.enableKey({ KeyId: subject.arn });
  },
  async DisableKey(subject: Subject) {
    await kms.disableKey({ KeyId: subject.arn });
  },
  async ScheduleKeyDeletion(subject: Subject) {
    const response = await kms.scheduleKeyDeletion({ KeyId: subject.arn, PendingWindowInDays: 7 });
    expect(response.KeyId).toBe(subject.arn);
    expect(response.KeyState).toBe('PendingDeletion');
  },
  async CancelKeyDeletion(subject: Subject) {
    const response = await kms.cancelKeyDeletion({ KeyId: subject.arn });
    expect(response.KeyId).toBe(subject.arn);
  },
  async CreateAlias(subject: Subject) {
    const aliasName = newAliasName();
    await kms.createAlias({ AliasName: aliasName, TargetKeyId: subject.arn });
    const { Aliases } = await kms.listAliases({ KeyId: subject.arn });
    expect(Aliases.map((alias) => alias.AliasName)).toEqual([aliasName]);
  },
  async UpdateAlias(subject: Subject) {
    const aliasName = newAliasName();
    const previousTarget = await facade.createKey();
    await kms.createAlias({ AliasName: aliasName, TargetKeyId: previousTarget.Arn });
    await kms.updateAlias({ AliasName: aliasName, TargetKeyId: subject.arn });
    const { Aliases } = await kms.listAliases({ KeyId: subject.arn });
    expect(Aliases.map((alias) => alias.AliasName)).toEqual([aliasName]);
  },
};

type OperationName = keyof typeof OPERATIONS;

/** An exception name with a pattern its message must match. */
interface ExpectedError {
  error: string;
  message: RegExp;
}

/** The KeyState that DescribeKey reports after a successful call, or the exception of a failed one. */
type Outcome = KeyState | ExpectedError;

const DISABLED: ExpectedError = { error: 'DisabledException', message: /is disabled/ };
const PENDING_DELETION: ExpectedError = { error: 'KMSInvalidStateException', message: /is pending deletion/ };
const UNAVAILABLE: ExpectedError = { error: 'KMSInvalidStateException', message: /is unavailable/ };
const NOT_PENDING_DELETION: ExpectedError = { error: 'KMSInvalidStateException', message: /is not pending deletion/ };

/** Builds the toMatchObject pattern of an expected error. */
function errorPattern(expected: ExpectedError) {
  return { name: expected.error, message: expect.stringMatching(expected.message) };
}

const CRYPTO: Record<State, Outcome> = {
  Enabled: 'Enabled',
  Disabled: DISABLED,
  PendingDeletion: PENDING_DELETION,
  Unavailable: UNAVAILABLE,
};

// Enabling or disabling an Unavailable key succeeds, and the key keeps
// reporting Unavailable until its store connects again.
const EXPECTED: Record<OperationName, Record<State, Outcome>> = {
  Encrypt: CRYPTO,
  Decrypt: CRYPTO,
  GenerateDataKey: CRYPTO,
  GenerateDataKeyWithoutPlaintext: CRYPTO,
  'ReEncrypt from': CRYPTO,
  'ReEncrypt to': CRYPTO,
  DescribeKey: { Enabled: 'Enabled', Disabled: 'Disabled', PendingDeletion: 'PendingDeletion', Unavailable: 'Unavailable' },
  EnableKey: { Enabled: 'Enabled', Disabled: 'Enabled', PendingDeletion: PENDING_DELETION, Unavailable: 'Unavailable' },
  DisableKey: { Enabled: 'Disabled', Disabled: 'Disabled', PendingDeletion: PENDING_DELETION, Unavailable: 'Unavailable' },
  ScheduleKeyDeletion: {
    Enabled: 'PendingDeletion',
    Disabled: 'PendingDeletion',
    PendingDeletion: PENDING_DELETION,
    Unavailable: 'PendingDeletion',
  },
  CancelKeyDeletion: {
    Enabled: NOT_PENDING_DELETION,
    Disabled: NOT_PENDING_DELETION,
    PendingDeletion: 'Disabled',
    Unavailable: NOT_PENDING_DELETION,
  },
  CreateAlias: { Enabled: 'Enabled', Disabled: 'Disabled', PendingDeletion: PENDING_DELETION, Unavailable: 'Unavailable' },
  UpdateAlias: { Enabled: 'Enabled', Disabled: 'Disabled', PendingDeletion: PENDING_DELETION, Unavailable: 'Unavailable' },
};

const CASES = Object.entries(EXPECTED).flatMap(([operation, byState]) =>
  Object.entries(byState).map(([state, expected]) => [operation as OperationName, state as State, expected] as const),
);

describe('operation × key state', () => {
  it.each(CASES)('%s on %s key', async (operation, state, expected) => {
    const subject = await keyInState(state);
    const call = OPERATIONS[operation](subject);

    if (typeof expected === 'string') {
      await call;
      expect(await keyStateOf(subject.arn)).toBe(expected);
    } else {
      await expect(call).rejects.toMatchObject(errorPattern(expected));
    }
  });
});

describe('key state details', () => {
  it('DescribeKey of PendingDeletion key', async () => {
    const subject = await keyInState('PendingDeletion');
    const { KeyMetadata } = await kms.describeKey({ KeyId: subject.arn });

    expect(KeyMetadata.Enabled).toBe(false);
    expect(KeyMetadata.DeletionDate).toEqual(new Date(facade.clock.now().getTime() + 7 * DAY_MS));
  });

  it('DescribeKey of Enabled key', async () => {
    const subject = await keyInState('Enabled');
    const { KeyMetadata } = await kms.describeKey({ KeyId: subject.arn });

    expect(KeyMetadata.Enabled).toBe(true);
    expect(KeyMetadata).not.toHaveProperty('DeletionDate');
  });

  it('EnableKey while Unavailable applies on reconnect', async () => {
    await connectStore(kms, offlineStoreId);
    const subject = await createKeyIn(offlineStoreId);
    await kms.disableKey({ KeyId: subject.arn });
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });

    await kms.enableKey({ KeyId: subject.arn });
    expect(await keyStateOf(subject.arn)).toBe('Unavailable');

    await connectStore(kms, offlineStoreId);
    expect(await keyStateOf(subject.arn)).toBe('Enabled');
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });
  });

  it('DisableKey while Unavailable applies on reconnect', async () => {
    const subject = await keyInState('Unavailable');

    await kms.disableKey({ KeyId: subject.arn });
    expect(await keyStateOf(subject.arn)).toBe('Unavailable');

    await connectStore(kms, offlineStoreId);
    expect(await keyStateOf(subject.arn)).toBe('Disabled');
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });
  });

  it('Disabled key of disconnected store', async () => {
    await connectStore(kms, offlineStoreId);
    const subject = await createKeyIn(offlineStoreId);
    await kms.disableKey({ KeyId: subject.arn });
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });

    // The key reports Unavailable, so crypto fails as for any Unavailable key.
    expect(await keyStateOf(subject.arn)).toBe('Unavailable');
    const unavailable = errorPattern(UNAVAILABLE);
    await expect(kms.encrypt({ KeyId: subject.arn, Plaintext: PLAINTEXT })).rejects.toMatchObject(unavailable);
    await expect(kms.decrypt({ CiphertextBlob: subject.ciphertext })).rejects.toMatchObject(unavailable);
  });

  it('PendingDeletion survives store disconnect', async () => {
    await connectStore(kms, offlineStoreId);
    const subject = await createKeyIn(offlineStoreId);
    await kms.scheduleKeyDeletion({ KeyId: subject.arn, PendingWindowInDays: 7 });
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });

    expect(await keyStateOf(subject.arn)).toBe('PendingDeletion');
    await expect(kms.encrypt({ KeyId: subject.arn, Plaintext: PLAINTEXT })).rejects.toMatchObject(
      errorPattern(PENDING_DELETION),
    );
  });

  it('CancelKeyDeletion while store disconnected', async () => {
    await connectStore(kms, offlineStoreId);
    const subject = await createKeyIn(offlineStoreId);
    await kms.scheduleKeyDeletion({ KeyId: subject.arn, PendingWindowInDays: 7 });
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });

    await kms.cancelKeyDeletion({ KeyId: subject.arn });
    expect(await keyStateOf(subject.arn)).toBe('Unavailable');

    await connectStore(kms, offlineStoreId);
    expect(await keyStateOf(subject.arn)).toBe('Disabled');
    await kms.disconnectCustomKeyStore({ CustomKeyStoreId: offlineStoreId });
  });

  it('UpdateAlias away from PendingDeletion key', async () => {
    const aliasName = newAliasName();
    const source = await keyInState('Enabled');
    await kms.createAlias({ AliasName: aliasName, TargetKeyId: source.arn });
    await kms.scheduleKeyDeletion({ KeyId: source.arn, PendingWindowInDays: 7 });
    const destination = await facade.createKey();

    await kms.updateAlias({ AliasName: aliasName, TargetKeyId: destination.Arn });

    const { KeyMetadata } = await kms.describeKey({ KeyId: aliasName });
    expect(KeyMetadata.Arn).toBe(destination.Arn);
  });
});
