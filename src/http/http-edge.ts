import { Injectable, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RouteErrorShape } from '../common/route-error-shape';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { ModelRegistry } from '../model/model-registry';
import { admission } from './admission';
import { bodyParsers } from './body-parsers';
import { canonicalManagementPaths } from './canonical-paths';
import { crossOrigin } from './cors';
import { drain, Draining } from './drain';
import { methodNotAllowed } from './method-not-allowed';
import { requestLog } from './request-log';
import { responseHeaders } from './response-headers';
import type { RouteFacts } from './route-facts';

export const DOCS_PATH = 'docs';

/**
 * The HTTP edge: every part of the request path that runs around the routes, registered here
 * in the order a request meets them. What each part needs to know about a route is declared
 * on the route (`route-facts.ts`). The settings that must be given when the server is made
 * (logger, ids, timeouts, the answers to requests refused before routing) are in
 * `fastify-adapter.ts`.
 */
@Injectable()
export class HttpEdge implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly registry: ModelRegistry,
    private readonly metrics: MetricsService,
    private readonly config: ConfigService<AllConfig, true>,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const http = this.config.getOrThrow('http', { infer: true });
    const defaultModel: string = this.config.getOrThrow('model.defaultModel', { infer: true });
    const logLevel = this.config.getOrThrow('logging.level', { infer: true });
    // Not awaited: the parts load with the server, once Nest has set its error handler, which
    // the routes take up as they load.
    fastify.decorateRequest('matchedRoute', null);
    const draining = new Draining();
    void fastify
      // onRequest: answers to cross-origin browsers, and their preflight requests.
      .register(crossOrigin, { origins: http.corsOrigins })
      // onRequest: 405 with Allow for a known path asked with another method.
      .register(methodNotAllowed)
      // onRequest: 404 for any spelling of a management route but its own.
      .register(canonicalManagementPaths)
      // onRequest: 429 for inference past the in-flight limit or its model's queue, before the body is read.
      .register(admission, {
        registry: this.registry,
        metrics: this.metrics,
        maxInFlightRequests: http.maxInFlightRequests,
        defaultModel,
      })
      // Body: JSON, or binary tensor data where the route takes it, within the route's limit.
      .register(bodyParsers, { bodyLimitBytes: http.bodyLimitBytes })
      // onSend: the request id and the security headers on every answer, and once the server
      // is draining, `Connection: close`.
      .register(responseHeaders, { docsPath: DOCS_PATH, draining })
      // preClose: the server drains; connections still open after the drain timeout are closed.
      .register(drain, { draining, drainTimeoutMs: http.drainTimeoutMs })
      // onResponse: HTTP metrics, and a log line per request at debug level.
      .register(requestLog, { metrics: this.metrics, logEachRequest: logLevel === 'debug' || logLevel === 'trace' });
  }
}

/**
 * The error shape Fastify's route config holds for the request's route, read afresh: a request
 * its route hands on as not found (an empty path parameter) is answered as no route's.
 */
export class FastifyRouteErrorShape extends RouteErrorShape {
  of(request: unknown): 'service' | 'protocol' {
    return ((request as FastifyRequest).routeOptions.config as RouteFacts | undefined)?.errorShape ?? 'service';
  }
}
