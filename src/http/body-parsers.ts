import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BodyTooLargeError, UnsupportedContentTypeError } from '../common/request-errors';
import { InvalidInputError } from '../model/model-errors';
import { BINARY_HEADER_LENGTH, splitBinaryBody } from './binary-body';
import { parseJsonBody } from './json-body';
import { routeFacts } from './route-facts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The raw tensor bytes after the JSON header of a request in binary tensor data form. */
    tensorBytes: Buffer | null;
  }
}

/** Routes that take no tensors (model management) take no body worth more than this. */
export const SMALL_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * The body parsers: JSON, and on the routes that declare `binaryTensors` the Open Inference
 * Protocol's binary tensor data extension (a JSON header, then raw tensor bytes) whatever the
 * content type, as Triton takes it. Every other body (form and text bodies included) is
 * refused before it is read. Bodies are limited per route: BODY_LIMIT_BYTES on inference
 * routes, SMALL_BODY_LIMIT_BYTES elsewhere.
 */
export const bodyParsers = fp(
  (fastify: FastifyInstance, { bodyLimitBytes }: { bodyLimitBytes: number }, done: (error?: Error) => void) => {
    const limitOf = (request: FastifyRequest) => (routeFacts(request).inference ? bodyLimitBytes : SMALL_BODY_LIMIT_BYTES);
    const binary = (request: FastifyRequest) =>
      routeFacts(request).binaryTensors === true && request.headers[BINARY_HEADER_LENGTH] !== undefined;

    fastify.decorateRequest('tensorBytes', null);
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('application/json', (request, payload, done) => {
      readBody(payload, limitOf(request), request.headers['content-length'], (error, body) => {
        if (error) return done(error, undefined);
        try {
          done(null, binary(request) ? parseBinaryBody(request, body!) : parseJsonBody(utf8Text(body!)));
        } catch (parseError) {
          done(parseError as Error, undefined);
        }
      });
    });
    // Decided before the body is read: a refused one is never buffered. Unknown routes go on to 404.
    fastify.addContentTypeParser('*', (request, payload, done) => {
      if (request.is404) return done(null, undefined);
      if (!binary(request)) return done(new UnsupportedContentTypeError(request.headers['content-type'] ?? ''), undefined);
      readBody(payload, limitOf(request), request.headers['content-length'], (error, body) => {
        if (error) return done(error, undefined);
        try {
          done(null, parseBinaryBody(request, body!));
        } catch (parseError) {
          done(parseError as Error, undefined);
        }
      });
    });
    done();
  },
  { name: 'body-parsers' },
);

/** The JSON header of a binary tensor body, parsed; the tensor bytes after it stay with the request. */
function parseBinaryBody(request: FastifyRequest, body: Buffer): unknown {
  const { header, tensors } = splitBinaryBody(body, String(request.headers[BINARY_HEADER_LENGTH]));
  const value = parseJsonBody(utf8Text(header));
  request.tensorBytes = tensors;
  return value;
}

/**
 * Reads a request body into one buffer: refused past `limit` bytes (declared or received), and
 * when it is not the length declared.
 */
function readBody(
  payload: NodeJS.ReadableStream,
  limit: number,
  contentLength: string | undefined,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const declared = contentLength === undefined ? NaN : Number(contentLength);
  if (declared > limit) return done(new BodyTooLargeError(limit));
  const chunks: Buffer[] = [];
  let received = 0;
  const stop = () => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onEnd);
  };
  function onData(chunk: Buffer): void {
    received += chunk.length;
    if (received > limit) {
      stop();
      done(new BodyTooLargeError(limit));
      return;
    }
    chunks.push(chunk);
  }
  function onEnd(error?: Error): void {
    stop();
    if (error) return done(InvalidInputError.body('the request body could not be read'));
    if (!Number.isNaN(declared) && received !== declared)
      return done(InvalidInputError.body('the request body is not the length its Content-Length says'));
    done(null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received));
  }
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onEnd);
  payload.resume();
}

/** A body's text, refused when it is not UTF-8 (as JSON must be). */
function utf8Text(body: Buffer): string {
  if (!isUtf8(body)) throw InvalidInputError.body('the body is not valid UTF-8 text; JSON must be sent as UTF-8');
  return body.toString('utf8');
}
