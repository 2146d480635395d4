import { InvalidInputError } from '../../model/model-errors';
import type { NamedTensors, VersionDescription } from '../../model/model-types';
import type { InferRequestDto } from './dto/infer-request.dto';
import { BinaryInferResponse, decodeInferRequest, encodeInferResponse, encodeModelMetadata } from './v2.codec';

const MODEL = 'pair';
const DESCRIPTION: VersionDescription = {
  format: 'graph',
  platform: 'tensorflowjs_graph',
  metadata: {},
  signature: {
    inputs: [
      { name: 'a', dtype: 'float32', shape: [-1, 2], aliases: ['a:0'] },
      { name: 'counts', dtype: 'int32', shape: [-1, 2] },
    ],
    outputs: [
      { name: 'sum', dtype: 'float32', shape: [-1, 2] },
      { name: 'flags', dtype: 'bool', shape: [-1, 2] },
    ],
  },
};

/** Little-endian bytes of float32 values. */
function f32(...values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes;
}

function request(body: Partial<InferRequestDto>): InferRequestDto {
  return { inputs: [], ...body };
}

/** The InvalidInputError `fn` throws; fails when it throws none. */
function refusal(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError, but none was thrown');
}

describe(decodeInferRequest.name, () => {
  it('decodes flat and nested JSON data into typed tensors of the declared shape', () => {
    const decoded = decodeInferRequest(
      request({
        inputs: [
          { name: 'a', shape: [2, 2], datatype: 'FP32', data: [1.5, 2, 3, 4] },
          {
            name: 'counts',
            shape: [2, 2],
            datatype: 'INT64',
            data: [
              [1, 2],
              [3, 4],
            ],
          },
        ],
      }),
      null,
      MODEL,
      DESCRIPTION,
    );

    expect(decoded.inputs.a).toEqual({ dtype: 'float32', shape: [2, 2], data: Float32Array.of(1.5, 2, 3, 4) });
    expect(decoded.inputs.counts).toEqual({ dtype: 'int32', shape: [2, 2], data: Int32Array.of(1, 2, 3, 4) });
    expect(decoded.outputs).toBeUndefined();
    expect(decoded.binary('sum')).toBe(false);
  });

  it("takes an input under its signature block's name, keyed as the request names it", () => {
    const decoded = decodeInferRequest(
      request({ inputs: [{ name: 'a:0', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }),
      null,
      MODEL,
      DESCRIPTION,
    );

    expect(Object.keys(decoded.inputs)).toEqual(['a:0']);
  });

  it('reads binary inputs from the bytes after the JSON, in the order of the inputs', () => {
    const bytes = Buffer.concat([f32(1, 2), Buffer.from(Int32Array.of(7, 8).buffer)]);
    const decoded = decodeInferRequest(
      request({
        inputs: [
          { name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
          { name: 'counts', shape: [1, 2], datatype: 'INT32', parameters: { binary_data_size: 8 } },
        ],
      }),
      bytes,
      MODEL,
      DESCRIPTION,
    );

    expect(Array.from(decoded.inputs.a.data as ArrayLike<number>)).toEqual([1, 2]);
    expect(Array.from(decoded.inputs.counts.data as ArrayLike<number>)).toEqual([7, 8]);
  });

  it('asks for outputs by name, each in binary form or not, by default as the request says', () => {
    const decoded = decodeInferRequest(
      request({
        inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }],
        parameters: { binary_data_output: true },
        outputs: [{ name: 'sum' }, { name: 'flags', parameters: { binary_data: false } }],
      }),
      null,
      MODEL,
      DESCRIPTION,
    );

    expect(decoded.outputs).toEqual(['sum', 'flags']);
    expect([decoded.binary('sum'), decoded.binary('flags')]).toEqual([true, false]);
  });

  it.each<[string, Partial<InferRequestDto>, Buffer | null, string, RegExp]>([
    [
      'an unknown input',
      { inputs: [{ name: 'b', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] },
      null,
      'inputs[0].name',
      /"b" is not an input of model "pair"; its inputs are a, counts/,
    ],
    [
      'a datatype that cannot feed the input',
      { inputs: [{ name: 'counts', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] },
      null,
      'inputs[0].datatype',
      /FP32 cannot feed input "counts", which takes INT32/,
    ],
    [
      'data that does not fill the shape',
      { inputs: [{ name: 'a', shape: [2, 2], datatype: 'FP32', data: [1, 2] }] },
      null,
      'inputs[0].data',
      /holds 2 values but shape \[2,2\] needs 4/,
    ],
    [
      'an input given twice',
      {
        inputs: [
          { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
          { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        ],
      },
      null,
      'inputs[1].name',
      /given twice/,
    ],
    [
      'binary data without the header',
      { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } }] },
      null,
      'inputs[0].parameters.binary_data_size',
      /no Inference-Header-Content-Length/,
    ],
    [
      'bytes left over after the inputs',
      { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } }] },
      f32(1, 2, 3),
      'body',
      /12 bytes of binary data .* add up to 8/,
    ],
    [
      'an output asked for twice',
      { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }], outputs: [{ name: 'sum' }, { name: 'sum' }] },
      null,
      'outputs[1].name',
      /asked for twice/,
    ],
  ])('refuses %s, naming where', (_case, body, bytes, path, message) => {
    const error = refusal(() => decodeInferRequest(request(body), bytes, MODEL, DESCRIPTION));

    expect(error.problems[0].path).toBe(path);
    expect(error.message).toMatch(message);
  });
});

