import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorDetailDto, ErrorResponseDto } from './error-response.dto';

/** Routes of the V1 (TF Serving) and V2 (Open Inference) protocols. */
const PROTOCOL_ROUTE = /^\/v[12](\/|\?|$)/;

/** Messages quote parts of the request (paths, names): keep an answer small whatever was sent. */
const MAX_MESSAGE = 1000;

/**
 * The body of an error answer to `url`: `{"error": "..."}` on the V1 and V2 protocol routes, as
 * those protocols define it, and the service's own contract everywhere else.
 */
export function errorBody(
  url: string,
  status: number,
  message: string,
  requestId: string,
  details?: ErrorDetailDto[],
): ErrorResponseDto | { error: string } {
  const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
  if (PROTOCOL_ROUTE.test(url)) return { error: text };
  return {
    statusCode: status,
    error: STATUS_CODES[status] ?? 'Error',
    message: text,
    ...(details && details.length > 0 ? { details } : {}),
    requestId,
  };
}

/** A full queue, or the in-flight limit, clears in well under a second at a replica's rates. */
export const OVERLOAD_RETRY_AFTER_SECONDS = '1';

/** The status of a refusal for overload (see refuseOverloaded). */
export const OVERLOAD_STATUS = 429;

/**
 * Refuses an inference request the server is too busy to take: 429 with Retry-After. Not 503,
 * which says this replica cannot serve the model now (loading, shutting down) and which a proxy
 * therefore retries on another replica and counts against this one: under overload, nginx then
 * took every replica out of rotation and answered for them (bench/README.md). A 429 asks the
 * client to slow down and leaves the replica in rotation.
 */
export function refuseOverloaded(request: FastifyRequest, reply: FastifyReply, message: string): void {
  void reply.code(OVERLOAD_STATUS).header('retry-after', OVERLOAD_RETRY_AFTER_SECONDS).send(errorBody(request.url, OVERLOAD_STATUS, message, request.id));
}
