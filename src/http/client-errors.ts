import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorAnswer } from '../common/error-answer';
import { InvalidInputError } from '../model/model-errors';
import { REQUEST_ID_HEADER } from './request-id';

/** Requests Fastify's router refuses before any route: a URL it cannot decode, say. */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message = error.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid (malformed percent-encoding)' : 'the request is not valid';
  const answer = errorAnswer(new InvalidInputError(message), 'service', request.id);
  void reply.code(answer.status).header(REQUEST_ID_HEADER, request.id).send(answer.body);
}

/**
 * Requests Node's HTTP parser refuses (a malformed request line or header, headers too large,
 * a request too slow) never reach Fastify: answered here in the service's error shape.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message =
    status === 431
      ? 'the request headers are too large'
      : status === 408
        ? 'the request took too long to arrive'
        : 'the request is not valid HTTP';
  const requestId = randomUUID();
  const answer = errorAnswer(Object.assign(new Error(message), { statusCode: status }), 'service', requestId);
  const body = JSON.stringify(answer.body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${REQUEST_ID_HEADER}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
