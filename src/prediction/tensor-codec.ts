import { allocate, DTYPE_KINDS, FLOAT_LIMITS, floatToHalf, halfToFloat, INTEGER_LIMITS } from '../model/dtypes';
import { InvalidInputError } from '../model/model-errors';
import type { HostTensor, TensorData, TensorDType, TensorSpec } from '../model/model-types';
import { typeName } from './feature-rows';

/** Deepest nesting of a tensor given as nested lists; more is refused before any recursion. */
export const MAX_RANK = 16;
/**
 * Largest integer a JSON number carries exactly into JavaScript (2^53 - 1). int64 and uint64
 * values past it travel in binary form (the V2 binary tensor data extension), exact.
 */
export const JSON_INTEGER_MAX = Number.MAX_SAFE_INTEGER;

/** The smallest and largest value a request's datatype can hold, where it is narrower than the input's. */
export type IntegerRange = readonly [number | bigint, number | bigint];

/** A tensor's values as JSON gives them: numbers, booleans or strings, flat, row-major. */
export type JsonScalar = number | boolean | string;

/**
 * Flattens nested lists into row-major values and the shape the nesting describes; refuses
 * ragged lists (rows of different lengths), mixed nesting and non-scalars.
 */
export function flattenNested(value: unknown, path: string): { shape: number[]; values: unknown[] } {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe)) {
    if (shape.length >= MAX_RANK) throw InvalidInputError.at(path, `is nested more than ${MAX_RANK} levels deep`);
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const values: unknown[] = [];
  const walk = (node: unknown, depth: number, where: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) throw InvalidInputError.at(where, `is a list where the shape [${shape}] puts a value`);
      values.push(node);
      return;
    }
    if (!Array.isArray(node)) throw InvalidInputError.at(where, `must be a list: lists nested ${shape.length} deep must all be that deep`);
    if (node.length !== shape[depth]) {
      throw InvalidInputError.at(where, `has ${node.length} items where its siblings have ${shape[depth]} (ragged lists are not tensors)`);
    }
    node.forEach((child, i) => walk(child, depth + 1, `${where}[${i}]`));
  };
  walk(value, 0, path);
  return { shape, values };
}

/** Flattens `data` given flat or nested (row-major), as the Open Inference Protocol allows. */
export function flattenData(data: unknown, path: string): { values: unknown[]; nesting?: number[] } {
  const { shape, values } = flattenNested(data, path);
  return { values, nesting: shape.length > 1 ? shape : undefined };
}

/**
 * Typed values for a model input of `dtype`, checked one by one, each within what the dtype
 * holds: finite numbers within range for floats (float16 stored as its bits); integers within
 * range for integer dtypes, and further within `integerRange` when the request's datatype is
 * narrower; booleans or 0/1 for bool; strings for string. Values read from binary data may be
 * BigInts (64-bit datatypes), compared exactly; an int64 or uint64 value given as a JSON number
 * must be within ±(2^53 - 1), which JSON numbers carry exactly.
 */
export function toTypedData(
  values: ArrayLike<unknown>,
  dtype: TensorDType,
  path: string,
  integerRange?: IntegerRange,
  nesting?: readonly number[],
): TensorData {
  const data = allocate(dtype, values.length);
  const fail = (i: number, problem: string): never => {
    throw InvalidInputError.at(elementPath(path, i, nesting), problem);
  };
  switch (DTYPE_KINDS[dtype]) {
    case 'float': {
      const max = FLOAT_LIMITS[dtype]!;
      const half = dtype === 'float16';
      const out = data as Float32Array | Float64Array | Uint16Array;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (typeof value !== 'number') fail(i, `must be a number, got ${typeName(value)}`);
        if (!Number.isFinite(value) || Math.abs(value as number) > max) fail(i, floatRangeProblem(dtype, value as number));
        out[i] = half ? floatToHalf(value as number) : (value as number);
      }
      return data;
    }
    case 'integer':
      return toIntegers(values, dtype, data, integerRange, fail);
    case 'bool': {
      const out = data as Uint8Array;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (!(typeof value === 'boolean' || value === 0 || value === 1)) fail(i, `must be a boolean, got ${typeName(value)}`);
        out[i] = Number(value);
      }
      return data;
    }
    case 'string': {
      const out = data as string[];
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (typeof value !== 'string') fail(i, `must be a string, got ${typeName(value)}`);
        out[i] = value as string;
      }
      return data;
    }
    case 'complex':
      throw InvalidInputError.at(path, `${dtype} values cannot be given to this server`);
  }
}

function floatRangeProblem(dtype: TensorDType, value: number): string {
  if (dtype === 'float64') return `must be a finite number, got ${value}`;
  return `must be a finite number within ${dtype} range (magnitude at most ${FLOAT_LIMITS[dtype]}), got ${value}`;
}

