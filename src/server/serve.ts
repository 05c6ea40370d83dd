/**
 * `hsm-kms serve`: opens the engine on a data folder, serves it over the KMS
 * wire protocol until SIGINT or SIGTERM, then finishes the requests in
 * flight and closes the HSM sessions.
 */
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics } from 'prom-client';
import { DEFAULT_REGION, readConfigFile } from '../kms/config.js';
import { Kms } from '../kms/kms.js';
import { ACCESS_KEY_ID_VARIABLE, loadAccessKeys, SECRET_ACCESS_KEY_VARIABLE } from './access-keys.js';
import { createServer, type ListeningAddress } from './server.js';

export interface ServeOptions {
  dataDir: string;
  host: string;
  port: number;
  insecureNoAuth: boolean;
  /** Default: a pino logger that writes JSON lines to stdout. */
  logger?: Logger;
  /** Called once the server listens. */
  onListening?: (address: ListeningAddress) => void;
}

/** Resolves when the first SIGINT or SIGTERM arrives. */
function untilStopSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      logger.info({ signal }, 'Stop signal received: finishing requests in flight');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Runs the server until a stop signal, then shuts it down gracefully. */
export async function runServer(options: ServeOptions): Promise<void> {
  const logger = options.logger ?? pino({ name: 'hsm-kms' });
  const accessKeys = options.insecureNoAuth ? [] : loadAccessKeys(options.dataDir);
  if (accessKeys.length === 0 && !options.insecureNoAuth) {
    throw new Error(
      `No access key for SigV4 requests: run "hsm-kms init --data-dir ${options.dataDir}" to add one to ` +
        `credentials.json, or set ${ACCESS_KEY_ID_VARIABLE} and ${SECRET_ACCESS_KEY_VARIABLE}.`,
    );
  }
  const region = readConfigFile(options.dataDir).region ?? DEFAULT_REGION;

  const kms = await Kms.open({ dataDir: options.dataDir });
  try {
    const server = createServer(kms, {
      host: options.host,
      port: options.port,
      accessKeys,
      insecureNoAuth: options.insecureNoAuth,
      region,
      logger,
    });
    collectDefaultMetrics({ register: server.registry, prefix: 'hsm_kms_' });
    const address = await server.listen().catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') throw error;
      throw new Error(`Port ${options.port} on ${options.host} is in use: stop the other server or pick another port with --port`, {
        cause: error,
      });
    });
    const stopped = untilStopSignal(logger);
    logger.info(
      { region, accessKeyIds: accessKeys.map((key) => key.accessKeyId) },
      `Point AWS SDK clients at ${address.url} with region ${region}`,
    );
    options.onListening?.(address);
    await stopped;
    await server.close();
  } finally {
    await kms.close();
  }
}
