import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { InvalidInputError } from '../model/model-errors';
import type { ServedModel } from '../model/model-registry';
import { InferenceService } from './inference.service';
import type { HostTensor, TensorSpec } from '../model/model-types';
import { FeatureRow, keyPath } from './feature-rows';
import { mapOutputRows, RowPrediction } from './label-mapping';

export interface ModelRef {
  name: string;
  version: string;
}

export interface SinglePrediction extends RowPrediction {
  model: ModelRef;
}

/** Which model and version to predict with; the default model's newest version if unset. */
export interface PredictionTarget {
  model?: string;
  version?: number;
}

export interface BatchPrediction {
  predictions: RowPrediction[];
  model: ModelRef;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * The simple prediction API over one model input: rows of features in, a label and class
 * probabilities per row out. Rows are checked against the model before they reach it.
 */
@Injectable()
export class PredictionService {
  private readonly defaultModel: string;
  private readonly maxBatchRows: number;

  constructor(
    private readonly inference: InferenceService,
    config: ConfigService<AllConfig, true>,
  ) {
    this.defaultModel = config.getOrThrow('model.defaultModel', { infer: true });
    this.maxBatchRows = config.getOrThrow('prediction.maxBatchRows', { infer: true });
  }

  /** One row in `features`, or a batch in `instances` (the request DTO guarantees one of them). */
  predict(request: { features?: FeatureRow; instances?: FeatureRow[] }, target: PredictionTarget = {}): Promise<SinglePrediction | BatchPrediction> {
    return request.instances !== undefined
      ? this.predictBatch(request.instances, target)
      : this.predictOne(request.features!, target);
  }

  async predictOne(row: FeatureRow, target: PredictionTarget = {}, path = 'features'): Promise<SinglePrediction> {
    const { predictions, model } = await this.predictRows([row], [path], target);
    return { ...predictions[0], model };
  }

  async predictBatch(rows: FeatureRow[], target: PredictionTarget = {}, path = 'instances'): Promise<BatchPrediction> {
    if (rows.length > this.maxBatchRows) {
      throw InvalidInputError.at(path, `has ${rows.length} rows; at most ${this.maxBatchRows} are accepted per request`);
    }
    return this.predictRows(rows, rows.map((_, i) => `${path}[${i}]`), target);
  }

  private async predictRows(rows: FeatureRow[], paths: string[], target: PredictionTarget): Promise<BatchPrediction> {
    const served = this.inference.resolve({ model: target.model ?? this.defaultModel, version: target.version });
    const spec = singleRowInput(served);
    const width = spec.shape![1];
    const names = featureNames(served, width);
    const data = spec.dtype === 'int32' ? new Int32Array(rows.length * width) : new Float32Array(rows.length * width);
    rows.forEach((row, r) => {
      const values = toColumns(row, paths[r], width, names, served.name);
      values.forEach((value, c) => {
        if (spec.dtype === 'int32' && !(Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)) {
          throw InvalidInputError.at(columnPath(paths[r], row, c, names), 'must be an int32 integer for this model');
        }
        data[r * width + c] = value;
      });
    });
    const input: HostTensor = { dtype: spec.dtype, shape: [rows.length, width], data };
    const firstOutput = served.model.signature.outputs[0].name;
    const { outputs } = await this.inference.infer(served, { [spec.name]: input }, [firstOutput]);
    const output = outputs[firstOutput];
    return {
      predictions: mapOutputRows(output, served.model.metadata.labels),
      model: { name: served.name, version: String(served.version) },
    };
  }
}

/** The one rank-2 input `[batch, features]` this API can fill. */
function singleRowInput(served: ServedModel): TensorSpec & { shape: number[] } {
  const { inputs } = served.model.signature;
  const spec = inputs[0];
  const fits =
    inputs.length === 1 &&
    spec.shape !== null &&
    spec.shape.length === 2 &&
    spec.shape[1] > 0 &&
    (spec.dtype === 'float32' || spec.dtype === 'int32');
  if (!fits) {
    const described = inputs.map((s) => `${s.name} ${s.dtype}[${s.shape ?? '?'}]`).join(', ');
    throw new InvalidInputError(
      `model "${served.name}" takes ${described}; this API serves models with one [batch, features] input: use the V2 or V1 protocol`,
    );
  }
  return spec as TensorSpec & { shape: number[] };
}

function featureNames(served: ServedModel, width: number): string[] | undefined {
  const names = served.model.metadata.features;
  return names && names.length === width ? names : undefined;
}

function toColumns(
  row: FeatureRow,
  path: string,
  width: number,
  names: string[] | undefined,
  model: string,
): number[] {
  const expected = names ? ` (${names.join(', ')})` : '';
  if (Array.isArray(row)) {
    if (row.length !== width) {
      throw InvalidInputError.at(path, `has ${row.length} values; model "${model}" takes ${width}${expected}`);
    }
    return row;
  }
  if (!names) {
    throw InvalidInputError.at(path, `model "${model}" has no feature names; send a list of ${width} numbers`);
  }
  const known = new Set(names);
  for (const key of Object.keys(row)) {
    if (!known.has(key)) {
      throw InvalidInputError.at(keyPath(path, key), `is not a feature of model "${model}"; its features are ${names.join(', ')}`);
    }
  }
  const missing = names.filter((name) => !Object.hasOwn(row, name));
  if (missing.length > 0) {
    throw InvalidInputError.at(path, `is missing ${missing.join(', ')}; model "${model}" takes ${names.join(', ')}`);
  }
  return names.map((name) => row[name]);
}

function columnPath(path: string, row: FeatureRow, column: number, names?: string[]): string {
  return Array.isArray(row) || !names ? `${path}[${column}]` : keyPath(path, names[column]);
}
