import { resolve as resolvePath } from 'node:path';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { Batcher, BatcherSettings } from './batcher';
import { LoadedModel, zeroInputs } from './loaded-model';
import { ModelConfig, selectVersions, VersionPolicy } from './model-config';
import { ModelLoadError, ModelNotFoundError, ModelNotReadyError } from './model-errors';
import { ModelLoader } from './model-loader';
import { isModelName, ModelFolder, scanModel, scanRepository, VersionFolder } from './model-repository';
import type { HostTensor } from './model-types';

type NamedTensors = Record<string, HostTensor>;

/** States of a model version, as TF Serving and Triton name them. */
export enum ModelState {
  LOADING = 'LOADING',
  AVAILABLE = 'AVAILABLE',
  UNAVAILABLE = 'UNAVAILABLE',
  UNLOADING = 'UNLOADING',
}

/** A whole model: AVAILABLE when some version serves; UNLOADED when unloaded on request. */
export type ModelAvailability = 'AVAILABLE' | 'LOADING' | 'UNAVAILABLE' | 'UNLOADED';

export interface ModelVersionStatus {
  name: string;
  version: number;
  state: ModelState;
  /** Why the version is not available. */
  reason?: string;
  loadedAt?: Date;
  loadMs?: number;
}

export interface ModelStatus {
  name: string;
  state: ModelAvailability;
  /** Why no version serves, or what is wrong beside the versions that do. */
  reason?: string;
  versionPolicy?: VersionPolicy;
  versions: ModelVersionStatus[];
}

/** A model version that can take requests now. Its `infer` is counted, so unloading waits. */
export interface ServedModel {
  name: string;
  version: number;
  model: LoadedModel;
  infer(inputs: NamedTensors): Promise<NamedTensors>;
  /** Why any request would be refused now, its queue being full; undefined when there is room. */
  queueFull(): string | undefined;
}

/** A version's status with what its model says about itself, when it is loaded. */
export interface ModelVersionDetails {
  status: ModelVersionStatus;
  model?: LoadedModel;
}

/** Which models and versions are served, in what state each one is, and changes to them. */
export abstract class ModelRegistry {
  /** The given version of a model, or its newest available one; throws if none can serve. */
  abstract resolve(name: string, version?: number): ServedModel;

  abstract models(): ModelStatus[];

  /** One model's status; throws ModelNotFoundError for a model not in the repository. */
  abstract model(name: string): ModelStatus;

  abstract versionDetails(name: string, version: number): ModelVersionDetails;

  /** True once the start-up load is over and every model has a version serving. */
  abstract isReady(): boolean;

  /** What keeps the service from being ready, one line per problem. */
  abstract unreadiness(): string[];

  /** True once the start-up load has finished, whatever its outcome. */
  abstract isStarted(): boolean;

  /** Loads a model from the repository (again serving it after an unload). */
  abstract load(name: string): Promise<ModelStatus>;

  /** Stops serving every version of a model until it is loaded again. */
  abstract unload(name: string): Promise<ModelStatus>;

  /** Reads a model's versions from disk anew and swaps them in once loaded. */
  abstract reload(name: string): Promise<ModelStatus>;
}

