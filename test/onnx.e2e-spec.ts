/**
 * ONNX models served as TF.js ones are, end to end: the repository (a TF.js model, the shipped
 * scikit-learn iris model, its ZipMap export, and every model the test builder makes, good and
 * bad), management, readiness, metrics, and every protocol. Expected values come from
 * scikit-learn (the iris rows) and numpy (the built models), and binary bodies are built and
 * read here with Buffer, not with the service's codec.
 */
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { LightMyRequestResponse } from 'fastify';
import type { HostTensor, NamedTensors, TensorDType } from '../src/model/model-types';
import { OnnxRuntime } from '../src/model/onnx/onnx-runtime';
import {
  BuiltOnnxModel,
  buildOnnxModels,
  HEAVY_KIND,
  HEAVY_WIDTH,
  IRIS_SKLEARN_VERSION,
  readIrisExpectations,
  REFUSED_KINDS,
  RUNNABLE_KINDS,
  writeZipMapVersion,
} from './fixtures/onnx-models';
import { onnxPythonAvailable } from './support/onnx-python';
import { createTestApp, SHIPPED_MODELS, waitUntilStarted } from './support/test-app';

const ADMIN_TOKEN = 'a-test-admin-token-0123456789';
const IRIS_LABELS = ['setosa', 'versicolor', 'virginica'];
const IRIS_FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
/** ONNX Runtime computes in float32 where scikit-learn computes in float64. */
const PROBABILITY_TOLERANCE = 1e-5;
/** float32 outputs against numpy's float32 or float64 arithmetic. */
const FLOAT_TOLERANCE = 1e-5;
const BINARY_HEADER = 'inference-header-content-length';

/** The protocol's datatype names, written out here rather than taken from the service. */
const DATATYPES: Record<Exclude<TensorDType, 'complex64'>, string> = {
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
};

const describeWithOnnxPython = onnxPythonAvailable() ? describe : describe.skip;

