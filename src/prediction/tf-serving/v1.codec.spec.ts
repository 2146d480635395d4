import { InvalidInputError, ModelNotFoundError } from '../../model/model-errors';
import { ModelState } from '../../model/model-status';
import type { NamedTensors, VersionDescription } from '../../model/model-types';
import type { ClassifyRequestDto, PredictRequestDto } from './dto/tf-serving-request.dto';
import { decodeClassify, decodePredict, encodeClassify, encodeMetadata, encodePredict, encodeVersionStatus, parseCall } from './v1.codec';

function description(inputs: VersionDescription['signature']['inputs']): VersionDescription {
  return {
    format: 'graph',
    platform: 'tensorflowjs_graph',
    metadata: {},
    signature: { inputs, outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }] },
  };
}

const ONE_INPUT = description([{ name: 'x', dtype: 'float32', shape: [-1, 2], aliases: ['x:0'] }]);
const TWO_INPUTS = description([
  { name: 'a', dtype: 'float32', shape: [-1, 2] },
  { name: 'b', dtype: 'int32', shape: [-1, 1] },
]);

const predict = (body: Partial<PredictRequestDto>) => body as PredictRequestDto;

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

describe(parseCall.name, () => {
  it('splits a call into what it names and the method', () => {
    expect(parseCall('iris:predict')).toEqual({ head: 'iris', verb: 'predict' });
    expect(parseCall('2:classify')).toEqual({ head: '2', verb: 'classify' });
  });

  it('answers a call with no method as a route that does not exist', () => {
    expect(() => parseCall('iris')).toThrow(ModelNotFoundError);
  });
});

describe(decodePredict.name, () => {
  it('stacks row-format instances of the one input', () => {
    const decoded = decodePredict(
      predict({
        instances: [
          [1, 2],
          [3, 4],
        ],
      }),
      ONE_INPUT,
    );

    expect(decoded).toMatchObject({ format: 'row', rows: 2 });
    expect(decoded.inputs.x).toEqual({ dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) });
  });

  it('stacks row-format instances keyed by input name, an alias too', () => {
    const decoded = decodePredict(predict({ instances: [{ 'x:0': [1, 2] }, { x: [3, 4] }] }), ONE_INPUT);

    expect(Array.from(decoded.inputs.x.data as ArrayLike<number>)).toEqual([1, 2, 3, 4]);
  });

  it('takes the columnar format, for one input or keyed by name for several', () => {
    const one = decodePredict(predict({ inputs: [[1, 2]] }), ONE_INPUT);
    const two = decodePredict(predict({ inputs: { a: [[1, 2]], b: [[7]] } }), TWO_INPUTS);

    expect(one).toMatchObject({ format: 'columnar' });
    expect(Array.from(one.inputs.x.data as ArrayLike<number>)).toEqual([1, 2]);
    expect(two.inputs.b).toEqual({ dtype: 'int32', shape: [1, 1], data: Int32Array.of(7) });
  });

  it.each<[string, Partial<PredictRequestDto>, VersionDescription, string, RegExp]>([
    [
      'unnamed instances for a model of two inputs',
      { instances: [[1, 2]] },
      TWO_INPUTS,
      'instances',
      /give each instance as an object keyed by input name/,
    ],
    [
      'an instance naming an unknown input',
      { instances: [{ a: [1, 2], b: [1], c: 1 }] },
      TWO_INPUTS,
      'instances[0].c',
      /is not an input of the model; its inputs are a, b/,
    ],
    ['an instance missing an input', { instances: [{ a: [1, 2] }] }, TWO_INPUTS, 'instances[0]', /is missing input "b"/],
    ['ragged instances', { instances: [[1, 2], [3]] }, ONE_INPUT, 'instances[1]', /ragged/],
    ['a fraction for an int32 input', { inputs: { a: [[1, 2]], b: [[1.5]] } }, TWO_INPUTS, 'inputs.b[0][0]', /must be an integer/],
    ['another signature', { instances: [[1, 2]], signature_name: 'other' }, ONE_INPUT, 'signature_name', /has serving_default/],
  ])('refuses %s, naming where', (_case, body, model, path, message) => {
    const error = refusal(() => decodePredict(predict(body), model));

    expect(error.problems[0].path).toBe(path);
    expect(error.message).toMatch(message);
  });
});

describe(encodePredict.name, () => {
  const outputs: NamedTensors = { y: { dtype: 'float32', shape: [2, 2], data: Float32Array.of(0.5, 1, 2, 4) } };

  it('answers the row format with predictions per row, the output name dropped when there is one', () => {
    expect(encodePredict(outputs, { inputs: {}, format: 'row', rows: 2 })).toEqual({
      predictions: [
        [0.5, 1],
        [2, 4],
      ],
    });
  });

  it('answers the columnar format with the whole output, keyed by name when there are several', () => {
    const two = { ...outputs, z: { dtype: 'bool' as const, shape: [2], data: Uint8Array.of(0, 1) } };

    expect(encodePredict(outputs, { inputs: {}, format: 'columnar', rows: 0 })).toEqual({
      outputs: [
        [0.5, 1],
        [2, 4],
      ],
    });
    expect(encodePredict(two, { inputs: {}, format: 'columnar', rows: 0 })).toEqual({
      outputs: {
        y: [
          [0.5, 1],
          [2, 4],
        ],
        z: [false, true],
      },
    });
  });
});

