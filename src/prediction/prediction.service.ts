import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { InvalidInputError } from '../model/model-errors';
import type { FeatureRow } from './feature-rows';
import { InferenceService } from './inference.service';
import { decodeRows, encodePredictions, predictedOutputs, RowPrediction } from './rows.codec';

export interface ModelRef {
  name: string;
  version: string;
}

export interface SinglePrediction extends RowPrediction {
  model: ModelRef;
}

export interface BatchPrediction {
  predictions: RowPrediction[];
  model: ModelRef;
}

/** Which model and version to predict with; the default model's newest version if unset. */
export interface PredictionTarget {
  model?: string;
  version?: number;
}

/**
 * The simple prediction API over one model input: rows of features in, a label and class
 * probabilities per row out (`rows.codec.ts`).
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
  predict(
    request: { features?: FeatureRow; instances?: FeatureRow[] },
    target: PredictionTarget = {},
  ): Promise<SinglePrediction | BatchPrediction> {
    return request.instances !== undefined ? this.predictBatch(request.instances, target) : this.predictOne(request.features!, target);
  }

  async predictOne(row: FeatureRow, target: PredictionTarget = {}, path = 'features'): Promise<SinglePrediction> {
    const { predictions, model } = await this.predictRows([row], [path], target);
    return { ...predictions[0], model };
  }

  async predictBatch(rows: FeatureRow[], target: PredictionTarget = {}, path = 'instances'): Promise<BatchPrediction> {
    if (rows.length > this.maxBatchRows) {
      throw InvalidInputError.at(path, `has ${rows.length} rows; at most ${this.maxBatchRows} are accepted per request`);
    }
    return this.predictRows(
      rows,
      rows.map((_, i) => `${path}[${i}]`),
      target,
    );
  }

  private async predictRows(rows: FeatureRow[], paths: string[], target: PredictionTarget): Promise<BatchPrediction> {
    const served = this.inference.resolve({ model: target.model ?? this.defaultModel, version: target.version });
    const { description } = served;
    const inputs = decodeRows(rows, paths, served.name, description);
    const { scores, label } = predictedOutputs(description);
    const outputs = await this.inference.infer(served, inputs, label ? [scores, label] : [scores]);
    return {
      predictions: encodePredictions(outputs[scores], description.metadata.labels, label ? outputs[label] : undefined),
      model: { name: served.name, version: String(served.version) },
    };
  }
}
