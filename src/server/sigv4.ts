/**
 * Verification of AWS Signature Version 4 on incoming requests, as AWS
 * services do it: the server rebuilds the canonical request from what it
 * received, derives the signing key from the caller's secret access key,
 * and compares signatures in constant time.
 *
 * The canonical request joins the method, canonical URI, canonical query
 * string, canonical headers, signed header names and the SHA-256 of the
 * payload. The string to sign is `AWS4-HMAC-SHA256\n<X-Amz-Date>\n<scope>\n`
 * followed by the hash of the canonical request. The signature is its
 * HMAC-SHA256 under a key derived from `AWS4<secret>` through the date,
 * region, service and `aws4_request`, in that order.
 *
 * Only the Authorization header form is accepted. Presigned URLs (signature
 * in the query string) and unsigned payloads are rejected, because a KMS
 * request must sign its body.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { quoteForMessage, ThrottlingException } from '../kms/errors.js';
import type { AccessKey } from './access-keys.js';
import {
  IncompleteSignatureException,
  InvalidSignatureException,
  MissingAuthenticationTokenException,
  UnrecognizedClientException,
} from './errors.js';
import { ReplayCache } from './replay-cache.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const SERVICE = 'kms';

/** How far X-Amz-Date may be from the server's clock, in ms: 5 minutes, as AWS allows. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** Headers that must be signed: the Host, the signing time, and X-Amz-Target, which selects the operation. */
const REQUIRED_SIGNED_HEADERS = ['host', 'x-amz-date', 'x-amz-target'];

