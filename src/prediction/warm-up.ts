import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { ModelRegistry } from '../model/model-registry';
import type { VersionDescription } from '../model/model-types';
import { zeroInputs } from '../model/signature';
import { datatypeOf } from './open-inference/datatypes';
import { rowWidth } from './rows.codec';
import { jsonValues } from './tensor-codec';

/** A request the warm-up sends, in Fastify's inject form. */
export interface WarmUpRequest {
  method: 'GET' | 'POST';
  url: string;
  payload?: string;
  headers?: Record<string, string>;
}

export interface WarmUpSummary {
  requests: number;
  /** Answers by status code. */
  statuses: Record<number, number>;
  ms: number;
}

/** The warm-up stops here even when it has not sent its count (a slow model). */
const WARM_UP_BUDGET_MS = 5000;

/**
 * The request path, warmed before the replica reports ready. A replica's first requests run
 * through code V8 has not compiled yet (routing, hooks, body parsing, validation, codecs, error
 * answers), several times slower than once it has: a replica that joins a loaded pool answers
 * its first burst of requests slowly (bench/README.md). So once the start-up load is done, the
 * replica sends itself HTTP_WARM_UP_REQUESTS requests through the whole HTTP stack in process
 * (Fastify's inject, no socket) for its default model: a V2 inference, a `/prediction` where
 * the model takes rows (the default model is the one `/prediction` serves), and two requests it
 * refuses, one in its handler and one at the edge, as it refuses an overload. Then it takes
 * their counts out of the metrics, and readiness stops waiting for it. A replica whose default
 * model does not serve skips the warm-up: readiness says what is wrong with the model instead.
 */
@Injectable()
export class RequestPathWarmUp implements OnApplicationBootstrap {
  private readonly logger = new Logger(RequestPathWarmUp.name);
  private readonly requests: number;
  private readonly defaultModel: string;
  private done: boolean;
  private sent?: WarmUpSummary;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly registry: ModelRegistry,
    private readonly metrics: MetricsService,
    config: ConfigService<AllConfig, true>,
  ) {
    this.requests = config.getOrThrow('http.warmUpRequests', { infer: true });
    this.defaultModel = config.getOrThrow('model.defaultModel', { infer: true });
    this.done = this.requests === 0;
  }

  /** What the warm-up sent and got back, once it has run. */
  get summary(): WarmUpSummary | undefined {
    return this.sent;
  }

  /** Whether the warm-up has finished (or is off); readiness waits for it. */
  isDone(): boolean {
    return this.done;
  }

  /** What readiness says while it waits for the warm-up. */
  readinessProblem(): string | undefined {
    return this.done ? undefined : 'warming up the request path';
  }

  onApplicationBootstrap(): void {
    if (this.done) return;
    void this.run()
      .catch((error: unknown) => this.logger.warn(`the warm-up stopped: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => (this.done = true));
  }

  private async run(): Promise<void> {
    await this.registry.whenStarted();
    let description: VersionDescription;
    try {
      description = this.registry.resolve(this.defaultModel).description;
    } catch {
      return;
    }
    const requests = warmUpRequests(this.defaultModel, description);
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const started = performance.now();
    const answered: Record<number, number> = {};
    let sent = 0;
    while (sent < this.requests && performance.now() - started < WARM_UP_BUDGET_MS) {
      const response = await fastify.inject(requests[sent % requests.length]);
      answered[response.statusCode] = (answered[response.statusCode] ?? 0) + 1;
      sent++;
    }
    this.metrics.forgetCounts();
    this.sent = { requests: sent, statuses: answered, ms: Math.round(performance.now() - started) };
    const statuses = Object.entries(answered)
      .map(([status, count]) => `${count} × ${status}`)
      .join(', ');
    this.logger.log(`request path warmed up: ${sent} requests for model ${this.defaultModel} in ${this.sent.ms} ms (${statuses})`);
  }
}

/**
 * The requests that warm the path for a model: a V2 inference of the zeros the model's own
 * warm-up runs (`zeroInputs`), a `/prediction` of a row of zeros when the model takes one
 * `[batch, features]` input, a V2 inference naming an input the model does not have (400, from
 * the handler), and a GET of the inference route (405, from the edge before routing, the way
 * an overload's 429 is answered).
 */
export function warmUpRequests(model: string, description: VersionDescription): WarmUpRequest[] {
  const json = (url: string, body: unknown): WarmUpRequest => ({
    method: 'POST',
    url,
    payload: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  const inputs = Object.entries(zeroInputs(description.signature)).map(([name, tensor]) => ({
    name,
    shape: tensor.shape,
    datatype: datatypeOf(tensor.dtype),
    data: jsonValues(tensor, name),
  }));
  const infer = `/v2/models/${model}/infer`;
  const requests = [json(infer, { inputs })];
  const width = rowWidth(description);
  if (width !== undefined) requests.push(json('/prediction', { features: new Array<number>(width).fill(0) }));
  requests.push(json(infer, { inputs: inputs.map((input) => ({ ...input, name: `${input.name}_not_an_input` })) }));
  requests.push({ method: 'GET', url: infer });
  return requests;
}
