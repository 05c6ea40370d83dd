// SigV4 authentication of the server: requests signed by the AWS SDK pass,
// and forged, replayed, wrongly keyed, skewed, malformed and unsigned
// requests are rejected with the exception names and statuses AWS uses.
// No HSM is needed: ListKeys reads only the metadata database.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kms } from '../../src/kms/kms.js';
import { ReplayCache } from '../../src/server/replay-cache.js';
import { createServer } from '../../src/server/server.js';
import { canonicalRequest, signatureOf } from '../../src/server/sigv4.js';
import {
  ACCESS_KEY,
  kmsClient,
  recordSignedRequests,
  rejectionOf,
  resend,
  sendRaw,
  startServer,
  type RunningServer,
} from '../helpers/kms-server.js';

const root = process.env.HSM_KMS_TEST_ROOT!;
const TEN_MINUTES_MS = 10 * 60 * 1000;

let kms: Kms;
let running: RunningServer;

beforeAll(async () => {
  kms = await Kms.open({ dataDir: mkdtempSync(join(root, 'server-sigv4-')), clusters: [], deletionIntervalMs: 0 });
  running = await startServer(kms);
});

afterAll(async () => {
  await running?.server.close();
  await kms?.close();
});

describe('SigV4 verification', () => {
  it('accepts a request the SDK signed', async () => {
    const client = kmsClient(running.url);
    const response = await client.listKeys({});

    expect(response.Keys).toEqual([]);
    expect(response.$metadata.httpStatusCode).toBe(200);
    expect(response.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const audit = running.logs.find((line) => line.requestId === response.$metadata.requestId);
    expect(audit?.accessKeyId).toBe(ACCESS_KEY.accessKeyId);
    expect(audit?.result).toBe('success');
  });

  it('rejects a request without Authorization', async () => {
    const response = await sendRaw(running.url, {
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.ListKeys' },
      body: '{}',
    });

    expect(response.status).toBe(403);
    expect(response.json?.__type).toBe('MissingAuthenticationTokenException');
    expect(response.json?.message).toContain('Request is missing Authentication Token');
  });

  it('rejects a forged signature', async () => {
    const client = kmsClient(running.url);
    const sent = recordSignedRequests(client);
    await client.listKeys({});
    const signed = sent[0]!;
    const authorization = signed.headers.authorization!;
    const lastHex = authorization.at(-1) === '0' ? '1' : '0';

    const response = await resend(running.url, signed, { authorization: authorization.slice(0, -1) + lastHex });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('InvalidSignatureException');
    expect(response.json?.message).toContain('does not match the signature you provided');
  });

  it('rejects a replayed request', async () => {
    const client = kmsClient(running.url);
    const sent = recordSignedRequests(client);
    await client.listKeys({});

    const replayed = await resend(running.url, sent[0]!);

    expect(replayed.status).toBe(400);
    expect(replayed.json?.__type).toBe('InvalidSignatureException');
    expect(replayed.json?.message).toContain('already used');
  });

  it('serves a retry of a failed request with its signature', async () => {
    const client = kmsClient(running.url);
    const sent = recordSignedRequests(client);
    const failed = await client.describeKey({ KeyId: 'alias/does-not-exist' }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failed?.name).toBe('NotFoundException');

    // The AWS CLI re-signs a retry within the same second identically.
    const retried = await resend(running.url, sent[0]!);
    expect(retried.status).toBe(404);
    expect(retried.json?.__type).toBe('NotFoundException');
  });

  it('rejects a body changed after signing', async () => {
    const client = kmsClient(running.url);
    const sent = recordSignedRequests(client);
    await client.listKeys({ Limit: 5 });
    const body = '{"Limit":6}';

    const changed = await resend(running.url, sent[0]!, { 'content-length': String(body.length) }, body);

    expect(changed.status).toBe(400);
    expect(changed.json?.__type).toBe('InvalidSignatureException');
    expect(changed.json?.message).toContain('x-amz-content-sha256 does not match');
  });

  it('rejects a wrong secret', async () => {
    const client = kmsClient(running.url, {
      credentials: { accessKeyId: ACCESS_KEY.accessKeyId, secretAccessKey: 'x'.repeat(40) },
    });

    const error = await rejectionOf(client.listKeys({}));

    expect(error.name).toBe('InvalidSignatureException');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  it('rejects an unknown access key ID', async () => {
    const client = kmsClient(running.url, {
      credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: ACCESS_KEY.secretAccessKey },
    });

    const error = await rejectionOf(client.listKeys({}));

    expect(error.name).toBe('UnrecognizedClientException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain("access key ID 'AKIAUNKNOWNUNKNOWN00' is not configured");
  });

  it('rejects a signature 10 minutes old', async () => {
    const client = kmsClient(running.url, { systemClockOffset: -TEN_MINUTES_MS });

    const error = await rejectionOf(client.listKeys({}));

    expect(error.name).toBe('InvalidSignatureException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z/);
  });

  it('rejects a signature 10 minutes ahead', async () => {
    const client = kmsClient(running.url, { systemClockOffset: TEN_MINUTES_MS });

    const error = await rejectionOf(client.listKeys({}));

    expect(error.name).toBe('InvalidSignatureException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toMatch(/^Signature not yet current: /);
  });

  it('rejects a credential scope of another region', async () => {
    const client = kmsClient(running.url, { region: 'eu-west-1' });

    const error = await rejectionOf(client.listKeys({}));

    expect(error.name).toBe('InvalidSignatureException');
    expect(error.message).toContain("Credential should be scoped to a valid region, not 'eu-west-1'");
  });

  it('rejects an Authorization header without Signature', async () => {
    const response = await sendRaw(running.url, {
      headers: {
        'X-Amz-Target': 'TrentService.ListKeys',
        'X-Amz-Date': '20300101T000000Z',
        Authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY.accessKeyId}/20300101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target`,
      },
      body: '{}',
    });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('IncompleteSignatureException');
    expect(response.json?.message).toContain("Authorization header requires 'Signature' parameter.");
  });

  it('rejects another signing scheme', async () => {
    const response = await sendRaw(running.url, {
      headers: { 'X-Amz-Target': 'TrentService.ListKeys', Authorization: 'Basic dXNlcjpwYXNz' },
      body: '{}',
    });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('IncompleteSignatureException');
    expect(response.json?.message).toContain("scheme 'Basic'");
  });

  it('rejects a presigned URL', async () => {
    const response = await sendRaw(running.url, {
      path: '/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00',
      headers: { 'X-Amz-Target': 'TrentService.ListKeys' },
      body: '{}',
    });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('IncompleteSignatureException');
    expect(response.json?.message).toContain('presigned URLs');
  });

  it('rejects an unsigned payload marker', async () => {
    const client = kmsClient(running.url);
    const sent = recordSignedRequests(client);
    await client.listKeys({ Limit: 7 });

    const response = await resend(running.url, sent[0]!, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });

    expect(response.status).toBe(400);
    expect(response.json?.__type).toBe('IncompleteSignatureException');
    expect(response.json?.message).toContain("'UNSIGNED-PAYLOAD' is not accepted");
  });

  it('never logs the secret access key', () => {
    expect(running.logText()).not.toContain(ACCESS_KEY.secretAccessKey);
  });
});

describe('server without authentication', () => {
  it('accepts unsigned requests and warns', async () => {
    const open = await startServer(kms, { insecureNoAuth: true, accessKeys: [] });
    try {
      const response = await sendRaw(open.url, {
        headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.ListKeys' },
        body: '{}',
      });

      expect(response.status).toBe(200);
      expect(response.json).toEqual({ Keys: [], Truncated: false });
      const warning = open.logs.find((line) => line.level === 40);
      expect(warning?.msg).toContain('Authentication is off');
      expect(open.logs.find((line) => line.log === 'audit')?.accessKeyId).toBe('anonymous');
    } finally {
      await open.server.close();
    }
  });

  it('requires keys or the flag', () => {
    expect(() => createServer(kms, { accessKeys: [] })).toThrow(
      'createServer needs options.accessKeys (the keys clients sign with), or insecureNoAuth: true',
    );
  });
});

describe('SigV4 signing primitives', () => {
  // The post-vanilla case of AWS's SigV4 test suite (aws-sig-v4-test-suite):
  // POST / to example.amazonaws.com, service 'service', the suite's example secret.
  it('match the AWS test suite post-vanilla case', () => {
    const request = {
      method: 'POST',
      url: '/',
      headers: { host: ['example.amazonaws.com'], 'x-amz-date': ['20150830T123600Z'] },
      body: Buffer.alloc(0),
    };
    const canonical = canonicalRequest(request, ['host', 'x-amz-date'], createHash('sha256').update('').digest('hex'));
    const stringToSign = [
      'AWS4-HMAC-SHA256',
      '20150830T123600Z',
      '20150830/us-east-1/service/aws4_request',
      createHash('sha256').update(canonical).digest('hex'),
    ].join('\n');

    const signature = signatureOf('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20150830', 'us-east-1', 'service', stringToSign);

    expect(canonical).toBe(
      'POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n' +
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(signature.toString('hex')).toBe('5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b');
  });
});

describe('ReplayCache', () => {
  it('reports a signature seen before', () => {
    const cache = new ReplayCache({ maxEntries: 10, now: () => 1000 });
    expect(cache.remember('a', 2000)).toBe('new');
    expect(cache.remember('a', 2000)).toBe('replayed');
  });

  it('forgets a signature after it expires', () => {
    let now = 1000;
    const cache = new ReplayCache({ maxEntries: 10, now: () => now });
    cache.remember('a', 2000);
    now = 2000;
    expect(cache.remember('a', 3000)).toBe('new');
  });

  it('reports full instead of evicting live entries', () => {
    let now = 1000;
    const cache = new ReplayCache({ maxEntries: 2, now: () => now });
    cache.remember('a', 5000);
    cache.remember('b', 9000);

    expect(cache.remember('c', 9000)).toBe('full');
    expect(cache.remember('a', 5000)).toBe('replayed');

    now = 5000;
    expect(cache.remember('c', 9000)).toBe('new');
    expect(cache.size).toBe(2);
  });
});
