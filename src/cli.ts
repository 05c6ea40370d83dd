#!/usr/bin/env node
// The hsm-kms command. Every command opens the engine on --data-dir, runs
// one KMS operation and prints its response as JSON, with blobs in base64
// as the AWS CLI prints them.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo.js';
import { KmsError } from './kms/errors.js';
import { Kms } from './kms/kms.js';
import { initLocalCluster, LOCAL_CLUSTER_ID, readLocalCredentials } from './local-cluster.js';
import { runServer } from './server/serve.js';
import { DEFAULT_HOST, DEFAULT_PORT } from './server/server.js';

const DEFAULT_DATA_DIR = process.env.HSM_KMS_DATA_DIR ?? './hsm-kms-data';

function print(value: unknown): void {
  // The replacer reads the holder's member, because JSON.stringify calls a
  // Buffer's toJSON before it calls the replacer.
  const json = JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, member: unknown) {
      const original = this[key];
      return original instanceof Uint8Array ? Buffer.from(original).toString('base64') : member;
    },
    2,
  );
  process.stdout.write(`${json}\n`);
}

function parseContext(pair: string, previous: Record<string, string> = {}): Record<string, string> {
  const separator = pair.indexOf('=');
  if (separator <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, received "${pair}"`);
  return { ...previous, [pair.slice(0, separator)]: pair.slice(separator + 1) };
}

function parseInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number)) throw new InvalidArgumentError(`expected a whole number, received "${value}"`);
  return number;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`expected a TCP port from 0 to 65535, received "${value}"`);
  }
  return port;
}

function parseBase64(value: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new InvalidArgumentError('expected base64 text');
  return Buffer.from(value, 'base64');
}

interface GlobalOptions {
  dataDir: string;
}

/** Opens the engine, waits for stores that reconnect, runs `work` and closes the engine. */
async function withKms(program: Command, work: (kms: Kms) => Promise<unknown>): Promise<void> {
  const { dataDir } = program.opts<GlobalOptions>();
  const kms = await Kms.open({ dataDir });
  try {
    await kms.ready();
    print(await work(kms));
  } finally {
    await kms.close();
  }
}

/** Returns the plaintext given inline or read from a file. */
function plaintextOf(options: { plaintext?: string; plaintextFile?: string }): Buffer {
  if (options.plaintextFile !== undefined) return readFileSync(options.plaintextFile);
  if (options.plaintext !== undefined) return Buffer.from(options.plaintext, 'utf8');
  throw new InvalidArgumentError('give --plaintext TEXT or --plaintext-file FILE');
}

function passwordOf(dataDir: string, given: string | undefined): string {
  const password = given ?? readLocalCredentials(dataDir)?.keyStorePassword;
  if (!password) {
    throw new InvalidArgumentError(`give --password, or run "hsm-kms init --data-dir ${dataDir}" to create credentials.json`);
  }
  return password;
}

function buildProgram(): Command {
  const program = new Command('hsm-kms')
    .description('AWS KMS-style key management with keys inside PKCS#11 HSMs')
    .option('--data-dir <dir>', 'folder for metadata, config.json and credentials.json', DEFAULT_DATA_DIR);

  program
    .command('init')
    .description(`create the local SoftHSM2 cluster ${LOCAL_CLUSTER_ID} and write config.json`)
    .option('--hsms <count>', 'number of SoftHSM2 tokens (HSMs) in the cluster', parseInteger, 2)
    .option('--pin <pin>', 'crypto user PIN, 7 to 32 characters (random when omitted, saved in credentials.json)')
    .action(async (options: { hsms: number; pin?: string }) => {
      const { dataDir } = program.opts<GlobalOptions>();
      const result = await initLocalCluster({ dataDir, hsms: options.hsms, ...(options.pin ? { pin: options.pin } : {}) });
      print({ ...result, clusterId: LOCAL_CLUSTER_ID });
    });

  program
    .command('serve')
    .description('serve the KMS API over HTTP for the AWS SDKs and the AWS CLI (AWS JSON 1.1, SigV4) until SIGINT or SIGTERM')
    .option('--host <address>', 'address to listen on', DEFAULT_HOST)
    .option('--port <port>', 'TCP port to listen on; 0 picks a free one', parsePort, DEFAULT_PORT)
    .option('--insecure-no-auth', 'accept unsigned requests: anyone who can reach the port can use every key', false)
    .action((options: { host: string; port: number; insecureNoAuth: boolean }) =>
      runServer({ dataDir: program.opts<GlobalOptions>().dataDir, ...options }),
    );

  program
    .command('demo')
    .description('set up a local cluster if needed and run every crypto operation on it')
    .option('--hsms <count>', 'number of HSMs when the cluster is created', parseInteger, 2)
    .action(async (options: { hsms: number }) => {
      const { dataDir } = program.opts<GlobalOptions>();
      await runDemo({ dataDir, hsms: options.hsms, report: (line) => process.stdout.write(`${line}\n`) });
    });

  program
    .command('create-store')
    .description('create a custom key store on a configured cluster')
    .requiredOption('--name <name>', 'CustomKeyStoreName')
    .option('--cluster <id>', 'CloudHsmClusterId', LOCAL_CLUSTER_ID)
    .option('--password <password>', 'KeyStorePassword (default: the one in credentials.json)')
    .option('--trust-anchor <file>', 'PEM file of the trust anchor certificate')
    .action((options: { name: string; cluster: string; password?: string; trustAnchor?: string }) =>
      withKms(program, (kms) =>
        kms.createCustomKeyStore({
          CustomKeyStoreName: options.name,
          CloudHsmClusterId: options.cluster,
          TrustAnchorCertificate: options.trustAnchor ? readFileSync(options.trustAnchor, 'utf8') : 'none',
          KeyStorePassword: passwordOf(program.opts<GlobalOptions>().dataDir, options.password),
        }),
      ),
    );

  for (const [name, operation] of [
    ['connect-store', 'connectCustomKeyStore'],
    ['disconnect-store', 'disconnectCustomKeyStore'],
    ['delete-store', 'deleteCustomKeyStore'],
  ] as const) {
    program
      .command(name)
      .description(`${operation} on one store`)
      .requiredOption('--store-id <id>', 'CustomKeyStoreId')
      .action((options: { storeId: string }) =>
        withKms(program, async (kms) => {
          await kms[operation]({ CustomKeyStoreId: options.storeId });
          await kms.ready();
          // The operations return {}; the store's state after them is what
          // the user wants to know (a connect can end FAILED).
          return (await kms.describeCustomKeyStores({ CustomKeyStoreId: options.storeId })).CustomKeyStores[0] ?? {};
        }),
      );
  }

  program
    .command('update-store')
    .description('rename a store, or change its password or cluster while it is DISCONNECTED')
    .requiredOption('--store-id <id>', 'CustomKeyStoreId')
    .option('--new-name <name>', 'NewCustomKeyStoreName')
    .option('--password <password>', 'KeyStorePassword')
    .option('--cluster <id>', 'CloudHsmClusterId')
    .action((options: { storeId: string; newName?: string; password?: string; cluster?: string }) =>
      withKms(program, (kms) =>
        kms.updateCustomKeyStore({
          CustomKeyStoreId: options.storeId,
          ...(options.newName !== undefined ? { NewCustomKeyStoreName: options.newName } : {}),
          ...(options.password !== undefined ? { KeyStorePassword: options.password } : {}),
          ...(options.cluster !== undefined ? { CloudHsmClusterId: options.cluster } : {}),
        }),
      ),
    );

  for (const [name, operation] of [
    ['enable-key', 'enableKey'],
    ['disable-key', 'disableKey'],
    ['cancel-key-deletion', 'cancelKeyDeletion'],
  ] as const) {
    program
      .command(name)
      .description(`${operation} on one key`)
      .requiredOption('--key-id <id>', 'key ID or key ARN')
      .action((options: { keyId: string }) => withKms(program, (kms) => kms[operation]({ KeyId: options.keyId })));
  }

  program
    .command('schedule-key-deletion')
    .requiredOption('--key-id <id>', 'key ID or key ARN')
    .option('--pending-window-in-days <days>', 'PendingWindowInDays, 7 to 30', parseInteger, 30)
    .action((options: { keyId: string; pendingWindowInDays: number }) =>
      withKms(program, (kms) =>
        kms.scheduleKeyDeletion({ KeyId: options.keyId, PendingWindowInDays: options.pendingWindowInDays }),
      ),
    );

  program
    .command('describe-stores')
    .description('describe custom key stores')
    .option('--store-id <id>', 'CustomKeyStoreId')
    .action((options: { storeId?: string }) =>
      withKms(program, (kms) => kms.describeCustomKeyStores(options.storeId ? { CustomKeyStoreId: options.storeId } : {})),
    );

  program
    .command('create-key')
    .description('create a key whose material is generated in an HSM of the store')
    .requiredOption('--store-id <id>', 'CustomKeyStoreId')
    .option('--description <text>', 'Description', '')
    .action((options: { storeId: string; description: string }) =>
      withKms(program, (kms) =>
        kms.createKey({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: options.storeId, Description: options.description }),
      ),
    );

  program
    .command('describe-key')
    .requiredOption('--key-id <id>', 'key ID, key ARN, alias name or alias ARN')
    .action((options: { keyId: string }) => withKms(program, (kms) => kms.describeKey({ KeyId: options.keyId })));

  program.command('list-keys').action(() => withKms(program, (kms) => kms.listKeys({})));

  program
    .command('create-alias')
    .requiredOption('--alias-name <name>', 'AliasName, such as alias/example')
    .requiredOption('--target-key-id <id>', 'key ID or key ARN')
    .action((options: { aliasName: string; targetKeyId: string }) =>
      withKms(program, (kms) => kms.createAlias({ AliasName: options.aliasName, TargetKeyId: options.targetKeyId })),
    );

  program
    .command('list-aliases')
    .option('--key-id <id>', 'list only the aliases of this key (key ID or key ARN)')
    .action((options: { keyId?: string }) =>
      withKms(program, (kms) => kms.listAliases(options.keyId ? { KeyId: options.keyId } : {})),
    );

  program
    .command('update-alias')
    .requiredOption('--alias-name <name>', 'AliasName')
    .requiredOption('--target-key-id <id>', 'key ID or key ARN')
    .action((options: { aliasName: string; targetKeyId: string }) =>
      withKms(program, (kms) => kms.updateAlias({ AliasName: options.aliasName, TargetKeyId: options.targetKeyId })),
    );

  program
    .command('delete-alias')
    .requiredOption('--alias-name <name>', 'AliasName')
    .action((options: { aliasName: string }) => withKms(program, (kms) => kms.deleteAlias({ AliasName: options.aliasName })));

  program
    .command('encrypt')
    .requiredOption('--key-id <id>', 'key ID, key ARN, alias name or alias ARN')
    .option('--plaintext <text>', 'text to encrypt (UTF-8)')
    .option('--plaintext-file <file>', 'file to encrypt, at most 4096 bytes')
    .option('--context <key=value>', 'encryption context pair; repeat for more', parseContext)
    .action((options: { keyId: string; plaintext?: string; plaintextFile?: string; context?: Record<string, string> }) =>
      withKms(program, (kms) =>
        kms.encrypt({ KeyId: options.keyId, Plaintext: plaintextOf(options), EncryptionContext: options.context ?? {} }),
      ),
    );

  program
    .command('decrypt')
    .requiredOption('--ciphertext-blob <base64>', 'CiphertextBlob in base64', parseBase64)
    .option('--key-id <id>', 'the key that must have made the ciphertext (optional)')
    .option('--context <key=value>', 'encryption context pair; repeat for more', parseContext)
    .action((options: { ciphertextBlob: Buffer; keyId?: string; context?: Record<string, string> }) =>
      withKms(program, (kms) =>
        kms.decrypt({
          CiphertextBlob: options.ciphertextBlob,
          EncryptionContext: options.context ?? {},
          ...(options.keyId !== undefined ? { KeyId: options.keyId } : {}),
        }),
      ),
    );

  for (const [name, operation] of [
    ['generate-data-key', 'generateDataKey'],
    ['generate-data-key-without-plaintext', 'generateDataKeyWithoutPlaintext'],
  ] as const) {
    program
      .command(name)
      .requiredOption('--key-id <id>', 'key ID, key ARN, alias name or alias ARN')
      .option('--key-spec <spec>', 'AES_256 or AES_128 (default AES_256 unless --number-of-bytes is given)')
      .option('--number-of-bytes <n>', 'NumberOfBytes, 1 to 1024, in place of --key-spec', parseInteger)
      .option('--context <key=value>', 'encryption context pair; repeat for more', parseContext)
      .action(
        (options: { keyId: string; keySpec?: 'AES_256' | 'AES_128'; numberOfBytes?: number; context?: Record<string, string> }) =>
          withKms(program, (kms) =>
            kms[operation]({
              KeyId: options.keyId,
              EncryptionContext: options.context ?? {},
              ...(options.numberOfBytes !== undefined
                ? { NumberOfBytes: options.numberOfBytes }
                : { KeySpec: options.keySpec ?? 'AES_256' }),
              ...(options.numberOfBytes !== undefined && options.keySpec !== undefined ? { KeySpec: options.keySpec } : {}),
            }),
          ),
      );
  }

  program
    .command('re-encrypt')
    .requiredOption('--ciphertext-blob <base64>', 'CiphertextBlob in base64', parseBase64)
    .requiredOption('--destination-key-id <id>', 'key to encrypt under')
    .option('--source-context <key=value>', 'source encryption context pair', parseContext)
    .option('--destination-context <key=value>', 'destination encryption context pair', parseContext)
    .action(
      (options: {
        ciphertextBlob: Buffer;
        destinationKeyId: string;
        sourceContext?: Record<string, string>;
        destinationContext?: Record<string, string>;
      }) =>
        withKms(program, (kms) =>
          kms.reEncrypt({
            CiphertextBlob: options.ciphertextBlob,
            DestinationKeyId: options.destinationKeyId,
            SourceEncryptionContext: options.sourceContext ?? {},
            DestinationEncryptionContext: options.destinationContext ?? {},
          }),
        ),
    );

  program
    .command('generate-random')
    .requiredOption('--number-of-bytes <n>', 'NumberOfBytes, 1 to 1024', parseInteger)
    .action((options: { numberOfBytes: number }) =>
      withKms(program, (kms) => kms.generateRandom({ NumberOfBytes: options.numberOfBytes })),
    );

  program
    .command('sync-key-material')
    .description('copy key material that an active HSM lacks from an HSM that has it')
    .action(() => withKms(program, (kms) => kms.syncKeyMaterial()));

  program
    .command('cluster-status')
    .description('show each cluster and the state of its HSMs')
    .action(() => withKms(program, async (kms) => kms.clusterStatus()));

  return program;
}

// A reader that stops early (`hsm-kms list-keys | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // KMS exceptions print as the AWS CLI prints them: the name, then the message.
  const name = error instanceof KmsError ? error.name : 'Error';
  process.stderr.write(`${name}: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
