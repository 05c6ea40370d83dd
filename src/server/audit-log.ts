/**
 * The audit line that the server writes for every KMS request. It records
 * who called which operation on which key, and with what outcome. It never
 * contains plaintext, ciphertext blobs, passwords, secret access keys or the
 * values of an encryption context: a context's keys are logged, its values
 * are not.
 */
import type { RequestTarget } from './request-target.js';

/** Maximum length of an identifier or context key in an audit line; longer ones are cut. */
const MAX_LOGGED_STRING = 256;
/** Maximum number of encryption context keys listed per context. */
const MAX_LOGGED_CONTEXT_KEYS = 64;

export interface AuditEntry {
  requestId: string;
  operation: string;
  /** Access key ID that signed the request; 'anonymous' when authentication is off; absent when it failed. */
  accessKeyId?: string;
  /** Full ARN of the key the operation used or named (the destination key of ReEncrypt). */
  keyArn?: string;
  /** Source key of ReEncrypt. */
  sourceKeyArn?: string;
  /** Key identifier as the request gave it (key ID, ARN or alias), when it names no known key. */
  requestedKeyId?: string;
  aliasName?: string;
  customKeyStoreId?: string;
  cluster: string;
  encryptionContextKeys?: string[];
  sourceEncryptionContextKeys?: string[];
  destinationEncryptionContextKeys?: string[];
  /** 'success', the exception name, or 'ClientDisconnected' when the client left before the response. */
  result: string;
  /** HTTP status of the response; 0 when none was sent. */
  status: number;
  durationMs: number;
}

export interface AuditInput {
  requestId: string;
  operation: string;
  accessKeyId: string | undefined;
  request: Record<string, unknown>;
  response: object | undefined;
  target: RequestTarget;
  result: string;
  status: number;
  durationMs: number;
}

/** Builds the audit entry of one request from non-secret members of its request and response. */
export function auditEntry(input: AuditInput): AuditEntry {
  const { request } = input;
  const response = (input.response ?? {}) as Record<string, unknown>;
  const entry: AuditEntry = {
    requestId: input.requestId,
    operation: input.operation,
    cluster: input.target.cluster,
    result: input.result,
    status: input.status,
    durationMs: Math.round(input.durationMs * 1000) / 1000,
  };
  if (input.accessKeyId !== undefined) entry.accessKeyId = input.accessKeyId;

  if (input.target.keyArn !== undefined) {
    entry.keyArn = input.target.keyArn;
  } else {
    const requestedKeyId = loggable(request.KeyId) ?? loggable(request.DestinationKeyId) ?? loggable(request.TargetKeyId);
    if (requestedKeyId !== undefined) entry.requestedKeyId = requestedKeyId;
  }
  const sourceKeyArn = loggable(response.SourceKeyId);
  if (sourceKeyArn !== undefined) entry.sourceKeyArn = sourceKeyArn;
  const aliasName = loggable(request.AliasName);
  if (aliasName !== undefined) entry.aliasName = aliasName;
  const customKeyStoreId = loggable(request.CustomKeyStoreId);
  if (customKeyStoreId !== undefined) entry.customKeyStoreId = customKeyStoreId;

  const contextKeys = contextKeysOf(request.EncryptionContext);
  if (contextKeys !== undefined) entry.encryptionContextKeys = contextKeys;
  const sourceContextKeys = contextKeysOf(request.SourceEncryptionContext);
  if (sourceContextKeys !== undefined) entry.sourceEncryptionContextKeys = sourceContextKeys;
  const destinationContextKeys = contextKeysOf(request.DestinationEncryptionContext);
  if (destinationContextKeys !== undefined) entry.destinationEncryptionContextKeys = destinationContextKeys;
  return entry;
}

function loggable(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return value.length <= MAX_LOGGED_STRING ? value : `${value.slice(0, MAX_LOGGED_STRING)}...`;
}

/** Returns the sorted keys of an encryption context object, never its values. */
function contextKeysOf(context: unknown): string[] | undefined {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) return undefined;
  return Object.keys(context)
    .sort()
    .slice(0, MAX_LOGGED_CONTEXT_KEYS)
    .map((key) => loggable(key)!);
}
