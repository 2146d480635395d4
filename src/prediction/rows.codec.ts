import { InvalidInputError } from '../model/model-errors';
import type { HostTensor, NamedTensors, TensorSpec, VersionDescription } from '../model/model-types';
import { FeatureRow, keyPath } from './feature-rows';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** One row's answer: the most likely label and each label's probability, or the raw outputs. */
export interface RowPrediction {
  prediction: string | number;
  probabilities?: Record<string, number>;
  outputs?: number[];
}

/**
 * Rows of features as the model's one `[batch, features]` input: each row a list in feature
 * order, or an object keyed by the feature names of the model's metadata. `paths` says where
 * each row sits in the request, for the error messages.
 */
export function decodeRows(rows: readonly FeatureRow[], paths: readonly string[], model: string, description: VersionDescription): NamedTensors {
  const spec = singleRowInput(model, description);
  const width = spec.shape[1];
  const names = description.metadata.features?.length === width ? description.metadata.features : undefined;
  const data = spec.dtype === 'int32' ? new Int32Array(rows.length * width) : new Float32Array(rows.length * width);
  rows.forEach((row, r) => {
    const values = toColumns(row, paths[r], width, names, model);
    values.forEach((value, c) => {
      if (spec.dtype === 'int32' && !(Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)) {
        throw InvalidInputError.at(columnPath(paths[r], row, c, names), 'must be an int32 integer for this model');
      }
      data[r * width + c] = value;
    });
  });
  return { [spec.name]: { dtype: spec.dtype, shape: [rows.length, width], data } };
}

/** The output the simple API answers from: the model's first. */
export function predictedOutput(description: VersionDescription): string {
  return description.signature.outputs[0].name;
}

/**
 * Splits a model output of shape [rows, ...] into one prediction per row. With labels (one per
 * output column) each row gets its most likely label and a probability per label; without,
 * the index of the largest value and the raw values.
 */
export function encodePredictions(output: HostTensor, labels?: readonly string[]): RowPrediction[] {
  const rows = output.shape[0] ?? 1;
  const width = rows === 0 ? 0 : output.data.length / rows;
  const named = labels !== undefined && labels.length === width;
  const predictions: RowPrediction[] = [];
  for (let r = 0; r < rows; r++) {
    const values = Array.from(output.data.subarray(r * width, (r + 1) * width), Number);
    const best = argmax(values);
    if (named) {
      const probabilities: Record<string, number> = {};
      labels.forEach((label, i) => (probabilities[label] = values[i]));
      predictions.push({ prediction: labels[best], probabilities });
    } else {
      predictions.push({ prediction: best, outputs: values });
    }
  }
  return predictions;
}

/** Index of the largest value; the first one on ties. */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The one rank-2 input `[batch, features]` this API can fill. */
function singleRowInput(model: string, description: VersionDescription): TensorSpec & { shape: number[] } {
  const { inputs } = description.signature;
  const spec = inputs[0];
  const fits =
    inputs.length === 1 && spec.shape !== null && spec.shape.length === 2 && spec.shape[1] > 0 && (spec.dtype === 'float32' || spec.dtype === 'int32');
  if (!fits) {
    const described = inputs.map((s) => `${s.name} ${s.dtype}[${s.shape ?? '?'}]`).join(', ');
    throw new InvalidInputError(`model "${model}" takes ${described}; this API serves models with one [batch, features] input: use the V2 or V1 protocol`);
  }
  return spec as TensorSpec & { shape: number[] };
}

function toColumns(row: FeatureRow, path: string, width: number, names: readonly string[] | undefined, model: string): number[] {
  const expected = names ? ` (${names.join(', ')})` : '';
  if (Array.isArray(row)) {
    if (row.length !== width) throw InvalidInputError.at(path, `has ${row.length} values; model "${model}" takes ${width}${expected}`);
    return row;
  }
  if (!names) throw InvalidInputError.at(path, `model "${model}" has no feature names; send a list of ${width} numbers`);
  const known = new Set(names);
  for (const key of Object.keys(row)) {
    if (!known.has(key)) {
      throw InvalidInputError.at(keyPath(path, key), `is not a feature of model "${model}"; its features are ${names.join(', ')}`);
    }
  }
  const missing = names.filter((name) => !Object.hasOwn(row, name));
  if (missing.length > 0) throw InvalidInputError.at(path, `is missing ${missing.join(', ')}; model "${model}" takes ${names.join(', ')}`);
  return names.map((name) => row[name]);
}

function columnPath(path: string, row: FeatureRow, column: number, names?: readonly string[]): string {
  return Array.isArray(row) || !names ? `${path}[${column}]` : keyPath(path, names[column]);
}
