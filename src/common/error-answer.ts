import { STATUS_CODES } from 'node:http';
import { HttpException } from '@nestjs/common';
import {
  DeadlineExceededError,
  InputProblem,
  InvalidInputError,
  ModelLoadError,
  ModelNotFoundError,
  ModelNotReadyError,
  ModelNotServingError,
  QueueFullError,
} from '../model/model-errors';
import type { ErrorResponseDto } from './error-response.dto';
import {
  AuthenticationError,
  BodyTooLargeError,
  ManagementDisabledError,
  MethodNotAllowedError,
  OverloadedError,
  RouteNotFoundError,
  UnsupportedContentTypeError,
} from './request-errors';

/**
 * The shape of an error body: the service's own (`{statusCode, error, message, details?,
 * requestId}`), or `{"error": "..."}` as the Open Inference Protocol and TF Serving define it.
 * Each route declares its shape (see `route-facts.ts`).
 */
export type ErrorShape = 'service' | 'protocol';

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: ErrorResponseDto | { error: string };
  /** An unexpected fault: its cause belongs in the log, under the request id. */
  unexpected: boolean;
}

/** A full queue, or the in-flight limit, clears in well under a second at a replica's rates. */
const OVERLOAD_RETRY_AFTER = '1';
/** A model loading, or reloading after a failure, takes seconds. */
const NOT_READY_RETRY_AFTER = '5';
/** Messages quote parts of the request (paths, names): keep an answer small whatever was sent. */
const MAX_MESSAGE = 1000;

interface Mapping {
  status: number;
  headers?: (error: Error) => Record<string, string>;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** The one table from error classes to HTTP answers. */
const MAPPINGS: readonly (readonly [ErrorClass, Mapping])[] = [
  [InvalidInputError, { status: 400 }],
  [AuthenticationError, { status: 401, headers: () => ({ 'www-authenticate': 'Bearer' }) }],
  [ManagementDisabledError, { status: 403 }],
  [ModelNotFoundError, { status: 404 }],
  // Not 503: a proxy in front would count it against the replica, and a model broken everywhere
  // (one bad upload to a shared repository) would take every replica out of its rotation.
  [ModelNotServingError, { status: 404 }],
  [RouteNotFoundError, { status: 404 }],
  [MethodNotAllowedError, { status: 405, headers: (error) => ({ allow: (error as MethodNotAllowedError).allowed.join(', ') }) }],
  [BodyTooLargeError, { status: 413 }],
  [UnsupportedContentTypeError, { status: 415 }],
  [ModelLoadError, { status: 422 }],
  // Overload is 429, not 503: a proxy in front retries 503s on another replica (a replica shutting
  // down, or not ready), counts them as failures and stops sending to the replica;
  // a full replica must stay in rotation, and its client be told to come back shortly.
  [OverloadedError, { status: 429, headers: () => ({ 'retry-after': OVERLOAD_RETRY_AFTER }) }],
  [QueueFullError, { status: 429, headers: () => ({ 'retry-after': OVERLOAD_RETRY_AFTER }) }],
  [ModelNotReadyError, { status: 503, headers: () => ({ 'retry-after': NOT_READY_RETRY_AFTER }) }],
  [DeadlineExceededError, { status: 504 }],
];

/**
 * The answer to an error, in the given shape: client errors say what was wrong and where; a
 * 5xx other than 503 and 504 says only "internal error". Every error body of the service is
 * written here.
 */
export function errorAnswer(error: unknown, shape: ErrorShape, requestId: string): ErrorAnswer {
  const { status, message, details, headers } = describe(error);
  const unexpected = status >= 500 && status !== 503 && status !== 504;
  const text = unexpected ? 'internal error' : truncate(message);
  return {
    status,
    headers: headers ?? {},
    unexpected,
    body:
      shape === 'protocol'
        ? { error: text }
        : {
            statusCode: status,
            error: STATUS_CODES[status] ?? 'Error',
            message: text,
            ...(!unexpected && details && details.length > 0 ? { details } : {}),
            requestId,
          },
  };
}

interface Description {
  status: number;
  message: string;
  details?: InputProblem[];
  headers?: Record<string, string>;
}

function describe(error: unknown): Description {
  for (const [type, mapping] of MAPPINGS) {
    if (error instanceof type) {
      const details = error instanceof InvalidInputError ? error.problems : undefined;
      return { status: mapping.status, message: error.message, details, headers: mapping.headers?.(error) };
    }
  }
  // Nest's own (its router's 404) and Fastify's (a malformed Content-Length, say) carry a status;
  // Fastify's 415 (a Content-Type it cannot parse) says no more than its status.
  const status = error instanceof HttpException ? error.getStatus() : (error as { statusCode?: unknown } | null)?.statusCode;
  if (status === 415) return describe(new UnsupportedContentTypeError());
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, message: (error as Error).message };
  return { status: 500, message: 'internal error' };
}

function truncate(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}
