/**
 * Unit tests of the binary tensor data extension's codec. Every byte string is built here with
 * Buffer's write*LE methods (or DataView), and every expected number is worked out by hand
 * from IEEE 754 bit layouts, never taken from the code under test.
 */
import { InvalidInputError } from '../../model/model-errors';
import type { TensorSpec } from '../../model/model-types';
import { binaryDataSize, binaryHostTensor, booleanParameter, encodeBinary } from './binary-tensor';
import type { V2Datatype } from './datatypes';

const INT32_RANGE = [-(2 ** 31), 2 ** 31 - 1] as const;

const FLOAT_SPEC: TensorSpec = { name: 'x', dtype: 'float32', shape: [-1, 4] };
const INT_SPEC: TensorSpec = { name: 'counts', dtype: 'int32', shape: [-1, 4] };
const BOOL_SPEC: TensorSpec = { name: 'flags', dtype: 'bool', shape: [-1, 4] };

/** The error `fn` throws; fails the test when it throws none. */
function thrown(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError, but none was thrown');
}

/** Little-endian bytes of `values`, `width` bytes each, written by `write` at each offset. */
function bytes(values: readonly (number | bigint)[], width: number, write: (buffer: Buffer, value: never, offset: number) => void): Buffer {
  const buffer = Buffer.alloc(values.length * width);
  values.forEach((value, i) => write(buffer, value as never, i * width));
  return buffer;
}

const le = {
  u8: (values: number[]) => bytes(values, 1, (b, v: number, o) => b.writeUInt8(v, o)),
  i8: (values: number[]) => bytes(values, 1, (b, v: number, o) => b.writeInt8(v, o)),
  u16: (values: number[]) => bytes(values, 2, (b, v: number, o) => b.writeUInt16LE(v, o)),
  i16: (values: number[]) => bytes(values, 2, (b, v: number, o) => b.writeInt16LE(v, o)),
  u32: (values: number[]) => bytes(values, 4, (b, v: number, o) => b.writeUInt32LE(v, o)),
  i32: (values: number[]) => bytes(values, 4, (b, v: number, o) => b.writeInt32LE(v, o)),
  u64: (values: bigint[]) => bytes(values, 8, (b, v: bigint, o) => b.writeBigUInt64LE(v, o)),
  i64: (values: bigint[]) => bytes(values, 8, (b, v: bigint, o) => b.writeBigInt64LE(v, o)),
  f32: (values: number[]) => bytes(values, 4, (b, v: number, o) => b.writeFloatLE(v, o)),
  f64: (values: number[]) => bytes(values, 8, (b, v: number, o) => b.writeDoubleLE(v, o)),
};

/** The same bytes at an odd offset inside a larger buffer, as a body's tensors sit after the JSON. */
function misaligned(data: Buffer): Buffer {
  const backing = Buffer.alloc(data.length + 3, 0xee);
  data.copy(backing, 1);
  return backing.subarray(1, 1 + data.length);
}

describe(binaryDataSize.name, () => {
  it('is undefined without parameters or without binary_data_size', () => {
    expect(binaryDataSize(undefined, 'inputs[0]')).toBeUndefined();
    expect(binaryDataSize({}, 'inputs[0]')).toBeUndefined();
    expect(binaryDataSize({ binary_data: true }, 'inputs[0]')).toBeUndefined();
  });

  it.each([0, 1, 16, 2 ** 31, Number.MAX_SAFE_INTEGER])('takes %d bytes', (size) => {
    expect(binaryDataSize({ binary_data_size: size }, 'inputs[0]')).toBe(size);
  });

  it.each([
    ['negative', -4],
    ['a fraction', 15.5],
    ['a string', '16'],
    ['null', null],
    ['NaN', NaN],
    ['beyond 2^53', 2 ** 53],
    ['a boolean', true],
    ['a list', [16]],
  ])('refuses a size that is %s, naming where and what it got', (_case, size) => {
    const error = thrown(() => binaryDataSize({ binary_data_size: size }, 'inputs[2]'));

    expect(error.message).toMatch(/^inputs\[2\]\.parameters\.binary_data_size: .*whole number/);
    expect(error.message).toContain(JSON.stringify(size));
  });
});

