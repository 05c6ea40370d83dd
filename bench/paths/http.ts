// The facade behind the KMS-compatible HTTP server, called through the
// official AWS SDK for JavaScript over keep-alive HTTP on 127.0.0.1, with
// SigV4 signatures on every request. Client and server share this process
// and its main thread, so the figure is a lower bound of a server that has
// a process of its own.
import { randomBytes } from 'node:crypto';
import { KMSClient, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, ReEncryptCommand } from '@aws-sdk/client-kms';
import { pino } from 'pino';
import { createServer } from '../../dist/index.js';
import type { RequestFunction } from '../closed-loop.js';
import type { BenchPath, PathContext } from './bench-path.js';
import { openFacadeEngine } from './facade.js';

export async function openHttpPath(context: PathContext): Promise<BenchPath> {
  const engine = await openFacadeEngine(context);
  const accessKey = { accessKeyId: 'AKIABENCHMARK0000000', secretAccessKey: randomBytes(30).toString('base64') };
  const server = createServer(engine.kms, {
    host: '127.0.0.1',
    port: 0,
    accessKeys: [accessKey],
    // Audit lines would measure the log, not the server.
    logger: pino({ level: 'silent' }),
  });
  const { url } = await server.listen();
  const client = new KMSClient({ endpoint: url, region: 'us-east-1', credentials: accessKey, maxAttempts: 1 });

  return {
    async prepare(operation, bytes) {
      const plaintext = Buffer.alloc(bytes, 1);
      const { keyArn, destinationArn } = engine;
      let request: RequestFunction;
      switch (operation) {
        case 'Encrypt':
          request = () => client.send(new EncryptCommand({ KeyId: keyArn, Plaintext: plaintext }));
          break;
        case 'Decrypt': {
          const { CiphertextBlob } = await engine.kms.encrypt({ KeyId: keyArn, Plaintext: plaintext });
          request = () => client.send(new DecryptCommand({ CiphertextBlob }));
          break;
        }
        case 'GenerateDataKey':
          request = () => client.send(new GenerateDataKeyCommand({ KeyId: keyArn, NumberOfBytes: bytes }));
          break;
        case 'ReEncrypt': {
          const { CiphertextBlob } = await engine.kms.encrypt({ KeyId: keyArn, Plaintext: plaintext });
          request = () => client.send(new ReEncryptCommand({ CiphertextBlob, DestinationKeyId: destinationArn }));
          break;
        }
      }
      return () => request;
    },
    async close() {
      client.destroy();
      await server.close();
      await engine.close();
    },
  };
}