const HEX_SHA256 = /^[0-9a-f]{64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** The parts of a request that its signature covers. */
/** A request whose signature verified. */
export interface VerifiedRequest {
  accessKeyId: string;
  signature: string;
}

export interface SignedRequest {
  method: string;
  /** The request target as received: path and query string, still percent-encoded. */
  url: string;
  /** Header values by lowercase name, one entry per occurrence (Node's `headersDistinct`). */
  headers: Record<string, string[] | undefined>;
  body: Buffer;
}

export interface SigV4VerifierOptions {
  accessKeys: readonly AccessKey[];
  /** Region that the credential scope must name; any region when omitted. */
  region?: string;
  /** Maximum signatures kept for replay detection. */
  replayCacheSize: number;
  /** Clock in epoch milliseconds; tests pass one to move time forward. */
  now?: () => number;
}

/** The parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header. */
interface AuthorizationHeader {
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export class SigV4Verifier {
  readonly #secrets: ReadonlyMap<string, string>;
  readonly #region: string | undefined;
  readonly #now: () => number;
  readonly #replayCache: ReplayCache;

  constructor(options: SigV4VerifierOptions) {
    this.#secrets = new Map(options.accessKeys.map((key) => [key.accessKeyId, key.secretAccessKey]));
    this.#region = options.region;
    this.#now = options.now ?? Date.now;
    this.#replayCache = new ReplayCache({ maxEntries: options.replayCacheSize, now: this.#now });
  }

  /**
   * Verifies the request's signature and returns the access key ID that
   * signed it and the signature. Throws the exception AWS returns for each
   * kind of failure. A signature is accepted once: the same signed request
   * sent again within the clock-skew window raises InvalidSignatureException,
   * unless `release` gave the signature back.
   */
  verify(request: SignedRequest): VerifiedRequest {
    const authorization = singleHeader(request.headers, 'authorization');
    if (authorization === undefined) {
      if (/(?:^|&)X-Amz-(?:Signature|Algorithm|Credential)=/i.test(queryOf(request.url))) {
        throw new IncompleteSignatureException(
          'Signatures in the query string (presigned URLs) are not accepted. Sign the request with the Authorization header.',
        );
      }
      throw new MissingAuthenticationTokenException(
        'Request is missing Authentication Token. Sign the request with AWS Signature Version 4, ' +
          'using the access key in credentials.json of the data folder or the one set in HSM_KMS_ACCESS_KEY_ID.',
      );
    }

    const header = parseAuthorization(authorization);
    const amzDate = requiredSingleHeader(request.headers, 'x-amz-date');
    const signedAt = parseAmzDate(amzDate);
    this.#checkScope(header, amzDate);

    const secret = this.#secrets.get(header.accessKeyId);
    if (secret === undefined) {
      throw new UnrecognizedClientException(
        `The security token included in the request is invalid: access key ID ${quoteForMessage(header.accessKeyId)} ` +
          'is not configured on this server. Use the access key in credentials.json of the data folder, ' +
          'or the one set in HSM_KMS_ACCESS_KEY_ID.',
      );
    }

    const now = this.#now();
    checkClockSkew(amzDate, signedAt, now);

    const payloadHash = payloadHashOf(request);
    const canonical = canonicalRequest(request, header.signedHeaders, payloadHash);
    const scope = `${header.scopeDate}/${header.region}/${header.service}/aws4_request`;
    const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
    const expected = signatureOf(secret, header.scopeDate, header.region, header.service, stringToSign);
    if (!timingSafeEqual(expected, Buffer.from(header.signature, 'hex'))) {
      throw new InvalidSignatureException(
        'The request signature we calculated does not match the signature you provided. ' +
          'Check your secret access key and signing method: the request must be sent as it was signed.',
      );
    }

    const remembered = this.#replayCache.remember(header.signature, signedAt + MAX_CLOCK_SKEW_MS);
    if (remembered === 'replayed') {
      throw new InvalidSignatureException(
        'The request signature was already used: this server accepts each signed request once. ' +
          'Two identical requests signed within the same second get the same signature (the AWS CLI signs ' +
          'repeated identical commands identically), so wait a second before repeating one.',
      );
    }
    if (remembered === 'full') {
      throw new ThrottlingException(
        'Too many signed requests within the 5-minute signature window to check them for replays. Retry with backoff.',
      );
    }
    return { accessKeyId: header.accessKeyId, signature: header.signature };
  }

  /**
   * Lets a signature be used again, for a request that failed. The AWS CLI
   * retries a throttled or failed request with the same signature when it
   * re-signs within the same second, and AWS accepts such retries. Replaying
   * a request that failed is what a client retry does anyway.
   */
  release(signature: string): void {
    this.#replayCache.forget(signature);
  }

  #checkScope(header: AuthorizationHeader, amzDate: string): void {
    if (header.scopeDate !== amzDate.slice(0, 8)) {
      throw new InvalidSignatureException(
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ` +
          `'${header.scopeDate}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
      );
    }
    if (header.service !== SERVICE) {
      throw new InvalidSignatureException(
        `Credential should be scoped to correct service: '${SERVICE}', not ${quoteForMessage(header.service)}.`,
      );
    }
    if (this.#region !== undefined && header.region !== this.#region) {
      throw new InvalidSignatureException(
        `Credential should be scoped to a valid region, not ${quoteForMessage(header.region)}. ` +
          `This server's region is '${this.#region}': set the client's region to it.`,
      );
    }
  }
}

function parseAuthorization(value: string): AuthorizationHeader {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw new IncompleteSignatureException(
      `Authorization header uses the scheme ${quoteForMessage(algorithm.slice(0, 40))}. ` +
        `This server accepts AWS Signature Version 4 only (${ALGORITHM}).`,
    );
  }

  const parameters = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const trimmed = part.trim();
    const equals = trimmed.indexOf('=');
    if (equals <= 0) continue;
    const name = trimmed.slice(0, equals);
    if (parameters.has(name)) {
      throw new IncompleteSignatureException(`Authorization header contains the '${name}' parameter twice.`);
    }
    parameters.set(name, trimmed.slice(equals + 1));
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((name) => !parameters.has(name));
  if (missing.length > 0) {
    throw new IncompleteSignatureException(
      missing.map((name) => `Authorization header requires '${name}' parameter.`).join(' ') +
        ' The AWS SDKs and the AWS CLI write all three.',
    );
  }

  const credential = parameters.get('Credential')!.split('/');
  if (credential.length !== 5 || credential.some((element) => element.length === 0) || credential[4] !== 'aws4_request') {
    throw new IncompleteSignatureException(
      "Authorization header's Credential must have the form <access key ID>/<YYYYMMDD>/<region>/kms/aws4_request.",
    );
  }
  const [accessKeyId, scopeDate, region, service] = credential as [string, string, string, string];
  if (!/^\d{8}$/.test(scopeDate)) {
    throw new IncompleteSignatureException(`Credential scope date ${quoteForMessage(scopeDate)} is not in the form YYYYMMDD.`);
  }

  const signature = parameters.get('Signature')!;
  if (!HEX_SHA256.test(signature)) {
    throw new IncompleteSignatureException('Signature must be 64 lowercase hexadecimal characters (an HMAC-SHA256).');
  }

  return { accessKeyId, scopeDate, region, service, signedHeaders: parseSignedHeaders(parameters.get('SignedHeaders')!), signature };
}

