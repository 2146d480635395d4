import { argmax, mapOutputRows } from './label-mapping';

const LABELS = ['setosa', 'versicolor', 'virginica'];

describe(mapOutputRows.name, () => {
  it('names the most likely label of each row and its probabilities, in row order', () => {
    const output = { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([0.7, 0.2, 0.1, 0.1, 0.3, 0.6]) };

    const rows = mapOutputRows(output, LABELS);

    expect(rows.map((r) => r.prediction)).toEqual(['setosa', 'virginica']);
    expect(rows[1].probabilities).toEqual({
      setosa: Math.fround(0.1),
      versicolor: Math.fround(0.3),
      virginica: Math.fround(0.6),
    });
  });

  it('gives the index and raw outputs when the model has no labels', () => {
    const output = { dtype: 'float32' as const, shape: [1, 3], data: new Float32Array([-1, 5, 2]) };

    expect(mapOutputRows(output)).toEqual([{ prediction: 1, outputs: [-1, 5, 2] }]);
  });

  it('ignores labels whose count does not match the output width', () => {
    const output = { dtype: 'float32' as const, shape: [1, 2], data: new Float32Array([0.4, 0.6]) };

    expect(mapOutputRows(output, LABELS)).toEqual([{ prediction: 1, outputs: [Math.fround(0.4), Math.fround(0.6)] }]);
  });
});

describe(argmax.name, () => {
  it('takes the first of equal maxima', () => {
    expect(argmax([0.2, 0.4, 0.4])).toBe(1);
    expect(argmax([3])).toBe(0);
  });
});
