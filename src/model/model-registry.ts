import type { ModelStatus, ModelVersionDetails } from './model-status';
import type { NamedTensors, VersionDescription } from './model-types';

/**
 * A model version that takes requests now. Inference goes through its queue (batching,
 * overload limits, deadlines) after its inputs are checked against the signature: there is no
 * other way to run the model.
 */
export interface ServedVersion {
  readonly name: string;
  readonly version: number;
  readonly description: VersionDescription;
  /** Runs the inputs (keyed by input name or alias) through the version's queue. */
  infer(inputs: NamedTensors): Promise<NamedTensors>;
  /** Why any request would be refused now, its queue being full; undefined when there is room. */
  queueFull(): string | undefined;
}

/** A model's status, and whether the replica must serve it to be ready. */
export interface ModelReadiness extends ModelStatus {
  required: boolean;
}

export interface ReadinessReport {
  ready: boolean;
  /** What keeps the replica from being ready, one line per problem. */
  problems: string[];
  models: ModelReadiness[];
}

/** Which models and versions are served, in what state each one is, and changes to them. */
export abstract class ModelRegistry {
  /** The given version of a model, or its newest available one; throws if none can serve. */
  abstract resolve(name: string, version?: number): ServedVersion;

  abstract models(): ModelStatus[];

  /** One model's status; throws ModelNotFoundError for a model not in the repository. */
  abstract model(name: string): ModelStatus;

  abstract versionDetails(name: string, version: number): ModelVersionDetails;

  /** Whether the models the replica must serve are serving (REQUIRED_MODELS), and every model's state. */
  abstract readiness(): ReadinessReport;

  /** True once the start-up load has finished, whatever its outcome. */
  abstract isStarted(): boolean;

  /** Settles once the start-up load has finished, whatever its outcome. */
  abstract whenStarted(): Promise<void>;

  /** Loads a model from the repository (again serving it after an unload). */
  abstract load(name: string): Promise<ModelStatus>;

  /** Stops serving every version of a model until it is loaded again. */
  abstract unload(name: string): Promise<ModelStatus>;

  /** Reads a model's versions from disk anew and swaps them in once loaded. */
  abstract reload(name: string): Promise<ModelStatus>;
}
