import type { Batcher } from './batcher';
import type { LoadedModel } from './loaded-model';
import { ModelNotReadyError } from './model-errors';
import type { ServedVersion } from './model-registry';
import { ModelState, ModelVersionStatus } from './model-status';
import type { NamedTensors, VersionDescription } from './model-types';
import { checkInputs } from './signature';

/**
 * One version of a model as the registry holds it: its state, and once loaded, the model and
 * the queue (batcher) every inference on it goes through. It counts the inferences in flight,
 * so a version being retired is disposed only once they are done.
 */
export class VersionEntry implements ServedVersion {
  state = ModelState.LOADING;
  reason?: string;
  loadedAt?: Date;
  loadMs?: number;
  private model?: LoadedModel;
  private batcher?: Batcher;
  private inFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly version: number,
    readonly fingerprint: string,
  ) {}

  get description(): VersionDescription {
    if (!this.model) throw new ModelNotReadyError(`model "${this.name}" version ${this.version} is ${this.state}`);
    return this.model.description;
  }

  /** The description while a model is loaded. */
  get loaded(): VersionDescription | undefined {
    return this.model?.description;
  }

  /** Serves a loaded model through its batcher. */
  serve(model: LoadedModel, batcher: Batcher, loadMs: number): void {
    this.model = model;
    this.batcher = batcher;
    this.state = ModelState.AVAILABLE;
    this.loadedAt = new Date();
    this.loadMs = loadMs;
  }

  fail(reason: string): void {
    this.state = ModelState.UNAVAILABLE;
    this.reason = reason;
  }

  infer(inputs: NamedTensors): Promise<NamedTensors> {
    // A caller may hold a version across an await while it is retired.
    if (!this.batcher || !this.model) {
      return Promise.reject(new ModelNotReadyError(`model "${this.name}" version ${this.version} is ${this.state}`));
    }
    let checked: NamedTensors;
    try {
      checked = checkInputs(this.model.description.signature, inputs);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.inFlight++;
    // Handlers made once, not a closure (nor an async function's frame) per request.
    return this.batcher.submit(checked).then(this.answered, this.refused);
  }

  private readonly answered = (outputs: NamedTensors): NamedTensors => {
    this.settled();
    return outputs;
  };

  private readonly refused = (error: unknown): never => {
    this.settled();
    throw error;
  };

  private settled(): void {
    if (--this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  queueFull(): string | undefined {
    return this.batcher?.fullness();
  }

  /** Takes no new requests, waits for the ones running, then frees the model. */
  async retire(): Promise<void> {
    this.state = ModelState.UNLOADING;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const model = this.model;
    this.model = undefined;
    this.batcher = undefined;
    await model?.dispose();
  }

  status(): ModelVersionStatus {
    const { name, version, state, reason, loadedAt, loadMs } = this;
    return { name, version, state, ...(reason ? { reason } : {}), ...(loadedAt ? { loadedAt, loadMs } : {}) };
  }
}
