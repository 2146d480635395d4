import { Injectable, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { refuseOverloaded } from '../common/error-body';
import { DEFAULT_MODEL_ROUTE, NAMED_MODEL_ROUTE, V1_CALL_ROUTE } from '../common/inference-routes';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { ModelRegistry } from '../model/model-registry';
import type { ModelTarget } from './inference.service';

const VERSION = /^[1-9]\d{0,8}$/;

/**
 * Refuses an inference request with 429 before its body is read when its model's queue has no
 * room for a single row: under overload, a refusal then costs next to nothing, instead of a
 * parse and a validation of a body that cannot be run, and the refusals come fast. Requests for
 * an unknown or unavailable model, or with a malformed version, go on to their route, which
 * says what is wrong.
 */
@Injectable()
export class QueueAdmission implements OnModuleInit {
  private readonly defaultModel: string;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly registry: ModelRegistry,
    private readonly metrics: MetricsService,
    config: ConfigService<AllConfig, true>,
  ) {
    this.defaultModel = config.getOrThrow('model.defaultModel', { infer: true });
  }

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onRequest', (request, reply, done) => {
      const target = request.method === 'POST' ? this.targetOf(request) : undefined;
      const refusal = target && this.refusal(target);
      if (!refusal) return done();
      refuseOverloaded(request, reply, refusal);
    });
  }

  /** The model and version an inference request names, if its route is one. */
  private targetOf(request: FastifyRequest): ModelTarget | undefined {
    const route = request.routeOptions.url ?? '';
    const params = request.params as Record<string, string | undefined>;
    if (DEFAULT_MODEL_ROUTE.test(route)) return { model: this.defaultModel };
    if (NAMED_MODEL_ROUTE.test(route)) return withVersion(params.name, params.version);
    if (V1_CALL_ROUTE.test(route)) {
      const [head] = (params.call ?? '').split(':');
      return params.name === undefined ? withVersion(head, undefined) : withVersion(params.name, head);
    }
    return undefined;
  }

  private refusal(target: ModelTarget): string | undefined {
    let refusal: string | undefined;
    try {
      const served = this.registry.resolve(target.model, target.version);
      refusal = served.queueFull();
      if (refusal) this.metrics.forVersion(served.name, String(served.version)).outcome('rejected').inc();
    } catch {
      // Unknown or unavailable: the route answers that.
    }
    return refusal;
  }
}

function withVersion(model: string | undefined, version: string | undefined): ModelTarget | undefined {
  if (!model || (version !== undefined && !VERSION.test(version))) return undefined;
  return { model, version: version === undefined ? undefined : Number(version) };
}