describe(booleanParameter.name, () => {
  it('is false when the parameter, or every parameter, is absent', () => {
    expect(booleanParameter(undefined, 'binary_data', 'outputs[0]')).toBe(false);
    expect(booleanParameter({}, 'binary_data', 'outputs[0]')).toBe(false);
    expect(booleanParameter({ other: true }, 'binary_data', 'outputs[0]')).toBe(false);
  });

  it.each([true, false])('reads %s', (value) => {
    expect(booleanParameter({ binary_data_output: value }, 'binary_data_output', 'parameters')).toBe(value);
  });

  it.each([['true'], [1], [0], [null], [{}]])('refuses %j, naming the parameter and saying it must be true or false', (value) => {
    const error = thrown(() => booleanParameter({ binary_data: value }, 'binary_data', 'outputs[1]'));

    expect(error.message).toMatch(/^outputs\[1\]\.parameters\.binary_data: must be true or false/);
    expect(error.message).toContain(JSON.stringify(value));
  });
});

describe(binaryHostTensor.name, () => {
  const SHAPE = [1, 4];

  interface Case {
    datatype: V2Datatype;
    spec: TensorSpec;
    data: Buffer;
    range: readonly [number, number];
    expected: Float32Array | Int32Array | Uint8Array;
  }

  const cases: [string, Case][] = [
    [
      'FP32',
      {
        datatype: 'FP32',
        spec: FLOAT_SPEC,
        data: le.f32([1.5, -2.25, 3.4e38, 1e-45]),
        range: INT32_RANGE,
        expected: Float32Array.of(1.5, -2.25, 3.4e38, 1e-45),
      },
    ],
    // FP64 values are rounded to float32, as JSON numbers are.
    [
      'FP64',
      {
        datatype: 'FP64',
        spec: FLOAT_SPEC,
        data: le.f64([0.1, -2.5, 1e-3, 3e38]),
        range: INT32_RANGE,
        expected: Float32Array.of(0.1, -2.5, 1e-3, 3e38),
      },
    ],
    // 0x3c00 = 1, 0xc000 = -2, 0x3555 = 1365/4096, 0x0001 = 2^-24.
    [
      'FP16',
      {
        datatype: 'FP16',
        spec: FLOAT_SPEC,
        data: le.u16([0x3c00, 0xc000, 0x3555, 0x0001]),
        range: INT32_RANGE,
        expected: Float32Array.of(1, -2, 1365 / 4096, 2 ** -24),
      },
    ],
    [
      'INT8',
      { datatype: 'INT8', spec: INT_SPEC, data: le.i8([-128, -1, 0, 127]), range: [-128, 127], expected: Int32Array.of(-128, -1, 0, 127) },
    ],
    [
      'UINT8',
      { datatype: 'UINT8', spec: INT_SPEC, data: le.u8([0, 1, 128, 255]), range: [0, 255], expected: Int32Array.of(0, 1, 128, 255) },
    ],
    [
      'INT16',
      {
        datatype: 'INT16',
        spec: INT_SPEC,
        data: le.i16([-32768, -2, 300, 32767]),
        range: [-32768, 32767],
        expected: Int32Array.of(-32768, -2, 300, 32767),
      },
    ],
    [
      'UINT16',
      {
        datatype: 'UINT16',
        spec: INT_SPEC,
        data: le.u16([0, 1, 40000, 65535]),
        range: [0, 65535],
        expected: Int32Array.of(0, 1, 40000, 65535),
      },
    ],
    [
      'INT32',
      {
        datatype: 'INT32',
        spec: INT_SPEC,
        data: le.i32([-(2 ** 31), -7, 70000, 2 ** 31 - 1]),
        range: INT32_RANGE,
        expected: Int32Array.of(-(2 ** 31), -7, 70000, 2 ** 31 - 1),
      },
    ],
    [
      'UINT32',
      {
        datatype: 'UINT32',
        spec: INT_SPEC,
        data: le.u32([0, 1, 123456, 2 ** 31 - 1]),
        range: [0, 2 ** 31 - 1],
        expected: Int32Array.of(0, 1, 123456, 2 ** 31 - 1),
      },
    ],
    [
      'INT64',
      {
        datatype: 'INT64',
        spec: INT_SPEC,
        data: le.i64([-(2n ** 31n), -5n, 6n, 2n ** 31n - 1n]),
        range: INT32_RANGE,
        expected: Int32Array.of(-(2 ** 31), -5, 6, 2 ** 31 - 1),
      },
    ],
    [
      'UINT64',
      {
        datatype: 'UINT64',
        spec: INT_SPEC,
        data: le.u64([0n, 1n, 77n, 2n ** 31n - 1n]),
        range: [0, 2 ** 31 - 1],
        expected: Int32Array.of(0, 1, 77, 2 ** 31 - 1),
      },
    ],
    ['BOOL', { datatype: 'BOOL', spec: BOOL_SPEC, data: le.u8([0, 1, 1, 0]), range: INT32_RANGE, expected: Uint8Array.of(0, 1, 1, 0) }],
  ];

  it.each(cases)('decodes little-endian %s bytes into the input dtype, row-major', (_name, c) => {
    const tensor = binaryHostTensor(c.spec, SHAPE, c.datatype, c.data, 'inputs[0]', c.range);

    expect(tensor.dtype).toBe(c.spec.dtype);
    expect(tensor.shape).toEqual(SHAPE);
    expect(tensor.data.constructor).toBe(c.expected.constructor);
    expect(Array.from(tensor.data as ArrayLike<number>)).toEqual(Array.from(c.expected));
  });

  it.each(cases)('decodes %s bytes that start at an odd offset of their buffer', (_name, c) => {
    const tensor = binaryHostTensor(c.spec, SHAPE, c.datatype, misaligned(c.data), 'inputs[0]', c.range);

    expect(Array.from(tensor.data as ArrayLike<number>)).toEqual(Array.from(c.expected));
  });

  it('reads FP32 bytes in row-major order for a two-row shape', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8];

    const tensor = binaryHostTensor(FLOAT_SPEC, [2, 4], 'FP32', le.f32(values), 'inputs[0]', INT32_RANGE);

    expect(Array.from(tensor.data as ArrayLike<number>)).toEqual(values);
  });

  it('takes no bytes for an empty shape', () => {
    const tensor = binaryHostTensor(FLOAT_SPEC, [0, 4], 'FP32', Buffer.alloc(0), 'inputs[0]', INT32_RANGE);

    expect(tensor.data).toHaveLength(0);
  });

  it.each([
    ['too few', 'FP32', FLOAT_SPEC, le.f32([1, 2, 3]), '12', '16'],
    ['too many', 'FP32', FLOAT_SPEC, le.f32([1, 2, 3, 4, 5]), '20', '16'],
    ['FP32-sized for FP64', 'FP64', FLOAT_SPEC, le.f32([1, 2, 3, 4]), '16', '32'],
    ['FP32-sized for FP16', 'FP16', FLOAT_SPEC, le.f32([1, 2, 3, 4]), '16', '8'],
    ['INT32-sized for INT64', 'INT64', INT_SPEC, le.i32([1, 2, 3, 4]), '16', '32'],
    ['one byte short of UINT16', 'UINT16', INT_SPEC, Buffer.alloc(7), '7', '8'],
  ] as [string, V2Datatype, TensorSpec, Buffer, string, string][])(
    'refuses %s bytes for the shape, naming binary_data_size, the bytes sent and the bytes needed',
    (_case, datatype, spec, data, sent, needed) => {
      const error = thrown(() => binaryHostTensor(spec, SHAPE, datatype, data, 'inputs[1]', INT32_RANGE));

      expect(error.message).toMatch(/^inputs\[1\]\.parameters\.binary_data_size: /);
      expect(error.message).toContain(`${sent} bytes`);
      expect(error.message).toContain(`needs ${needed}`);
      expect(error.message).toContain(datatype);
    },
  );

  it.each([
    ['FP32 NaN', 'FP32', le.f32([1, 2, NaN, 4]), 2],
    ['FP32 +Infinity', 'FP32', le.f32([Infinity, 2, 3, 4]), 0],
    ['FP32 -Infinity', 'FP32', le.f32([1, 2, 3, -Infinity]), 3],
    ['FP64 NaN', 'FP64', le.f64([1, NaN, 3, 4]), 1],
    ['FP64 -Infinity', 'FP64', le.f64([1, 2, -Infinity, 4]), 2],
    ['FP64 beyond float32 (1e39)', 'FP64', le.f64([1, 2, 3, 1e39]), 3],
    ['FP16 +Infinity (0x7c00)', 'FP16', le.u16([0x3c00, 0x7c00, 0x3c00, 0x3c00]), 1],
    ['FP16 -Infinity (0xfc00)', 'FP16', le.u16([0xfc00, 0x3c00, 0x3c00, 0x3c00]), 0],
    ['FP16 NaN (0x7e00)', 'FP16', le.u16([0x3c00, 0x3c00, 0x3c00, 0x7e00]), 3],
  ] as [string, V2Datatype, Buffer, number][])('refuses %s, naming the element', (_case, datatype, data, index) => {
    const error = thrown(() => binaryHostTensor(FLOAT_SPEC, SHAPE, datatype, data, 'inputs[0]', INT32_RANGE));

    expect(error.message).toMatch(new RegExp(`^inputs\\[0\\]\\.data\\[${index}\\]: .*finite`));
  });

  it.each([
    ['INT64 2^40 for an int32 input', 'INT64', le.i64([1n, 2n, 2n ** 40n, 4n]), INT32_RANGE, 2, String(2 ** 40)],
    ['INT64 -2^31 - 1', 'INT64', le.i64([-(2n ** 31n) - 1n, 2n, 3n, 4n]), INT32_RANGE, 0, String(-(2 ** 31) - 1)],
    ['INT64 2^63 - 1, past 2^53 (named exactly)', 'INT64', le.i64([1n, 2n ** 63n - 1n, 3n, 4n]), INT32_RANGE, 1, '9223372036854775807'],
    ['UINT64 2^32', 'UINT64', le.u64([1n, 2n, 3n, 2n ** 32n]), [0, 2 ** 31 - 1], 3, String(2 ** 32)],
    ['UINT32 2^31', 'UINT32', le.u32([2 ** 31, 2, 3, 4]), [0, 2 ** 31 - 1], 0, String(2 ** 31)],
    ['UINT32 2^32 - 1', 'UINT32', le.u32([1, 2 ** 32 - 1, 3, 4]), [0, 2 ** 31 - 1], 1, String(2 ** 32 - 1)],
    ['INT32 -1 where the range is unsigned', 'INT32', le.i32([1, 2, -1, 4]), [0, 255], 2, '-1'],
  ] as [string, V2Datatype, Buffer, [number, number], number, string][])(
    'refuses %s, out of the range given, naming the element and its value',
    (_case, datatype, data, range, index, value) => {
      const error = thrown(() => binaryHostTensor(INT_SPEC, SHAPE, datatype, data, 'inputs[0]', range));

      expect(error.message).toMatch(new RegExp(`^inputs\\[0\\]\\.data\\[${index}\\]: must be within \\[${range[0]}, ${range[1]}\\]`));
      expect(error.message).toContain(value);
    },
  );

  it('takes UINT8 255 where the range is [0, 255]', () => {
    const tensor = binaryHostTensor(INT_SPEC, SHAPE, 'UINT8', le.u8([255, 255, 0, 1]), 'inputs[0]', [0, 255]);

    expect(Array.from(tensor.data as ArrayLike<number>)).toEqual([255, 255, 0, 1]);
  });

  it.each([2, 255])('refuses a BOOL byte of %d, naming the element', (byte) => {
    const error = thrown(() => binaryHostTensor(BOOL_SPEC, SHAPE, 'BOOL', le.u8([0, 1, byte, 0]), 'inputs[0]', INT32_RANGE));

    expect(error.message).toMatch(/^inputs\[0\]\.data\[2\]: must be a boolean/);
  });

  it('refuses BYTES for a float input', () => {
    const error = thrown(() => binaryHostTensor(FLOAT_SPEC, SHAPE, 'BYTES', Buffer.alloc(16), 'inputs[0]', INT32_RANGE));

    expect(error.message).toMatch(/^inputs\[0\]: BYTES data cannot feed input "x"/);
  });

  it('refuses an input of a dtype that binary data of another kind cannot feed (UINT8 for a string)', () => {
    const spec: TensorSpec = { name: 'text', dtype: 'string', shape: [-1, 4] };

    const error = thrown(() => binaryHostTensor(spec, SHAPE, 'UINT8', Buffer.alloc(4), 'inputs[0]', [0, 255]));

    expect(error.message).toMatch(/^inputs\[0\]: UINT8 data cannot feed input "text"/);
  });

  it('does not keep a view of the body: the tensor is unchanged when the body bytes change later', () => {
    const body = le.f32([1, 2, 3, 4]);
    const tensor = binaryHostTensor(FLOAT_SPEC, SHAPE, 'FP32', body, 'inputs[0]', INT32_RANGE);

    body.fill(0);

    expect(Array.from(tensor.data as ArrayLike<number>)).toEqual([1, 2, 3, 4]);
  });
});