/** A tensor's bytes in the binary tensor data extension's form (little-endian; BYTES length-prefixed). */
function bytesOf(tensor: HostTensor): Buffer {
  if (tensor.dtype === 'string') {
    return Buffer.concat(
      (tensor.data as string[]).flatMap((text) => {
        const bytes = Buffer.from(text, 'utf8');
        const length = Buffer.alloc(4);
        length.writeUInt32LE(bytes.length);
        return [length, bytes];
      }),
    );
  }
  const data = tensor.data as Uint8Array;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Reads one output's bytes back into the array type its datatype names. */
function fromBytes(datatype: string, bytes: Buffer): ArrayLike<unknown> {
  const aligned = new Uint8Array(bytes).buffer;
  switch (datatype) {
    case 'BYTES': {
      const strings: string[] = [];
      for (let offset = 0; offset < bytes.length;) {
        const length = bytes.readUInt32LE(offset);
        strings.push(bytes.subarray(offset + 4, offset + 4 + length).toString('utf8'));
        offset += 4 + length;
      }
      return strings;
    }
    case 'FP16':
    case 'UINT16':
      return new Uint16Array(aligned);
    case 'FP32':
      return new Float32Array(aligned);
    case 'FP64':
      return new Float64Array(aligned);
    case 'INT8':
      return new Int8Array(aligned);
    case 'INT16':
      return new Int16Array(aligned);
    case 'INT32':
      return new Int32Array(aligned);
    case 'INT64':
      return new BigInt64Array(aligned);
    case 'UINT32':
      return new Uint32Array(aligned);
    case 'UINT64':
      return new BigUint64Array(aligned);
    default:
      return new Uint8Array(aligned);
  }
}

/** A V2 request with every input in binary form and every output asked for in binary form. */
function binaryRequest(inputs: NamedTensors): { payload: Buffer; headers: Record<string, string> } {
  const parts = Object.entries(inputs).map(([name, tensor]) => ({ name, tensor, bytes: bytesOf(tensor) }));
  const header = Buffer.from(
    JSON.stringify({
      inputs: parts.map(({ name, tensor, bytes }) => ({
        name,
        shape: tensor.shape,
        datatype: DATATYPES[tensor.dtype as keyof typeof DATATYPES],
        parameters: { binary_data_size: bytes.length },
      })),
      parameters: { binary_data_output: true },
    }),
  );
  return {
    payload: Buffer.concat([header, ...parts.map((p) => p.bytes)]),
    headers: { 'content-type': 'application/octet-stream', [BINARY_HEADER]: String(header.length) },
  };
}

interface DecodedOutput {
  datatype: string;
  shape: number[];
  values: ArrayLike<unknown>;
}

/** The outputs of a binary V2 answer, each read from its bytes after the JSON header. */
function binaryOutputs(response: LightMyRequestResponse): Record<string, DecodedOutput> {
  const body = response.rawPayload;
  const headerLength = Number(response.headers[BINARY_HEADER]);
  const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as {
    outputs: { name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }[];
  };
  const outputs: Record<string, DecodedOutput> = {};
  let offset = headerLength;
  for (const output of header.outputs) {
    const size = output.parameters.binary_data_size;
    outputs[output.name] = {
      datatype: output.datatype,
      shape: output.shape,
      values: fromBytes(output.datatype, body.subarray(offset, offset + size)),
    };
    offset += size;
  }
  expect(offset).toBe(body.length);
  return outputs;
}

/** Exact for integers, bools, strings and float16 bits; within FLOAT_TOLERANCE for float32 and float64. */
function expectValues(actual: ArrayLike<unknown>, expected: HostTensor, where: string): void {
  const got = Array.from(actual);
  const want = Array.from(expected.data as ArrayLike<unknown>);
  expect({ where, length: got.length }).toEqual({ where, length: want.length });
  if (expected.dtype === 'float32' || expected.dtype === 'float64') {
    const far = want
      .map((v, i) => ({ i, got: got[i], want: v }))
      .filter((e) => !(Math.abs((e.got as number) - (e.want as number)) <= FLOAT_TOLERANCE));
    expect({ where, far }).toEqual({ where, far: [] });
  } else {
    expect({ where, values: got }).toEqual({ where, values: want });
  }
}

/** Sample values as JSON can carry them (bools as booleans), or null where it cannot (float16 bits, 64-bit values past 2^53). */
function jsonData(tensor: HostTensor): unknown[] | null {
  if (tensor.dtype === 'float16') return null;
  const values = Array.from(tensor.data as ArrayLike<unknown>);
  if (tensor.dtype === 'bool') return values.map((v) => v !== 0);
  if (typeof values[0] === 'bigint') {
    return values.every((v) => (v as bigint) <= BigInt(Number.MAX_SAFE_INTEGER) && (v as bigint) >= -BigInt(Number.MAX_SAFE_INTEGER))
      ? values.map(Number)
      : null;
  }
  return values;
}

describe('ONNX models, served like TF.js ones (end to end)', () => {
  let app: NestFastifyApplication;
  let repository: string;
  let builtDir: string;
  let built: Partial<Record<(typeof RUNNABLE_KINDS)[number] | (typeof REFUSED_KINDS)[number], BuiltOnnxModel>> = {};
  const python = onnxPythonAvailable();

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(payload) });
  const get = (url: string) => app.inject({ method: 'GET', url });

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'onnx-e2e-'));
    builtDir = await mkdtemp(join(tmpdir(), 'onnx-e2e-built-'));
    await cp(join(SHIPPED_MODELS, 'iris', '1'), join(repository, 'iris', '1'), { recursive: true });
    await cp(IRIS_SKLEARN_VERSION, join(repository, 'iris-sklearn', '1'), { recursive: true });
    // Its newest version is skl2onnx's default export, whose probabilities come through a ZipMap.
    await cp(IRIS_SKLEARN_VERSION, join(repository, 'zipmap', '1'), { recursive: true });
    await writeZipMapVersion(join(repository, 'zipmap', '2'));
    // A version folder holding a model of each runtime.
    await cp(join(SHIPPED_MODELS, 'iris', '1'), join(repository, 'both', '1'), { recursive: true });
    await cp(join(IRIS_SKLEARN_VERSION, 'model.onnx'), join(repository, 'both', '1', 'model.onnx'));
    if (python) {
      built = buildOnnxModels(builtDir, [...RUNNABLE_KINDS, ...REFUSED_KINDS]);
      for (const [kind, model] of Object.entries(built)) {
        await mkdir(join(repository, kind));
        await cp(model.directory, join(repository, kind, '1'), { recursive: true });
      }
    }
    app = await createTestApp({
      env: {
        MODEL_REPOSITORY: repository,
        ADMIN_TOKEN,
        MODEL_POLL_INTERVAL_MS: '0',
        REQUIRED_MODELS: 'iris,iris-sklearn',
        MAX_QUEUE_DELAY_MS: '5',
        // Run from TypeScript, each session's worker thread compiles its entry with ts-node (about
        // a second each, for some forty models); sessions in worker threads are tested against the
        // built service (onnx-*.process-spec.ts) and in onnx-model.spec.ts.
        ONNX_EXECUTION: 'event-loop',
      },
    });
    await waitUntilStarted(app, 60_000);
  }, 120_000);

  afterAll(async () => {
    await app.close();
    await rm(repository, { recursive: true, force: true });
    await rm(builtDir, { recursive: true, force: true });
  });

  describe("the tutorial's scikit-learn classifier (models/iris-sklearn)", () => {
    it("answers /prediction with scikit-learn's predict and predict_proba on all 150 iris rows", async () => {
      const expected = readIrisExpectations();

      const response = await post('/models/iris-sklearn/prediction', { instances: expected.rows });

      expect(response.statusCode).toBe(200);
      const { predictions, model } = response.json();
      expect(model).toEqual({ name: 'iris-sklearn', version: '1' });
      expect(predictions.map((p: { prediction: string }) => p.prediction)).toEqual(expected.predict.map((i) => IRIS_LABELS[i]));
      const far: string[] = [];
      predictions.forEach((p: { probabilities: Record<string, number> }, r: number) =>
        IRIS_LABELS.forEach((label, c) => {
          if (!(Math.abs(p.probabilities[label] - expected.predict_proba[r][c]) <= PROBABILITY_TOLERANCE)) far.push(`row ${r} ${label}`);
        }),
      );
      expect(far).toEqual([]);
    });

    it('answers one row, given by feature name, with the species and one probability per label', async () => {
      const expected = readIrisExpectations();
      const row = Object.fromEntries(IRIS_FEATURES.map((name, i) => [name, expected.rows[0][i]]));

      const body = (await post('/models/iris-sklearn/prediction', { features: row })).json();

      expect(Object.keys(body)).toEqual(['prediction', 'probabilities', 'model']);
      expect(body.prediction).toBe('setosa');
      expect(Object.keys(body.probabilities)).toEqual(IRIS_LABELS);
      IRIS_LABELS.forEach((label, c) =>
        expect(Math.abs(body.probabilities[label] - expected.predict_proba[0][c])).toBeLessThanOrEqual(PROBABILITY_TOLERANCE),
      );
    });

    it.each([false, true])(
      'answers V2 (binary outputs: %s) with the label scikit-learn predicts and its probabilities, all 150 rows',
      async (binary) => {
        const expected = readIrisExpectations();
        const input = { name: 'float_input', shape: [expected.rows.length, 4], datatype: 'FP32', data: expected.rows.flat() };

        const response = await post('/v2/models/iris-sklearn/infer', {
          inputs: [input],
          ...(binary ? { parameters: { binary_data_output: true } } : {}),
        });

        expect(response.statusCode).toBe(200);
        let labels: unknown[];
        let probabilities: number[];
        if (binary) {
          const outputs = binaryOutputs(response);
          expect(outputs.output_label).toMatchObject({ datatype: 'INT64', shape: [150] });
          labels = Array.from(outputs.output_label.values as BigInt64Array, Number);
          probabilities = Array.from(outputs.output_probability.values as Float32Array);
        } else {
          const outputs = response.json().outputs as { name: string; datatype: string; shape: number[]; data: number[] }[];
          expect(outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape }))).toEqual([
            { name: 'output_label', datatype: 'INT64', shape: [150] },
            { name: 'output_probability', datatype: 'FP32', shape: [150, 3] },
          ]);
          labels = outputs[0].data;
          probabilities = outputs[1].data;
        }
        expect(labels).toEqual(expected.predict);
        expect(expected.predict_proba.flat().filter((p, i) => !(Math.abs(probabilities[i] - p) <= PROBABILITY_TOLERANCE))).toEqual([]);
      },
    );

    it("answers V1 :predict and :classify with the model's outputs and the labels' probabilities", async () => {
      const expected = readIrisExpectations();

      const predicted = (await post('/v1/models/iris-sklearn:predict', { instances: expected.rows.slice(0, 2) })).json();
      const classified = (
        await post('/v1/models/iris-sklearn:classify', {
          examples: [Object.fromEntries(IRIS_FEATURES.map((f, i) => [f, expected.rows[100][i]]))],
        })
      ).json();

      expect(predicted.predictions.map((p: { output_label: number }) => p.output_label)).toEqual(expected.predict.slice(0, 2));
      expect(predicted.predictions[1].output_probability).toHaveLength(3);
      expect(classified.result[0].map(([label]: [string, number]) => label)).toEqual(IRIS_LABELS);
      classified.result[0].forEach(([, p]: [string, number], c: number) =>
        expect(Math.abs(p - expected.predict_proba[100][c])).toBeLessThanOrEqual(PROBABILITY_TOLERANCE),
      );
    });

    it('describes itself in every protocol: platform onnxruntime_onnx, element types, symbolic dimensions as -1', async () => {
      const v2 = (await get('/v2/models/iris-sklearn')).json();
      const v1 = (await get('/v1/models/iris-sklearn/metadata')).json();
      const managed = (await get('/models/iris-sklearn/versions/1')).json();

      expect(v2).toEqual({
        name: 'iris-sklearn',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'float_input', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [
          { name: 'output_label', datatype: 'INT64', shape: [-1] },
          { name: 'output_probability', datatype: 'FP32', shape: [-1, 3] },
        ],
      });
      const signature = v1.metadata.signature_def.signature_def.serving_default;
      expect(signature.inputs.float_input.dtype).toBe('DT_FLOAT');
      expect(signature.outputs.output_label).toMatchObject({
        dtype: 'DT_INT64',
        tensor_shape: { dim: [{ size: '-1', name: '' }], unknown_rank: false },
      });
      expect(managed).toMatchObject({ state: 'AVAILABLE', format: 'onnx', labels: IRIS_LABELS, features: IRIS_FEATURES });
      expect(managed.outputs).toEqual([
        { name: 'output_label', dtype: 'int64', shape: [-1] },
        { name: 'output_probability', dtype: 'float32', shape: [-1, 3] },
      ]);
    });
  });

  describe('the repository', () => {
    it("refuses skl2onnx's ZipMap export with the reason and how to export without it, serving the version before it", async () => {
      const model = (await get('/models/zipmap')).json();
      const infer = await post('/v2/models/zipmap/infer', {
        inputs: [{ name: 'float_input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
      });
      const version2 = await get('/v2/models/zipmap/versions/2/ready');

      expect(model.state).toBe('AVAILABLE');
      expect(model.versions.map((v: { version: number; state: string }) => [v.version, v.state])).toEqual([
        [1, 'AVAILABLE'],
        [2, 'UNAVAILABLE'],
      ]);
      expect(model.versions[1].reason).toMatch(
        /^output "output_probability" is not a tensor .*ZipMap.*to_onnx\(model, X, options=\{"zipmap": False\}\)/,
      );
      expect(infer.statusCode).toBe(200);
      expect(infer.json().model_version).toBe('1');
      expect(version2.statusCode).toBe(404);
      expect(version2.json().error).toMatch(/version 2 is UNAVAILABLE: output "output_probability" is not a tensor/);
    });

    it('refuses a version folder holding both a model.json and a model.onnx, saying so', async () => {
      const model = (await get('/models/both')).json();

      expect(model.state).toBe('UNAVAILABLE');
      expect(model.versions[0].reason).toBe(
        'the folder holds both model.json (TF.js) and model.onnx (ONNX); a version folder holds one model: remove the other file',
      );
    });

    it('is ready, with a TF.js and an ONNX model required, while broken models beside them are listed with their reasons', async () => {
      const ready = await get('/health/ready');
      const models = (await get('/models')).json().models as { name: string; state: string }[];

      expect(ready.statusCode).toBe(200);
      expect(models.find((m) => m.name === 'iris')?.state).toBe('AVAILABLE');
      expect(models.find((m) => m.name === 'iris-sklearn')?.state).toBe('AVAILABLE');
      expect(models.find((m) => m.name === 'both')?.state).toBe('UNAVAILABLE');
    });

    it('counts ONNX inferences per model version in the metrics, and the sessions open', async () => {
      await post('/models/iris-sklearn/prediction', { features: [5.1, 3.5, 1.4, 0.2] });
      const metrics = (await get('/metrics')).body;
      const available = ((await get('/models')).json().models as { versions: { state: string }[] }[])
        .flatMap((m) => m.versions)
        .filter((v) => v.state === 'AVAILABLE');

      expect(metrics).toMatch(/^inference_requests_total\{model="iris-sklearn",version="1",outcome="success"\} [1-9]/m);
      expect(metrics).toMatch(/^inference_batch_size_rows_count\{model="iris-sklearn",version="1"\} [1-9]/m);
      // Every available version but the TF.js iris holds one session.
      expect(metrics).toMatch(new RegExp(`^onnx_sessions ${available.length - 1}$`, 'm'));
      expect(app.get(OnnxRuntime).openSessions).toBe(available.length - 1);
    });
  });

  describe('management', () => {
    const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };

    it('unloads an ONNX model, releasing its session, and loads it back', async () => {
      const runtime = app.get(OnnxRuntime);
      const before = runtime.openSessions;

      const unloaded = await post('/models/iris-sklearn/unload', {}, AUTH);
      const whileUnloaded = runtime.openSessions;
      const refused = await post('/models/iris-sklearn/prediction', { features: [5.1, 3.5, 1.4, 0.2] });
      const loaded = await post('/models/iris-sklearn/load', {}, AUTH);
      const served = await post('/models/iris-sklearn/prediction', { features: [5.1, 3.5, 1.4, 0.2] });

      expect(unloaded.json()).toMatchObject({ name: 'iris-sklearn', state: 'UNLOADED', versions: [] });
      expect(whileUnloaded).toBe(before - 1);
      // iris-sklearn is required here (REQUIRED_MODELS): unloaded, the replica is not ready.
      expect(refused.statusCode).toBe(503);
      expect(loaded.json()).toMatchObject({ state: 'AVAILABLE', versions: [{ version: 1, state: 'AVAILABLE', format: 'onnx' }] });
      expect(runtime.openSessions).toBe(before);
      expect(served.json().prediction).toBe('setosa');
    });
  });

  describeWithOnnxPython('models built by the test builder', () => {
    const REASONS: Record<(typeof REFUSED_KINDS)[number], RegExp> = {
      corrupt: /^ONNX Runtime cannot load model\.onnx: Protobuf parsing failed\.$/,
      truncated: /^ONNX Runtime cannot load model\.onnx: Protobuf parsing failed\.$/,
      empty: /^model\.onnx is empty$/,
      'unsupported-operator': /^ONNX Runtime cannot load model\.onnx: .*No Op registered for NoSuchOperator/,
      'unsupported-opset': /^ONNX Runtime cannot load model\.onnx: .*Opset 99 is under development/,
      'sequence-output': /^output "pieces" is not a tensor but a sequence or a map/,
      'sequence-input': /^input "pieces" is not a tensor but a sequence or a map, which no protocol can send$/,
    };

    it.each(REFUSED_KINDS)('makes %s UNAVAILABLE with the reason, and answers its requests 404 saying why', async (kind) => {
      const model = (await get(`/models/${kind}`)).json();
      const infer = await post(`/v2/models/${kind}/infer`, {
        inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
      });

      expect(model.versions).toEqual([
        expect.objectContaining({ version: 1, state: 'UNAVAILABLE', reason: expect.stringMatching(REASONS[kind]) }),
      ]);
      expect(infer.statusCode).toBe(404);
      expect(infer.json().error).toMatch(/is UNAVAILABLE/);
    });

    /** Models whose samples JSON cannot carry: float16 bits, 64-bit integers past 2^53 (onnx_models.py). */
    const NOT_JSON_SAMPLES: readonly string[] = ['dtype-float16', 'int64', 'dtype-int64', 'dtype-uint64'];

    it.each(RUNNABLE_KINDS)(
      'answers %s in V2 binary form with the outputs numpy computes, exactly for every non-float type',
      async (kind) => {
        const model = built[kind]!;

        const response = await app.inject({ method: 'POST', url: `/v2/models/${kind}/infer`, ...binaryRequest(model.samples!) });

        expect(response.statusCode).toBe(200);
        const outputs = binaryOutputs(response);
        expect(Object.keys(outputs)).toEqual(Object.keys(model.expected!));
        for (const [name, expected] of Object.entries(model.expected!)) {
          expect({ name, datatype: outputs[name].datatype, shape: outputs[name].shape }).toEqual({
            name,
            datatype: DATATYPES[expected.dtype as keyof typeof DATATYPES],
            shape: expected.shape,
          });
          expectValues(outputs[name].values, expected, `${kind}.${name}`);
        }
      },
    );

    it.each(RUNNABLE_KINDS.filter((kind) => !NOT_JSON_SAMPLES.includes(kind)))(
      'answers %s in V2 JSON with the outputs numpy computes',
      async (kind) => {
        const model = built[kind]!;
        const inputs = Object.entries(model.samples!).map(([name, t]) => ({
          name,
          shape: t.shape,
          datatype: DATATYPES[t.dtype as keyof typeof DATATYPES],
          data: jsonData(t),
        }));
        expect(inputs.filter((input) => input.data === null)).toEqual([]);

        const response = await post(`/v2/models/${kind}/infer`, { inputs });

        expect(response.statusCode).toBe(200);
        for (const output of response.json().outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]) {
          const expected = model.expected![output.name];
          expect(output.shape).toEqual(expected.shape);
          const values =
            expected.dtype === 'bool'
              ? output.data.map((v) => (v ? 1 : 0))
              : expected.dtype.endsWith('int64')
                ? output.data.map((v) => BigInt(v as number))
                : output.data;
          expectValues(values, expected, `${kind}.${output.name}`);
        }
      },
    );

    it('takes float16 values as JSON numbers and answers them as numbers, each rounded to a half', async () => {
      // Halves exactly: doubling them is exact too.
      const x = [0.5, -1.25, 3, 1024, 0.25, 6.5];

      const response = await post('/v2/models/dtype-float16/infer', { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP16', data: x }] });

      expect(response.json().outputs[0]).toEqual({ name: 'y', shape: [2, 3], datatype: 'FP16', data: x.map((v) => 2 * v) });
    });

    it('refuses int64 values past 2^53 as JSON numbers, in and out, naming the element and the way (binary form, exact, as the int64 model above shows)', async () => {
      const counts = built.int64!.samples!.counts;
      const json = await post('/v2/models/int64/infer', {
        inputs: [{ name: 'counts', shape: [1, 3], datatype: 'INT64', data: [2 ** 53, 1, 2] }],
      });
      // 2^53 + 1 in, plus the model's step of 1: 2^53 + 2 out (onnx_models.py, int64_model).
      const binaryInJsonOut = await app.inject({
        method: 'POST',
        url: '/v2/models/int64/infer',
        ...(() => {
          const bytes = bytesOf(counts);
          const header = Buffer.from(
            JSON.stringify({
              inputs: [{ name: 'counts', shape: counts.shape, datatype: 'INT64', parameters: { binary_data_size: bytes.length } }],
            }),
          );
          return {
            payload: Buffer.concat([header, bytes]),
            headers: { 'content-type': 'application/octet-stream', [BINARY_HEADER]: String(header.length) },
          };
        })(),
      });

      expect(json.statusCode).toBe(400);
      expect(json.json().error).toBe(
        'inputs[0].data[0]: must be within ±9007199254740991 (2^53 - 1) as a JSON number, got 9007199254740992; send int64 values beyond it in binary form',
      );
      expect(binaryInJsonOut.statusCode).toBe(400);
      expect(binaryInJsonOut.json().error).toMatch(
        /^output "shifted" holds 9007199254740994, beyond ±9007199254740991 .*ask for it in binary form/,
      );
    });

    it('answers V1 :predict on string and several-input models, row and columnar', async () => {
      const words = await post('/v1/models/string:predict', { instances: ['virginica', 'daisy', 'setosa'] });
      const pair = await post('/v1/models/multi-io:predict', { inputs: { a: [[0.5, -1.25]], b: [[2, 0.125]] } });

      expect(words.json()).toEqual({
        predictions: [
          { ids: 2, echo: 'virginica' },
          { ids: -1, echo: 'daisy' },
          { ids: 0, echo: 'setosa' },
        ],
      });
      expect(pair.json()).toEqual({ outputs: { product: [[1, -0.15625]], sum: [[2.5, -1.125]] } });
    });

    it('answers /prediction on an ONNX network without labels with the index of its largest output and the outputs', async () => {
      const x = Array.from(built.mlp!.samples!.x.data as Float32Array).slice(0, 8);
      const expected = Array.from(built.mlp!.expected!.probs.data as Float32Array).slice(0, 3);

      const body = (await post('/models/mlp/prediction', { features: x })).json();

      expect(body.prediction).toBe(expected.indexOf(Math.max(...expected)));
      expected.forEach((p, i) => expect(Math.abs(body.outputs[i] - p)).toBeLessThanOrEqual(FLOAT_TOLERANCE));
    });

    it.each<[string, string, unknown, RegExp]>([
      [
        'a wrong datatype',
        'int64',
        { inputs: [{ name: 'counts', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
        /^inputs\[0\]\.datatype: FP32 cannot feed input "counts", which takes INT64 \(or INT32, /,
      ],
      [
        'a wrong shape',
        'mlp',
        { inputs: [{ name: 'x', shape: [1, 7], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7] }] },
        /^x: has shape \[1,7\]; the model expects \[-1,8\]/,
      ],
      [
        'a wrong name',
        'mlp',
        { inputs: [{ name: 'y', shape: [1, 8], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] },
        /^inputs\[0\]\.name: "y" is not an input of model "mlp"; its inputs are x$/,
      ],
      ['a missing input', 'multi-io', { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }, /^b: is missing$/],
      [
        'a batch of two for a fixed batch of one',
        'fixed-batch',
        { inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] },
        /the model expects \[1,4\]/,
      ],
      [
        'a value past an int8 input',
        'dtype-int8',
        { inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT8', data: [1, 2, 128] }] },
        /^inputs\[0\]\.data\[2\]: must be within \[-128, 127\], got 128$/,
      ],
      [
        'a number for a string input',
        'string',
        { inputs: [{ name: 'words', shape: [1], datatype: 'BYTES', data: [7] }] },
        /^inputs\[0\]\.data\[0\]: must be a string, got a number$/,
      ],
      [
        'a row index the model cannot take',
        'gather',
        { inputs: [{ name: 'rows', shape: [2], datatype: 'INT64', data: [0, 5] }] },
        /^the model cannot run on these inputs: .*Gather/,
      ],
    ])('answers %s with 400 naming it', async (_case, model, body, message) => {
      const response = await post(`/v2/models/${model}/infer`, body);

      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatch(message);
    });

    it('merges concurrent requests to a model with a symbolic batch dimension; runs a fixed one unbatched; a bad row fails only its request', async () => {
      const metricsOf = async (model: string) => {
        const text = (await get('/metrics')).body;
        const read = (suffix: string) =>
          Number(new RegExp(`^inference_batch_size_rows_${suffix}\\{model="${model}",version="1"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
        return { batches: read('count'), rows: read('sum') };
      };
      const mlpBefore = await metricsOf('mlp');
      const fixedBefore = await metricsOf('fixed-batch');
      const row = Array.from(built.mlp!.samples!.x.data as Float32Array).slice(0, 8);
      const REQUESTS = 32;

      const answers = await Promise.all([
        ...Array.from({ length: REQUESTS }, () =>
          post('/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [1, 8], datatype: 'FP32', data: row }] }),
        ),
        ...Array.from({ length: 8 }, () =>
          post('/v2/models/fixed-batch/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
        ),
        ...Array.from({ length: 8 }, (_, i) =>
          post('/v2/models/gather/infer', { inputs: [{ name: 'rows', shape: [1], datatype: 'INT64', data: [i === 3 ? 9 : i % 3] }] }),
        ),
      ]);
      const mlpAfter = await metricsOf('mlp');
      const fixedAfter = await metricsOf('fixed-batch');

      expect(answers.slice(0, REQUESTS + 8).every((a) => a.statusCode === 200)).toBe(true);
      expect(answers.slice(REQUESTS + 8).map((a) => a.statusCode)).toEqual([200, 200, 200, 400, 200, 200, 200, 200]);
      expect(mlpAfter.rows - mlpBefore.rows).toBe(REQUESTS);
      expect(mlpAfter.batches - mlpBefore.batches).toBeLessThan(REQUESTS);
      expect(fixedAfter.batches - fixedBefore.batches).toBe(8);
      expect(fixedAfter.rows - fixedBefore.rows).toBe(8);
    });
  });
});

describe('a repository without ONNX models', () => {
  it('never loads onnxruntime-node, even with sessions on the event loop', async () => {
    const repository = await mkdtemp(join(tmpdir(), 'tfjs-only-'));
    await cp(join(SHIPPED_MODELS, 'iris', '1'), join(repository, 'iris', '1'), { recursive: true });
    const app = await createTestApp({ env: { MODEL_REPOSITORY: repository, MODEL_POLL_INTERVAL_MS: '0', ONNX_EXECUTION: 'event-loop' } });
    try {
      await waitUntilStarted(app);
      const served = await app.inject({ method: 'POST', url: '/prediction', payload: { features: [5.1, 3.5, 1.4, 0.2] } });

      expect(served.statusCode).toBe(200);
      expect(app.get(OnnxRuntime).moduleLoaded).toBe(false);
      expect(app.get(OnnxRuntime).openSessions).toBe(0);
    } finally {
      await app.close();
      await rm(repository, { recursive: true, force: true });
    }
  });
});

describeWithOnnxPython('overload and deadlines on an ONNX model (end to end)', () => {
  const QUEUE_ROWS = 8;
  const TIMEOUT_MS = 100;
  /** Rows of the long request: some 4 GFLOP, far longer than TIMEOUT_MS on one thread. */
  const LONG_ROWS = 512;
  const WAITING = 20;
  let app: NestFastifyApplication;
  let repository: string;
  let builtDir: string;

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'onnx-overload-'));
    builtDir = await mkdtemp(join(tmpdir(), 'onnx-overload-built-'));
    const { heavy } = buildOnnxModels(builtDir, [HEAVY_KIND]);
    await cp(heavy.directory, join(repository, HEAVY_KIND, '1'), { recursive: true });
    app = await createTestApp({
      env: {
        MODEL_REPOSITORY: repository,
        DEFAULT_MODEL: HEAVY_KIND,
        MODEL_POLL_INTERVAL_MS: '0',
        MAX_QUEUE_SIZE: String(QUEUE_ROWS),
        MAX_BATCH_SIZE: String(QUEUE_ROWS),
        REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
        MAX_QUEUE_DELAY_MS: '0',
        BODY_LIMIT_BYTES: String(8 * 1024 * 1024),
        REQUIRED_MODELS: HEAVY_KIND,
        // In a worker thread, the long inference leaves the event loop free to take the others.
        ONNX_EXECUTION: 'worker',
      },
    });
    await waitUntilStarted(app, 60_000);
  }, 120_000);

  afterAll(async () => {
    await app.close();
    await rm(repository, { recursive: true, force: true });
    await rm(builtDir, { recursive: true, force: true });
  });

  it('refuses what does not fit in the queue with 429 and Retry-After, and answers 504 for what waits past its deadline, counting both', async () => {
    const rows = (n: number): NamedTensors => ({
      x: { dtype: 'float32', shape: [n, HEAVY_WIDTH], data: new Float32Array(n * HEAVY_WIDTH).fill(0.01) },
    });
    const metric = async (name: string, labels: string) =>
      Number(
        new RegExp(`^${name}\\{model="${HEAVY_KIND}",version="1"${labels}\\} (\\d+)$`, 'm').exec(
          (await app.inject({ method: 'GET', url: '/metrics' })).body,
        )?.[1] ?? 0,
      );
    const outcome = (name: string) => metric('inference_requests_total', `,outcome="${name}"`);

    const long = app.inject({ method: 'POST', url: `/v2/models/${HEAVY_KIND}/infer`, ...binaryRequest(rows(LONG_ROWS)) });
    // Once the long request has left the queue for the model, every one-row request waits behind it.
    const deadline = Date.now() + 10_000;
    while ((await metric('inference_in_flight_requests', '')) !== 1 || (await metric('inference_queue_depth_rows', '')) !== 0) {
      if (Date.now() > deadline) throw new Error('the long request was never seen running');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const waiting = await Promise.all(
      Array.from({ length: WAITING }, () =>
        app.inject({ method: 'POST', url: `/v2/models/${HEAVY_KIND}/infer`, ...binaryRequest(rows(1)) }),
      ),
    );
    const statuses = waiting.map((r) => r.statusCode);

    expect((await long).statusCode).toBe(200);
    expect(statuses.filter((s) => s !== 429 && s !== 504)).toEqual([]);
    expect(statuses.filter((s) => s === 504).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 504).length).toBeLessThanOrEqual(QUEUE_ROWS);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(WAITING - QUEUE_ROWS);
    expect(waiting.filter((r) => r.statusCode === 429).every((r) => r.headers['retry-after'] === '1')).toBe(true);
    expect(await outcome('rejected')).toBe(statuses.filter((s) => s === 429).length);
    expect(await outcome('timed_out')).toBe(statuses.filter((s) => s === 504).length);
  }, 60_000);
});
