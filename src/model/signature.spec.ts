import type { ModelSignature } from './model-types';
import { zeroInputs } from './signature';

describe('zeroInputs', () => {
  const signature: ModelSignature = {
    inputs: [
      { name: 'x', dtype: 'float32', shape: [-1, 4] },
      { name: 'image', dtype: 'int32', shape: [-1, 2, -1] },
      { name: 'fixed', dtype: 'bool', shape: [3, 2] },
      { name: 'words', dtype: 'string', shape: null },
    ],
    outputs: [],
  };

  it('sets free dimensions to 1 by default, and fills zeros of each dtype', () => {
    const inputs = zeroInputs(signature);

    expect(inputs.x).toEqual({ dtype: 'float32', shape: [1, 4], data: new Float32Array(4) });
    expect(inputs.image.shape).toEqual([1, 2, 1]);
    expect(inputs.fixed).toEqual({ dtype: 'bool', shape: [3, 2], data: new Uint8Array(6) });
    expect(inputs.words.shape).toEqual([1]);
    expect(Array.from(inputs.words.data as ArrayLike<unknown>)).toEqual(['']);
  });

  it('sets a free leading dimension to the rows asked for, and only that one', () => {
    const inputs = zeroInputs(signature, 64);

    expect(inputs.x.shape).toEqual([64, 4]);
    expect(inputs.x.data).toHaveLength(256);
    expect(inputs.image.shape).toEqual([64, 2, 1]);
    expect(inputs.fixed.shape).toEqual([3, 2]);
  });
});
