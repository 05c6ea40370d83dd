/**
 * The HTTP server that puts the KMS facade on the AWS KMS wire protocol, so
 * that the AWS SDKs, the AWS CLI and the AWS Encryption SDK can use keys in
 * the configured HSMs through an endpoint override.
 *
 * Routes:
 *   POST /         KMS operations (AWS JSON 1.1, X-Amz-Target: TrentService.<Operation>), signed with SigV4
 *   GET  /health   clusters, HSMs and key store states as JSON (no signature needed)
 *   GET  /metrics  Prometheus metrics (no signature needed)
 *
 * Every KMS request gets an x-amzn-RequestId header, one audit line in the
 * log and one sample in the metrics. The server never closes the Kms it was
 * given: the caller closes it after `close()` resolves.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { KMSInternalException, KmsError, UnknownOperationException, quoteForMessage } from '../kms/errors.js';
import type { Kms } from '../kms/kms.js';
import type { AccessKey } from './access-keys.js';
import { auditEntry } from './audit-log.js';
import { RouteNotFoundException } from './errors.js';
import { healthHttpStatus, healthReport } from './health.js';
import { JSON_CONTENT_TYPE, checkContentType, operationNameOf, parseRequestBody, serializeError, serializeResponse, TARGET_PREFIX } from './json-protocol.js';
import { ServerMetrics } from './metrics.js';
import { findOperation, OPERATION_NAMES } from './operations.js';
import { ClientDisconnectedError, DEFAULT_MAX_BODY_BYTES, readBody } from './request-body.js';
import { NO_CLUSTER, targetOfRequest, type RequestTarget } from './request-target.js';
import { SigV4Verifier } from './sigv4.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 4599;

/** Access key ID recorded in audit lines when authentication is off. */
export const ANONYMOUS_CALLER = 'anonymous';

export interface KmsServerOptions {
  /** Address to listen on; default 127.0.0.1, so only this machine can connect. */
  host?: string;
  /** TCP port; default 4599. 0 picks a free port, which `listen()` returns. */
  port?: number;
  /** Access keys accepted in SigV4 signatures. Required unless `insecureNoAuth` is set. */
  accessKeys?: readonly AccessKey[];
  /** Accepts requests without a signature. For local experiments only: any client that reaches the port can use every key. */
  insecureNoAuth?: boolean;
  /** Region that signatures must be scoped to; any region when omitted. */
  region?: string;
  /** Logger for audit lines and server events; default a pino logger that writes JSON lines to stdout. */
  logger?: Logger;
  /** Largest request body accepted, in bytes; default 1 MiB. Larger bodies get HTTP 413. */
  maxBodyBytes?: number;
  /** Time a client has to send the request headers, in ms; default 10000. */
  headersTimeoutMs?: number;
  /** Time a client has to send the whole request, in ms; default 30000. */
  requestTimeoutMs?: number;
  /** Time an idle keep-alive connection stays open, in ms; default 5000. */
  keepAliveTimeoutMs?: number;
  /** Time `close()` waits for requests in flight before it cuts their connections, in ms; default 10000. */
  shutdownTimeoutMs?: number;
  /** Signatures remembered for replay detection; default 1,000,000, which took 110 MB of heap when full on Node.js 20 (x86-64). */
  replayCacheSize?: number;
  /** Clock in epoch ms for signature times; tests pass one to move time forward. */
  now?: () => number;
}

export interface ListeningAddress {
  host: string;
  port: number;
  /** Endpoint URL to give an AWS SDK client, such as http://127.0.0.1:4599. */
  url: string;
}

/** Outcome of one KMS request, for its audit line and metrics. */
interface RequestRecord {
  requestId: string;
  started: number;
  operation: string;
  accessKeyId: string | undefined;
  request: Record<string, unknown>;
  response: object | undefined;
  result: string;
  status: number;
}

