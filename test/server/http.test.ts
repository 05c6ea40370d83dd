// The HTTP layer of the server: body size limit, routes, internal errors,
// timeouts, keep-alive and graceful shutdown. No HSM is needed: these tests
// use ListKeys, which reads only the metadata database, and a Kms whose
// methods are replaced where a test needs to control timing or failures.
import { mkdtempSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kms } from '../../src/kms/kms.js';
import type { ListKeysResponse } from '../../src/kms/types.js';
import { kmsClient, kmsWithOverrides, rejectionOf, sendRaw, startServer, type RunningServer } from '../helpers/kms-server.js';
import { waitFor } from '../helpers/tokens.js';

const root = process.env.HSM_KMS_TEST_ROOT!;
const LIST_KEYS_HEADERS = { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.ListKeys' };

let kms: Kms;

beforeAll(async () => {
  kms = await Kms.open({ dataDir: mkdtempSync(join(root, 'server-http-')), clusters: [], deletionIntervalMs: 0 });
});

afterAll(async () => {
  await kms?.close();
});

/** Starts an unauthenticated server for tests that exercise HTTP behaviour rather than signatures. */
function startOpenServer(target: Kms = kms, options: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  return startServer(target, { insecureNoAuth: true, accessKeys: [], ...options });
}

describe('request body limit', () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startOpenServer(kms, { maxBodyBytes: 1024 });
  });

  afterAll(async () => {
    await running.server.close();
  });

  it('rejects a declared length over the limit', async () => {
    const response = await sendRaw(running.url, { headers: LIST_KEYS_HEADERS, body: Buffer.alloc(4096, 0x20) });

    expect(response.status).toBe(413);
    expect(response.headers.connection).toBe('close');
    expect(response.json?.__type).toBe('RequestEntityTooLargeException');
    expect(response.json?.message).toContain('larger than 1024 bytes');
  });

  it('rejects a chunked body once it passes the limit', async () => {
    const { hostname, port } = new URL(running.url);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest({ host: hostname, port, method: 'POST', path: '/', headers: LIST_KEYS_HEADERS, agent: false }, (answer) => {
        let body = '';
        answer.on('data', (chunk: Buffer) => (body += chunk.toString()));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body }));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
      });
      // No Content-Length: Node sends the body chunked, so only the bytes received count.
      request.write(Buffer.alloc(800, 0x20));
      request.write(Buffer.alloc(800, 0x20));
      request.end();
    });

    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).__type).toBe('RequestEntityTooLargeException');
  });

  it('reaches the SDK as HTTP 413', async () => {
    const signed = await startServer(kms, { maxBodyBytes: 1024 });
    try {
      const error = await rejectionOf(kmsClient(signed.url).encrypt({ KeyId: 'alias/any', Plaintext: new Uint8Array(2000) }));

      expect(error.name).toBe('RequestEntityTooLargeException');
      expect(error.$metadata.httpStatusCode).toBe(413);
    } finally {
      await signed.server.close();
    }
  });

  it('accepts a body at the limit', async () => {
    const body = `{}${' '.repeat(1022)}`;
    const response = await sendRaw(running.url, { headers: LIST_KEYS_HEADERS, body });
    expect(response.status).toBe(200);
  });
});

describe('routes and request format', () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startOpenServer();
  });

  afterAll(async () => {
    await running.server.close();
  });

  it('rejects an unknown path with RouteNotFoundException', async () => {
    const response = await sendRaw(running.url, { method: 'GET', path: '/keys' });

    expect(response.status).toBe(404);
    expect(response.json?.__type).toBe('RouteNotFoundException');
    expect(response.json?.message).toContain("No route for GET '/keys'");
  });

  it('requires X-Amz-Target', async () => {
    const response = await sendRaw(running.url, { headers: { 'Content-Type': 'application/x-amz-json-1.1' }, body: '{}' });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('UnknownOperationException');
    expect(response.json?.message).toContain('no X-Amz-Target header');
  });

  it('rejects a form-encoded body', async () => {
    const response = await sendRaw(running.url, {
      headers: { ...LIST_KEYS_HEADERS, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'Action=ListKeys',
    });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('SerializationException');
    expect(response.json?.message).toContain('Content-Type: application/x-amz-json-1.1');
  });

  it('rejects a JSON array body', async () => {
    const response = await sendRaw(running.url, { headers: LIST_KEYS_HEADERS, body: '[]' });

    expect(response.status).toBe(400);
    expect(response.json?.message).toBe('The request body is a JSON array, but it must be a JSON object of request members.');
  });

  it('rejects invalid base64 and names the member', async () => {
    const response = await sendRaw(running.url, {
      headers: { ...LIST_KEYS_HEADERS, 'X-Amz-Target': 'TrentService.Decrypt' },
      body: '{"CiphertextBlob": "not base64!"}',
    });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('SerializationException');
    expect(response.json?.message).toContain('CiphertextBlob is not valid base64');
  });

  it('accepts an empty body as an empty request', async () => {
    const response = await sendRaw(running.url, { headers: LIST_KEYS_HEADERS });

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(response.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.json).toEqual({ Keys: [], Truncated: false });
  });

  it('serves GET /health with no clusters', async () => {
    const response = await sendRaw(running.url, { method: 'GET', path: '/health' });

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ status: 'ok', problems: [], warnings: [], clusters: [], customKeyStores: [] });
  });
});

