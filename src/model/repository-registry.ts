import { resolve as resolvePath } from 'node:path';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { Batcher, BatcherSettings } from './batcher';
import type { LoadedModel } from './loaded-model';
import type { ModelConfig } from './model-config';
import { ModelLoadError, ModelNotFoundError, ModelNotReadyError, ModelNotServingError } from './model-errors';
import { ModelLoader } from './model-loader';
import { ModelReadiness, ModelRegistry, ReadinessReport, ServedVersion } from './model-registry';
import { isModelName, ModelFolder, scanModel, scanRepository, VersionFolder } from './model-repository';
import { ModelAvailability, ModelState, modelStatus, ModelStatus, ModelVersionDetails } from './model-status';
import { isRequired, readinessProblems, RequiredModels } from './readiness';
import { zeroInputs } from './signature';
import { nextSyncStep, SyncStep } from './sync-planner';
import { VersionEntry } from './version-entry';

interface ModelEntry {
  name: string;
  config?: ModelConfig;
  configError?: string;
  versions: Map<number, VersionEntry>;
  /** Incomplete version folders and their fingerprint at the last poll. */
  pending: Map<number, string>;
  /** Unloaded through the management API: polls leave it alone until it is loaded again. */
  unloaded: boolean;
}

interface SyncOptions {
  /** Load even folders that look incomplete, and retry failed versions (start-up, load, reload). */
  force: boolean;
  /** Load fresh copies of versions already serving (reload). */
  replaceLoaded?: boolean;
}

/**
 * Serves every model in the repository folder (`<repository>/<name>/<version>/`), each with
 * the versions its `config.json` policy selects (the newest by default).
 *
 * - Loading starts in `onModuleInit` without holding up the HTTP listener, so the probes can
 *   answer (not ready, with the reason) while large models load; shutdown waits for it.
 * - The repository is polled, and each model brought in line with its folder one step at a
 *   time (`nextSyncStep`): a new version is loaded and warmed, then swapped in; versions the
 *   policy no longer selects stop taking requests, finish the ones they have, and are
 *   disposed. A failed new version never takes down the one serving.
 * - A version folder still being written is retried at the next poll; one that stays
 *   incomplete for a whole interval is loaded, and fails with the reason.
 * - Every change (polls, load, unload, reload) runs one at a time.
 */
