import { allocate, DTYPE_KINDS } from '../model/dtypes';
import { InvalidInputError } from '../model/model-errors';
import type { HostTensor, NamedTensors, TensorSpec, VersionDescription } from '../model/model-types';
import { FeatureRow, keyPath } from './feature-rows';
import { JsonScalar, jsonValues, toTypedData } from './tensor-codec';

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
export function decodeRows(
  rows: readonly FeatureRow[],
  paths: readonly string[],
  model: string,
  description: VersionDescription,
): NamedTensors {
  const spec = singleRowInput(model, description);
  const width = spec.shape[1];
  const names = description.metadata.features?.length === width ? description.metadata.features : undefined;
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
    // Other numeric inputs (an ONNX model's float64 or int64, ...): each value converted and checked within the dtype.
    const typed = allocate(spec.dtype, rows.length * width) as Float64Array;
    rows.forEach((row, r) =>
      typed.set(toTypedData(toColumns(row, paths[r], width, names, model), spec.dtype, paths[r]) as Float64Array, r * width),
    );
    return { [spec.name]: { dtype: spec.dtype, shape: [rows.length, width], data: typed } };
  }
  const data = spec.dtype === 'int32' ? new Int32Array(rows.length * width) : new Float32Array(rows.length * width);
  const integers = spec.dtype === 'int32';
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    const values = toColumns(row, paths[r], width, names, model);
    for (let c = 0; c < width; c++) {
      const value = values[c];
      if (integers && !(Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)) {
        throw InvalidInputError.at(columnPath(paths[r], row, c, names), 'must be an int32 integer for this model');
      }
      data[r * width + c] = value;
    }
  }
  return { [spec.name]: { dtype: spec.dtype, shape: [rows.length, width], data } };
}

/** The outputs the simple API answers from. */
export interface PredictedOutputs {
  /** One value per class and row, [rows, classes]: the probabilities (or scores). */
  scores: string;
  /** The model's own prediction per row, [rows]: a class index or name. */
  label?: string;
}

/**
 * The model's first output; or, for a classifier that gives its label and the class
 * probabilities as two outputs (as skl2onnx exports scikit-learn's: an integer or string label
 * [N] and float probabilities [N, classes]), both.
 */
export function predictedOutputs(description: VersionDescription): PredictedOutputs {
  const { outputs } = description.signature;
  let label: TensorSpec | undefined;
  let scores: TensorSpec | undefined;
  for (const spec of outputs) {
    const rank = spec.shape?.length;
    if (!label && rank === 1 && (DTYPE_KINDS[spec.dtype] === 'integer' || spec.dtype === 'string')) label = spec;
    if (!scores && rank === 2 && DTYPE_KINDS[spec.dtype] === 'float') scores = spec;
  }
  if (outputs.length >= 2 && label && scores) return { scores: scores.name, label: label.name };
  return { scores: outputs[0].name };
}

/**
 * Splits a model output of shape [rows, ...] into one prediction per row. With labels (one per
 * output column) each row gets its most likely label and a probability per label; without,
 * the index of the largest value and the raw values. Where the model gives its own label
 * (`predicted`), that is the prediction: a class name, or a class index, named by `labels`.
 */
export function encodePredictions(output: HostTensor, labels?: readonly string[], predicted?: HostTensor): RowPrediction[] {
  const rows = output.shape[0] ?? 1;
  const width = rows === 0 ? 0 : output.data.length / rows;
  const named = labels !== undefined && labels.length === width;
  // float16 scores arrive as their bits.
  const scores = output.dtype === 'float16' ? Float64Array.from(jsonValues(output, 'scores') as number[]) : (output.data as Float32Array);
  const given = predicted ? jsonValues(predicted, 'label') : undefined;
  const predictions: RowPrediction[] = [];
  for (let r = 0; r < rows; r++) {
    const values: number[] = [];
    for (let i = r * width; i < (r + 1) * width; i++) values.push(Number(scores[i]));
    const best = argmax(values);
    const prediction = given ? nameOf(given[r], named ? labels : undefined) : named ? labels[best] : best;
    if (named) {
      const probabilities: Record<string, number> = {};
      for (let i = 0; i < width; i++) probabilities[labels[i]] = values[i];
      predictions.push({ prediction, probabilities });
    } else {
      predictions.push({ prediction, outputs: values });
    }
  }
  return predictions;
}

/** A model's label as the answer gives it: a class index named by the labels where they name it. */
function nameOf(label: JsonScalar, labels?: readonly string[]): string | number {
  if (typeof label === 'number')
    return labels !== undefined && Number.isInteger(label) && label >= 0 && label < labels.length ? labels[label] : label;
  return String(label);
}

/** Index of the largest value; the first one on ties. */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The width of a row, when the model takes one numeric rank-2 input `[batch, features]`, which this API can fill. */
export function rowWidth(description: VersionDescription): number | undefined {
  const { inputs } = description.signature;
  const { dtype, shape } = inputs[0];
  const numeric = DTYPE_KINDS[dtype] === 'float' || DTYPE_KINDS[dtype] === 'integer';
  return inputs.length === 1 && numeric && shape?.length === 2 && shape[1] > 0 ? shape[1] : undefined;
}

/** The one rank-2 input `[batch, features]` this API can fill. */
function singleRowInput(model: string, description: VersionDescription): TensorSpec & { shape: number[] } {
  const { inputs } = description.signature;
  if (rowWidth(description) === undefined) {
    const described = inputs.map((s) => `${s.name} ${s.dtype}[${s.shape ?? '?'}]`).join(', ');
    throw new InvalidInputError(
      `model "${model}" takes ${described}; this API serves models with one [batch, features] input: use the V2 or V1 protocol`,
    );
  }
  return inputs[0] as TensorSpec & { shape: number[] };
}

function toColumns(row: FeatureRow, path: string, width: number, names: readonly string[] | undefined, model: string): number[] {
  if (Array.isArray(row)) {
    if (row.length === width) return row;
    const expected = names ? ` (${names.join(', ')})` : '';
    throw InvalidInputError.at(path, `has ${row.length} values; model "${model}" takes ${width}${expected}`);
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
