export class ErrorDetailDto {
  /**
   * Where in the request the problem is.
   * @example "features[3]"
   */
  path: string;

  /** @example "must be a number, got a string" */
  message: string;
}

/** The body of every error answer of the service's own routes. */
export class ErrorResponseDto {
  /** @example 400 */
  statusCode: number;

  /** @example "Bad Request" */
  error: string;

  /**
   * What was wrong, and where. For a 5xx only "internal error": the details go to the log.
   * @example "features[3]: must be a number, got a string"
   */
  message: string;

  /** Each problem found, when the request had several or a precise place is known. */
  details?: ErrorDetailDto[];

  /**
   * The request id, as in the X-Request-Id response header and the logs.
   * @example "5f0c1f0e-8d6b-4f43-9d4c-0c7f7e0a2b1d"
   */
  requestId: string;
}
