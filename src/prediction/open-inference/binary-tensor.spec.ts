/**
 * Unit tests of the binary tensor data extension's codec. Every byte string is built here with
 * Buffer's write*LE methods (or DataView), and every expected number is worked out by hand
 * from IEEE 754 bit layouts, never taken from the code under test.
 */
import { InvalidInputError } from '../../model/model-errors';
import type { TensorSpec } from '../../model/model-types';
import { binaryDataSize, binaryHostTensor, booleanParameter, encodeBinary, halfToFloat } from './binary-tensor';
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

/**
 * Half-precision bits to a number by another route than the code under test: rebuild the
 * float32 bit pattern (normalising subnormals by shifting) and read it back with DataView.
 */
function referenceHalf(half: number): number {
  const sign = (half & 0x8000) << 16;
  let exponent = (half >> 10) & 0x1f;
  let mantissa = half & 0x3ff;
  let bits: number;
  if (exponent === 0 && mantissa === 0) {
    bits = sign;
  } else if (exponent === 0) {
    exponent = 127 - 15 + 1;
    while ((mantissa & 0x400) === 0) {
      mantissa <<= 1;
      exponent--;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  } else if (exponent === 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else {
    bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  }
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits >>> 0);
  return view.getFloat32(0);
}

describe(halfToFloat.name, () => {
  it.each([
    ['one', 0x3c00, 1],
    ['two', 0x4000, 2],
    ['minus two', 0xc000, -2],
    ['one and a half', 0x3e00, 1.5],
    ['a third, rounded to 10 fraction bits: (1 + 0x155/1024) / 4', 0x3555, 1365 / 4096],
    ['the largest half, (2 - 1/1024) * 2^15', 0x7bff, 65504],
    ['the most negative half', 0xfbff, -65504],
    ['the smallest normal, 2^-14', 0x0400, 2 ** -14],
    ['the smallest subnormal, 2^-24', 0x0001, 2 ** -24],
    ['the largest subnormal, 1023 * 2^-24', 0x03ff, 1023 * 2 ** -24],
    ['a negative subnormal, -512 * 2^-24', 0x8200, -(2 ** -15)],
    ['+Infinity', 0x7c00, Infinity],
    ['-Infinity', 0xfc00, -Infinity],
  ])('reads %s', (_name, bits, expected) => {
    expect(halfToFloat(bits)).toBe(expected);
  });

  it('reads 0x0000 as +0 and 0x8000 as -0', () => {
    expect(Object.is(halfToFloat(0x0000), 0)).toBe(true);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  it.each([0x7c01, 0x7e00, 0x7fff, 0xfc01, 0xfe00, 0xffff])('reads bits %d, an exponent of all ones with a fraction, as NaN', (bits) => {
    expect(halfToFloat(bits)).toBeNaN();
  });

  it('agrees with a float32 bit-pattern conversion on all 65536 half values', () => {
    const disagreements: string[] = [];
    for (let bits = 0; bits <= 0xffff; bits++) {
      const expected = referenceHalf(bits);
      const actual = halfToFloat(bits);
      if (!Object.is(actual, expected) && !(Number.isNaN(actual) && Number.isNaN(expected))) {
        disagreements.push(`0x${bits.toString(16)}: ${actual} != ${expected}`);
      }
    }
    expect(disagreements.slice(0, 10)).toEqual([]);
  });
});

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
    ['FP32', { datatype: 'FP32', spec: FLOAT_SPEC, data: le.f32([1.5, -2.25, 3.4e38, 1e-45]), range: INT32_RANGE, expected: Float32Array.of(1.5, -2.25, 3.4e38, 1e-45) }],
    // FP64 values are rounded to float32, as JSON numbers are.
    ['FP64', { datatype: 'FP64', spec: FLOAT_SPEC, data: le.f64([0.1, -2.5, 1e-3, 3e38]), range: INT32_RANGE, expected: Float32Array.of(0.1, -2.5, 1e-3, 3e38) }],
    // 0x3c00 = 1, 0xc000 = -2, 0x3555 = 1365/4096, 0x0001 = 2^-24.
    ['FP16', { datatype: 'FP16', spec: FLOAT_SPEC, data: le.u16([0x3c00, 0xc000, 0x3555, 0x0001]), range: INT32_RANGE, expected: Float32Array.of(1, -2, 1365 / 4096, 2 ** -24) }],
    ['INT8', { datatype: 'INT8', spec: INT_SPEC, data: le.i8([-128, -1, 0, 127]), range: [-128, 127], expected: Int32Array.of(-128, -1, 0, 127) }],
    ['UINT8', { datatype: 'UINT8', spec: INT_SPEC, data: le.u8([0, 1, 128, 255]), range: [0, 255], expected: Int32Array.of(0, 1, 128, 255) }],
    ['INT16', { datatype: 'INT16', spec: INT_SPEC, data: le.i16([-32768, -2, 300, 32767]), range: [-32768, 32767], expected: Int32Array.of(-32768, -2, 300, 32767) }],
    ['UINT16', { datatype: 'UINT16', spec: INT_SPEC, data: le.u16([0, 1, 40000, 65535]), range: [0, 65535], expected: Int32Array.of(0, 1, 40000, 65535) }],
    ['INT32', { datatype: 'INT32', spec: INT_SPEC, data: le.i32([-(2 ** 31), -7, 70000, 2 ** 31 - 1]), range: INT32_RANGE, expected: Int32Array.of(-(2 ** 31), -7, 70000, 2 ** 31 - 1) }],
    ['UINT32', { datatype: 'UINT32', spec: INT_SPEC, data: le.u32([0, 1, 123456, 2 ** 31 - 1]), range: [0, 2 ** 31 - 1], expected: Int32Array.of(0, 1, 123456, 2 ** 31 - 1) }],
    ['INT64', { datatype: 'INT64', spec: INT_SPEC, data: le.i64([-(2n ** 31n), -5n, 6n, 2n ** 31n - 1n]), range: INT32_RANGE, expected: Int32Array.of(-(2 ** 31), -5, 6, 2 ** 31 - 1) }],
    ['UINT64', { datatype: 'UINT64', spec: INT_SPEC, data: le.u64([0n, 1n, 77n, 2n ** 31n - 1n]), range: [0, 2 ** 31 - 1], expected: Int32Array.of(0, 1, 77, 2 ** 31 - 1) }],
    ['BOOL', { datatype: 'BOOL', spec: BOOL_SPEC, data: le.u8([0, 1, 1, 0]), range: INT32_RANGE, expected: Uint8Array.of(0, 1, 1, 0) }],
  ];

  it.each(cases)('decodes little-endian %s bytes into the input dtype, row-major', (_name, c) => {
    const tensor = binaryHostTensor(c.spec, SHAPE, c.datatype, c.data, 'inputs[0]', c.range);

    expect(tensor.dtype).toBe(c.spec.dtype);
    expect(tensor.shape).toEqual(SHAPE);
    expect(tensor.data.constructor).toBe(c.expected.constructor);
    expect(Array.from(tensor.data)).toEqual(Array.from(c.expected));
  });

  it.each(cases)('decodes %s bytes that start at an odd offset of their buffer', (_name, c) => {
    const tensor = binaryHostTensor(c.spec, SHAPE, c.datatype, misaligned(c.data), 'inputs[0]', c.range);

    expect(Array.from(tensor.data)).toEqual(Array.from(c.expected));
  });

  it('reads FP32 bytes in row-major order for a two-row shape', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8];

    const tensor = binaryHostTensor(FLOAT_SPEC, [2, 4], 'FP32', le.f32(values), 'inputs[0]', INT32_RANGE);

    expect(Array.from(tensor.data)).toEqual(values);
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
    ['INT64 2^63 - 1, past 2^53', 'INT64', le.i64([1n, 2n ** 63n - 1n, 3n, 4n]), INT32_RANGE, 1, '9223372036854776000'],
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

    expect(Array.from(tensor.data)).toEqual([255, 255, 0, 1]);
  });

  it.each([2, 255])('refuses a BOOL byte of %d, naming the element', (byte) => {
    const error = thrown(() => binaryHostTensor(BOOL_SPEC, SHAPE, 'BOOL', le.u8([0, 1, byte, 0]), 'inputs[0]', INT32_RANGE));

    expect(error.message).toMatch(/^inputs\[0\]\.data\[2\]: must be a boolean/);
  });

  it('refuses BYTES, which has no fixed-size binary form', () => {
    const error = thrown(() => binaryHostTensor(FLOAT_SPEC, SHAPE, 'BYTES', Buffer.alloc(16), 'inputs[0]', INT32_RANGE));

    expect(error.message).toMatch(/^inputs\[0\]: BYTES data cannot feed input "x"/);
  });

  it('refuses an input of a dtype that binary data cannot feed (string)', () => {
    const spec: TensorSpec = { name: 'text', dtype: 'string', shape: [-1, 4] };

    const error = thrown(() => binaryHostTensor(spec, SHAPE, 'UINT8', Buffer.alloc(4), 'inputs[0]', [0, 255]));

    expect(error.message).toMatch(/^inputs\[0\]: UINT8 data cannot feed input "text"/);
  });

  it('does not keep a view of the body: the tensor is unchanged when the body bytes change later', () => {
    const body = le.f32([1, 2, 3, 4]);
    const tensor = binaryHostTensor(FLOAT_SPEC, SHAPE, 'FP32', body, 'inputs[0]', INT32_RANGE);

    body.fill(0);

    expect(Array.from(tensor.data)).toEqual([1, 2, 3, 4]);
  });
});

describe(encodeBinary.name, () => {
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
