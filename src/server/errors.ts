/**
 * Exceptions that only the HTTP layer raises: authentication failures, a
 * request body that is not valid AWS JSON, and a body over the size limit.
 * The KMS facade does not use them, so they live here and not in
 * src/kms/errors.ts. They extend KmsError, so the wire codec turns them into
 * `{"__type", "message"}` bodies like every other KMS exception.
 *
 * Names and statuses follow the errors that AWS JSON services return to the
 * AWS SDKs: AWS lists MissingAuthenticationToken with HTTP 403 and
 * IncompleteSignature with HTTP 400 among the common errors of its APIs, and
 * KMS returns InvalidSignatureException and UnrecognizedClientException with
 * HTTP 400.
 */
import { KmsError } from '../kms/errors.js';

/** The request carries no Authorization header. */
export class MissingAuthenticationTokenException extends KmsError {
  static override readonly exceptionName = 'MissingAuthenticationTokenException';
  static override readonly httpStatusCode = 403;
}

/** The Authorization header or X-Amz-Date is missing a part or is malformed. */
export class IncompleteSignatureException extends KmsError {
  static override readonly exceptionName = 'IncompleteSignatureException';
  static override readonly httpStatusCode = 400;
}

/** The signature does not match, has expired, was already used, or has the wrong scope. */
export class InvalidSignatureException extends KmsError {
  static override readonly exceptionName = 'InvalidSignatureException';
  static override readonly httpStatusCode = 400;
}

/** The access key ID is not one this server accepts. */
export class UnrecognizedClientException extends KmsError {
  static override readonly exceptionName = 'UnrecognizedClientException';
  static override readonly httpStatusCode = 400;
}

/** The body is not a JSON object, or a member has the wrong JSON type. */
export class SerializationException extends KmsError {
  static override readonly exceptionName = 'SerializationException';
  static override readonly httpStatusCode = 400;
}

/** The request body is larger than the server accepts. */
export class RequestEntityTooLargeException extends KmsError {
  static override readonly exceptionName = 'RequestEntityTooLargeException';
  static override readonly httpStatusCode = 413;
}

/** No route serves the method and path: KMS requests are `POST /`. */
export class RouteNotFoundException extends KmsError {
  static override readonly exceptionName = 'RouteNotFoundException';
  static override readonly httpStatusCode = 404;
}