function parseSignedHeaders(value: string): string[] {
  const names = value.split(';');
  for (const [index, name] of names.entries()) {
    if (!HEADER_NAME.test(name)) {
      throw new IncompleteSignatureException(
        `SignedHeaders element ${quoteForMessage(name)} is not a lowercase header name. ` +
          'List the signed header names in lowercase, separated by semicolons.',
      );
    }
    if (index > 0 && names[index - 1]! >= name) {
      throw new IncompleteSignatureException('SignedHeaders must list each header name once, sorted by character code.');
    }
  }
  const unsigned = REQUIRED_SIGNED_HEADERS.filter((name) => !names.includes(name));
  if (unsigned.length > 0) {
    throw new IncompleteSignatureException(
      `SignedHeaders must include ${unsigned.join(', ')}: this server requires the Host, the signing time and the ` +
        'operation (X-Amz-Target) to be signed.',
    );
  }
  return names;
}

/** Returns the epoch milliseconds of an X-Amz-Date value (ISO 8601 basic format, UTC). */
function parseAmzDate(value: string): number {
  const match = AMZ_DATE.exec(value);
  const invalid = (): IncompleteSignatureException =>
    new IncompleteSignatureException(
      `X-Amz-Date ${quoteForMessage(value)} is not a valid date in the form YYYYMMDD'T'HHMMSS'Z' (UTC).`,
    );
  if (!match) throw invalid();
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const time = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(time);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw invalid();
  }
  return time;
}

function formatAmzDate(time: number): string {
  return new Date(time).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Rejects a signing time more than 5 minutes from `now`, with the messages AWS uses. */
function checkClockSkew(amzDate: string, signedAt: number, now: number): void {
  if (signedAt < now - MAX_CLOCK_SKEW_MS) {
    throw new InvalidSignatureException(
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - MAX_CLOCK_SKEW_MS)} ` +
        `(${formatAmzDate(now)} - 5 min.) Check the clock of the client, or sign the request again.`,
    );
  }
  if (signedAt > now + MAX_CLOCK_SKEW_MS) {
    throw new InvalidSignatureException(
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + MAX_CLOCK_SKEW_MS)} ` +
        `(${formatAmzDate(now)} + 5 min.) Check the clock of the client.`,
    );
  }
}

/**
 * Returns the hex SHA-256 of the body. A client may send it as
 * x-amz-content-sha256; that value must then match the body, and markers
 * such as UNSIGNED-PAYLOAD are rejected.
 */
