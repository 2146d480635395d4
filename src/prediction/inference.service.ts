import { Injectable } from '@nestjs/common';
import { InferenceOutcome, MetricsService } from '../metrics/metrics.service';
import { DeadlineExceededError, InvalidInputError, QueueFullError } from '../model/model-errors';
import { ModelRegistry, ServedModel } from '../model/model-registry';
import type { HostTensor } from '../model/model-types';

export type NamedTensors = Record<string, HostTensor>;

/** Which model and version; the newest served version when `version` is unset. */
export interface ModelTarget {
  model: string;
  version?: number;
}

export interface InferenceResult {
  served: ServedModel;
  /** The outputs asked for, or all of them, in the model's output order. */
  outputs: NamedTensors;
}

/**
 * The one inference call every protocol makes: `/prediction`, the Open Inference Protocol
 * and TF Serving's REST API map their requests to named input tensors, call `infer`, and map
 * the named outputs back. Inputs are checked against the model's signature here, before the
 * model sees them.
 */
@Injectable()
export class InferenceService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly metrics: MetricsService,
  ) {}

  /** The served version a request will run on; protocols read its signature to build inputs. */
  resolve(target: ModelTarget): ServedModel {
    return this.registry.resolve(target.model, target.version);
  }

  async infer(served: ServedModel, inputs: NamedTensors, outputNames?: readonly string[]): Promise<InferenceResult> {
    const metrics = this.metrics.forVersion(served.name, String(served.version));
    const started = performance.now();
    metrics.inFlight.inc();
    try {
      const result = await this.run(served, inputs, outputNames);
      metrics.success.inc();
      metrics.requestDuration.observe((performance.now() - started) / 1000);
      return result;
    } catch (error) {
      metrics.outcome(outcomeOf(error)).inc();
      throw error;
    } finally {
      metrics.inFlight.dec();
    }
  }

  private async run(served: ServedModel, inputs: NamedTensors, outputNames?: readonly string[]): Promise<InferenceResult> {
    const known = served.model.signature.outputs.map((spec) => spec.name);
    for (const name of outputNames ?? []) {
      if (!known.includes(name)) {
        throw InvalidInputError.at('outputs', `"${name}" is not an output of model "${served.name}"; its outputs are ${known.join(', ')}`);
      }
    }
    served.model.checkInputs(inputs);
    for (const [name, tensor] of Object.entries(inputs)) {
      if (tensor.data.length === 0) {
        throw InvalidInputError.at(name, `has shape [${tensor.shape}], which holds no values; send at least one row`);
      }
    }
    const all = await served.infer(inputs);
    const selected = outputNames && outputNames.length > 0 ? outputNames : known;
    const outputs: NamedTensors = {};
    for (const name of selected) {
      outputs[name] = all[name];
      // JSON has no NaN or Infinity: an overflowing model would answer nulls, or a wrong label.
      if (all[name].dtype === 'float32' && !all[name].data.every(Number.isFinite)) {
        throw new InvalidInputError(
          `model "${served.name}" gives output "${name}" values that are not finite (NaN or Infinity) for these inputs: they are outside the range it works in`,
        );
      }
    }
    return { served, outputs };
  }
}

function outcomeOf(error: unknown): InferenceOutcome {
  if (error instanceof InvalidInputError) return 'client_error';
  if (error instanceof QueueFullError) return 'rejected';
  if (error instanceof DeadlineExceededError) return 'timed_out';
  return 'failed';
}