describe('unexpected failures', () => {
  it('hide the internal message behind KMSInternalException', async () => {
    const failing = kmsWithOverrides(kms, {
      listKeys: async () => {
        throw new Error('internal detail: /var/lib/secret-path');
      },
    });
    const running = await startOpenServer(failing);
    try {
      const response = await sendRaw(running.url, { headers: LIST_KEYS_HEADERS, body: '{}' });

      expect(response.status).toBe(500);
      expect(response.json?.__type).toBe('KMSInternalException');
      expect(response.json?.message).toContain(`request ID ${response.headers['x-amzn-requestid']}`);
      expect(response.text).not.toContain('internal detail');
      const logged = running.logs.find((line) => line.level === 50);
      expect(logged?.requestId).toBe(response.headers['x-amzn-requestid']);
      expect((logged?.err as { message: string }).message).toBe('internal detail: /var/lib/secret-path');

      const next = await sendRaw(running.url, { method: 'GET', path: '/health' });
      expect(next.status).toBe(200);
    } finally {
      await running.server.close();
    }
  });
});

describe('connections', () => {
  it('reuse one keep-alive connection', async () => {
    const running = await startOpenServer();
    let connections = 0;
    running.server.httpServer.on('connection', () => (connections += 1));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { hostname, port } = new URL(running.url);
    const listKeys = (): Promise<string | undefined> =>
      new Promise((resolve, reject) => {
        const request = httpRequest({ host: hostname, port, method: 'POST', path: '/', headers: LIST_KEYS_HEADERS, agent }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.headers.connection));
        });
        request.on('error', reject);
        request.end('{}');
      });
    try {
      expect(await listKeys()).toBe('keep-alive');
      expect(await listKeys()).toBe('keep-alive');
      expect(connections).toBe(1);
    } finally {
      agent.destroy();
      await running.server.close();
    }
  });

  it('time out slow headers with HTTP 408', async () => {
    const running = await startOpenServer(kms, { headersTimeoutMs: 200, requestTimeoutMs: 400 });
    const { hostname, port } = new URL(running.url);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => {
          // Headers that never end: the blank line that closes them is not sent.
          socket.write('POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService.ListKeys\r\n');
        });
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });

      expect(answer.startsWith('HTTP/1.1 408 Request Timeout')).toBe(true);
    } finally {
      await running.server.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('finishes a request in flight before close resolves', async () => {
    let entered!: () => void;
    const requestEntered = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const gated = kmsWithOverrides(kms, {
      listKeys: async (): Promise<ListKeysResponse> => {
        entered();
        await released;
        return { Keys: [], Truncated: false };
      },
    });
    const running = await startOpenServer(gated);

    const inFlight = sendRaw(running.url, { headers: LIST_KEYS_HEADERS, body: '{}' });
    await requestEntered;
    let closed = false;
    const closing = running.server.close().then(() => (closed = true));

    // New connections are refused while the request in flight continues.
    await waitFor(() => !running.server.httpServer.listening);
    const refused = await sendRaw(running.url, { method: 'GET', path: '/health' }).catch((error: NodeJS.ErrnoException) => error.code);
    expect(refused).toBe('ECONNREFUSED');
    expect(closed).toBe(false);

    release();
    const response = await inFlight;
    await closing;

    expect(response.status).toBe(200);
    expect(response.headers.connection).toBe('close');
    expect(response.json).toEqual({ Keys: [], Truncated: false });
    expect(closed).toBe(true);
    expect(running.logs.at(-1)?.msg).toBe('hsm-kms server closed');
  });

  it('cuts a request still running at the timeout', async () => {
    let entered!: () => void;
    const requestEntered = new Promise<void>((resolve) => (entered = resolve));
    const stuck = kmsWithOverrides(kms, {
      listKeys: (): Promise<ListKeysResponse> => {
        entered();
        return new Promise(() => {});
      },
    });
    const running = await startOpenServer(stuck, { shutdownTimeoutMs: 200 });

    const inFlight = sendRaw(running.url, { headers: LIST_KEYS_HEADERS, body: '{}' }).catch((error: NodeJS.ErrnoException) => error.code);
    await requestEntered;
    await running.server.close();

    expect(await inFlight).toBe('ECONNRESET');
    const warning = running.logs.find((line) => String(line.msg).startsWith('Requests still in flight'));
    expect(warning?.level).toBe(40);
    expect(warning?.inFlight).toBe(1);
    expect(running.logs.at(-1)?.msg).toBe('hsm-kms server closed');
  });
});
