import { InvalidInputError } from '../model/model-errors';
import type { TensorSpec } from '../model/model-types';
import { flattenNested, hostTensor, JSON_INTEGER_MAX, jsonValues, MAX_RANK, toNested } from './tensor-codec';

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
    expect(
      flattenNested(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        'x',
      ),
    ).toEqual({ shape: [2, 3], values: [1, 2, 3, 4, 5, 6] });
    expect(flattenNested(7, 'x')).toEqual({ shape: [], values: [7] });
  });

  it.each<[string, unknown, string]>([
    ['ragged rows', [[1, 2], [3]], 'x[1]'],
    [
      'a list where a value belongs',
      [
        [1, 2],
        [3, [4]],
      ],
      'x[1][1]',
    ],
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

describe(`${hostTensor.name} for the dtypes of ONNX models`, () => {
  const spec = (dtype: TensorSpec['dtype']): TensorSpec => ({ name: 'v', dtype, shape: [-1] });

  it.each<[TensorSpec['dtype'], unknown[], unknown[]]>([
    ['float64', [0.1, -1e300], [0.1, -1e300]],
    // 0x3c00 = 1, 0xbe00 = -1.5, 0x7bff = 65504 (the largest half).
    ['float16', [1, -1.5, 65504], [0x3c00, 0xbe00, 0x7bff]],
    ['int8', [-128, 127], [-128, 127]],
    ['uint16', [0, 65535], [0, 65535]],
    ['uint32', [0, 2 ** 32 - 1], [0, 2 ** 32 - 1]],
    ['int64', [-JSON_INTEGER_MAX, 0, JSON_INTEGER_MAX], [-(2n ** 53n - 1n), 0n, 2n ** 53n - 1n]],
    ['uint64', [0, JSON_INTEGER_MAX], [0n, 2n ** 53n - 1n]],
    ['string', ['setosa', '', 'été ✓'], ['setosa', '', 'été ✓']],
  ])('makes %s data from JSON values', (dtype, values, expected) => {
    expect(Array.from(hostTensor(spec(dtype), [values.length], values, 'v').data as ArrayLike<unknown>)).toEqual(expected);
  });

  it.each<[TensorSpec['dtype'], unknown, RegExp]>([
    [
      'int64',
      2 ** 53,
      /must be within ±9007199254740991 \(2\^53 - 1\) as a JSON number, got 9007199254740992; send int64 values beyond it in binary form/,
    ],
    ['uint64', -1, /must be within \[0, 18446744073709551615\], got -1/],
    ['int8', 128, /must be within \[-128, 127\], got 128/],
    ['uint32', 2 ** 32, /must be within \[0, 4294967295\], got 4294967296/],
    ['float16', 65520, /must be a finite number within float16 range \(magnitude at most 65504\), got 65520/],
    ['string', 7, /must be a string, got a number/],
    ['int64', '12', /must be a number, got a string/],
  ])('refuses %s value %j, saying why', (dtype, value, message) => {
    const problem = problemOf(() => hostTensor(spec(dtype), [2], [value, value], 'v'));

    expect(problem.path).toBe('v[0]');
    expect(problem.message).toMatch(message);
  });

  it('keeps an int64 input within the narrower datatype the request named', () => {
    expect(problemOf(() => hostTensor(spec('int64'), [1], [300], 'v', [-128n, 127n])).message).toBe('must be within [-128, 127], got 300');
  });

  it('takes exact 64-bit values from binary data as BigInts', () => {
    expect(hostTensor(spec('uint64'), [1], [2n ** 64n - 1n], 'v').data).toEqual(BigUint64Array.of(2n ** 64n - 1n));
  });
});

describe(toNested.name, () => {
  it('rebuilds nested lists of the shape from row-major values', () => {
    expect(toNested([1, 2, 3, 4, 5, 6], [2, 3])).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(toNested([true, false], [2])).toEqual([true, false]);
    expect(toNested([9], [])).toBe(9);
  });
});

describe(jsonValues.name, () => {
  it("gives a tensor's values as JSON numbers, booleans or strings", () => {
    expect(jsonValues({ dtype: 'int32', shape: [2], data: Int32Array.of(-1, 5) }, 'y')).toEqual([-1, 5]);
    expect(jsonValues({ dtype: 'bool', shape: [2], data: Uint8Array.of(0, 1) }, 'y')).toEqual([false, true]);
    expect(jsonValues({ dtype: 'string', shape: [2], data: ['a', 'ß'] }, 'y')).toEqual(['a', 'ß']);
    // 0x3555 = (1 + 0x155/1024) / 4, 0xc000 = -2.
    expect(jsonValues({ dtype: 'float16', shape: [2], data: Uint16Array.of(0x3555, 0xc000) }, 'y')).toEqual([1365 / 4096, -2]);
    expect(jsonValues({ dtype: 'uint64', shape: [1], data: BigUint64Array.of(2n ** 53n - 1n) }, 'y')).toEqual([JSON_INTEGER_MAX]);
  });

  it('refuses an int64 value beyond what a JSON number carries exactly, naming the output and the way to get it', () => {
    const tensor = { dtype: 'int64' as const, shape: [2], data: BigInt64Array.of(1n, -(2n ** 53n)) };

    expect(() => jsonValues(tensor, 'counts')).toThrow(
      new InvalidInputError(
        'output "counts" holds -9007199254740992, beyond ±9007199254740991 (2^53 - 1), which a JSON number cannot carry exactly; ask for it in binary form (the V2 binary tensor data extension)',
      ),
    );
  });
});
