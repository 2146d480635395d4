import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import * as tf from '../src/model/tfjs';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { buildDenseLayersModel, saveLayersModel, writeBrokenModel, writeGraphModel, WrittenGraphModel } from './fixtures/model-builders';
import { createTestApp, SHIPPED_MODELS, waitUntilStarted } from './support/test-app';

const ADMIN_TOKEN = 'a-test-admin-token-0123456789';
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const FLOWER_LABELS = ['a', 'b', 'c'];
const FLOWER_FEATURES = ['f1', 'f2', 'f3', 'f4'];
const ROW = [0.5, -1, 2, 0.25];

function softmaxRow(row: number[], model: WrittenGraphModel): number[] {
  return tf.tidy(() => {
    const x = tf.tensor2d([row]);
    const w = tf.tensor2d(model.kernel, [model.inputWidth, model.units]);
    return Array.from(tf.softmax(tf.add(tf.matMul(x, w), tf.tensor1d(model.bias))).dataSync());
  });
}

async function writeFlowers(directory: string, seed: number): Promise<void> {
  const model = buildDenseLayersModel(tf, { inputWidth: 4, units: 3, seed });
  await saveLayersModel(tf, directory, model);
  model.dispose();
  await writeFile(join(directory, 'metadata.json'), JSON.stringify({ labels: FLOWER_LABELS, features: FLOWER_FEATURES }));
}