export class KmsServer {
  readonly httpServer: Server;
  /** The server's Prometheus registry; add process metrics with prom-client's `collectDefaultMetrics({ register })`. */
  readonly registry: Registry;
  readonly #kms: Kms;
  readonly #logger: Logger;
  readonly #audit: Logger;
  readonly #metrics: ServerMetrics;
  readonly #verifier: SigV4Verifier | undefined;
  readonly #host: string;
  readonly #port: number;
  readonly #maxBodyBytes: number;
  readonly #shutdownTimeoutMs: number;
  readonly #inFlight = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(kms: Kms, options: KmsServerOptions = {}) {
    const accessKeys = options.accessKeys ?? [];
    if (accessKeys.length === 0 && options.insecureNoAuth !== true) {
      throw new TypeError(
        'createServer needs options.accessKeys (the keys clients sign with), or insecureNoAuth: true to accept unsigned requests',
      );
    }
    this.#kms = kms;
    this.#logger = options.logger ?? pino({ name: 'hsm-kms' });
    this.#audit = this.#logger.child({ log: 'audit' });
    this.#metrics = new ServerMetrics(kms);
    this.registry = this.#metrics.registry;
    this.#host = options.host ?? DEFAULT_HOST;
    this.#port = options.port ?? DEFAULT_PORT;
    this.#maxBodyBytes = positiveInteger(options.maxBodyBytes, 'maxBodyBytes', DEFAULT_MAX_BODY_BYTES);
    this.#shutdownTimeoutMs = positiveInteger(options.shutdownTimeoutMs, 'shutdownTimeoutMs', 10_000);
    if (options.insecureNoAuth !== true) {
      this.#verifier = new SigV4Verifier({
        accessKeys,
        ...(options.region !== undefined ? { region: options.region } : {}),
        replayCacheSize: positiveInteger(options.replayCacheSize, 'replayCacheSize', 1_000_000),
        ...(options.now !== undefined ? { now: options.now } : {}),
      });
    }

    const headersTimeout = positiveInteger(options.headersTimeoutMs, 'headersTimeoutMs', 10_000);
    const requestTimeout = Math.max(headersTimeout, positiveInteger(options.requestTimeoutMs, 'requestTimeoutMs', 30_000));
    this.httpServer = createHttpServer({
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: positiveInteger(options.keepAliveTimeoutMs, 'keepAliveTimeoutMs', 5_000),
      // Node checks the two timeouts above at this interval (default 30 s), so it must be shorter than them.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 2))),
    });
    this.httpServer.on('request', (request: IncomingMessage, response: ServerResponse) => this.#track(request, response));
    this.httpServer.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => this.#onClientError(error, socket));
  }

  /** Starts listening and resolves to the address, with the port chosen when `port` was 0. */
  listen(): Promise<ListeningAddress> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.httpServer.once('error', onError);
      this.httpServer.listen(this.#port, this.#host, () => {
        this.httpServer.off('error', onError);
        const address = this.httpServer.address() as AddressInfo;
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        const listening = { host: address.address, port: address.port, url: `http://${host}:${address.port}` };
        this.#logger.info({ url: listening.url, authentication: this.#verifier ? 'sigv4' : 'off' }, 'hsm-kms server listening');
        if (!this.#verifier) {
          this.#logger.warn(
            { url: listening.url },
            'Authentication is off (insecure-no-auth): any client that can reach this address can use every key',
          );
        }
        resolve(listening);
      });
    });
  }

  /**
   * Stops accepting connections, lets requests in flight finish, and
   * resolves once they have. Idle keep-alive connections close at once, and
   * responses sent from now on carry `Connection: close`. Connections still
   * busy after `shutdownTimeoutMs` are cut.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    this.#logger.info({ inFlight: this.#inFlight.size }, 'hsm-kms server closing');
    const closed = new Promise<void>((resolve) => {
      if (!this.httpServer.listening) {
        resolve();
        return;
      }
      this.httpServer.close(() => resolve());
    });
    this.httpServer.closeIdleConnections();

    let timedOut!: () => void;
    const deadline = new Promise<void>((resolve) => (timedOut = resolve));
    const forceTimer = setTimeout(() => {
      this.#logger.warn(
        { inFlight: this.#inFlight.size, shutdownTimeoutMs: this.#shutdownTimeoutMs },
        'Requests still in flight after the shutdown timeout: closing their connections and no longer waiting for them',
      );
      this.httpServer.closeAllConnections();
      timedOut();
    }, this.#shutdownTimeoutMs);
    forceTimer.unref();
    try {
      await closed;
      // A handler can outlive its connection when the client disconnected
      // mid-request, so the handlers are awaited too, up to the same deadline.
      await Promise.race([Promise.allSettled([...this.#inFlight]), deadline]);
    } finally {
      clearTimeout(forceTimer);
    }
    this.#logger.info('hsm-kms server closed');
  }

  #track(request: IncomingMessage, response: ServerResponse): void {
    const handled = this.#route(request, response).catch((error: unknown) => {
      // #route sends an error response for every failure itself, so reaching here means sending failed.
      this.#logger.error({ err: error }, 'Failed to send a response');
      if (!response.headersSent) response.destroy();
    });
    this.#inFlight.add(handled);
    void handled.finally(() => this.#inFlight.delete(handled));
  }

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    response.setHeader('x-amzn-RequestId', requestId);
    const path = (request.url ?? '/').split('?', 1)[0];

    if (request.method === 'POST' && path === '/') {
      await this.#serveKms(request, response, requestId);
    } else if (request.method === 'GET' && path === '/health') {
      await this.#serveHealth(response, requestId);
    } else if (request.method === 'GET' && path === '/metrics') {
      await this.#serveMetrics(response, requestId);
    } else {
      const error = new RouteNotFoundException(
        `No route for ${request.method} ${quoteForMessage(path ?? '')}. Send KMS requests as POST / with an ` +
          'X-Amz-Target header; the other routes are GET /health and GET /metrics.',
      );
      request.resume();
      this.#send(response, error.httpStatusCode, serializeError(error));
    }
  }

  async #serveKms(request: IncomingMessage, response: ServerResponse, requestId: string): Promise<void> {
    const record: RequestRecord = {
      requestId,
      started: performance.now(),
      operation: operationLabel(targetOf(request)),
      accessKeyId: undefined,
      request: {},
      response: undefined,
      result: 'success',
      status: 200,
    };

    // Set once the signature verified; a request that then fails gives its
    // signature back, so a client's retry with the same signature is served.
    let signature: string | undefined;
    try {
      const body = await readBody(request, this.#maxBodyBytes);
      const caller = this.#authenticate(request, body);
      record.accessKeyId = caller.accessKeyId;
      signature = caller.signature;
      checkContentType(request.headers['content-type']);
      const operationName = operationNameOf(targetOf(request));
      const operation = findOperation(operationName);
      if (!operation) {
        throw new UnknownOperationException(
          `${quoteForMessage(TARGET_PREFIX + operationName)} is not an operation of this server. ` +
            `It serves ${OPERATION_NAMES.join(', ')}.`,
        );
      }
      record.request = parseRequestBody(body, operation.blobMembers);
      record.response = await operation.invoke(this.#kms, record.request);
      this.#send(response, 200, serializeResponse(record.response));
    } catch (error) {
      if (error instanceof ClientDisconnectedError) {
        record.result = 'ClientDisconnected';
        record.status = 0;
      } else {
        const kmsError = this.#asKmsError(error, requestId, record.operation);
        if (signature !== undefined) this.#verifier?.release(signature);
        record.result = kmsError.name;
        record.status = kmsError.httpStatusCode;
        if (kmsError.httpStatusCode === 413) {
          // The rest of the body is discarded rather than left unread: closing a socket with unread
          // data sends a TCP reset, which can destroy the response before the client reads it.
          // The connection closes once the response is sent, so a client cannot stream forever.
          response.setHeader('Connection', 'close');
          request.resume();
        }
        this.#send(response, kmsError.httpStatusCode, serializeError(kmsError));
      }
    }
    await this.#record(record);
  }

  /**
   * Returns the access key ID that signed the request ('anonymous' when
   * authentication is off) and the signature, which is undefined then.
   */
  #authenticate(request: IncomingMessage, body: Buffer): { accessKeyId: string; signature?: string } {
    if (!this.#verifier) return { accessKeyId: ANONYMOUS_CALLER };
    return this.#verifier.verify({
      method: request.method ?? 'POST',
      url: request.url ?? '/',
      headers: request.headersDistinct,
      body,
    });
  }

  /**
   * Returns KMS exceptions as they are. Any other error is a fault of this
   * server: it is logged with its details, and the client gets a
   * KMSInternalException whose message gives only the request ID.
   */
  #asKmsError(error: unknown, requestId: string, operation: string): KmsError {
    if (error instanceof KmsError) {
      if (error.httpStatusCode >= 500) {
        this.#logger.warn({ err: error, requestId, operation }, 'KMS request failed with a server error');
      }
      return error;
    }
    this.#logger.error({ err: error, requestId, operation }, 'KMS request failed with an unexpected error');
    return new KMSInternalException(
      `The server failed to process the request (request ID ${requestId}). Retry later; if it persists, ` +
        'the server log has the details under this request ID.',
    );
  }

  async #record(record: RequestRecord): Promise<void> {
    const seconds = (performance.now() - record.started) / 1000;
    let target: RequestTarget = { cluster: NO_CLUSTER };
    try {
      target = await targetOfRequest(this.#kms, record.request, record.response);
    } catch (error) {
      this.#logger.warn({ err: error, requestId: record.requestId }, 'Could not find the key and cluster of a request');
    }

    const failed = record.result === 'success' ? {} : { exception: record.result };
    this.#metrics.record({ operation: record.operation, cluster: target.cluster, seconds, ...failed });
    this.#audit.info(
      auditEntry({
        requestId: record.requestId,
        operation: record.operation,
        accessKeyId: record.accessKeyId,
        request: record.request,
        response: record.response,
        target,
        result: record.result,
        status: record.status,
        durationMs: seconds * 1000,
      }),
      'KMS request',
    );
  }

  async #serveHealth(response: ServerResponse, requestId: string): Promise<void> {
    try {
      const report = await healthReport(this.#kms, this.#closing !== undefined);
      this.#send(response, healthHttpStatus(report), JSON.stringify(report), 'application/json');
    } catch (error) {
      this.#send(response, 500, serializeError(this.#asKmsError(error, requestId, 'health')));
    }
  }

  async #serveMetrics(response: ServerResponse, requestId: string): Promise<void> {
    try {
      const text = await this.registry.metrics();
      this.#send(response, 200, text, this.registry.contentType);
    } catch (error) {
      this.#send(response, 500, serializeError(this.#asKmsError(error, requestId, 'metrics')));
    }
  }

  #send(response: ServerResponse, status: number, body: string, contentType = JSON_CONTENT_TYPE): void {
    if (response.destroyed || response.headersSent) return;
    response.statusCode = status;
    response.setHeader('Content-Type', contentType);
    response.setHeader('Content-Length', Buffer.byteLength(body));
    if (this.#closing !== undefined) response.setHeader('Connection', 'close');
    response.end(body);
  }

  /** Responds to malformed HTTP and timed-out requests as Node's default handler does, and logs them at debug level. */
  #onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
    this.#logger.debug({ code: error.code }, 'HTTP client error');
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
}

/** Returns the X-Amz-Target header; Node joins repeated ones with ', ', which no operation name matches. */
function targetOf(request: IncomingMessage): string | undefined {
  const target = request.headers['x-amz-target'];
  return Array.isArray(target) ? target.join(', ') : target;
}

/** Returns the operation label of the metrics and audit line: a served operation's name, else 'unknown'. */
function operationLabel(target: string | undefined): string {
  if (target === undefined || !target.startsWith(TARGET_PREFIX)) return 'unknown';
  const name = target.slice(TARGET_PREFIX.length);
  return findOperation(name) ? name : 'unknown';
}

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid ${name} ${value}: use a whole number of at least 1`);
  }
  return value;
}

/** Creates a server for `kms`; call `listen()` to start it. */
export function createServer(kms: Kms, options: KmsServerOptions = {}): KmsServer {
  return new KmsServer(kms, options);
}
