// Helpers for the server tests: a server on a free loopback port with its
// log lines captured, AWS SDK clients pointed at it, and raw HTTP requests
// for what the SDK never sends (unsigned, replayed or forged requests).
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { KMS, type KMSClientConfig } from '@aws-sdk/client-kms';
import { pino } from 'pino';
import type { Kms } from '../../src/kms/kms.js';
import { newAccessKey } from '../../src/local-cluster.js';
import { createServer, type KmsServer, type KmsServerOptions } from '../../src/server/server.js';

export const REGION = 'us-east-1';

/** The parts of an SDK request that the tests read or change. */
export interface SdkHttpRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** One access key pair per test process, made like the ones `hsm-kms init` writes. */
export const ACCESS_KEY = newAccessKey();

export interface RunningServer {
  server: KmsServer;
  url: string;
  /** Every log line the server wrote, parsed from JSON. */
  logs: Record<string, unknown>[];
  /** The raw log output, for checks that no secret appears anywhere in it. */
  logText: () => string;
}

/** Starts a server for `kms` on 127.0.0.1 with a free port and the test access key. */
export async function startServer(kms: Kms, options: KmsServerOptions = {}): Promise<RunningServer> {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  const server = createServer(kms, {
    port: 0,
    region: REGION,
    accessKeys: [ACCESS_KEY],
    logger,
    ...options,
  });
  const { url } = await server.listen();
  return {
    server,
    url,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => lines.join(''),
  };
}

/** Returns an AWS SDK client for the server that does not retry, so each error reaches the test as sent. */
export function kmsClient(url: string, config: Partial<KMSClientConfig> = {}): KMS {
  return new KMS({
    endpoint: url,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY.accessKeyId, secretAccessKey: ACCESS_KEY.secretAccessKey },
    maxAttempts: 1,
    ...config,
  });
}

/**
 * Records each request the client sends, after the SDK signed it. The
 * deserialize step runs after signing, so it receives the final headers.
 */
export function recordSignedRequests(client: KMS): SdkHttpRequest[] {
  const requests: SdkHttpRequest[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      requests.push(args.request as unknown as SdkHttpRequest);
      return next(args);
    },
    { step: 'deserialize', name: 'recordSignedRequest' },
  );
  return requests;
}

/**
 * Changes each request before the SDK signs it (the build step comes before
 * signing), so the server receives a correctly signed request with
 * content that the SDK would never produce.
 */
export function rewriteBeforeSigning(client: KMS, rewrite: (request: SdkHttpRequest) => void): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      rewrite(args.request as unknown as SdkHttpRequest);
      return next(args);
    },
    { step: 'build', name: 'rewriteBeforeSigning', priority: 'high' },
  );
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

export interface RawRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Sends one HTTP request to the server and collects the whole response. */
export function sendRaw(url: string, raw: RawRequest = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let responded = false;
    const request = httpRequest(
      { host: hostname, port, method: raw.method ?? 'POST', path: raw.path ?? '/', headers: raw.headers ?? {}, agent: false },
      (response) => {
        responded = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
        });
      },
    );
    // A server that responds before reading the whole body (HTTP 413) may close
    // the connection while the body is still being written. A write error after
    // the response arrived is not a test failure.
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (!responded) reject(error);
    });
    request.end(raw.body);
  });
}

/** Sends a request that the SDK signed, unchanged or with `headers` replaced. */
export function resend(url: string, signed: SdkHttpRequest, headers: Record<string, string> = {}, body?: string): Promise<RawResponse> {
  return sendRaw(url, {
    method: signed.method,
    path: signed.path,
    headers: { ...signed.headers, ...headers },
    body: body ?? (signed.body as string),
  });
}

/** Awaits `promise`, expects it to reject, and returns the error. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { $metadata: { httpStatusCode?: number } };
  }
  throw new Error('expected the request to fail');
}

/**
 * Wraps a Kms so that the methods in `overrides` replace its own. Other
 * methods run on the real instance, whose private fields a plain Proxy
 * receiver would not reach.
 */
export function kmsWithOverrides(kms: Kms, overrides: Partial<Record<keyof Kms, (...args: never[]) => unknown>>): Kms {
  return new Proxy(kms, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof Kms];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
