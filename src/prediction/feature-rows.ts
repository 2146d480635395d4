import { FLOAT32_MAX } from '../model/dtypes';
import type { InputProblem } from '../model/model-errors';

/** Widest row accepted before the model's own width is known. */
export const MAX_ROW_WIDTH = 65_536;
export const MAX_FEATURE_NAME_LENGTH = 128;

/** One input row: values in column order, or values keyed by feature name. */
export type FeatureRow = number[] | Record<string, number>;

/** The first problem with a row, or null; never echoes strings from the request back. */
export function findRowProblem(row: unknown, path: string): InputProblem | null {
  if (Array.isArray(row)) {
    if (row.length === 0) return { path, message: 'must not be empty' };
    if (row.length > MAX_ROW_WIDTH) {
      return { path, message: `has ${row.length} values; at most ${MAX_ROW_WIDTH} are accepted` };
    }
    for (let i = 0; i < row.length; i++) {
      const problem = numberProblem(row[i]);
      if (problem) return { path: `${path}[${i}]`, message: problem };
    }
    return null;
  }
  if (isPlainObject(row)) {
    const keys = Object.keys(row);
    if (keys.length === 0) return { path, message: 'must name at least one feature' };
    if (keys.length > MAX_ROW_WIDTH) {
      return { path, message: `names ${keys.length} features; at most ${MAX_ROW_WIDTH} are accepted` };
    }
    for (const key of keys) {
      if (key.length === 0 || key.length > MAX_FEATURE_NAME_LENGTH) {
        return { path, message: `has a feature name of ${key.length} characters; names have 1 to ${MAX_FEATURE_NAME_LENGTH}` };
      }
      const problem = numberProblem(row[key]);
      if (problem) return { path: keyPath(path, key), message: problem };
    }
    return null;
  }
  return {
    path,
    message: `must be a list of numbers or an object of numbers keyed by feature name, got ${typeName(row)}`,
  };
}

export function findRowsProblem(rows: unknown, path: string): InputProblem | null {
  if (!Array.isArray(rows)) return { path, message: `must be a list of rows, got ${typeName(rows)}` };
  if (rows.length === 0) return { path, message: 'must hold at least one row' };
  for (let i = 0; i < rows.length; i++) {
    const problem = findRowProblem(rows[i], `${path}[${i}]`);
    if (problem) return problem;
  }
  return null;
}

export function numberProblem(value: unknown): string | null {
  if (typeof value !== 'number') return `must be a number, got ${typeName(value)}`;
  if (!Number.isFinite(value) || Math.abs(value) > FLOAT32_MAX) {
    return `must be a finite number within float32 range (magnitude at most ${FLOAT32_MAX}), got ${value}`;
  }
  return null;
}

/** `features.petal_width`, or `features["odd key"]` for keys that are not plain names. */
export function keyPath(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
