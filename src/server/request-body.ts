/**
 * Reads a request body into memory with a size limit. A body is needed whole
 * before anything else happens, because the SigV4 signature covers its
 * SHA-256.
 */
import type { IncomingMessage } from 'node:http';
import { RequestEntityTooLargeException } from './errors.js';

/** Default limit: 1 MiB, far above the largest KMS request (a 6144-byte ciphertext blob in base64, plus members). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The client closed the connection before it sent the whole body. */
export class ClientDisconnectedError extends Error {
  constructor() {
    super('The client closed the connection before the request body was complete');
    this.name = 'ClientDisconnectedError';
  }
}

function tooLarge(maxBytes: number): RequestEntityTooLargeException {
  return new RequestEntityTooLargeException(
    `The request body is larger than ${maxBytes} bytes, the limit of this server. ` +
      'KMS requests are small (Plaintext is at most 4096 bytes): encrypt large data locally under a data key from GenerateDataKey.',
  );
}

/**
 * Resolves to the whole body. Rejects with RequestEntityTooLargeException as
 * soon as the declared Content-Length or the bytes received pass `maxBytes`,
 * without reading further, and with ClientDisconnectedError when the
 * connection closes first.
 */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declaredLength = Number(request.headers['content-length']);
  if (Number.isFinite(declaredLength) && declaredLength > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;

    const cleanup = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('close', onClose);
      request.off('error', onClose);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) {
        cleanup();
        request.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onClose = (): void => {
      cleanup();
      reject(new ClientDisconnectedError());
    };

    request.on('data', onData);
    request.once('end', onEnd);
    request.once('close', onClose);
    request.once('error', onClose);
  });
}