function toIntegers(
  values: ArrayLike<unknown>,
  dtype: TensorDType,
  data: TensorData,
  integerRange: IntegerRange | undefined,
  fail: (i: number, problem: string) => never,
): TensorData {
  const [lowest, highest] = INTEGER_LIMITS[dtype]!;
  const min = integerRange && BigInt(integerRange[0]) > lowest ? BigInt(integerRange[0]) : lowest;
  const max = integerRange && BigInt(integerRange[1]) < highest ? BigInt(integerRange[1]) : highest;
  const wide = dtype === 'int64' || dtype === 'uint64';
  const [minNumber, maxNumber] = [Number(min), Number(max)];
  const out = data as Int32Array;
  const wideOut = data as BigInt64Array;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value === 'bigint') {
      if (value < min || value > max) fail(i, `must be within [${min}, ${max}], got ${value}`);
      if (wide) wideOut[i] = value;
      else out[i] = Number(value);
      continue;
    }
    if (typeof value !== 'number') fail(i, `must be a number, got ${typeName(value)}`);
    const number = value;
    if (!Number.isInteger(number)) fail(i, `must be an integer, got ${number}`);
    if (wide && !Number.isSafeInteger(number)) {
      fail(
        i,
        `must be within ±${JSON_INTEGER_MAX} (2^53 - 1) as a JSON number, got ${number}; send ${dtype} values beyond it in binary form`,
      );
    }
    if (number < minNumber || number > maxNumber) fail(i, `must be within [${min}, ${max}], got ${number}`);
    if (wide) wideOut[i] = BigInt(number);
    else out[i] = number;
  }
  return data;
}

/**
 * Where the value at a flat index sits in the request: `data[5]` for flat values; for values
 * given as nested lists (`nesting` is their shape), `instances[1][2]`, and a `[*]` in the path
 * (one row per request item) takes the row index: `instances[1].name[2]`.
 */
function elementPath(path: string, index: number, nesting?: readonly number[]): string {
  if (!nesting || nesting.length === 0) return `${path}[${index}]`;
  const indices: number[] = [];
  let rest = index;
  for (let d = nesting.length - 1; d >= 0; d--) {
    indices.unshift(rest % nesting[d]);
    rest = Math.floor(rest / nesting[d]);
  }
  if (path.includes('[*]')) {
    const [row, ...inner] = indices;
    return `${path.replace('[*]', `[${row}]`)}${inner.map((i) => `[${i}]`).join('')}`;
  }
  return `${path}${indices.map((i) => `[${i}]`).join('')}`;
}

/**
 * A model input's tensor from JSON values and a shape, checked against the input's spec.
 * `nesting` is the shape of the nested lists the values came in, if they did.
 */
export function hostTensor(
  spec: TensorSpec,
  shape: number[],
  values: readonly unknown[],
  path: string,
  integerRange?: IntegerRange,
  nesting?: readonly number[],
): HostTensor {
  const size = shape.reduce((n, d) => n * d, 1);
  if (size !== values.length) {
    throw InvalidInputError.at(path, `holds ${values.length} values but shape [${shape}] needs ${size}`);
  }
  if (DTYPE_KINDS[spec.dtype] === 'complex') {
    throw InvalidInputError.at(path, `feeds input "${spec.name}" of dtype ${spec.dtype}, which this server cannot take from JSON`);
  }
  return { dtype: spec.dtype, shape, data: toTypedData(values, spec.dtype, path, integerRange, nesting) };
}

/**
 * A tensor's values as JSON scalars: numbers (float16 from its bits), booleans for bool, strings
 * for string. An int64 or uint64 value past ±(2^53 - 1) has no exact JSON number: it is refused,
 * naming the output, with the way to get it exactly (binary form).
 */
export function jsonValues(tensor: HostTensor, name: string): JsonScalar[] {
  const { dtype, data } = tensor;
  if (dtype === 'bool') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (dtype === 'float16') return Array.from(data as Uint16Array, halfToFloat);
  if (dtype === 'int64' || dtype === 'uint64') {
    return Array.from(data as BigInt64Array, (v) => {
      if (v > BigInt(JSON_INTEGER_MAX) || v < -BigInt(JSON_INTEGER_MAX)) {
        throw new InvalidInputError(
          `output "${name}" holds ${v}, beyond ±${JSON_INTEGER_MAX} (2^53 - 1), which a JSON number cannot carry exactly; ` +
            'ask for it in binary form (the V2 binary tensor data extension)',
        );
      }
      return Number(v);
    });
  }
  return Array.from(data as ArrayLike<JsonScalar>);
}

/** Row-major JSON values as nested lists of the given shape (TF Serving's JSON form). */
export function toNested(values: readonly JsonScalar[], shape: readonly number[]): unknown {
  if (shape.length === 0) return values[0];
  const build = (depth: number, offset: number): unknown[] => {
    const stride = shape.slice(depth + 1).reduce((n, d) => n * d, 1);
    return Array.from({ length: shape[depth] }, (_, i) =>
      depth === shape.length - 1 ? values[offset + i] : build(depth + 1, offset + i * stride),
    );
  };
  return build(0, 0);
}
