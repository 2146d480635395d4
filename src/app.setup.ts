import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import { BadRequestException, NestApplicationOptions, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { FastifyError, FastifyReply, FastifyRequest, LogController } from 'fastify';
import type { Logger as Pino } from 'pino';
import { errorBody, refuseOverloaded } from './common/error-body';
import { isInferenceRoute, V2_INFER_ROUTE } from './common/inference-routes';
import { parseJsonBody } from './common/json-body';
import { API_SECURITY_HEADERS, documentSecurityHeaders } from './common/security-headers';
import { REQUEST_ID_HEADER, requestIdOf } from './common/request-id';
import type { AllConfig } from './config/configuration';
import { packageVersion } from './config/server-info';
import { InvalidInputError } from './model/model-errors';
import { attachBinaryTensors, BINARY_HEADER_LENGTH, splitBinaryBody } from './prediction/open-inference/binary-tensor';

export const DOCS_PATH = 'docs';

/**
 * Options for NestFactory.create and createNestApplication: Nest's own body parsers are off
 * (the adapter below parses JSON, and nothing else), and a failing start reaches main.ts's
 * catch instead of Nest ending the process itself.
 */
export const NEST_APPLICATION_OPTIONS: NestApplicationOptions = { bodyParser: false, abortOnError: false };

const SMALL_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * The Fastify adapter with the service's HTTP settings: its pino logger (request logs carry
 * the request id), the JSON body parser, limits and timeouts, and the X-Request-Id header on
 * every response, including the errors Fastify and Node answer before Nest sees a request.
 * Shared by main.ts and the end-to-end tests, so both run the same HTTP stack.
 */
export function createHttpAdapter(config: AllConfig, logger: Pino): FastifyAdapter {
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // One line per request at info level would drown the state changes; see the debug hook below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: requestIdOf,
    bodyLimit: config.http.bodyLimitBytes,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    // A client that sends a request slower than this is cut off (408), so none can hold a
    // connection, or the shutdown, open forever.
    requestTimeout: config.http.requestTimeoutMs,
    // Node 20 takes the request timeout only when the server is created (setting it later, as
    // Fastify does, is ignored), and enforces it when it checks its connections: every 30 s by
    // default, every second here.
    http: { requestTimeout: config.http.requestTimeoutMs, connectionsCheckingInterval: 1000 },
    return503OnClosing: true,
    // `/v2/` is the Open Inference Protocol's server metadata route, as is `/v2`.
    // Node's parser keeps every key as an own property (a `__proto__` parameter too, which the
    // default parser drops), so unknown parameters are refused, not silently ignored.
    routerOptions: { ignoreTrailingSlash: true, querystringParser: (query: string) => parseQuery(query) },
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const message = error.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid (malformed percent-encoding)' : 'the request is not valid';
      void reply.code(400).header(REQUEST_ID_HEADER, request.id).send(errorBody(request.url, 400, message, request.id));
    },
    clientErrorHandler: answerClientError,
  });
  const fastify = adapter.getInstance();
  // Cross-origin browser requests only from the configured origins; none by default.
  if (config.http.corsOrigins.length > 0) {
    void fastify.register(cors, {
      origin: config.http.corsOrigins.includes('*') ? '*' : config.http.corsOrigins,
      methods: ['GET', 'POST'],
      allowedHeaders: ['content-type', 'authorization', REQUEST_ID_HEADER, BINARY_HEADER_LENGTH],
      exposedHeaders: [REQUEST_ID_HEADER, 'retry-after', BINARY_HEADER_LENGTH],
      maxAge: 600,
    });
  }
  // Per-route body limits: BODY_LIMIT_BYTES for the routes that take tensors; the other POST
  // routes (model management) take no body worth more than a few bytes.
  fastify.addHook('onRoute', (route) => {
    if (!isInferenceRoute(route.url)) route.bodyLimit = SMALL_BODY_LIMIT_BYTES;
  });
  // JSON, and on the Open Inference Protocol's infer routes its binary tensor data extension
  // (a JSON header, then raw tensor bytes) whatever the content type, as Triton takes it. Every
  // other body (text/plain included, which Fastify takes by default) is answered 415.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, isBinaryTensorRequest(request) ? parseBinaryTensorBody(request, body as Buffer) : parseJsonBody(utf8Text(body as Buffer)));
    } catch (error) {
      done(asHttpError(error), undefined);
    }
  });
  // Decided before the body is read: a refused one is never buffered. Unknown routes go on to 404.
  fastify.addContentTypeParser('*', (request, payload, done) => {
    if (request.is404) return done(null, undefined);
    if (!isBinaryTensorRequest(request)) return done(new UnsupportedMediaTypeException(), undefined);
    readBody(payload, request.routeOptions.bodyLimit ?? config.http.bodyLimitBytes, request.headers['content-length'], (error, body) => {
      if (error) return done(error, undefined);
      try {
        done(null, parseBinaryTensorBody(request, body!));
      } catch (parseError) {
        done(asHttpError(parseError), undefined);
      }
    });
  });
  // Once the server is closing, each answer asks the client to close its connection, so
  // keep-alive clients (a proxy's upstream pool) let the process exit when it has answered;
  // connections still busy after the drain timeout are closed.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    const drain = setTimeout(() => {
      logger.warn({ timeoutMs: config.http.drainTimeoutMs }, 'closing connections still open after the drain timeout');
      fastify.server.closeAllConnections();
    }, config.http.drainTimeoutMs);
    drain.unref();
    done();
  });
  // Admission control: past MAX_IN_FLIGHT_REQUESTS inference requests, answer 429 before
  // reading the body, so the refusal costs next to nothing and the admitted requests keep
  // their latency. The count drops when each answer is sent or the client goes away.
  let inFlight = 0;
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.method !== 'POST' || !isInferenceRoute(request.routeOptions.url ?? '')) return done();
    if (inFlight >= config.http.maxInFlightRequests) {
      refuseOverloaded(request, reply, `the server has ${inFlight} inference requests in flight, its limit; retry shortly`);
      return;
    }
    inFlight++;
    reply.raw.once('close', () => inFlight--);
    done();
  });
  // The documentation's pages and assets get the headers of an HTML page; the API's answers,
  // errors included, the API's.
  const documentHeaders = documentSecurityHeaders();
  const docsPrefix = `/${DOCS_PATH}`;
  fastify.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(request.url.startsWith(docsPrefix) ? documentHeaders : API_SECURITY_HEADERS);
    reply.header(REQUEST_ID_HEADER, request.id);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  // One line per answered request, only where it is logged: the hook costs on every request.
  if (logger.isLevelEnabled('debug')) {
    fastify.addHook('onResponse', (request, reply, done) => {
      request.log.debug(
        { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
        'request completed',
      );
      done();
    });
  }
  return adapter;
}