@Injectable()
export class RepositoryModelRegistry extends ModelRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RepositoryModelRegistry.name);
  private readonly entries = new Map<string, ModelEntry>();
  private readonly repository: string;
  private readonly required: RequiredModels;
  private readonly pollIntervalMs: number;
  private readonly batching: BatcherSettings;
  private repositoryError?: string;
  private changes: Promise<unknown> = Promise.resolve();
  private startup?: Promise<void>;
  private started = false;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private lastProblems = '';

  constructor(
    private readonly loader: ModelLoader,
    config: ConfigService<AllConfig, true>,
    private readonly metrics: MetricsService,
  ) {
    super();
    this.repository = resolvePath(config.getOrThrow('model.repository', { infer: true }));
    this.required = config.getOrThrow('model.requiredModels', { infer: true });
    this.pollIntervalMs = config.getOrThrow('model.pollIntervalMs', { infer: true });
    this.batching = config.getOrThrow('model.batching', { infer: true });
    metrics.trackModels(() => this.readiness().models);
  }

  onModuleInit(): void {
    this.startup = this.serialize(() => this.poll({ force: true })).then(() => {
      this.started = true;
      this.logReadiness();
      this.schedulePoll();
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.startup;
    await this.serialize(async () => {
      for (const entry of this.entries.values()) await this.retireAll(entry);
    });
  }

  resolve(name: string, version?: number): ServedVersion {
    const entry = this.entries.get(name);
    if (!entry) {
      if (!this.started) throw new ModelNotReadyError('the model repository is still loading');
      throw new ModelNotFoundError(`model "${name}" is not in the repository`);
    }
    if (entry.unloaded) throw this.notServing(entry, `model "${name}" is unloaded`, 'UNLOADED');
    const candidate = version !== undefined ? entry.versions.get(version) : this.newestAvailable(entry);
    if (version !== undefined && !candidate) throw new ModelNotFoundError(`model "${name}" has no version ${version} being served`);
    if (!candidate || candidate.state !== ModelState.AVAILABLE) {
      const status = this.statusOf(entry);
      const subject = candidate ? `model "${name}" version ${candidate.version}` : `model "${name}"`;
      const state = candidate ? candidate.state : status.state;
      const reason = candidate?.reason ?? (candidate ? undefined : status.reason);
      throw this.notServing(entry, `${subject} is ${state}${reason ? `: ${reason}` : ''}`, state);
    }
    return candidate;
  }

  /**
   * Why a model cannot serve, told apart for a proxy in front (README, "Failures"). A version
   * that failed, or a model unloaded, stays so until someone acts: a fault of that model alone
   * (ModelNotServingError), unless the replica must serve the model and no version of it serves,
   * in which case the replica is not ready (ModelNotReadyError), as it is while a model loads.
   */
  private notServing(entry: ModelEntry, message: string, state: ModelState | ModelAvailability): Error {
    const lasting = state === ModelState.UNAVAILABLE || state === 'UNLOADED';
    const replicaNotReady = isRequired(this.required, entry.name) && this.statusOf(entry).state !== 'AVAILABLE';
    return lasting && !replicaNotReady ? new ModelNotServingError(message) : new ModelNotReadyError(message);
  }

  models(): ModelStatus[] {
    return [...this.entries.values()].map((entry) => this.statusOf(entry));
  }

  model(name: string): ModelStatus {
    const entry = this.entries.get(name);
    if (!entry) throw new ModelNotFoundError(`model "${name}" is not in the repository`);
    return this.statusOf(entry);
  }

  versionDetails(name: string, version: number): ModelVersionDetails {
    const found = this.entries.get(name)?.versions.get(version);
    if (!found) throw new ModelNotFoundError(`model "${name}" has no version ${version} being served`);
    return { status: found.status(), ...(found.loaded ? { description: found.loaded } : {}) };
  }

  readiness(): ReadinessReport {
    const statuses = this.models();
    const problems = readinessProblems(
      this.required,
      { started: this.started, stopping: this.stopping, error: this.repositoryError },
      statuses,
    );
    const models: ModelReadiness[] = statuses.map((status) => ({ ...status, required: isRequired(this.required, status.name) }));
    return { ready: problems.length === 0, problems, models };
  }

  isStarted(): boolean {
    return this.started;
  }

  whenStarted(): Promise<void> {
    return this.startup ?? Promise.reject(new Error('the registry has not been initialised'));
  }

  load(name: string): Promise<ModelStatus> {
    return this.change(async () => {
      const folder = await this.scanOne(name);
      const entry = this.entryFor(name);
      entry.unloaded = false;
      await this.sync(folder, { force: true });
      return this.servingOrThrow(entry, 'load');
    });
  }

  unload(name: string): Promise<ModelStatus> {
    return this.change(async () => {
      const entry = this.entries.get(name);
      if (!entry) throw new ModelNotFoundError(`model "${name}" is not in the repository`);
      entry.unloaded = true;
      await this.retireAll(entry);
      this.logger.log(`model ${name} unloaded on request`);
      return this.statusOf(entry);
    });
  }

  reload(name: string): Promise<ModelStatus> {
    return this.change(async () => {
      const folder = await this.scanOne(name);
      const entry = this.entryFor(name);
      entry.unloaded = false;
      const failures = await this.sync(folder, { force: true, replaceLoaded: true });
      if (failures.length > 0) {
        throw new ModelLoadError(`model "${name}" could not reload (what was serving goes on serving): ${failures.join('; ')}`);
      }
      return this.servingOrThrow(entry, 'reload');
    });
  }

  /** A change asked for through the management API: serialized, and its effect on readiness logged. */
  private change<T>(run: () => Promise<T>): Promise<T> {
    return this.serialize(run).finally(() => this.logReadiness());
  }

  /** Runs changes one at a time, in order; a failed change does not block the next. */
  private serialize<T>(change: () => Promise<T>): Promise<T> {
    const next = this.changes.then(change, change);
    this.changes = next.catch(() => undefined);
    return next;
  }

  private schedulePoll(): void {
    if (this.pollIntervalMs <= 0 || this.stopping) return;
    this.timer = setTimeout(() => {
      void this.serialize(() => this.poll({ force: false })).finally(() => {
        this.logReadiness();
        this.schedulePoll();
      });
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  /** Logs when the replica turns ready or not ready, and why: a state change, not every poll. */
  private logReadiness(): void {
    if (!this.started || this.stopping) return;
    const { problems } = this.readiness();
    const summary = problems.join('; ');
    if (summary === this.lastProblems) return;
    this.lastProblems = summary;
    if (problems.length === 0) this.logger.log('ready: every required model is serving');
    else this.logger.warn(`not ready: ${summary}`);
  }

  private async poll(options: SyncOptions): Promise<void> {
    if (this.stopping) return;
    let folders: ModelFolder[];
    try {
      folders = await scanRepository(this.repository);
    } catch (error) {
      const message = `cannot read the model repository ${this.repository}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
      if (message !== this.repositoryError) this.logger.error(message);
      this.repositoryError = message;
      return;
    }
    this.repositoryError = undefined;
    const present = new Set(folders.map((f) => f.name));
    for (const folder of folders) {
      if (this.stopping) return;
      await this.sync(folder, options);
    }
    for (const entry of [...this.entries.values()]) {
      if (present.has(entry.name)) continue;
      await this.retireAll(entry);
      this.entries.delete(entry.name);
      this.logger.log(`model ${entry.name} left the repository and is no longer served`);
    }
  }

  private async scanOne(name: string): Promise<ModelFolder> {
    if (!isModelName(name)) throw new ModelNotFoundError(`model "${name}" is not in the repository`);
    try {
      return await scanModel(this.repository, name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ModelNotFoundError(`model "${name}" is not in the repository`);
      }
      throw error;
    }
  }

  private entryFor(name: string): ModelEntry {
    let entry = this.entries.get(name);
    if (!entry) {
      entry = { name, versions: new Map(), pending: new Map(), unloaded: false };
      this.entries.set(name, entry);
    }
    return entry;
  }

  /** Brings one model in line with its folder and policy; returns the errors of versions that failed to load. */
  private async sync(folder: ModelFolder, options: SyncOptions): Promise<string[]> {
    const failures: string[] = [];
    const entry = this.entryFor(folder.name);
    if (entry.unloaded) return failures;
    if (folder.config instanceof Error) {
      // A bad config.json stops changes to the model; versions already serving go on.
      if (entry.configError !== folder.config.message) {
        this.logger.error(`model ${folder.name} is UNAVAILABLE: ${folder.config.message}`);
      }
      entry.configError = folder.config.message;
      return [folder.config.message];
    }
    entry.configError = undefined;
    entry.config = folder.config;

    const onDisk = new Map(folder.versions.map((v) => [v.version, v]));
    for (const version of [...entry.pending.keys()]) {
      if (!onDisk.has(version)) entry.pending.delete(version);
    }
    const loadable = folder.versions.filter((v) => this.isLoadable(entry, v, options));
    const attempted = new Set<number>();
    for (;;) {
      if (this.stopping) break;
      const step = nextSyncStep({
        policy: folder.config.versionPolicy,
        loadable,
        onDisk: new Set(onDisk.keys()),
        held: entry.versions,
        force: options.force,
        replaceLoaded: options.replaceLoaded ?? false,
        attempted,
      });
      if (!step) break;
      const error = await this.apply(entry, step, onDisk);
      if (step.kind === 'load') attempted.add(step.version);
      if (error) failures.push(`version ${step.version}: ${error}`);
    }
    return failures;
  }

  private async apply(entry: ModelEntry, step: SyncStep, onDisk: Map<number, VersionFolder>): Promise<string | undefined> {
    const current = entry.versions.get(step.version);
    switch (step.kind) {
      case 'load':
        return this.loadVersion(entry, onDisk.get(step.version)!, current);
      case 'retire':
        if (current) await this.retire(entry, current);
        return undefined;
      case 'forget':
        entry.versions.delete(step.version);
        return undefined;
    }
  }

  /**
   * Whether a version folder may be loaded now: it is complete; or it is forced; or it has
   * stayed incomplete and unchanged since the last poll (so nobody is still writing it).
   */
  private isLoadable(entry: ModelEntry, folder: VersionFolder, options: SyncOptions): boolean {
    if (folder.incomplete === null || options.force) {
      entry.pending.delete(folder.version);
      return true;
    }
    const seen = entry.pending.get(folder.version);
    if (seen === folder.fingerprint) {
      entry.pending.delete(folder.version);
      return true;
    }
    entry.pending.set(folder.version, folder.fingerprint);
    this.logger.debug(`model ${entry.name} version ${folder.version} is incomplete (${folder.incomplete}); retrying at the next poll`);
    return false;
  }

  /** Loads a version (aside, if one serves already); returns the error if it failed. */
  private async loadVersion(entry: ModelEntry, folder: VersionFolder, previous?: VersionEntry): Promise<string | undefined> {
    const next = new VersionEntry(entry.name, folder.version, folder.fingerprint);
    const replacing = previous?.state === ModelState.AVAILABLE ? previous : undefined;
    // A version that is serving goes on serving until its replacement is ready.
    if (!replacing) entry.versions.set(folder.version, next);
    const started = performance.now();
    try {
      const model = await this.loader.load(folder.directory);
      try {
        await warmUp(model);
      } catch (error) {
        await model.dispose();
        throw error;
      }
      const loadMs = Math.round(performance.now() - started);
      next.serve(model, this.batcherFor(entry, folder.version, model), loadMs);
      this.metrics.loadDuration.observe({ model: entry.name }, loadMs / 1000);
      entry.versions.set(folder.version, next);
      this.logger.log(
        `model ${entry.name} version ${folder.version} is AVAILABLE (${model.description.format}${model.runsOn ? `, ${model.runsOn}` : ''}, loaded and warmed in ${loadMs} ms)`,
      );
      if (replacing) await this.retire(entry, replacing, next);
      return undefined;
    } catch (error) {
      next.fail((error as Error).message);
      this.metrics.loadFailures.inc({ model: entry.name });
      if (replacing) {
        this.logger.error(
          `model ${entry.name} version ${folder.version} failed to reload, the loaded copy goes on serving: ${next.reason}`,
        );
      } else {
        this.logger.error(`model ${entry.name} version ${folder.version} is UNAVAILABLE: ${next.reason}`);
      }
      return next.reason;
    }
  }

  /** The batcher of a version: the service's settings, overridden by the model's config.json. */
  private batcherFor(entry: ModelEntry, version: number, model: LoadedModel): Batcher {
    const own = entry.config?.batching ?? {};
    const settings: BatcherSettings = {
      enabled: own.enabled ?? this.batching.enabled,
      maxBatchSize: own.maxBatchSize ?? this.batching.maxBatchSize,
      maxQueueDelayMs: own.maxQueueDelayMs ?? this.batching.maxQueueDelayMs,
      maxQueueSize: own.maxQueueSize ?? this.batching.maxQueueSize,
      timeoutMs: this.batching.timeoutMs,
    };
    const metrics = this.metrics.forVersion(entry.name, String(version));
    return new Batcher((inputs) => model.infer(inputs), model.description.signature, settings, {
      depthChanged: (depth) => metrics.queueDepth.set(depth),
      batchRan: (rows, _requests, seconds) => {
        metrics.batchSize.observe(rows);
        metrics.computeDuration.observe(seconds);
      },
      requestDone: (seconds) => metrics.queueDuration.observe(seconds),
    });
  }

  /** Stops new requests to a version, lets the running ones finish, then frees it. */
  private async retire(entry: ModelEntry, version: VersionEntry, replacement?: VersionEntry): Promise<void> {
    await version.retire();
    if (entry.versions.get(version.version) === version) entry.versions.delete(version.version);
    this.logger.log(`model ${entry.name} version ${version.version} ${replacement ? 'replaced and ' : ''}unloaded`);
  }

  private async retireAll(entry: ModelEntry): Promise<void> {
    for (const version of [...entry.versions.values()]) {
      if (version.state === ModelState.AVAILABLE) await this.retire(entry, version);
      else entry.versions.delete(version.version);
    }
  }

  private newestAvailable(entry: ModelEntry): VersionEntry | undefined {
    let best: VersionEntry | undefined;
    for (const version of entry.versions.values()) {
      if (version.state === ModelState.AVAILABLE && (!best || version.version > best.version)) best = version;
    }
    return best;
  }

  private servingOrThrow(entry: ModelEntry, action: string): ModelStatus {
    const status = this.statusOf(entry);
    if (status.state !== 'AVAILABLE') {
      throw new ModelLoadError(`model "${entry.name}" could not ${action}: ${status.reason ?? status.state}`);
    }
    return status;
  }

  private statusOf(entry: ModelEntry): ModelStatus {
    return modelStatus({
      name: entry.name,
      versionPolicy: entry.config?.versionPolicy,
      versions: [...entry.versions.values()].map((v) => v.status()),
      configError: entry.configError,
      unloaded: entry.unloaded,
      pending: [...entry.pending.keys()],
      started: this.started,
    });
  }
}

/**
 * One inference on zeros: TF.js compiles kernels and allocates on first use, ONNX Runtime
 * allocates its buffers; and a model that cannot run at all fails here, not on a request.
 */
async function warmUp(model: LoadedModel): Promise<void> {
  const { signature } = model.description;
  // A model that does not declare its input ranks cannot be fed zeros of the right shape.
  if (signature.inputs.some((spec) => spec.shape === null)) return;
  try {
    await model.infer(zeroInputs(signature));
  } catch (error) {
    throw new Error(`warm-up inference failed: ${(error as Error).message}`);
  }
}