function payloadHashOf(request: SignedRequest): string {
  const computed = sha256Hex(request.body);
  const declared = singleHeader(request.headers, 'x-amz-content-sha256');
  if (declared === undefined) return computed;
  if (!HEX_SHA256.test(declared)) {
    throw new IncompleteSignatureException(
      `x-amz-content-sha256 ${quoteForMessage(declared.slice(0, 64))} is not accepted: KMS requests must sign ` +
        'the SHA-256 of their body. Send the hex digest, or leave the header out.',
    );
  }
  if (declared !== computed) {
    throw new InvalidSignatureException(
      'x-amz-content-sha256 does not match the SHA-256 of the request body. Send the body that was signed.',
    );
  }
  return computed;
}

/** Builds the canonical request of SigV4. */
export function canonicalRequest(request: SignedRequest, signedHeaders: readonly string[], payloadHash: string): string {
  const headerLines = signedHeaders.map((name) => {
    const values = request.headers[name];
    if (values === undefined) {
      throw new IncompleteSignatureException(
        `SignedHeaders names '${name}', but the request has no such header. Sign only the headers you send.`,
      );
    }
    // Values are trimmed, inner runs of spaces collapse to one, and repeated headers join with commas.
    return `${name}:${values.map((entry) => entry.trim().replace(/\s+/g, ' ')).join(',')}\n`;
  });
  return [
    request.method,
    canonicalUri(pathOf(request.url)),
    canonicalQuery(queryOf(request.url)),
    headerLines.join(''),
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

/**
 * Encodes each path segment of the path as received, which is already
 * percent-encoded once. Services other than S3 sign the path encoded twice,
 * and the AWS SDKs and the AWS CLI do the same. Dot segments are removed first.
 */
function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/').slice(1)) {
    if (segment === '.') continue;
    if (segment === '..') {
      segments.pop();
      continue;
    }
    segments.push(uriEncode(segment));
  }
  return `/${segments.join('/')}`;
}

function canonicalQuery(query: string): string {
  if (query.length === 0) return '';
  const pairs = query
    .split('&')
    .filter((parameter) => parameter.length > 0)
    .map((parameter) => {
      const equals = parameter.indexOf('=');
      const name = equals < 0 ? parameter : parameter.slice(0, equals);
      const value = equals < 0 ? '' : parameter.slice(equals + 1);
      return [uriEncode(safeDecode(name)), uriEncode(safeDecode(value))] as const;
    });
  pairs.sort(([nameA, valueA], [nameB, valueB]) => compareStrings(nameA, nameB) || compareStrings(valueA, valueB));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Percent-encodes everything except the RFC 3986 unreserved characters A-Z a-z 0-9 - . _ ~ */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

function pathOf(url: string): string {
  const question = url.indexOf('?');
  return question < 0 ? url : url.slice(0, question);
}

function queryOf(url: string): string {
  const question = url.indexOf('?');
  return question < 0 ? '' : url.slice(question + 1);
}

function singleHeader(headers: SignedRequest['headers'], name: string): string | undefined {
  const values = headers[name];
  if (values === undefined) return undefined;
  if (values.length > 1) {
    throw new IncompleteSignatureException(`The request has ${values.length} ${name} headers; send exactly one.`);
  }
  return values[0];
}

function requiredSingleHeader(headers: SignedRequest['headers'], name: string): string {
  const value = singleHeader(headers, name);
  if (value === undefined) {
    throw new IncompleteSignatureException(
      `Authorization header requires existence of the '${name}' header: sign with the time in X-Amz-Date.`,
    );
  }
  return value;
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** Derives the SigV4 signing key for the scope and signs `stringToSign` with it. */
export function signatureOf(secret: string, date: string, region: string, service: string, stringToSign: string): Buffer {
  const dateKey = hmac(`AWS4${secret}`, date);
  const regionKey = hmac(dateKey, region);
  const serviceKey = hmac(regionKey, service);
  const signingKey = hmac(serviceKey, 'aws4_request');
  return hmac(signingKey, stringToSign);
}
