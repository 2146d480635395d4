import { InvalidInputError } from '../model/model-errors';
import type { VersionDescription } from '../model/model-types';
import { argmax, decodeRows, encodePredictions, predictedOutputs } from './rows.codec';

const LABELS = ['setosa', 'versicolor', 'virginica'];
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

function description(
  overrides: Partial<VersionDescription['signature']['inputs'][0]> = {},
  metadata: VersionDescription['metadata'] = { features: FEATURES, labels: LABELS },
): VersionDescription {
  return {
    format: 'layers',
    platform: 'tensorflowjs_layers',
    metadata,
    signature: {
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4], ...overrides }],
      outputs: [
        { name: 'probabilities', dtype: 'float32', shape: [-1, 3] },
        { name: 'logits', dtype: 'float32', shape: [-1, 3] },
      ],
    },
  };
}

/** The InvalidInputError `fn` throws, with its one problem's path; fails when none is thrown. */
function problemOf(fn: () => unknown): { path: string; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).problems[0] ?? { path: '', message: (error as Error).message };
  }
  throw new Error('expected an InvalidInputError, but none was thrown');
}

describe(decodeRows.name, () => {
  it('stacks rows given as lists or keyed by feature name into one [rows, features] float32 input', () => {
    const inputs = decodeRows(
      [[5.1, 3.5, 1.4, 0.2], { petal_width: 2.5, petal_length: 6, sepal_width: 3.3, sepal_length: 6.3 }],
      ['instances[0]', 'instances[1]'],
      'iris',
      description(),
    );

    expect(Object.keys(inputs)).toEqual(['x']);
    expect(inputs.x.shape).toEqual([2, 4]);
    expect(inputs.x.data).toBeInstanceOf(Float32Array);
    expect(Array.from(inputs.x.data as ArrayLike<number>)).toEqual([5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6, 2.5].map(Math.fround));
  });

  it.each<[VersionDescription['signature']['inputs'][0]['dtype'], unknown[]]>([
    ['float64', [0.1, 2, 3, 4]],
    ['int64', [1n, 2n, 3n, 4n]],
  ])('fills a %s input (an ONNX model may take one)', (dtype, expected) => {
    const inputs = decodeRows([[dtype === 'int64' ? 1 : 0.1, 2, 3, 4]], ['features'], 'm', description({ dtype }));

    expect(inputs.x.dtype).toBe(dtype);
    expect(Array.from(inputs.x.data as ArrayLike<unknown>)).toEqual(expected);
  });

  it('refuses a fraction for an int64 input, naming the column', () => {
    expect(problemOf(() => decodeRows([[1, 2.5, 3, 4]], ['features'], 'm', description({ dtype: 'int64' })))).toEqual({
      path: 'features[1]',
      message: 'must be an integer, got 2.5',
    });
  });

  it('fills an int32 input with integers', () => {
    const inputs = decodeRows([[1, 2, 3, 4]], ['features'], 'counts', description({ dtype: 'int32' }));

    expect(inputs.x.data).toEqual(Int32Array.of(1, 2, 3, 4));
  });

  it.each<[string, unknown, string, RegExp]>([
    ['a row of the wrong width', [1, 2, 3], 'features', /has 3 values; model "iris" takes 4 \(sepal_length/],
    [
      'an unknown feature name',
      { sepal_length: 1, sepal_width: 2, petal_length: 3, petal_widht: 4 },
      'features.petal_widht',
      /is not a feature of model "iris"/,
    ],
    ['a missing feature', { sepal_length: 1, sepal_width: 2, petal_length: 3 }, 'features', /is missing petal_width/],
  ])('refuses %s, naming where', (_case, row, path, message) => {
    const problem = problemOf(() => decodeRows([row as number[]], ['features'], 'iris', description()));

    expect(problem.path).toBe(path);
    expect(problem.message).toMatch(message);
  });

  it('refuses a fraction for an int32 input, naming the column', () => {
    const problem = problemOf(() => decodeRows([[1, 2.5, 3, 4]], ['features'], 'counts', description({ dtype: 'int32' })));

    expect(problem).toEqual({ path: 'features[1]', message: 'must be an int32 integer for this model' });
  });

  it('refuses named features for a model whose metadata names none', () => {
    const problem = problemOf(() => decodeRows([{ a: 1 }], ['features'], 'plain', description({}, {})));

    expect(problem.message).toBe('model "plain" has no feature names; send a list of 4 numbers');
  });

  it('refuses a model whose input is not one [batch, features] tensor, pointing to the other protocols', () => {
    expect(() => decodeRows([[1]], ['features'], 'cnn', description({ shape: [-1, 28, 28, 1] }))).toThrow(/use the V2 or V1 protocol/);
  });
});

describe(encodePredictions.name, () => {
  it('names the most likely label of each row and its probabilities, in row order', () => {
    const output = { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([0.7, 0.2, 0.1, 0.1, 0.3, 0.6]) };

    const rows = encodePredictions(output, LABELS);

    expect(rows.map((r) => r.prediction)).toEqual(['setosa', 'virginica']);
    expect(rows[1].probabilities).toEqual({
      setosa: Math.fround(0.1),
      versicolor: Math.fround(0.3),
      virginica: Math.fround(0.6),
    });
  });

  it('gives the index and raw outputs when the model has no labels', () => {
    const output = { dtype: 'float32' as const, shape: [1, 3], data: new Float32Array([-1, 5, 2]) };

    expect(encodePredictions(output)).toEqual([{ prediction: 1, outputs: [-1, 5, 2] }]);
  });

  it("takes the model's own label as the prediction, a class index named by the labels", () => {
    // Probabilities whose largest is not the label the model gives: the label wins.
    const output = { dtype: 'float32' as const, shape: [2, 3], data: Float32Array.of(0.5, 0.3, 0.2, 0.1, 0.2, 0.7) };
    const label = { dtype: 'int64' as const, shape: [2], data: BigInt64Array.of(1n, 2n) };

    const rows = encodePredictions(output, LABELS, label);

    expect(rows.map((r) => r.prediction)).toEqual(['versicolor', 'virginica']);
    expect(rows[0].probabilities).toEqual({ setosa: 0.5, versicolor: Math.fround(0.3), virginica: Math.fround(0.2) });
  });

  it('gives a string label as it is, and an index past the labels as a number', () => {
    const output = { dtype: 'float64' as const, shape: [2, 2], data: Float64Array.of(0.9, 0.1, 0.2, 0.8) };

    expect(encodePredictions(output, undefined, { dtype: 'string', shape: [2], data: ['cat', 'dog'] }).map((r) => r.prediction)).toEqual([
      'cat',
      'dog',
    ]);
    expect(
      encodePredictions(output, ['a', 'b'], { dtype: 'int32', shape: [2], data: Int32Array.of(0, 7) }).map((r) => r.prediction),
    ).toEqual(['a', 7]);
  });

  it('ignores labels whose count does not match the output width', () => {
    const output = { dtype: 'float32' as const, shape: [1, 2], data: new Float32Array([0.4, 0.6]) };

    expect(encodePredictions(output, LABELS)).toEqual([{ prediction: 1, outputs: [Math.fround(0.4), Math.fround(0.6)] }]);
  });
});

describe(predictedOutputs.name, () => {
  it("is the model's first output", () => {
    expect(predictedOutputs(description())).toEqual({ scores: 'probabilities' });
  });

  it("is a classifier's label and probabilities where it gives both, as skl2onnx exports them", () => {
    const classifier: VersionDescription = {
      ...description(),
      signature: {
        inputs: [{ name: 'float_input', dtype: 'float32', shape: [-1, 4] }],
        outputs: [
          { name: 'output_label', dtype: 'int64', shape: [-1] },
          { name: 'output_probability', dtype: 'float32', shape: [-1, 3] },
        ],
      },
    };

    expect(predictedOutputs(classifier)).toEqual({ scores: 'output_probability', label: 'output_label' });
  });
});

describe(argmax.name, () => {
  it('takes the first of equal maxima', () => {
    expect(argmax([0.2, 0.4, 0.4])).toBe(1);
    expect(argmax([3])).toBe(0);
  });
});