describe('the model repository and its management API (end to end, models built here)', () => {
  let app: NestFastifyApplication;
  let repository: string;
  let graph: WrittenGraphModel;

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(payload) });
  const get = (url: string) => app.inject({ method: 'GET', url });

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'repository-'));
    await cp(join(SHIPPED_MODELS, 'iris', '1'), join(repository, 'iris', '1'), { recursive: true });
    await writeFlowers(join(repository, 'flowers', '1'), 1);
    await writeFlowers(join(repository, 'flowers', '2'), 2);
    await writeFile(join(repository, 'flowers', 'config.json'), JSON.stringify({ version_policy: { all: {} } }));
    graph = await writeGraphModel(join(repository, 'graph', '1'));
    await writeGraphModel(join(repository, 'counts', '3'), { inputDtype: 'int32', inputName: 'counts' });
    await writeBrokenModel(join(repository, 'broken', '1'), 'missing-shard');
    await writeFlowers(join(repository, 'misconfigured', '1'), 3);
    await writeFile(join(repository, 'misconfigured', 'config.json'), JSON.stringify({ version_policy: { newest: 2 } }));
    await mkdir(join(repository, '.staging'));
    app = await createTestApp({ env: { MODEL_REPOSITORY: repository, ADMIN_TOKEN, MODEL_POLL_INTERVAL_MS: '0' } });
    await waitUntilStarted(app);
  });

  afterAll(async () => {
    await app.close();
    await rm(repository, { recursive: true, force: true });
  });

  describe('GET /models', () => {
    it('lists every model with its state, and each broken one with the reason', async () => {
      const response = await get('/models');

      expect(response.statusCode).toBe(200);
      const models = Object.fromEntries(response.json().models.map((m: { name: string }) => [m.name, m]));
      expect(Object.keys(models).sort()).toEqual(['broken', 'counts', 'flowers', 'graph', 'iris', 'misconfigured']);
      expect(models.flowers).toMatchObject({ state: 'AVAILABLE', versionPolicy: { kind: 'all' } });
      expect(models.flowers.versions.map((v: { version: number; state: string }) => [v.version, v.state])).toEqual([
        [1, 'AVAILABLE'],
        [2, 'AVAILABLE'],
      ]);
      expect(models.broken.state).toBe('UNAVAILABLE');
      expect(models.broken.reason).toMatch(/^version 1 is UNAVAILABLE: cannot read weight shard "group1-shard2of2.bin"/);
      expect(models.misconfigured).toMatchObject({ state: 'UNAVAILABLE', versions: [] });
      expect(models.misconfigured.reason).toContain('config.json: version_policy.newest is not a known setting');
    });

    it('stays ready while models it is not required to serve are broken, and lists them with the reason', async () => {
      const ready = await get('/health/ready');

      expect(ready.statusCode).toBe(200);
      const models = ready.json().info.models;
      expect(models.iris).toMatchObject({ state: 'AVAILABLE', required: true, versions: [1] });
      expect(models.broken).toMatchObject({ state: 'UNAVAILABLE', required: false, versions: [] });
      expect(models.broken.reason).toMatch(/^version 1 is UNAVAILABLE: cannot read weight shard/);
      expect(models.misconfigured).toMatchObject({ state: 'UNAVAILABLE', required: false });
      expect((await get('/v2/health/ready')).statusCode).toBe(200);
      expect((await get('/v2/models/broken/ready')).statusCode).toBe(404);
    });
  });

  describe('GET /models/{name}[/versions/{v}]', () => {
    it('describes a Graph model from its signature', async () => {
      const response = await get('/models/graph');

      expect(response.statusCode).toBe(200);
      expect(response.json().versions[0]).toMatchObject({
        version: 1,
        state: 'AVAILABLE',
        format: 'graph',
        inputs: [{ name: graph.inputName, dtype: 'float32', shape: [-1, 4] }],
        outputs: [{ name: graph.outputName, dtype: 'float32', shape: [-1, 3] }],
        loadMs: expect.any(Number),
        loadedAt: expect.any(String),
      });
    });

    it('describes one version with the labels and features of its metadata.json', async () => {
      const response = await get('/models/flowers/versions/2');

      expect(response.json()).toMatchObject({
        name: 'flowers',
        version: 2,
        format: 'layers',
        labels: FLOWER_LABELS,
        features: FLOWER_FEATURES,
      });
    });

    it.each([
      ['/models/nothing', 404, 'model "nothing" is not in the repository'],
      ['/models/flowers/versions/7', 404, 'model "flowers" has no version 7 being served'],
      ['/models/.hidden', 400, 'name: a model name has 1 to 64 letters'],
      ['/models/a.b', 400, 'name: a model name has 1 to 64 letters'],
      ['/models/flowers/versions/0', 400, 'version: a model version is a positive integer'],
      ['/models/flowers/versions/1e3', 400, 'version: a model version is a positive integer'],
      ['/models/%2e%2e%2fetc', 400, 'name: a model name has 1 to 64 letters'],
    ])('answers GET %s with %i', async (url, status, message) => {
      const response = await get(url);

      expect(response.statusCode).toBe(status);
      expect(response.json().message).toContain(message);
    });
  });

  describe('POST /models/{name}[/versions/{v}]/prediction', () => {
    it('predicts with the newest version, or the one named, in the /prediction shapes', async () => {
      const newest = await post('/models/flowers/prediction', { features: ROW });
      const first = await post('/models/flowers/versions/1/prediction', { instances: [ROW] });

      expect(newest.statusCode).toBe(200);
      expect(newest.json()).toMatchObject({ model: { name: 'flowers', version: '2' } });
      expect(FLOWER_LABELS).toContain(newest.json().prediction);
      expect(first.json()).toMatchObject({ model: { name: 'flowers', version: '1' } });
      expect(first.json().predictions[0].probabilities).not.toEqual(newest.json().probabilities);
    });

    it('answers the raw outputs of a model without labels', async () => {
      const response = await post('/models/graph/prediction', { features: ROW });

      const expected = softmaxRow(ROW, graph);
      const body = response.json();
      expect(body.prediction).toBe(expected.indexOf(Math.max(...expected)));
      body.outputs.forEach((value: number, i: number) => expect(value).toBeCloseTo(expected[i], 6));
      expect(body.probabilities).toBeUndefined();
    });

    it('feeds an int32 input with integers and refuses fractions for it', async () => {
      const good = await post('/models/counts/prediction', { features: [1, 2, 3, 4] });
      const bad = await post('/models/counts/prediction', { features: [1, 2.5, 3, 4] });

      expect(good.statusCode).toBe(200);
      expect(good.json().outputs).toHaveLength(3);
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toBe('features[1]: must be an int32 integer for this model');
    });

    it('checks rows against the model before running it, saying what it expects', async () => {
      const response = await post('/models/graph/prediction', { features: [1, 2] });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toBe('features: has 2 values; model "graph" takes 4');
    });

    it.each([
      ['/models/nothing/prediction', 404, 'model "nothing" is not in the repository'],
      ['/models/flowers/versions/9/prediction', 404, 'model "flowers" has no version 9 being served'],
      ['/models/broken/prediction', 404, 'model "broken" is UNAVAILABLE: version 1 is UNAVAILABLE'],
      ['/models/a..b/prediction', 400, 'name: a model name'],
    ])('answers POST %s with %i', async (url, status, message) => {
      const response = await post(url, { features: ROW });

      expect(response.statusCode).toBe(status);
      expect(response.json().message).toContain(message);
    });
  });

  describe('load, unload and reload', () => {
    it.each([
      [{}, 401, 'this route needs an "Authorization: Bearer <ADMIN_TOKEN>" header'],
      [{ authorization: 'Bearer wrong-token-wrong-token' }, 401, 'the bearer token is not valid'],
      [{ authorization: `Basic ${ADMIN_TOKEN}` }, 401, 'this route needs an "Authorization: Bearer <ADMIN_TOKEN>" header'],
    ])('refuses a request without the right bearer token (%j)', async (headers, status, message) => {
      const response = await post('/models/flowers/unload', {}, headers);

      expect(response.statusCode).toBe(status);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json().message).toBe(message);
    });

    it('unloads a model, freeing its weights, and loads it back', async () => {
      const runtime = app.get(TfjsRuntime);
      const unloaded = await post('/models/graph/unload', {}, AUTH);
      const before = runtime.memory();

      const loaded = await post('/models/graph/load', {}, AUTH);
      const served = await post('/models/graph/prediction', { features: ROW });
      const unloadedAgain = await post('/models/graph/unload', {}, AUTH);
      const after = runtime.memory();
      const refused = await post('/models/graph/prediction', { features: ROW });
      const reloaded = await post('/models/graph/load', {}, AUTH);

      expect(unloaded.json()).toMatchObject({ name: 'graph', state: 'UNLOADED', versions: [] });
      expect(loaded.json()).toMatchObject({ state: 'AVAILABLE', versions: [{ version: 1, state: 'AVAILABLE' }] });
      expect(served.statusCode).toBe(200);
      expect(unloadedAgain.statusCode).toBe(200);
      expect({ tensors: after.numTensors, bytes: after.numBytes }).toEqual({ tensors: before.numTensors, bytes: before.numBytes });
      expect(refused.statusCode).toBe(404);
      expect(refused.json().message).toBe('model "graph" is unloaded');
      expect(reloaded.statusCode).toBe(200);
    });

    it('reloads a model from disk, serving a fresh copy', async () => {
      const before = (await get('/models/flowers/versions/2')).json();

      const response = await post('/models/flowers/reload', {}, AUTH);

      expect(response.statusCode).toBe(200);
      const after = (await get('/models/flowers/versions/2')).json();
      expect(new Date(after.loadedAt).getTime()).toBeGreaterThanOrEqual(new Date(before.loadedAt).getTime());
      expect(after.loadedAt).not.toBe(before.loadedAt);
      expect((await post('/models/flowers/prediction', { features: ROW })).statusCode).toBe(200);
    });

    it('answers 422 with the reason when a model cannot load, and 404 for one not in the repository', async () => {
      const broken = await post('/models/broken/load', {}, AUTH);
      const missing = await post('/models/nothing/load', {}, AUTH);

      expect(broken.statusCode).toBe(422);
      expect(broken.json().message).toMatch(/^model "broken" could not load: version 1 is UNAVAILABLE: cannot read weight shard/);
      expect(missing.statusCode).toBe(404);
    });
  });
});

describe('model management without ADMIN_TOKEN', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await createTestApp({ env: { ADMIN_TOKEN: '' } });
    await waitUntilStarted(app);
  });

  afterAll(() => app.close());

  it.each(['load', 'unload', 'reload'])('turns POST /models/{name}/%s off with 403', async (action) => {
    const response = await app.inject({
      method: 'POST',
      url: `/models/iris/${action}`,
      headers: { authorization: 'Bearer anything-at-all-here' },
    });

    expect(response.statusCode).toBe(403);
    expect(response.json().message).toBe('model management is turned off: set ADMIN_TOKEN to turn it on');
  });

  it('still serves the probes, the listing and predictions without a token', async () => {
    const responses = await Promise.all([
      app.inject({ method: 'GET', url: '/health/ready' }),
      app.inject({ method: 'GET', url: '/models' }),
      app.inject({ method: 'POST', url: '/models/iris/prediction', payload: { features: [5.1, 3.5, 1.4, 0.2] } }),
    ]);

    expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200]);
  });
});
