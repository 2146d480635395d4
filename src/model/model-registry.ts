import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { LoadedModel, zeroInputs } from './loaded-model';
import { MODEL_JSON } from './model-artifacts';
import { ModelNotFoundError, ModelNotReadyError } from './model-errors';
import { ModelLoader } from './model-loader';

export enum ModelState {
  LOADING = 'LOADING',
  AVAILABLE = 'AVAILABLE',
  UNAVAILABLE = 'UNAVAILABLE',
  UNLOADING = 'UNLOADING',
}

export interface ModelVersionStatus {
  name: string;
  /** null when no version folder was found for the model. */
  version: number | null;
  state: ModelState;
  /** Why the version is not available. */
  reason?: string;
  loadedAt?: Date;
  loadMs?: number;
}

/** A model version that can take requests now. */
export interface ServedModel {
  name: string;
  version: number;
  model: LoadedModel;
}

/** Which models and versions are served, and in what state each one is. */
export abstract class ModelRegistry {
  /** The given version of a model, or its newest available one; throws if none can serve. */
  abstract resolve(name: string, version?: number): ServedModel;

  abstract status(): ModelVersionStatus[];

  /** True once every model the service must serve is available. */
  abstract isReady(): boolean;

  /** True once the start-up load has finished, whatever its outcome. */
  abstract isStarted(): boolean;
}

const VERSION_FOLDER = /^[1-9]\d{0,8}$/;

interface VersionEntry extends ModelVersionStatus {
  version: number;
  model?: LoadedModel;
}

/**
 * Serves models from the repository folder (`<repository>/<name>/<version>/model.json`).
 * Loading starts in `onModuleInit` without holding up the HTTP listener, so the probes can
 * answer (not ready, with the reason) while a large model loads; shutdown waits for it.
 */
@Injectable()
export class RepositoryModelRegistry extends ModelRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RepositoryModelRegistry.name);
  private readonly models = new Map<string, VersionEntry[]>();
  private readonly missing = new Map<string, string>();
  private readonly repository: string;
  private readonly required: string[];
  private startup?: Promise<void>;
  private started = false;

  constructor(
    private readonly loader: ModelLoader,
    config: ConfigService<AllConfig, true>,
  ) {
    super();
    this.repository = resolve(config.getOrThrow('model.repository', { infer: true }));
    this.required = [config.getOrThrow('model.defaultModel', { infer: true })];
  }

  onModuleInit(): void {
    this.startup = Promise.all(this.required.map((name) => this.loadLatest(name))).then(() => {
      this.started = true;
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.startup;
    for (const entries of this.models.values()) {
      for (const entry of entries) this.unload(entry);
    }
  }

  resolve(name: string, version?: number): ServedModel {
    const entries = this.models.get(name);
    if (!entries) {
      const reason = this.missing.get(name);
      if (reason) throw new ModelNotReadyError(`model "${name}" is unavailable: ${reason}`);
      if (!this.started && this.required.includes(name)) throw new ModelNotReadyError(`model "${name}" is LOADING`);
      throw new ModelNotFoundError(`model "${name}" is not served here`);
    }
    const candidates = version === undefined ? entries : entries.filter((e) => e.version === version);
    if (candidates.length === 0) {
      throw new ModelNotFoundError(`model "${name}" has no version ${version}`);
    }
    const entry = candidates.find((e) => e.state === ModelState.AVAILABLE && e.model);
    if (!entry?.model) {
      const newest = candidates[candidates.length - 1];
      const reason = newest.reason ? `: ${newest.reason}` : '';
      throw new ModelNotReadyError(`model "${name}" version ${newest.version} is ${newest.state}${reason}`);
    }
    return { name, version: entry.version, model: entry.model };
  }

  status(): ModelVersionStatus[] {
    const statuses: ModelVersionStatus[] = [];
    for (const name of this.required) {
      const entries = this.models.get(name);
      if (!entries) {
        statuses.push({
          name,
          version: null,
          state: this.started ? ModelState.UNAVAILABLE : ModelState.LOADING,
          reason: this.missing.get(name) ?? (this.started ? 'not loaded' : 'scanning the repository'),
        });
        continue;
      }
      for (const { model: _model, ...status } of entries) statuses.push({ ...status });
    }
    return statuses;
  }

  isReady(): boolean {
    return this.required.every((name) =>
      (this.models.get(name) ?? []).some((e) => e.state === ModelState.AVAILABLE),
    );
  }

  isStarted(): boolean {
    return this.started;
  }

  private async loadLatest(name: string): Promise<void> {
    const folder = join(this.repository, name);
    let version: number | undefined;
    try {
      version = await this.latestVersion(folder);
    } catch (error) {
      this.markMissing(name, `cannot read ${name}/: ${(error as NodeJS.ErrnoException).code ?? error}`);
      return;
    }
    if (version === undefined) {
      this.markMissing(name, `no version folder with a ${MODEL_JSON} under ${name}/`);
      return;
    }
    const entry: VersionEntry = { name, version, state: ModelState.LOADING };
    this.models.set(name, [entry]);
    const started = performance.now();
    try {
      const model = await this.loader.load(join(folder, String(version)));
      // One inference before serving: TF.js compiles kernels and allocates on first use.
      await model.infer(zeroInputs(model.signature));
      Object.assign(entry, {
        model,
        state: ModelState.AVAILABLE,
        loadedAt: new Date(),
        loadMs: Math.round(performance.now() - started),
      });
      this.logger.log(`model ${name} version ${version} is AVAILABLE (${model.format}, loaded and warmed in ${entry.loadMs} ms)`);
    } catch (error) {
      Object.assign(entry, { state: ModelState.UNAVAILABLE, reason: (error as Error).message });
      this.logger.error(`model ${name} version ${version} is UNAVAILABLE: ${(error as Error).message}`);
    }
  }

  private markMissing(name: string, reason: string): void {
    this.missing.set(name, reason);
    this.logger.error(`model ${name} is UNAVAILABLE: ${reason}`);
  }

  private async latestVersion(folder: string): Promise<number | undefined> {
    const versions: number[] = [];
    for (const item of await readdir(folder, { withFileTypes: true })) {
      if (!item.isDirectory() || !VERSION_FOLDER.test(item.name)) continue;
      const complete = await stat(join(folder, item.name, MODEL_JSON)).then(
        (s) => s.isFile(),
        () => false,
      );
      if (complete) versions.push(Number(item.name));
    }
    return versions.length > 0 ? Math.max(...versions) : undefined;
  }

  private unload(entry: VersionEntry): void {
    if (!entry.model) return;
    entry.state = ModelState.UNLOADING;
    entry.model.dispose();
    entry.model = undefined;
    this.logger.log(`model ${entry.name} version ${entry.version} unloaded`);
  }
}