describe(`${binaryHostTensor.name} for the dtypes of ONNX models`, () => {
  const spec = (dtype: TensorSpec['dtype']): TensorSpec => ({ name: 'v', dtype, shape: [-1] });

  /** BYTES elements as Triton writes them: a 4-byte little-endian length, then the bytes. */
  function lengthPrefixed(...elements: Buffer[]): Buffer {
    return Buffer.concat(elements.flatMap((e) => [le.u32([e.length]), e]));
  }

  it.each<[string, TensorSpec['dtype'], V2Datatype, Buffer, unknown[]]>([
    ['INT64 past 2^53, exactly', 'int64', 'INT64', le.i64([-(2n ** 63n), 2n ** 53n + 1n]), [-(2n ** 63n), 2n ** 53n + 1n]],
    ['UINT64 up to 2^64 - 1, exactly', 'uint64', 'UINT64', le.u64([0n, 2n ** 64n - 1n]), [0n, 2n ** 64n - 1n]],
    ['INT8 into an int64 input', 'int64', 'INT8', le.i8([-128, 127]), [-128n, 127n]],
    ['UINT32 into a uint32 input', 'uint32', 'UINT32', le.u32([0, 2 ** 32 - 1]), [0, 2 ** 32 - 1]],
    ['FP64 into a float64 input, unrounded', 'float64', 'FP64', le.f64([0.1, -1e300]), [0.1, -1e300]],
    // FP16 bits stay the bits: 0x3555 is 1365/4096, 0x0001 the smallest subnormal.
    ['FP16 into a float16 input', 'float16', 'FP16', le.u16([0x3555, 0x0001]), [0x3555, 0x0001]],
    // 1.5 and -2.25 are halves exactly: 0x3e00, 0xc080.
    ['FP32 into a float16 input', 'float16', 'FP32', le.f32([1.5, -2.25]), [0x3e00, 0xc080]],
    [
      'BYTES into a string input, UTF-8',
      'string',
      'BYTES',
      lengthPrefixed(Buffer.from('setosa'), Buffer.alloc(0), Buffer.from('été ✓')),
      ['setosa', '', 'été ✓'],
    ],
  ])('decodes %s', (_case, dtype, datatype, data, expected) => {
    const tensor = binaryHostTensor(spec(dtype), [expected.length], datatype, misaligned(data), 'inputs[0]', undefined);

    expect(tensor.dtype).toBe(dtype);
    expect(Array.from(tensor.data as ArrayLike<unknown>)).toEqual(expected);
  });

  it('refuses UINT64 past 2^63 - 1 for an int64 input, naming the value exactly', () => {
    const error = thrown(() => binaryHostTensor(spec('int64'), [1], 'UINT64', le.u64([2n ** 63n]), 'inputs[0]', [0n, 2n ** 64n - 1n]));

    expect(error.message).toBe('inputs[0].data[0]: must be within [0, 9223372036854775807], got 9223372036854775808');
  });

  it.each([
    ['a length prefix cut short', Buffer.concat([le.u32([1]), Buffer.from('a'), Buffer.from([2, 0])]), /end before element 1 of 2/],
    [
      'an element longer than the bytes left',
      Buffer.concat([le.u32([1]), Buffer.from('a'), le.u32([9]), Buffer.from('bc')]),
      /end inside element 1, whose length prefix says 9 bytes/,
    ],
    [
      'bytes left after the elements',
      Buffer.concat([le.u32([1]), Buffer.from('a'), le.u32([1]), Buffer.from('b'), Buffer.from('!')]),
      /but the 2 BYTES elements of the shape take 10/,
    ],
  ])('refuses BYTES data with %s, naming binary_data_size', (_case, data, message) => {
    const error = thrown(() => binaryHostTensor(spec('string'), [2], 'BYTES', data, 'inputs[0]', undefined));

    expect(error.problems[0].path).toBe('inputs[0].parameters.binary_data_size');
    expect(error.message).toMatch(message);
  });

  it('refuses a BYTES element that is not UTF-8, naming it', () => {
    const data = Buffer.concat([le.u32([1]), Buffer.from('a'), le.u32([2]), Buffer.from([0xc3, 0x28])]);

    const error = thrown(() => binaryHostTensor(spec('string'), [2], 'BYTES', data, 'inputs[0]', undefined));

    expect(error.message).toBe('inputs[0].data[1]: is not valid UTF-8: string inputs take text');
  });
});

