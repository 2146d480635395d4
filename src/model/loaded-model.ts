import type { NamedTensors, VersionDescription } from './model-types';

/**
 * One model version in memory, behind a tensor-free interface: host arrays in, host arrays
 * out, every tensor it makes disposed before `infer` returns. Only the registry holds one:
 * everything else reaches a model through its version's queue.
 */
export abstract class LoadedModel {
  abstract readonly description: VersionDescription;

  /** Where the model runs, when the runtime chose it at load (said in the load's log line). */
  get runsOn(): string | undefined {
    return undefined;
  }

  /** Runs the model on inputs keyed by signature input name; returns every output. */
  abstract infer(inputs: NamedTensors): Promise<NamedTensors>;

  /**
   * Frees the model's memory. A runtime that frees it asynchronously (an ONNX Runtime session,
   * its worker thread) returns a promise that resolves once it is free; inferences already
   * started finish first.
   */
  abstract dispose(): void | Promise<void>;
}