/** A request in the binary tensor data form: an infer route, with the JSON header's length. */
function isBinaryTensorRequest(request: FastifyRequest): boolean {
  return request.headers[BINARY_HEADER_LENGTH] !== undefined && V2_INFER_ROUTE.test(request.routeOptions.url ?? '');
}

/** The JSON header of a binary tensor body; the tensor bytes after it stay with the request. */
function parseBinaryTensorBody(request: FastifyRequest, body: Buffer): unknown {
  const { header, tensors } = splitBinaryBody(body, String(request.headers[BINARY_HEADER_LENGTH]));
  const value = parseJsonBody(utf8Text(header));
  attachBinaryTensors(request, tensors);
  return value;
}

/**
 * Reads a request body into one buffer as Fastify's own parsers do: refused with 413 past
 * `limit` bytes (declared or received), with 400 when it is not the length declared.
 */
function readBody(
  payload: NodeJS.ReadableStream,
  limit: number,
  contentLength: string | undefined,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const declared = contentLength === undefined ? NaN : Number(contentLength);
  if (declared > limit) return done(new PayloadTooLargeException());
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
      done(new PayloadTooLargeException());
      return;
    }
    chunks.push(chunk);
  }
  function onEnd(error?: Error): void {
    stop();
    if (error) return done(new BadRequestException('the request body could not be read'));
    if (!Number.isNaN(declared) && received !== declared) return done(new BadRequestException('the request body is not the length its Content-Length says'));
    done(null, Buffer.concat(chunks, received));
  }
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onEnd);
  payload.resume();
}

/** A body's text, refused when it is not UTF-8 (as JSON must be). */
function utf8Text(body: Buffer): string {
  if (!isUtf8(body)) {
    const message = 'the body is not valid UTF-8 text; JSON must be sent as UTF-8';
    throw new BadRequestException({ message, details: [{ path: 'body', message }] });
  }
  return body.toString('utf8');
}

/** Body errors as the HTTP errors the exception filter answers. */
function asHttpError(error: unknown): Error {
  if (error instanceof InvalidInputError) return new BadRequestException({ message: error.message, details: error.problems });
  return error as Error;
}

/**
 * Requests Node's HTTP parser refuses (a malformed request line or header, headers too large,
 * a request too slow) never reach Fastify's routes: answer them in the same error shape.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message =
    status === 431 ? 'the request headers are too large' : status === 408 ? 'the request took too long to arrive' : 'the request is not valid HTTP';
  const requestId = randomUUID();
  // No request was parsed, so no route is known: the service's own shape.
  const body = JSON.stringify(errorBody('', status, message, requestId));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${REQUEST_ID_HEADER}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The OpenAPI document, served as Swagger UI at /docs and as JSON at /docs-json. */
export function setupOpenApi(app: NestFastifyApplication, serviceName: string): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(serviceName)
      .setDescription(
        'Predictions from TensorFlow.js models served from the model repository, ' +
          'with Kubernetes health probes. Errors of the service\'s own routes answer `{statusCode, error, message, details?, requestId}`; ' +
          'the Open Inference Protocol (V2) and TF Serving (V1) routes answer `{"error": "..."}` as those protocols do.',
      )
      .setVersion(packageVersion())
      .addTag('prediction', 'The simple prediction API, for the default model or any other')
      .addTag('open inference protocol (v2)', 'KServe V2, as Triton and MLServer serve it; errors are {"error": "..."}')
      .addTag('tf serving (v1)', "TF Serving's REST API; errors are {\"error\": \"...\"}")
      .addTag('models', 'The model repository: models, versions, states; load, unload and reload')
      .addTag('health', 'Liveness, readiness and start-up probes')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, for the mutating /models routes' })
      .build(),
  );
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: `${serviceName} API`,
  });
}
