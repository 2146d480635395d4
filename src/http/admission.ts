import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { OverloadedError } from '../common/request-errors';
import type { MetricsService } from '../metrics/metrics.service';
import type { ModelRegistry } from '../model/model-registry';
import { VERSION_PATTERN } from '../model/model-repository';
import { answerError } from './edge-answers';
import { routeFacts } from './route-facts';

export interface AdmissionOptions {
  registry: ModelRegistry;
  metrics: MetricsService;
  maxInFlightRequests: number;
  defaultModel: string;
}

/**
 * Admission control on inference routes, before the body is read, so that under overload a
 * refusal costs next to nothing and comes fast, and the admitted requests keep their latency:
 * 429 past MAX_IN_FLIGHT_REQUESTS inference requests in this process, or when the queue of
 * the model the route names has no room for a single row. Requests for an unknown or
 * unavailable model go on to their route, which says what is wrong.
 */
export const admission = fp(
  (fastify: FastifyInstance, { registry, metrics, maxInFlightRequests, defaultModel }: AdmissionOptions, done: (error?: Error) => void) => {
    let inFlight = 0;
    fastify.addHook('onRequest', (request, reply, next) => {
      const { inference } = routeFacts(request);
      if (!inference || request.method !== 'POST') return next();
      if (inFlight >= maxInFlightRequests) {
        answerError(
          request,
          reply,
          new OverloadedError(`the server has ${inFlight} inference requests in flight, its limit; retry shortly`),
        );
        return;
      }
      const target = inference.target(request.params as Record<string, string | undefined>);
      const refusal = target && queueRefusal(registry, metrics, target.model ?? defaultModel, target.version);
      if (refusal) {
        answerError(request, reply, new OverloadedError(refusal));
        return;
      }
      inFlight++;
      reply.raw.once('close', () => inFlight--);
      next();
    });
    done();
  },
  { name: 'admission' },
);

/** Why the model version's queue cannot take a request now, if it cannot. */
function queueRefusal(registry: ModelRegistry, metrics: MetricsService, model: string, version: string | undefined): string | undefined {
  if (version !== undefined && !VERSION_PATTERN.test(version)) return undefined;
  try {
    const served = registry.resolve(model, version === undefined ? undefined : Number(version));
    const refusal = served.queueFull();
    if (refusal) metrics.forVersion(served.name, String(served.version)).outcome('rejected').inc();
    return refusal;
  } catch {
    // Unknown or unavailable: the route answers that.
    return undefined;
  }
}
