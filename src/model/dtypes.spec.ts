/**
 * Expected values are worked out by hand from IEEE 754 bit layouts, or come from numpy
 * (`np.array([v], np.float64).astype(np.float16).view(np.uint16)`), never from the code under test.
 */
import { allFinite, allocate, floatToHalf, halfToFloat, TENSOR_DTYPES } from './dtypes';

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

describe(floatToHalf.name, () => {
  it.each([
    [1, 0x3c00],
    [0.1, 0x2e66],
    [-0.1, 0xae66],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    // Below the halfway point to 2^16, so still the largest half.
    [65519.99, 0x7bff],
    [2 ** -24, 0x0001],
    // Exactly halfway between 0 and 2^-24: to even, 0.
    [2 ** -25, 0x0000],
    [2 ** -25 * 1.0000001, 0x0001],
    [3 * 2 ** -26, 0x0001],
    // Halfway between two halves: to the even fraction.
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [2049, 0x6800],
    [2051, 0x6802],
    // Just below the smallest normal: the largest subnormal.
    [6.1e-5, 0x03ff],
    [1e-8, 0x0000],
  ])('rounds %d to bits %d as numpy does', (value, bits) => {
    expect(floatToHalf(value)).toBe(bits);
  });

  it('keeps the sign of zero and gives NaN and infinities their bits', () => {
    expect(floatToHalf(0)).toBe(0x0000);
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToHalf(Infinity)).toBe(0x7c00);
    expect(floatToHalf(-Infinity)).toBe(0xfc00);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x7c00).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x03ff).not.toBe(0);
  });

  it('gives back the bits of every finite half value it is given', () => {
    const disagreements: string[] = [];
    for (let bits = 0; bits <= 0xffff; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      const back = floatToHalf(halfToFloat(bits));
      if (back !== bits) disagreements.push(`0x${bits.toString(16)} -> 0x${back.toString(16)}`);
    }
    expect(disagreements.slice(0, 10)).toEqual([]);
  });
});

describe(allFinite.name, () => {
  it('finds NaN and infinities in each float dtype, float16 by its bits', () => {
    expect(allFinite({ dtype: 'float32', shape: [2], data: Float32Array.of(1, NaN) })).toBe(false);
    expect(allFinite({ dtype: 'float64', shape: [2], data: Float64Array.of(1, -Infinity) })).toBe(false);
    expect(allFinite({ dtype: 'float16', shape: [2], data: Uint16Array.of(0x3c00, 0x7c00) })).toBe(false);
    expect(allFinite({ dtype: 'float16', shape: [2], data: Uint16Array.of(0x3c00, 0x7bff) })).toBe(true);
  });

  it('is true for integers, whatever their bits', () => {
    expect(allFinite({ dtype: 'uint16', shape: [1], data: Uint16Array.of(0x7c00) })).toBe(true);
  });
});

describe(allocate.name, () => {
  it.each(TENSOR_DTYPES)('gives %s zeros in the array type that carries it', (dtype) => {
    const data = allocate(dtype, 3);

    expect(data).toHaveLength(3);
    expect(Array.from(data as ArrayLike<unknown>).every((v) => v === 0 || v === 0n || v === '')).toBe(true);
  });
});
