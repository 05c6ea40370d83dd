/**
 * The AWS JSON 1.1 protocol that KMS speaks: every request is `POST /` with
 * `X-Amz-Target: TrentService.<Operation>` and a JSON body whose members
 * carry the API names (PascalCase). Binary members travel as base64
 * strings and timestamps as epoch seconds (fractional when the time has
 * milliseconds). An error is a JSON body `{"__type": "<ExceptionName>",
 * "message": "..."}` with the exception's HTTP status.
 */
import { KmsError, UnknownOperationException, quoteForMessage } from '../kms/errors.js';
import { SerializationException } from './errors.js';

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const TARGET_PREFIX = 'TrentService.';

/** Content types accepted on requests. The AWS SDKs and the AWS CLI send the first. */
const ACCEPTED_CONTENT_TYPES = ['application/x-amz-json-1.1', 'application/x-amz-json-1.0', 'application/json'];

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Returns the operation name of an `X-Amz-Target` header value, for example
 * 'Encrypt' for 'TrentService.Encrypt'. Whether the operation exists is
 * checked against the operation table afterwards.
 */
export function operationNameOf(target: string | undefined): string {
  if (target === undefined || target.length === 0) {
    throw new UnknownOperationException(
      'The request has no X-Amz-Target header. Set it to TrentService.<Operation>, for example TrentService.Encrypt.',
    );
  }
  if (!target.startsWith(TARGET_PREFIX) || target.length === TARGET_PREFIX.length) {
    throw new UnknownOperationException(
      `X-Amz-Target ${quoteForMessage(target)} is not a KMS operation. ` +
        'Set it to TrentService.<Operation>, for example TrentService.Encrypt.',
    );
  }
  return target.slice(TARGET_PREFIX.length);
}

/**
 * Rejects a request whose Content-Type names another format, such as the
 * form encoding of the AWS Query protocol. A missing Content-Type is
 * accepted, so that hand-written requests need only the target header.
 */
export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined) return;
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (!ACCEPTED_CONTENT_TYPES.includes(mediaType)) {
    throw new SerializationException(
      `Content-Type ${quoteForMessage(contentType)} is not supported. ` +
        `Send the request body as JSON with Content-Type: ${JSON_CONTENT_TYPE}.`,
    );
  }
}

/**
 * Parses a request body into the facade's request shape: a JSON object whose
 * `blobMembers` are decoded from base64 to Uint8Array. An empty body is the
 * empty request `{}`. Messages never quote the body, because it can contain
 * plaintext.
 */
export function parseRequestBody(body: Buffer, blobMembers: readonly string[]): Record<string, unknown> {
  const text = body.toString('utf8');
  if (text.trim().length === 0) return {};

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's own message quotes the body, so it is not passed on.
    throw new SerializationException(
      'The request body is not valid JSON. Send a JSON object of request members, such as {"KeyId": "alias/example"}.',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SerializationException(
      `The request body is a JSON ${describeJsonType(parsed)}, but it must be a JSON object of request members.`,
    );
  }

  const request = parsed as Record<string, unknown>;
  for (const member of blobMembers) {
    const value = request[member];
    if (value === undefined || value === null) continue;
    request[member] = decodeBlobMember(value, member);
  }
  return request;
}

function decodeBlobMember(value: unknown, member: string): Uint8Array {
  if (typeof value !== 'string') {
    throw new SerializationException(
      `${member} must be a base64 string, but the request has a JSON ${describeJsonType(value)}. ` +
        'Send binary members as base64 text, as the AWS SDKs do.',
    );
  }
  // A length of 1 more than a multiple of 4 cannot come from any byte string.
  if (!BASE64.test(value) || value.replace(/=+$/, '').length % 4 === 1) {
    throw new SerializationException(
      `${member} is not valid base64: use the characters A-Z, a-z, 0-9, + and /, with = padding at the end.`,
    );
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}

function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : typeof value;
}

/**
 * Converts a facade response to its JSON form: Uint8Array to base64, Date to
 * epoch seconds, undefined members left out.
 */
export function toWire(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (value instanceof Date) {
    return value.getTime() / 1000;
  }
  if (Array.isArray(value)) {
    return value.map(toWire);
  }
  if (typeof value === 'object' && value !== null) {
    const wire: Record<string, unknown> = {};
    for (const [member, memberValue] of Object.entries(value)) {
      if (memberValue !== undefined) wire[member] = toWire(memberValue);
    }
    return wire;
  }
  return value;
}

/** Serializes a facade response as the JSON body of an HTTP 200 response. */
export function serializeResponse(response: object): string {
  return JSON.stringify(toWire(response));
}

/** Serializes a KMS exception as the JSON body of an error response. */
export function serializeError(error: KmsError): string {
  return JSON.stringify({ __type: error.name, message: error.message });
}
