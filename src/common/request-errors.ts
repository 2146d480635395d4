/**
 * Errors of the request itself, before any model is involved. Like the model module's errors
 * they carry no HTTP status: `error-answer.ts` maps every error class to one.
 */

/** The body is larger than the route takes. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';

  constructor(readonly limitBytes: number) {
    super(`request body is larger than the limit of ${limitBytes} bytes`);
  }
}

/** The body is of a content type the route does not take. */
export class UnsupportedContentTypeError extends Error {
  override readonly name = 'UnsupportedContentTypeError';

  /** `contentType`: the header as sent ('' when absent); undefined when it cannot be read. */
  constructor(contentType?: string) {
    const type = contentType?.slice(0, 100);
    super(
      type === undefined
        ? 'unsupported content type; send application/json'
        : type === ''
          ? 'a request body needs "Content-Type: application/json"'
          : `unsupported content type ${JSON.stringify(type)}; send application/json`,
    );
  }
}

/** The path exists, but not for this method. */
export class MethodNotAllowedError extends Error {
  override readonly name = 'MethodNotAllowedError';

  constructor(
    method: string,
    readonly allowed: readonly string[],
  ) {
    super(`${method} is not allowed here; this path takes ${allowed.join(', ')}`);
  }
}

/** No route answers this method and path. */
export class RouteNotFoundError extends Error {
  override readonly name = 'RouteNotFoundError';
}

/** A management route without the right bearer token. */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
}

/** Model management is turned off (no ADMIN_TOKEN configured). */
export class ManagementDisabledError extends Error {
  override readonly name = 'ManagementDisabledError';
}

/**
 * The server has no room for the request now: too many in flight, or its model's queue is
 * full. Made on every refused request under overload, so it captures no stack trace.
 */
export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';

  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}
