import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { LoadedModel } from './loaded-model';
import { ModelNotFoundError, ModelNotReadyError } from './model-errors';
import { ModelLoader } from './model-loader';
import { ModelState, RepositoryModelRegistry } from './model-registry';
import type { HostTensor, ModelSignature } from './model-types';

const MODEL = 'flowers';
const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }],
};

class FakeModel extends LoadedModel {
  readonly format = 'layers' as const;
  readonly signature = SIGNATURE;
  readonly metadata = {};
  readonly calls: Record<string, HostTensor>[] = [];
  disposed = false;

  constructor(readonly directory: string) {
    super();
  }

  async infer(inputs: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    this.calls.push(inputs);
    return { y: { dtype: 'float32', shape: [1, 1], data: new Float32Array([1]) } };
  }

  dispose(): void {
    this.disposed = true;
  }
}

class FakeLoader extends ModelLoader {
  readonly loaded: FakeModel[] = [];
  failWith?: Error;

  async load(directory: string): Promise<LoadedModel> {
    if (this.failWith) throw this.failWith;
    const model = new FakeModel(directory);
    this.loaded.push(model);
    return model;
  }
}

function configFor(repository: string): ConfigService<AllConfig, true> {
  const values: Record<string, string> = { 'model.repository': repository, 'model.defaultModel': MODEL };
  return { getOrThrow: (key: string) => values[key] } as unknown as ConfigService<AllConfig, true>;
}

async function settle(registry: RepositoryModelRegistry): Promise<void> {
  while (!registry.isStarted()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe(RepositoryModelRegistry.name, () => {
  let repository: string;
  let loader: FakeLoader;
  let registry: RepositoryModelRegistry;

  async function version(folder: string, complete = true): Promise<void> {
    await mkdir(join(repository, MODEL, folder), { recursive: true });
    if (complete) await writeFile(join(repository, MODEL, folder, 'model.json'), '{}');
  }

  beforeEach(async () => {
    repository = await mkdtemp(join(tmpdir(), 'registry-'));
    loader = new FakeLoader();
    registry = new RepositoryModelRegistry(loader, configFor(repository));
  });

  afterEach(() => rm(repository, { recursive: true, force: true }));

  it('loads the newest complete version, skipping folders that are not versions or not complete', async () => {
    await version('1');
    await version('2');
    await version('10');
    await version('11', false);
    await version('03');
    await version('latest');

    registry.onModuleInit();
    await settle(registry);

    expect(loader.loaded.map((m) => m.directory)).toEqual([join(repository, MODEL, '10')]);
    expect(registry.resolve(MODEL).version).toBe(10);
    expect(registry.isReady()).toBe(true);
    expect(registry.status()).toEqual([expect.objectContaining({ name: MODEL, version: 10, state: ModelState.AVAILABLE })]);
  });

  it('warms the model up with one inference on zeros before it serves', async () => {
    await version('1');

    registry.onModuleInit();
    await settle(registry);

    const [warmUp] = loader.loaded[0].calls;
    expect(loader.loaded[0].calls).toHaveLength(1);
    expect(warmUp.x.shape).toEqual([1, 2]);
    expect(Array.from(warmUp.x.data)).toEqual([0, 0]);
  });

  it('marks a version that fails to load UNAVAILABLE with the reason, and is not ready', async () => {
    await version('1');
    loader.failWith = new Error('weight shards hold 10 bytes but the manifest describes 12');

    registry.onModuleInit();
    await settle(registry);

    expect(registry.isReady()).toBe(false);
    expect(registry.status()[0]).toMatchObject({ state: ModelState.UNAVAILABLE, reason: loader.failWith.message });
    expect(() => registry.resolve(MODEL)).toThrow(ModelNotReadyError);
    expect(() => registry.resolve(MODEL)).toThrow(`model "${MODEL}" version 1 is UNAVAILABLE: ${loader.failWith.message}`);
  });

  it('reports a model with no version folder as unavailable', async () => {
    await mkdir(join(repository, MODEL));

    registry.onModuleInit();
    await settle(registry);

    expect(registry.status()).toEqual([
      { name: MODEL, version: null, state: ModelState.UNAVAILABLE, reason: `no version folder with a model.json under ${MODEL}/` },
    ]);
  });

  it('refuses unknown models and versions as not found', async () => {
    await version('1');
    registry.onModuleInit();
    await settle(registry);

    expect(() => registry.resolve('other')).toThrow(ModelNotFoundError);
    expect(() => registry.resolve(MODEL, 7)).toThrow(`model "${MODEL}" has no version 7`);
  });

  it('disposes every loaded model at shutdown, after the load in progress', async () => {
    await version('1');

    registry.onModuleInit();
    await registry.onApplicationShutdown();

    expect(loader.loaded[0].disposed).toBe(true);
    expect(registry.status()[0].state).toBe(ModelState.UNLOADING);
  });
});
