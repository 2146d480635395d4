import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BoundCounter, BoundGauge, BoundHistogram, CounterChild, GaugeChild, HistogramChild } from './bound-metrics';

/** Latency buckets, in seconds: 0.5 ms to 10 s. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch sizes, in rows. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

const VERSION_LABELS = ['model', 'version'];
const HTTP_LABELS = ['route', 'method', 'status'];
const MODEL_STATES = ['AVAILABLE', 'LOADING', 'UNAVAILABLE', 'UNLOADED'] as const;

export type InferenceOutcome = 'success' | 'client_error' | 'rejected' | 'timed_out' | 'failed';

export interface VersionMetrics {
  success: CounterChild;
  outcome(outcome: InferenceOutcome): CounterChild;
  queueDuration: HistogramChild;
  computeDuration: HistogramChild;
  requestDuration: HistogramChild;
  batchSize: HistogramChild;
  queueDepth: GaugeChild;
  inFlight: GaugeChild;
}

/**
 * The process's Prometheus registry and every metric the service exports, named after
 * Prometheus conventions (base units, `_total` counters, `_seconds` durations).
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  private readonly httpRequests = new BoundCounter(
    this.registry,
    'http_requests_total',
    'HTTP requests answered, by route pattern, method and status code.',
    HTTP_LABELS,
  );

  private readonly httpDuration = new BoundHistogram(
    this.registry,
    'http_request_duration_seconds',
    'Time from a request arriving to its answer being sent.',
    HTTP_LABELS,
    LATENCY_BUCKETS,
  );

  private readonly inferenceRequests = new BoundCounter(
    this.registry,
    'inference_requests_total',
    'Inference requests by model, version and outcome (success, client_error, rejected, timed_out, failed).',
    [...VERSION_LABELS, 'outcome'],
  );

  private readonly queueDuration = new BoundHistogram(
    this.registry,
    'inference_queue_duration_seconds',
    "Time a request waited in its model version's queue before its batch ran.",
    VERSION_LABELS,
    LATENCY_BUCKETS,
  );

  private readonly computeDuration = new BoundHistogram(
    this.registry,
    'inference_compute_duration_seconds',
    'Time one batch took to run on the model.',
    VERSION_LABELS,
    LATENCY_BUCKETS,
  );

  private readonly requestDuration = new BoundHistogram(
    this.registry,
    'inference_request_duration_seconds',
    'Time from an inference request reaching its model version to its outputs (queue and compute).',
    VERSION_LABELS,
    LATENCY_BUCKETS,
  );

  private readonly batchSize = new BoundHistogram(
    this.registry,
    'inference_batch_size_rows',
    'Rows in each batch run on the model.',
    VERSION_LABELS,
    BATCH_BUCKETS,
  );

  private readonly queueDepth = new BoundGauge(
    this.registry,
    'inference_queue_depth_rows',
    "Rows waiting in a model version's queue.",
    VERSION_LABELS,
  );

  private readonly inFlight = new BoundGauge(
    this.registry,
    'inference_in_flight_requests',
    'Inference requests queued or running, per model version.',
    VERSION_LABELS,
  );

  readonly loadDuration = new Histogram({
    name: 'model_load_duration_seconds',
    help: 'Time to load and warm up a model version.',
    labelNames: ['model'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  readonly loadFailures = new Counter({
    name: 'model_load_failures_total',
    help: 'Model versions that failed to load.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  private readonly versionMetrics = new Map<string, VersionMetrics>();
  private readonly httpMetrics = new Map<string, { requests: CounterChild; duration: HistogramChild }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Zeroes the request and inference counts and durations (the series stay, at 0), for requests
   * that were not traffic: the start-up warm-up's. Gauges say how things are now and are left.
   */
  forgetCounts(): void {
    for (const metric of [
      this.httpRequests,
      this.httpDuration,
      this.inferenceRequests,
      this.queueDuration,
      this.computeDuration,
      this.requestDuration,
      this.batchSize,
    ]) {
      metric.reset();
    }
  }

  /** The metrics of one model version, bound to its labels once: they are updated several times per request. */
  forVersion(model: string, version: string): VersionMetrics {
    const key = `${model}\u0000${version}`;
    let bound = this.versionMetrics.get(key);
    if (!bound) {
      const labels = { model, version };
      const outcomes = new Map<InferenceOutcome, CounterChild>();
      bound = {
        success: this.inferenceRequests.labels({ ...labels, outcome: 'success' }),
        outcome: (outcome) => {
          let counter = outcomes.get(outcome);
          if (!counter) outcomes.set(outcome, (counter = this.inferenceRequests.labels({ ...labels, outcome })));
          return counter;
        },
        queueDuration: this.queueDuration.labels(labels),
        computeDuration: this.computeDuration.labels(labels),
        requestDuration: this.requestDuration.labels(labels),
        batchSize: this.batchSize.labels(labels),
        queueDepth: this.queueDepth.labels(labels),
        inFlight: this.inFlight.labels(labels),
      };
      this.versionMetrics.set(key, bound);
    }
    return bound;
  }

  /** Counts and times one HTTP answer. */
  observeHttp(route: string, method: string, status: number, seconds: number): void {
    const key = `${route} ${method} ${status}`;
    let bound = this.httpMetrics.get(key);
    if (!bound) {
      const labels = { route, method, status: String(status) };
      bound = { requests: this.httpRequests.labels(labels), duration: this.httpDuration.labels(labels) };
      this.httpMetrics.set(key, bound);
    }
    bound.requests.inc();
    bound.duration.observe(seconds);
  }

  /**
   * `model_state`: one series per model and state, 1 for the state the model is in, 0 for the
   * others; `required` says whether the replica's readiness waits for the model. Read from
   * `read` when Prometheus scrapes, so a broken model that readiness ignores still shows here.
   */
  trackModels(read: () => readonly { name: string; state: string; required: boolean }[]): void {
    new Gauge({
      name: 'model_state',
      help: 'Models by state (AVAILABLE, LOADING, UNAVAILABLE, UNLOADED): 1 for the state each model is in; required="true" for the models readiness waits for.',
      labelNames: ['model', 'state', 'required'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const model of read()) {
          for (const state of MODEL_STATES) {
            this.set({ model: model.name, state, required: String(model.required) }, model.state === state ? 1 : 0);
          }
        }
      },
    });
  }

  /** Adds a gauge whose value is read when Prometheus scrapes. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}