describe(encodeBinary.name, () => {
  it('writes strings as BYTES: each a 4-byte little-endian length, then its UTF-8 bytes', () => {
    const encoded = encodeBinary(['ab', '', 'é']);

    expect([...encoded]).toEqual([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9]);
  });

  it('writes 64-bit integers and doubles as 8 little-endian bytes each', () => {
    expect(Buffer.compare(encodeBinary(BigInt64Array.of(-1n, 2n ** 62n)), le.i64([-1n, 2n ** 62n]))).toBe(0);
    expect(Buffer.compare(encodeBinary(BigUint64Array.of(2n ** 64n - 1n)), le.u64([2n ** 64n - 1n]))).toBe(0);
    expect(Buffer.compare(encodeBinary(Float64Array.of(0.1, -3)), le.f64([0.1, -3]))).toBe(0);
  });

  it('writes float16 as its bits, 2 little-endian bytes each', () => {
    expect(Buffer.compare(encodeBinary(Uint16Array.of(0x3c00, 0xc000)), le.u16([0x3c00, 0xc000]))).toBe(0);
  });

  it('writes FP32 values as little-endian float32, 4 bytes each', () => {
    const values = [1.5, -2.25, 3.4e38, 1e-45, -0];

    const encoded = encodeBinary(Float32Array.from(values));

    expect(Buffer.compare(encoded, le.f32(values))).toBe(0);
  });

  it('writes INT32 values as little-endian int32, 4 bytes each', () => {
    const values = [-(2 ** 31), -1, 0, 258, 2 ** 31 - 1];

    expect(Buffer.compare(encodeBinary(Int32Array.from(values)), le.i32(values))).toBe(0);
  });

  it('writes BOOL values as one byte each, 0 or 1', () => {
    expect([...encodeBinary(Uint8Array.of(1, 0, 0, 1))]).toEqual([1, 0, 0, 1]);
  });

  it('writes only the elements of a view into a larger array', () => {
    const whole = Float32Array.of(9, 1.25, -7, 9);

    const encoded = encodeBinary(whole.subarray(1, 3));

    expect(Buffer.compare(encoded, le.f32([1.25, -7]))).toBe(0);
  });

  it('round-trips through binaryHostTensor: decoding what it encodes gives the same values', () => {
    const values = Float32Array.of(0.1, -0.2, 1e30, -1e-30);

    const tensor = binaryHostTensor(FLOAT_SPEC, [1, 4], 'FP32', encodeBinary(values), 'inputs[0]', INT32_RANGE);

    expect(tensor.data).toEqual(values);
  });
});
