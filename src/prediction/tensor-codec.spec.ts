import { InvalidInputError } from '../model/model-errors';
import type { TensorSpec } from '../model/model-types';
import { flattenNested, hostTensor, MAX_RANK, toFlat, toNested } from './tensor-codec';

const FLOAT: TensorSpec = { name: 'x', dtype: 'float32', shape: [-1, 2] };
const INT: TensorSpec = { name: 'n', dtype: 'int32', shape: [-1, 2] };
const BOOL: TensorSpec = { name: 'b', dtype: 'bool', shape: [-1, 2] };

function problemOf(fn: () => unknown): { path: string; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).problems[0];
  }
  throw new Error('expected an InvalidInputError, but none was thrown');
}

describe(flattenNested.name, () => {
  it('gives row-major values and the shape the nesting describes', () => {
    expect(flattenNested([[1, 2, 3], [4, 5, 6]], 'x')).toEqual({ shape: [2, 3], values: [1, 2, 3, 4, 5, 6] });
    expect(flattenNested(7, 'x')).toEqual({ shape: [], values: [7] });
  });

  it.each<[string, unknown, string]>([
    ['ragged rows', [[1, 2], [3]], 'x[1]'],
    ['a list where a value belongs', [[1, 2], [3, [4]]], 'x[1][1]'],
    ['a value where a list belongs', [[1, 2], 3], 'x[1]'],
  ])('refuses %s, naming where', (_case, value, path) => {
    expect(problemOf(() => flattenNested(value, 'x')).path).toBe(path);
  });

  it(`refuses nesting deeper than ${MAX_RANK} before walking it`, () => {
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_RANK; i++) deep = [deep];

    expect(problemOf(() => flattenNested(deep, 'x')).message).toBe(`is nested more than ${MAX_RANK} levels deep`);
  });
});

describe(hostTensor.name, () => {
  it('makes typed data for each input dtype: float32, int32, and bool from booleans or 0/1', () => {
    expect(hostTensor(FLOAT, [1, 2], [0.1, 2], 'x').data).toEqual(Float32Array.of(0.1, 2));
    expect(hostTensor(INT, [1, 2], [-3, 4], 'n').data).toEqual(Int32Array.of(-3, 4));
    expect(hostTensor(BOOL, [1, 2], [true, 0], 'b').data).toEqual(Uint8Array.of(1, 0));
  });

  it.each<[string, TensorSpec, unknown[], readonly [number, number] | undefined, string, RegExp]>([
    ['a string for a float', FLOAT, [1, '2'], undefined, 'x[1]', /must be a number, got a string/],
    ['a value past float32', FLOAT, [1, 4e38], undefined, 'x[1]', /within float32 range/],
    ['a fraction for an int', INT, [1, 2.5], undefined, 'n[1]', /must be an integer, got 2.5/],
    ['an int outside the datatype sent', INT, [1, 300], [-128, 127], 'n[1]', /must be within \[-128, 127\], got 300/],
    ['a 2 for a bool', BOOL, [1, 2], undefined, 'b[1]', /must be a boolean/],
  ])('refuses %s, naming the element', (_case, spec, values, range, path, message) => {
    const problem = problemOf(() => hostTensor(spec, [1, 2], values, spec.name, range));

    expect(problem.path).toBe(path);
    expect(problem.message).toMatch(message);
  });

  it('names the element by its place in nested lists when the values came nested', () => {
    expect(problemOf(() => hostTensor(FLOAT, [2, 2], [1, 2, 3, 'x'], 'data', undefined, [2, 2])).path).toBe('data[1][1]');
  });

  it('refuses values that do not fill the shape', () => {
    expect(problemOf(() => hostTensor(FLOAT, [2, 2], [1, 2, 3], 'x')).message).toBe('holds 3 values but shape [2,2] needs 4');
  });
});

describe(toNested.name, () => {
  it('rebuilds nested lists of the shape from row-major values, booleans for bool', () => {
    expect(toNested(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3], 'float32')).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(toNested(Uint8Array.of(1, 0), [2], 'bool')).toEqual([true, false]);
    expect(toNested(Float32Array.of(9), [], 'float32')).toBe(9);
  });
});

describe(toFlat.name, () => {
  it('gives a tensor\'s values as JSON numbers or booleans', () => {
    expect(toFlat({ dtype: 'int32', shape: [2], data: Int32Array.of(-1, 5) })).toEqual([-1, 5]);
    expect(toFlat({ dtype: 'bool', shape: [2], data: Uint8Array.of(0, 1) })).toEqual([false, true]);
  });
});
