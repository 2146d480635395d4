import { InvalidInputError } from '../model/model-errors';
import type { HostTensor, TensorData, TensorDType, TensorSpec } from '../model/model-types';
import { FLOAT32_MAX, typeName } from './feature-rows';

/** Deepest nesting of a tensor given as nested lists; more is refused before any recursion. */
export const MAX_RANK = 16;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** A tensor's values as JSON gives them: numbers or booleans, flat, row-major. */
export type JsonScalar = number | boolean;

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
 * Typed values for a model input, checked one by one: numbers for float32 (finite, within
 * float32), integers for int32 (within int32, or within `integerRange` when the request's
 * datatype is narrower), booleans or 0/1 for bool.
 */
export function toTypedData(
  values: ArrayLike<unknown>,
  dtype: TensorDType,
  path: string,
  integerRange: readonly [number, number] = [INT32_MIN, INT32_MAX],
  nesting?: readonly number[],
): TensorData {
  const data = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    const problem = problemOf(value, dtype, integerRange);
    if (problem) throw InvalidInputError.at(elementPath(path, i, nesting), problem);
    data[i] = typeof value === 'boolean' ? Number(value) : (value as number);
  }
  return data;
}

function problemOf(value: unknown, dtype: TensorDType, [min, max]: readonly [number, number]): string | null {
  if (dtype === 'bool') {
    return typeof value === 'boolean' || value === 0 || value === 1 ? null : `must be a boolean, got ${typeName(value)}`;
  }
  if (typeof value !== 'number') return `must be a number, got ${typeName(value)}`;
  if (dtype === 'int32') {
    if (!Number.isInteger(value)) return `must be an integer, got ${value}`;
    if (value < min || value > max) return `must be within [${min}, ${max}], got ${value}`;
    return null;
  }
  if (!Number.isFinite(value) || Math.abs(value) > FLOAT32_MAX) {
    return `must be a finite number within float32 range (magnitude at most ${FLOAT32_MAX}), got ${value}`;
  }
  return null;
}

function allocate(dtype: TensorDType, size: number): TensorData {
  if (dtype === 'int32') return new Int32Array(size);
  if (dtype === 'bool') return new Uint8Array(size);
  return new Float32Array(size);
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
  integerRange?: readonly [number, number],
  nesting?: readonly number[],
): HostTensor {
  const size = shape.reduce((n, d) => n * d, 1);
  if (size !== values.length) {
    throw InvalidInputError.at(path, `holds ${values.length} values but shape [${shape}] needs ${size}`);
  }
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32' && spec.dtype !== 'bool') {
    throw InvalidInputError.at(path, `feeds input "${spec.name}" of dtype ${spec.dtype}, which this server cannot take from JSON`);
  }
  return { dtype: spec.dtype, shape, data: toTypedData(values, spec.dtype, path, integerRange, nesting) };
}

/** Row-major values as nested lists of the given shape (TF Serving's JSON form). */
export function toNested(data: ArrayLike<number>, shape: readonly number[], dtype: TensorDType): unknown {
  const scalar = (i: number): JsonScalar => (dtype === 'bool' ? data[i] !== 0 : data[i]);
  if (shape.length === 0) return scalar(0);
  const build = (depth: number, offset: number): unknown[] => {
    const stride = shape.slice(depth + 1).reduce((n, d) => n * d, 1);
    return Array.from({ length: shape[depth] }, (_, i) =>
      depth === shape.length - 1 ? scalar(offset + i) : build(depth + 1, offset + i * stride),
    );
  };
  return build(0, 0);
}

/** Flat values of a host tensor as JSON numbers or booleans. */
export function toFlat(tensor: HostTensor): JsonScalar[] {
  return Array.from(tensor.data, (v) => (tensor.dtype === 'bool' ? v !== 0 : v));
}