describe(encodeInferResponse.name, () => {
  const outputs: NamedTensors = {
    sum: { dtype: 'float32', shape: [1, 2], data: Float32Array.of(0.5, -2) },
    flags: { dtype: 'bool', shape: [1, 2], data: Uint8Array.of(1, 0) },
  };

  it('answers every output as JSON: name, shape, datatype, flat data, booleans as booleans', () => {
    expect(encodeInferResponse(outputs, () => false, { model: MODEL, version: 3, id: '7' })).toEqual({
      model_name: MODEL,
      model_version: '3',
      id: '7',
      outputs: [
        { name: 'sum', shape: [1, 2], datatype: 'FP32', data: [0.5, -2] },
        { name: 'flags', shape: [1, 2], datatype: 'BOOL', data: [true, false] },
      ],
    });
  });

  it('puts the outputs asked for in binary form after the JSON header, and says how long the header is', () => {
    const answer = encodeInferResponse(outputs, (name) => name === 'sum', { model: MODEL, version: 1 });

    expect(answer).toBeInstanceOf(BinaryInferResponse);
    const { body, headerLength } = answer as BinaryInferResponse;
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
    expect(header.outputs).toEqual([
      { name: 'sum', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
      { name: 'flags', shape: [1, 2], datatype: 'BOOL', data: [true, false] },
    ]);
    expect(Buffer.compare(body.subarray(headerLength), f32(0.5, -2))).toBe(0);
  });
});

describe(`${decodeInferRequest.name} and ${encodeInferResponse.name} for the dtypes of ONNX models`, () => {
  const ONNX: VersionDescription = {
    format: 'onnx',
    platform: 'onnxruntime_onnx',
    metadata: {},
    signature: {
      inputs: [
        { name: 'words', dtype: 'string', shape: [-1] },
        { name: 'ids', dtype: 'int64', shape: [-1] },
        { name: 'small', dtype: 'uint8', shape: [-1] },
      ],
      outputs: [{ name: 'y', dtype: 'float64', shape: [-1] }],
    },
  };

  it('takes BYTES as strings, and any integer datatype for an integer input, within its range', () => {
    const decoded = decodeInferRequest(
      request({
        inputs: [
          { name: 'words', shape: [2], datatype: 'BYTES', data: ['a', 'ß'] },
          { name: 'ids', shape: [2], datatype: 'INT32', data: [-5, 7] },
          { name: 'small', shape: [2], datatype: 'INT64', data: [0, 255] },
        ],
      }),
      null,
      'onnx',
      ONNX,
    );

    expect(decoded.inputs.words).toEqual({ dtype: 'string', shape: [2], data: ['a', 'ß'] });
    expect(decoded.inputs.ids).toEqual({ dtype: 'int64', shape: [2], data: BigInt64Array.of(-5n, 7n) });
    expect(decoded.inputs.small).toEqual({ dtype: 'uint8', shape: [2], data: Uint8Array.of(0, 255) });
  });

  it.each<[string, InferRequestDto['inputs'][0], string, RegExp]>([
    [
      'FP32 for a string input',
      { name: 'words', shape: [1], datatype: 'FP32', data: [1] },
      'inputs[0].datatype',
      /^inputs\[0\]\.datatype: FP32 cannot feed input "words", which takes BYTES$/,
    ],
    [
      'BOOL for an integer input',
      { name: 'ids', shape: [1], datatype: 'BOOL', data: [true] },
      'inputs[0].datatype',
      /which takes INT64 \(or INT32, INT16, INT8, UINT8, UINT16, UINT32, UINT64\)$/,
    ],
    [
      "a value past the input's type",
      { name: 'small', shape: [1], datatype: 'INT64', data: [256] },
      'inputs[0].data[0]',
      /must be within \[0, 255\], got 256$/,
    ],
  ])('refuses %s', (_case, input, path, message) => {
    const error = refusal(() => decodeInferRequest(request({ inputs: [input] }), null, 'onnx', ONNX));

    expect(error.problems[0].path).toBe(path);
    expect(error.message).toMatch(message);
  });

  it('reports each datatype in the model metadata', () => {
    expect(encodeModelMetadata('onnx', [1], ONNX).inputs.map((t) => t.datatype)).toEqual(['BYTES', 'INT64', 'UINT8']);
  });

  it('answers strings as BYTES: JSON strings, or length-prefixed UTF-8 in binary form', () => {
    const outputs: NamedTensors = { echo: { dtype: 'string', shape: [2], data: ['ab', 'é'] } };

    const json = encodeInferResponse(outputs, () => false, { model: 'm', version: 1 }) as { outputs: unknown[] };
    const binary = encodeInferResponse(outputs, () => true, { model: 'm', version: 1 }) as BinaryInferResponse;

    expect(json.outputs).toEqual([{ name: 'echo', shape: [2], datatype: 'BYTES', data: ['ab', 'é'] }]);
    expect([...binary.body.subarray(binary.headerLength)]).toEqual([2, 0, 0, 0, 0x61, 0x62, 2, 0, 0, 0, 0xc3, 0xa9]);
  });
});

describe(encodeModelMetadata.name, () => {
  it('reports the platform, the versions and each tensor with its V2 datatype; -1 for free dimensions', () => {
    expect(encodeModelMetadata(MODEL, [1, 2], DESCRIPTION)).toEqual({
      name: MODEL,
      versions: ['1', '2'],
      platform: 'tensorflowjs_graph',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 2] },
        { name: 'counts', datatype: 'INT32', shape: [-1, 2] },
      ],
      outputs: [
        { name: 'sum', datatype: 'FP32', shape: [-1, 2] },
        { name: 'flags', datatype: 'BOOL', shape: [-1, 2] },
      ],
    });
  });
});
