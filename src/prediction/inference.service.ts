import { Injectable } from '@nestjs/common';
import { OverloadedError } from '../common/request-errors';
import { InferenceOutcome, MetricsService } from '../metrics/metrics.service';
import { allFinite } from '../model/dtypes';
import { DeadlineExceededError, InvalidInputError, QueueFullError } from '../model/model-errors';
import { ModelRegistry, ServedVersion } from '../model/model-registry';
import type { NamedTensors } from '../model/model-types';
import { findTensor, tensorNames } from '../model/signature';

/** Which model and version; the newest served version when `version` is unset. */
export interface ModelTarget {
  model: string;
  version?: number;
}

/**
 * The one inference call every protocol makes: `/prediction`, the Open Inference Protocol
 * and TF Serving's REST API decode their requests into named input tensors, call `infer`, and
 * encode the named outputs. The model module checks the inputs against the signature before
 * they are queued; outputs are checked here, and every outcome is counted.
 */
@Injectable()
export class InferenceService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly metrics: MetricsService,
  ) {}

  /** The served version a request will run on; protocols read its description to decode inputs. */
  resolve(target: ModelTarget): ServedVersion {
    return this.registry.resolve(target.model, target.version);
  }

  /**
   * Runs the inputs and returns the outputs asked for (by name or alias, keyed as asked), or all
   * of them in the model's output order.
   */
  async infer(served: ServedVersion, inputs: NamedTensors, outputNames?: readonly string[]): Promise<NamedTensors> {
    const metrics = this.metrics.forVersion(served.name, String(served.version));
    const started = performance.now();
    metrics.inFlight.inc();
    try {
      const outputs = await this.run(served, inputs, outputNames);
      metrics.success.inc();
      metrics.requestDuration.observe((performance.now() - started) / 1000);
      return outputs;
    } catch (error) {
      metrics.outcome(outcomeOf(error)).inc();
      throw error;
    } finally {
      metrics.inFlight.dec();
    }
  }

  private run(served: ServedVersion, inputs: NamedTensors, outputNames?: readonly string[]): Promise<NamedTensors> {
    const specs = served.description.signature.outputs;
    const asked = outputNames && outputNames.length > 0 ? outputNames : specs.map((spec) => spec.name);
    const own: string[] = [];
    for (const name of asked) {
      const spec = findTensor(specs, name);
      if (!spec)
        throw InvalidInputError.at(
          'outputs',
          `"${name}" is not an output of model "${served.name}"; its outputs are ${tensorNames(specs)}`,
        );
      own.push(spec.name);
    }
    // Not an async function: its frame would be one more allocation per request. What throws
    // above throws to `infer`, which counts it like a rejection.
    return served.infer(inputs).then((all) => {
      const outputs: NamedTensors = {};
      for (let i = 0; i < asked.length; i++) {
        const tensor = all[own[i]];
        // JSON has no NaN or Infinity: an overflowing model would answer nulls, or a wrong label.
        if (!allFinite(tensor)) {
          throw new InvalidInputError(
            `model "${served.name}" gives output "${asked[i]}" values that are not finite (NaN or Infinity) for these inputs: they are outside the range it works in`,
          );
        }
        outputs[asked[i]] = tensor;
      }
      return outputs;
    });
  }
}

function outcomeOf(error: unknown): InferenceOutcome {
  if (error instanceof InvalidInputError) return 'client_error';
  if (error instanceof QueueFullError || error instanceof OverloadedError) return 'rejected';
  if (error instanceof DeadlineExceededError) return 'timed_out';
  return 'failed';
}
