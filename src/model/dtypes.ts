import type { HostTensor, TensorData, TensorDType } from './model-types';

/** What kind of values a dtype holds, which decides how requests may give them. */
export type DTypeKind = 'float' | 'integer' | 'bool' | 'string' | 'complex';

export const DTYPE_KINDS: Readonly<Record<TensorDType, DTypeKind>> = {
  float16: 'float',
  float32: 'float',
  float64: 'float',
  int8: 'integer',
  int16: 'integer',
  int32: 'integer',
  int64: 'integer',
  uint8: 'integer',
  uint16: 'integer',
  uint32: 'integer',
  uint64: 'integer',
  bool: 'bool',
  string: 'string',
  complex64: 'complex',
};

export const TENSOR_DTYPES = Object.keys(DTYPE_KINDS) as TensorDType[];

export function isTensorDType(value: string): value is TensorDType {
  return Object.hasOwn(DTYPE_KINDS, value);
}

/** Smallest and largest value of each integer dtype, exact (BigInt) for the 64-bit ones. */
export const INTEGER_LIMITS: Readonly<Partial<Record<TensorDType, readonly [bigint, bigint]>>> = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 2n ** 8n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** Largest finite float32; bigger doubles turn into Infinity (and NaN outputs) in the model. */
export const FLOAT32_MAX = 3.4028234663852886e38;
/** Largest finite float16. */
export const FLOAT16_MAX = 65504;
/** Largest magnitude of each float dtype. */
export const FLOAT_LIMITS: Readonly<Partial<Record<TensorDType, number>>> = {
  float16: FLOAT16_MAX,
  float32: FLOAT32_MAX,
  float64: Number.MAX_VALUE,
};

/** Zeros (empty strings, false) of a dtype, in the array type that carries it. */
export function allocate(dtype: TensorDType, size: number): TensorData {
  switch (dtype) {
    case 'float16':
    case 'uint16':
      return new Uint16Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int8':
      return new Int8Array(size);
    case 'int16':
      return new Int16Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'uint8':
    case 'bool':
      return new Uint8Array(size);
    case 'uint32':
      return new Uint32Array(size);
    case 'uint64':
      return new BigUint64Array(size);
    case 'string':
      return new Array<string>(size).fill('');
    case 'float32':
    case 'complex64':
      return new Float32Array(size);
  }
}

/** Whether every value of a float tensor is finite (JSON has no NaN or Infinity); true for other dtypes. */
export function allFinite(tensor: HostTensor): boolean {
  if (tensor.dtype === 'float16') return (tensor.data as Uint16Array).every((bits) => (bits & 0x7c00) !== 0x7c00);
  if (tensor.dtype === 'float32' || tensor.dtype === 'float64') return (tensor.data as Float32Array).every(Number.isFinite);
  return true;
}

/** An IEEE 754 half-precision value's bits as a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * A number's nearest IEEE 754 half-precision value, as bits: rounded to nearest, ties to even
 * (as numpy's astype(float16) rounds), from the double itself rather than through float32, which
 * would round twice.
 */
export function floatToHalf(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  // Below 2^-14 the half is subnormal: a multiple of 2^-24.
  if (magnitude < 2 ** -14) return sign | roundHalfToEven(magnitude * 2 ** 24);
  let exponent = Math.floor(Math.log2(magnitude));
  if (2 ** exponent > magnitude) exponent--;
  else if (2 ** (exponent + 1) <= magnitude) exponent++;
  let fraction = roundHalfToEven((magnitude / 2 ** exponent - 1) * 1024);
  if (fraction === 1024) {
    fraction = 0;
    exponent++;
  }
  if (exponent > 15) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | fraction;
}

function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
