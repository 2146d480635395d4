import { STATUS_CODES } from 'node:http';
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