describe(`${encodePredict.name} and ${decodePredict.name} for the dtypes of ONNX models`, () => {
  it('answers int64, string and float16 outputs as JSON numbers and strings', () => {
    const outputs: NamedTensors = {
      ids: { dtype: 'int64', shape: [2], data: BigInt64Array.of(-3n, 2n ** 40n) },
      words: { dtype: 'string', shape: [2], data: ['setosa', 'été'] },
      // 0x3c00 = 1, 0xc100 = -2.5.
      half: { dtype: 'float16', shape: [2], data: Uint16Array.of(0x3c00, 0xc100) },
    };

    expect(encodePredict(outputs, { inputs: {}, format: 'row', rows: 2 })).toEqual({
      predictions: [
        { ids: -3, words: 'setosa', half: 1 },
        { ids: 2 ** 40, words: 'été', half: -2.5 },
      ],
    });
  });

  it('refuses, naming the output and the way, an int64 output past what a JSON number carries', () => {
    const outputs: NamedTensors = { ids: { dtype: 'int64', shape: [1], data: BigInt64Array.of(2n ** 60n) } };

    expect(() => encodePredict(outputs, { inputs: {}, format: 'row', rows: 1 })).toThrow(
      /^output "ids" holds 1152921504606846976, beyond ±9007199254740991/,
    );
  });

  it('decodes string and float64 inputs from JSON, row and columnar', () => {
    const model = description([
      { name: 'words', dtype: 'string', shape: [-1] },
      { name: 'weights', dtype: 'float64', shape: [-1, 2] },
    ]);

    const rows = decodePredict(
      predict({
        instances: [
          { words: 'a', weights: [0.1, 2] },
          { words: 'b', weights: [3, 4] },
        ],
      }),
      model,
    );
    const columns = decodePredict(
      predict({
        inputs: {
          words: ['a', 'b'],
          weights: [
            [0.1, 2],
            [3, 4],
          ],
        },
      }),
      model,
    );

    for (const decoded of [rows, columns]) {
      expect(decoded.inputs.words).toEqual({ dtype: 'string', shape: [2], data: ['a', 'b'] });
      expect(decoded.inputs.weights).toEqual({ dtype: 'float64', shape: [2, 2], data: Float64Array.of(0.1, 2, 3, 4) });
    }
  });
});

describe(decodeClassify.name, () => {
  it('merges the context into each example, unwrapping one-item lists', () => {
    const request = { context: { a: 1 }, examples: [{ b: [2] }, { a: 3, b: 4 }] } as ClassifyRequestDto;

    expect(decodeClassify(request)).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 4 },
    ]);
  });

  it('refuses a feature that is not a number, naming the example and feature', () => {
    const error = refusal(() => decodeClassify({ examples: [{ a: 'x' }] }));

    expect(error.problems[0].path).toBe('examples[0].a');
  });
});

describe(encodeClassify.name, () => {
  it('answers [label, score] pairs per example', () => {
    expect(encodeClassify([{ probabilities: { setosa: 0.9, virginica: 0.1 } }])).toEqual({
      result: [
        [
          ['setosa', 0.9],
          ['virginica', 0.1],
        ],
      ],
    });
  });
});

describe('status and metadata', () => {
  it("names a failed version's state END with its reason, as TF Serving does", () => {
    expect(encodeVersionStatus({ name: 'm', version: 2, state: ModelState.UNAVAILABLE, reason: 'bad shard' })).toEqual({
      version: '2',
      state: 'END',
      status: { error_code: 'UNKNOWN', error_message: 'bad shard' },
    });
  });

  it('describes the serving_default signature with TF dtypes and dimension sizes', () => {
    const metadata = encodeMetadata('m', 1, ONE_INPUT) as {
      metadata: { signature_def: { signature_def: Record<string, { inputs: Record<string, unknown> }> } };
    };

    expect(metadata.metadata.signature_def.signature_def.serving_default.inputs.x).toEqual({
      dtype: 'DT_FLOAT',
      tensor_shape: {
        dim: [
          { size: '-1', name: '' },
          { size: '2', name: '' },
        ],
        unknown_rank: false,
      },
      name: 'x',
    });
  });

  it.each([
    ['float16', 'DT_HALF'],
    ['float64', 'DT_DOUBLE'],
    ['int8', 'DT_INT8'],
    ['int16', 'DT_INT16'],
    ['int64', 'DT_INT64'],
    ['uint8', 'DT_UINT8'],
    ['uint16', 'DT_UINT16'],
    ['uint32', 'DT_UINT32'],
    ['uint64', 'DT_UINT64'],
    ['string', 'DT_STRING'],
  ] as const)('names a %s tensor %s, as TensorFlow does', (dtype, tfDtype) => {
    const metadata = encodeMetadata('m', 1, description([{ name: 'x', dtype, shape: [-1] }])) as {
      metadata: { signature_def: { signature_def: Record<string, { inputs: Record<string, { dtype: string }> }> } };
    };

    expect(metadata.metadata.signature_def.signature_def.serving_default.inputs.x.dtype).toBe(tfDtype);
  });
});
