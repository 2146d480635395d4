import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { MetricsService } from '../metrics/metrics.service';
import { routeFacts } from './route-facts';

/**
 * After each answer: HTTP metrics by route pattern (never the raw URL, so the label set stays
 * small), method and status, the errors answered before a route ran included; and at debug
 * level one log line per request (the hook is added only then: it costs on every request).
 */
export const requestLog = fp(
  (
    fastify: FastifyInstance,
    { metrics, logEachRequest }: { metrics: MetricsService; logEachRequest: boolean },
    done: (error?: Error) => void,
  ) => {
    fastify.addHook('onResponse', (request, reply, done) => {
      metrics.observeHttp(routeFacts(request).url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
    if (logEachRequest) {
      fastify.addHook('onResponse', (request, reply, done) => {
        request.log.debug(
          { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
          'request completed',
        );
        done();
      });
    }
    done();
  },
  { name: 'request-log' },
);