class VersionEntry {
  state = ModelState.LOADING;
  reason?: string;
  model?: LoadedModel;
  batcher?: Batcher;
  loadedAt?: Date;
  loadMs?: number;
  private inFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly version: number,
    readonly fingerprint: string,
  ) {}

  /** Serves a loaded model through its batcher. */
  serve(model: LoadedModel, batcher: Batcher): void {
    this.model = model;
    this.batcher = batcher;
  }

  async infer(inputs: NamedTensors): Promise<NamedTensors> {
    // A caller may hold a version across an await while it is retired.
    if (!this.batcher) throw new ModelNotReadyError(`model "${this.name}" version ${this.version} is ${this.state}`);
    this.inFlight++;
    try {
      return await this.batcher.submit(inputs);
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Resolves when no inference on this version is running. */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  status(): ModelVersionStatus {
    const { name, version, state, reason, loadedAt, loadMs } = this;
    return { name, version, state, ...(reason ? { reason } : {}), ...(loadedAt ? { loadedAt, loadMs } : {}) };
  }
}

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
 * Serves every model in the repository folder (`<repository>/<name>/<version>/model.json`),
 * each with the versions its `config.json` policy selects (the newest by default).
 *
 * - Loading starts in `onModuleInit` without holding up the HTTP listener, so the probes can
 *   answer (not ready, with the reason) while large models load; shutdown waits for it.
 * - The repository is polled: a new version is loaded and warmed, then swapped in; versions
 *   the policy no longer selects stop taking requests, finish the ones they have, and are
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
  private readonly defaultModel: string;
  private readonly pollIntervalMs: number;
  private readonly batching: BatcherSettings;
  private repositoryError?: string;
  private changes: Promise<unknown> = Promise.resolve();
  private startup?: Promise<void>;
  private started = false;
  private stopping = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly loader: ModelLoader,
    config: ConfigService<AllConfig, true>,
    private readonly metrics: MetricsService,
  ) {
    super();
    this.repository = resolvePath(config.getOrThrow('model.repository', { infer: true }));
    this.defaultModel = config.getOrThrow('model.defaultModel', { infer: true });
    this.pollIntervalMs = config.getOrThrow('model.pollIntervalMs', { infer: true });
    this.batching = config.getOrThrow('model.batching', { infer: true });
  }

  onModuleInit(): void {
    this.startup = this.serialize(() => this.poll({ force: true })).then(() => {
      this.started = true;
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

  resolve(name: string, version?: number): ServedModel {
    const entry = this.entries.get(name);
    if (!entry) {
      if (!this.started) throw new ModelNotReadyError('the model repository is still loading');
      throw new ModelNotFoundError(`model "${name}" is not in the repository`);
    }
    if (entry.unloaded) throw new ModelNotReadyError(`model "${name}" is unloaded`);
    let candidate: VersionEntry | undefined;
    if (version !== undefined) {
      candidate = entry.versions.get(version);
      if (!candidate) throw new ModelNotFoundError(`model "${name}" has no version ${version} being served`);
    } else {
      candidate = this.newestAvailable(entry);
    }
    if (!candidate || candidate.state !== ModelState.AVAILABLE || !candidate.model) {
      const status = this.statusOf(entry);
      const subject = candidate ? `model "${name}" version ${candidate.version}` : `model "${name}"`;
      const state = candidate ? candidate.state : status.state;
      const reason = candidate?.reason ?? (candidate ? undefined : status.reason);
      throw new ModelNotReadyError(`${subject} is ${state}${reason ? `: ${reason}` : ''}`);
    }
    const served = candidate;
    return {
      name,
      version: served.version,
      model: served.model!,
      infer: (inputs) => served.infer(inputs),
      queueFull: () => served.batcher?.fullness(),
    };
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
    const entry = this.entries.get(name);
    const found = entry?.versions.get(version);
    if (!found) throw new ModelNotFoundError(`model "${name}" has no version ${version} being served`);
    return { status: found.status(), model: found.model };
  }

  isReady(): boolean {
    return this.unreadiness().length === 0;
  }

  unreadiness(): string[] {
    if (this.stopping) return ['the model repository is shutting down'];
    if (!this.started) return ['the model repository is still loading'];
    if (this.repositoryError) return [this.repositoryError];
    const problems: string[] = [];
    if (!this.entries.has(this.defaultModel)) {
      problems.push(`model ${this.defaultModel} (DEFAULT_MODEL) is not in the repository`);
    }
    for (const entry of this.entries.values()) {
      const status = this.statusOf(entry);
      if (status.state !== 'AVAILABLE' && status.state !== 'UNLOADED') {
        problems.push(`model ${status.name} is ${status.state}${status.reason ? `: ${status.reason}` : ''}`);
      }
    }
    return problems;
  }

  isStarted(): boolean {
    return this.started;
  }

  load(name: string): Promise<ModelStatus> {
    return this.serialize(async () => {
      const folder = await this.scanOne(name);
      const entry = this.entryFor(name);
      entry.unloaded = false;
      await this.sync(folder, { force: true });
      return this.servingOrThrow(entry, 'load');
    });
  }

  unload(name: string): Promise<ModelStatus> {
    return this.serialize(async () => {
      const entry = this.entries.get(name);
      if (!entry) throw new ModelNotFoundError(`model "${name}" is not in the repository`);
      entry.unloaded = true;
      await this.retireAll(entry);
      this.logger.log(`model ${name} unloaded on request`);
      return this.statusOf(entry);
    });
  }

  reload(name: string): Promise<ModelStatus> {
    return this.serialize(async () => {
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

  /** Runs changes one at a time, in order; a failed change does not block the next. */
  private serialize<T>(change: () => Promise<T>): Promise<T> {
    const next = this.changes.then(change, change);
    this.changes = next.catch(() => undefined);
    return next;
  }

  private schedulePoll(): void {
    if (this.pollIntervalMs <= 0 || this.stopping) return;
    this.timer = setTimeout(() => {
      void this.serialize(() => this.poll({ force: false })).finally(() => this.schedulePoll());
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  private async poll(options: SyncOptions): Promise<void> {
    if (this.stopping) return;
    let folders: ModelFolder[];
    try {
      folders = await scanRepository(this.repository);
    } catch (error) {
      const message = `cannot read the model repository ${this.repository}: ${(error as NodeJS.ErrnoException).code ?? error}`;
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

  /** Brings one model in line with its folder and policy. */
  /** Returns the errors of versions that failed to load. */
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
    const eligible = folder.versions.filter((v) => this.isLoadable(entry, v, options)).map((v) => v.version);
    const wanted = selectVersions(folder.config.versionPolicy, eligible);

    for (const version of wanted) {
      const current = entry.versions.get(version);
      const found = onDisk.get(version)!;
      const retry =
        !current ||
        (current.state === ModelState.AVAILABLE && options.replaceLoaded) ||
        (current.state === ModelState.UNAVAILABLE && (options.force || current.fingerprint !== found.fingerprint));
      if (retry && !this.stopping) {
        const error = await this.loadVersion(entry, found, current);
        if (error) failures.push(`version ${version}: ${error}`);
      }
    }

    // Under `latest`, a selected version that failed gives its place to the next older one.
    const policy = folder.config.versionPolicy;
    if (policy.kind === 'latest') {
      const older = eligible.filter((v) => !wanted.includes(v)).sort((a, b) => b - a);
      const available = () => wanted.filter((v) => entry.versions.get(v)?.state === ModelState.AVAILABLE).length;
      for (const version of older) {
        if (available() >= policy.count || this.stopping) break;
        const current = entry.versions.get(version);
        const found = onDisk.get(version)!;
        if (!current || (current.state === ModelState.UNAVAILABLE && current.fingerprint !== found.fingerprint)) {
          const error = await this.loadVersion(entry, found, current);
          if (error) failures.push(`version ${version}: ${error}`);
        }
        if (entry.versions.get(version)?.state === ModelState.AVAILABLE) wanted.push(version);
      }
    }

    const serving = wanted.some((v) => entry.versions.get(v)?.state === ModelState.AVAILABLE);
    for (const [version, current] of [...entry.versions]) {
      if (wanted.includes(version)) continue;
      if (current.state !== ModelState.AVAILABLE) {
        // Failures of versions no longer selected are forgotten once something serves.
        if (serving || !onDisk.has(version)) entry.versions.delete(version);
      } else if (serving || !onDisk.has(version)) {
        await this.retire(entry, current);
      }
    }
    return failures;
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
        model.dispose();
        throw error;
      }
      next.serve(model, this.batcherFor(entry, folder.version, model));
      Object.assign(next, {
        state: ModelState.AVAILABLE,
        loadedAt: new Date(),
        loadMs: Math.round(performance.now() - started),
      });
      this.metrics.loadDuration.observe({ model: entry.name }, next.loadMs! / 1000);
      entry.versions.set(folder.version, next);
      this.logger.log(
        `model ${entry.name} version ${folder.version} is AVAILABLE (${model.format}, loaded and warmed in ${next.loadMs} ms)`,
      );
      if (replacing) await this.retire(entry, replacing, next);
      return undefined;
    } catch (error) {
      next.state = ModelState.UNAVAILABLE;
      next.reason = (error as Error).message;
      this.metrics.loadFailures.inc({ model: entry.name });
      if (replacing) {
        this.logger.error(`model ${entry.name} version ${folder.version} failed to reload, the loaded copy goes on serving: ${next.reason}`);
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
    return new Batcher((inputs) => model.infer(inputs), model.signature, settings, {
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
    version.state = ModelState.UNLOADING;
    await version.idle();
    version.model?.dispose();
    version.model = undefined;
    version.batcher = undefined;
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
    const versions = [...entry.versions.values()].sort((a, b) => a.version - b.version).map((v) => v.status());
    const base = { name: entry.name, ...(entry.config ? { versionPolicy: entry.config.versionPolicy } : {}), versions };
    if (entry.unloaded) return { ...base, state: 'UNLOADED', reason: 'unloaded on request' };
    const failed = versions.filter((v) => v.state === ModelState.UNAVAILABLE);
    const problems = [
      ...(entry.configError ? [entry.configError] : []),
      ...failed.map((v) => `version ${v.version} is UNAVAILABLE: ${v.reason}`),
    ];
    if (versions.some((v) => v.state === ModelState.AVAILABLE)) {
      return { ...base, state: 'AVAILABLE', ...(problems.length > 0 ? { reason: problems.join('; ') } : {}) };
    }
    if (versions.some((v) => v.state === ModelState.LOADING) || !this.started) {
      return { ...base, state: 'LOADING' };
    }
    if (problems.length === 0) {
      problems.push(
        entry.pending.size > 0
          ? `version ${[...entry.pending.keys()].join(', ')} is still being written`
          : 'no version folder with a model.json that its version policy selects',
      );
    }
    return { ...base, state: 'UNAVAILABLE', reason: problems.join('; ') };
  }
}

/** One inference on zeros: TF.js compiles kernels and allocates on first use. */
async function warmUp(model: LoadedModel): Promise<void> {
  // A model that does not declare its input ranks cannot be fed zeros of the right shape.
  if (model.signature.inputs.some((spec) => spec.shape === null)) return;
  try {
    await model.infer(zeroInputs(model.signature));
  } catch (error) {
    throw new Error(`warm-up inference failed: ${(error as Error).message}`);
  }
}
