import { parse as parseQuery } from 'node:querystring';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger as Pino } from 'pino';
import type { AllConfig } from '../config/configuration';
import { answerClientError, answerFrameworkError } from './client-errors';
import { requestIdOf } from './request-id';
import { LazyRequestLogger } from './request-logger';

/**
 * The Fastify adapter with the settings that can only be given when the server is made: its
 * pino logger (request logs carry the request id), ids, limits and timeouts, router options,
 * and the answers to requests refused before any route. The rest of the HTTP edge is
 * registered by `HttpEdge`. Shared by main.ts and the end-to-end tests.
 */
export function createHttpAdapter(config: AllConfig, logger: Pino): FastifyAdapter {
  return new FastifyAdapter({
    loggerInstance: logger,
    // One line per request at info level would drown the state changes (see request-log.ts).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    childLoggerFactory: (parent: unknown, bindings: Bindings, options: ChildLoggerOptions) =>
      new LazyRequestLogger(parent as Pino, bindings, options) as unknown as Pino,
    genReqId: requestIdOf,
    bodyLimit: config.http.bodyLimitBytes,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    // A client that sends a request slower than this is cut off (408), so none can hold a
    // connection, or the shutdown, open forever.
    requestTimeout: config.http.requestTimeoutMs,
    // Node takes the request timeout only when the server is created (setting it later, as
    // Fastify does, is ignored), and enforces it when it checks its connections: every 30 s by
    // default, every second here.
    http: { requestTimeout: config.http.requestTimeoutMs, connectionsCheckingInterval: 1000 },
    return503OnClosing: true,
    routerOptions: {
      // `/v2/` is the Open Inference Protocol's server metadata route, as is `/v2`. Management
      // routes refuse this and every other non-canonical spelling (canonical-paths.ts).
      ignoreTrailingSlash: true,
      // Node's parser keeps every key as an own property (a `__proto__` parameter too, which the
      // default parser drops), so unknown parameters are refused, not silently ignored.
      querystringParser: (query: string) => parseQuery(query),
    },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  });
}
