import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { LoadedModel } from '../src/model/loaded-model';
import { ModelLoader, TfjsModelLoader } from '../src/model/model-loader';
import { ModelRegistry } from '../src/model/model-registry';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { createTestApp, SHIPPED_MODELS, waitUntilReady } from './support/test-app';

const SETOSA = [5.1, 3.5, 1.4, 0.2];
const JSON_HEADERS = { 'content-type': 'application/json' };
/** Not JSON at all: a request that reaches its route is answered 400. */
const MALFORMED = '{"features": [5.1, 3.5,';
const VERSION = String(
  Math.max(
    ...readdirSync(join(SHIPPED_MODELS, 'iris'))
      .filter((name) => /^\d+$/.test(name))
      .map(Number),
  ),
);

/** The real loader, whose models' inferences wait while the test holds them. */
class HeldLoader extends ModelLoader {
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;

  constructor(private readonly inner: ModelLoader) {
    super();
  }

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
  }

  async load(directory: string): Promise<LoadedModel> {
    const model = await this.inner.load(directory);
    const infer = model.infer.bind(model);
    model.infer = async (inputs) => {
      await this.gate;
      return infer(inputs);
    };
    return model;
  }
}

/** Every inference route of the iris model, with the body each protocol takes. */
const ROUTES: [string, boolean, object][] = [
  ['/prediction', false, { features: SETOSA }],
  ['/models/iris/prediction', false, { features: SETOSA }],
  [`/models/iris/versions/${VERSION}/prediction`, false, { features: SETOSA }],
  ['/v2/models/iris/infer', true, { inputs: [{ name: 'standardize_input', shape: [1, 4], datatype: 'FP32', data: SETOSA }] }],
  [
    `/v2/models/iris/versions/${VERSION}/infer`,
    true,
    { inputs: [{ name: 'standardize_input', shape: [1, 4], datatype: 'FP32', data: SETOSA }] },
  ],
  ['/v1/models/iris:predict', true, { instances: [SETOSA] }],
  [`/v1/models/iris/versions/${VERSION}:predict`, true, { instances: [SETOSA] }],
];

describe('queue admission: a full queue refuses before the body is read (end to end, MAX_QUEUE_SIZE=1, batching off)', () => {
  let app: NestFastifyApplication;
  let loader: HeldLoader;

  beforeAll(async () => {
    app = await createTestApp({
      env: { MAX_QUEUE_SIZE: '1', BATCHING_ENABLED: 'false' },
      override: (builder) =>
        builder.overrideProvider(ModelLoader).useFactory({
          inject: [TfjsRuntime],
          factory: (runtime: TfjsRuntime) => (loader = new HeldLoader(new TfjsModelLoader(runtime))),
        }),
    });
    await waitUntilReady(app);
  });

  afterAll(async () => {
    loader.release();
    await app.close();
  });

  const post = (url: string, payload: unknown) =>
    app.inject({ method: 'POST', url, headers: JSON_HEADERS, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });
  const rejected = async (): Promise<number> => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text
      .split('\n')
      .find((l) => l.startsWith('inference_requests_total{') && l.includes('model="iris"') && l.includes('outcome="rejected"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };

  const gauge = async (name: string): Promise<number> => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('model="iris"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const until = async (done: () => Promise<boolean> | boolean, what: string): Promise<void> => {
    for (let i = 0; !(await done()); i++) {
      if (i > 500) throw new Error(`${what} never happened`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };

  /** One request running (held inside the model) and one waiting: the queue of 1 row is full. */
  async function fillQueue(): Promise<Promise<unknown>[]> {
    loader.hold();
    const running = post('/prediction', { features: SETOSA });
    await until(
      async () => (await gauge('inference_in_flight_requests')) === 1 && (await gauge('inference_queue_depth_rows')) === 0,
      'the first request running',
    );
    const waiting = post('/prediction', { features: SETOSA });
    const registry = app.get(ModelRegistry);
    await until(() => registry.resolve('iris').queueFull() !== undefined, 'the queue filling');
    return [running, waiting];
  }

  it('answers every inference route 429 with Retry-After at once, without parsing the body, and counts each as rejected', async () => {
    const before = await rejected();
    const held = await fillQueue();

    const responses = await Promise.all(ROUTES.map(([url]) => post(url, MALFORMED)));

    loader.release();
    const answered = await Promise.all(held);
    ROUTES.forEach(([url, protocol], i) => {
      const response = responses[i];
      expect({ url, status: response.statusCode }).toEqual({ url, status: 429 });
      expect(response.headers['retry-after']).toBe('1');
      const message = protocol ? response.json().error : response.json().message;
      expect(message).toMatch(/^the model's queue is full \(1 rows waiting, at most 1\); retry shortly$/);
    });
    expect(answered.map((r) => (r as { statusCode: number }).statusCode)).toEqual([200, 200]);
    expect((await rejected()) - before).toBe(ROUTES.length);
  });

  it('lets through, once the queue has room, the same requests: the malformed ones get 400 and the good ones 200', async () => {
    const malformed = await Promise.all(ROUTES.map(([url]) => post(url, MALFORMED)));
    // One at a time: the queue holds one row.
    const good = [];
    for (const [url, , body] of ROUTES) good.push(await post(url, body));

    expect(malformed.map((r) => r.statusCode)).toEqual(ROUTES.map(() => 400));
    expect(good.map((r) => r.statusCode)).toEqual(ROUTES.map(() => 200));
  });

  it('leaves requests for an unknown model, an unknown version or a GET to their routes while the queue is full', async () => {
    const held = await fillQueue();

    const [model, version, read] = await Promise.all([
      post('/v2/models/nothing/infer', ROUTES[3][2]),
      post('/v2/models/iris/versions/77/infer', ROUTES[3][2]),
      app.inject({ method: 'GET', url: '/v2/models/iris' }),
    ]);

    loader.release();
    await Promise.all(held);
    expect([model.statusCode, version.statusCode, read.statusCode]).toEqual([404, 404, 200]);
  });
});
