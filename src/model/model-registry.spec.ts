import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { LoadedModel } from './loaded-model';
import { findIncompleteness } from './model-artifacts';
import { ModelFormatError, ModelLoadError, ModelNotFoundError, ModelNotReadyError, ModelNotServingError } from './model-errors';
import { ModelLoader } from './model-loader';
import { ModelState } from './model-status';
import type { HostTensor, ModelSignature, NamedTensors, VersionDescription } from './model-types';
import { findOnnxIncompleteness } from './onnx/onnx-file';
import { MODEL_ONNX } from './onnx/onnx-model';
import type { RequiredModels } from './readiness';
import { RepositoryModelRegistry } from './repository-registry';
import { IRIS_SKLEARN_VERSION } from '../../test/fixtures/onnx-models';
import { errorFrom } from '../../test/support/errors';

const MODEL = 'flowers';
const OTHER = 'roses';
const POLL_MS = 20;
const WAIT_MS = 3000;
const SHARD = 'w.bin';
const SHARD_BYTES = 8;
const MODEL_JSON_TEXT = JSON.stringify({
  modelTopology: {},
  weightsManifest: [{ paths: [SHARD], weights: [{ name: 'w', shape: [2], dtype: 'float32' }] }],
});
const MISSING_SHARD = `weight shard "${SHARD}" listed in model.json is missing`;
const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }],
};
const INPUTS: Record<string, HostTensor> = { x: { dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) } };

interface Gate {
  promise: Promise<void>;
  open(): void;
}

class FakeModel extends LoadedModel {
  readonly description: VersionDescription = { format: 'layers', platform: 'tensorflowjs_layers', signature: SIGNATURE, metadata: {} };
  inferCalls = 0;
  disposed = false;
  /** Every inference waits for this before it answers. */
  hold?: Promise<void>;
  /** Every inference fails with this. */
  failure?: Error;

  constructor(readonly directory: string) {
    super();
  }

  async infer(inputs: NamedTensors): Promise<NamedTensors> {
    this.inferCalls++;
    if (this.disposed) throw new Error('inference on a disposed model');
    await this.hold;
    if (this.failure) throw this.failure;
    const rows = inputs.x.shape[0];
    return { y: { dtype: 'float32', shape: [rows, 1], data: new Float32Array(rows).fill(7) } };
  }

  dispose(): void {
    this.disposed = true;
  }
}

/**
 * Records every directory it is asked to load; can be failed per directory or held at a gate.
 * Like the real loaders, it refuses a folder whose shards are missing or short, or whose
 * model.onnx is cut short.
 */
class FakeLoader extends ModelLoader {
  readonly calls: string[] = [];
  readonly models: FakeModel[] = [];
  readonly failures = new Map<string, Error>();
  /** Loads wait for this before they start. */
  gate?: Promise<void>;
  /** Given to every new model as its `hold`. */
  inferHold?: Promise<void>;
  /** Given to every new model as its `failure`. */
  inferFailure?: Error;

  async load(directory: string): Promise<LoadedModel> {
    this.calls.push(directory);
    await this.gate;
    const failure = this.failures.get(directory);
    if (failure) throw failure;
    const onnx = existsSync(join(directory, MODEL_ONNX));
    const incomplete = onnx ? await findOnnxIncompleteness(directory) : await findIncompleteness(directory);
    if (incomplete) throw new ModelFormatError(incomplete);
    const model = new FakeModel(directory);
    model.hold = this.inferHold;
    model.failure = this.inferFailure;
    this.models.push(model);
    return model;
  }

  /** Models loaded from a directory, oldest first. */
  modelsFrom(directory: string): FakeModel[] {
    return this.models.filter((m) => m.directory === directory);
  }

  callsFor(directory: string): number {
    return this.calls.filter((d) => d === directory).length;
  }
}

/** The private parts the tests drive polls through and look into. */
interface RegistryInternals {
  serialize<T>(change: () => Promise<T>): Promise<T>;
  poll(options: { force: boolean }): Promise<void>;
  entries: Map<string, { versions: Map<number, { state: ModelState }> }>;
}

function internals(registry: RepositoryModelRegistry): RegistryInternals {
  return registry as unknown as RegistryInternals;
}

function configFor(repository: string, pollIntervalMs: number, required: RequiredModels): ConfigService<AllConfig, true> {
  const values: Record<string, unknown> = {
    'model.repository': repository,
    'model.requiredModels': required,
    'model.pollIntervalMs': pollIntervalMs,
    'model.batching': { enabled: true, maxBatchSize: 64, maxQueueDelayMs: 0, maxQueueSize: 1024, timeoutMs: 5000 },
  };
  return {
    getOrThrow: (key: string) => {
      if (!(key in values)) throw new Error(`unexpected config key ${key}`);
      return values[key];
    },
  } as unknown as ConfigService<AllConfig, true>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition` holds; fails after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${condition.toString()}`);
    await sleep(5);
  }
}

/** The error `fn` throws or rejects with; fails the test if it does not. */

describe(RepositoryModelRegistry.name, () => {
  let repository: string;
  let loader: FakeLoader;
  let registry: RepositoryModelRegistry;
  let gates: Gate[];
  let staged = 0;

  function dir(name: string, version: number | string): string {
    return join(repository, name, String(version));
  }

  function gate(): Gate {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    const made = { promise, open };
    gates.push(made);
    return made;
  }

  function createRegistry(options: { pollIntervalMs?: number; required?: RequiredModels } = {}): RepositoryModelRegistry {
    registry = new RepositoryModelRegistry(
      loader,
      configFor(repository, options.pollIntervalMs ?? 0, options.required ?? { kind: 'listed', names: [MODEL] }),
      new MetricsService(),
    );
    return registry;
  }

  /** Writes a complete version folder, all at once (staged beside it, then renamed in). */
  async function writeVersion(name: string, version: number | string): Promise<string> {
    const staging = join(repository, '.staging', String(staged++));
    await mkdir(staging, { recursive: true });
    await writeFile(join(staging, 'model.json'), MODEL_JSON_TEXT);
    await writeFile(join(staging, SHARD), Buffer.alloc(SHARD_BYTES));
    await mkdir(join(repository, name), { recursive: true });
    await rename(staging, dir(name, version));
    return dir(name, version);
  }

  /** Writes a version folder whose model.json is there but whose weight shard is not (yet). */
  async function writeIncompleteVersion(name: string, version: number): Promise<string> {
    await mkdir(dir(name, version), { recursive: true });
    await writeFile(join(dir(name, version), 'model.json'), MODEL_JSON_TEXT);
    return dir(name, version);
  }

  async function completeVersion(name: string, version: number): Promise<void> {
    await writeFile(join(dir(name, version), SHARD), Buffer.alloc(SHARD_BYTES));
  }

  /** Takes a version folder out of the repository in one step. */
  async function removeVersion(name: string, version: number): Promise<void> {
    const trash = join(repository, '.trash', String(staged++));
    await mkdir(join(repository, '.trash'), { recursive: true });
    await rename(dir(name, version), trash);
  }

  async function writeConfig(name: string, config: unknown): Promise<void> {
    await mkdir(join(repository, name), { recursive: true });
    await writeFile(join(repository, name, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  }

  async function start(): Promise<void> {
    registry.onModuleInit();
    await until(() => registry.isStarted());
  }

  /** One poll of the repository, run in turn with every other change, as the timer runs it. */
  function pollOnce(): Promise<void> {
    const inner = internals(registry);
    return inner.serialize(() => inner.poll({ force: false }));
  }

  function servedVersion(name = MODEL): number | undefined {
    try {
      return registry.resolve(name).version;
    } catch {
      return undefined;
    }
  }

  function versionStates(name = MODEL): Array<[number, ModelState]> {
    return registry.model(name).versions.map((v) => [v.version, v.state]);
  }

  beforeEach(async () => {
    repository = await mkdtemp(join(tmpdir(), 'registry-'));
    loader = new FakeLoader();
    gates = [];
    createRegistry();
  });

  afterEach(async () => {
    for (const g of gates) g.open();
    await registry.onApplicationShutdown();
    await rm(repository, { recursive: true, force: true });
  });

  describe('scanning the repository', () => {
    it('serves every model, skipping folders that are not model names, not versions, or without model.json', async () => {
      // Every version folder is served, so any that the scan should skip would show.
      await writeConfig(MODEL, { version_policy: { all: {} } });
      await writeVersion(MODEL, 1);
      await writeVersion(MODEL, 2);
      for (const notAVersion of ['01', 'latest', '0', '-1']) await writeVersion(MODEL, notAVersion);
      await mkdir(dir(MODEL, 7));
      await writeVersion(OTHER, 1);
      await writeVersion('.hidden', 1);
      await writeVersion('bad name', 1);
      await writeFile(join(repository, 'README.md'), 'not a model');

      await start();

      expect([...loader.calls].sort()).toEqual([dir(MODEL, 1), dir(MODEL, 2), dir(OTHER, 1)]);
      expect(registry.models().map((m) => m.name)).toEqual([MODEL, OTHER]);
      expect(registry.resolve(MODEL).version).toBe(2);
      expect(registry.resolve(OTHER).version).toBe(1);
      expect(versionStates(MODEL)).toEqual([
        [1, ModelState.AVAILABLE],
        [2, ModelState.AVAILABLE],
      ]);
      expect(() => registry.resolve('.hidden')).toThrow(ModelNotFoundError);
      expect(() => registry.model('bad name')).toThrow(ModelNotFoundError);
      expect(registry.readiness().ready).toBe(true);
    });

    it('hands out the version loaded from its own folder, and its infer reaches that model', async () => {
      await writeVersion(MODEL, 1);

      await start();
      const served = registry.resolve(MODEL);
      const output = await served.infer(INPUTS);

      expect(served).toMatchObject({ name: MODEL, version: 1, description: loader.modelsFrom(dir(MODEL, 1))[0].description });
      expect(Array.from(output.y.data as Float32Array)).toEqual([7]);
      // One warm-up inference and this one.
      expect(loader.models[0].inferCalls).toBe(2);
    });

    it('warms each version up with one inference before it serves', async () => {
      await writeVersion(MODEL, 1);

      await start();

      expect(loader.models[0].inferCalls).toBe(1);
      expect(registry.model(MODEL).versions[0]).toMatchObject({ state: ModelState.AVAILABLE, loadedAt: expect.any(Date) });
    });

    it('reports a model folder with no version folder as UNAVAILABLE', async () => {
      await mkdir(join(repository, MODEL));

      await start();

      expect(registry.model(MODEL)).toMatchObject({
        state: 'UNAVAILABLE',
        reason: 'no version folder holding a model that its version policy selects',
        versions: [],
      });
      expect(registry.readiness().ready).toBe(false);
    });
  });

  describe('version policies', () => {
    beforeEach(async () => {
      for (const version of [1, 2, 3]) await writeVersion(MODEL, version);
    });

    it('serves only the newest version by default', async () => {
      await start();

      expect(loader.calls).toEqual([dir(MODEL, 3)]);
      expect(versionStates()).toEqual([[3, ModelState.AVAILABLE]]);
      expect(registry.model(MODEL).versionPolicy).toEqual({ kind: 'latest', count: 1 });
    });

    it('serves the two newest versions under latest num_versions 2', async () => {
      await writeConfig(MODEL, { version_policy: { latest: { num_versions: 2 } } });

      await start();

      expect([...loader.calls].sort()).toEqual([dir(MODEL, 2), dir(MODEL, 3)]);
      expect(versionStates()).toEqual([
        [2, ModelState.AVAILABLE],
        [3, ModelState.AVAILABLE],
      ]);
    });

    it('serves every version under all', async () => {
      await writeConfig(MODEL, { version_policy: { all: {} } });

      await start();

      expect(versionStates().map(([v]) => v)).toEqual([1, 2, 3]);
      expect(loader.calls).toHaveLength(3);
    });

    it('serves exactly the listed versions under specific', async () => {
      await writeConfig(MODEL, { version_policy: { specific: { versions: [1, 3] } } });

      await start();

      expect(versionStates().map(([v]) => v)).toEqual([1, 3]);
      expect(loader.callsFor(dir(MODEL, 2))).toBe(0);
    });

    it('resolves the newest available version, or the version asked for', async () => {
      await writeConfig(MODEL, { version_policy: { specific: { versions: [1, 3] } } });

      await start();

      expect(registry.resolve(MODEL).version).toBe(3);
      expect(registry.resolve(MODEL, 1).version).toBe(1);
      expect(registry.resolve(MODEL, 1).description).toBe(loader.modelsFrom(dir(MODEL, 1))[0].description);
    });

    it('resolves past a newer version that failed to load, to the newest one available', async () => {
      await writeConfig(MODEL, { version_policy: { all: {} } });
      loader.failures.set(dir(MODEL, 3), new Error('bad weights'));

      await start();

      expect(registry.resolve(MODEL).version).toBe(2);
      expect(() => registry.resolve(MODEL, 3)).toThrow(ModelNotServingError);
      expect(() => registry.resolve(MODEL, 3)).toThrow(`model "${MODEL}" version 3 is UNAVAILABLE: bad weights`);
    });

    it('refuses a version that is not served, or a model not in the repository, as not found', async () => {
      await writeConfig(MODEL, { version_policy: { specific: { versions: [1, 3] } } });

      await start();

      expect(() => registry.resolve(MODEL, 2)).toThrow(ModelNotFoundError);
      expect(() => registry.resolve(MODEL, 9)).toThrow(`model "${MODEL}" has no version 9 being served`);
      expect(() => registry.resolve('tulips')).toThrow(ModelNotFoundError);
      expect(() => registry.model('tulips')).toThrow(ModelNotFoundError);
      expect(() => registry.versionDetails(MODEL, 2)).toThrow(ModelNotFoundError);
    });
  });

  describe('a bad config.json', () => {
    it.each<[string, unknown, string]>([
      ['invalid JSON', '{"version_policy": ', 'config.json is not valid JSON'],
      ['an unknown key', { version_policy: { newest: {} } }, 'version_policy.newest is not a known setting'],
      [
        'latest.num_versions 0',
        { version_policy: { latest: { num_versions: 0 } } },
        'version_policy.latest.num_versions must not be less than 1',
      ],
      [
        'two policies at once',
        { version_policy: { latest: {}, all: {} } },
        'version_policy must name exactly one of latest, all, specific',
      ],
    ])('with %s makes only that model UNAVAILABLE, with the reason', async (_, config, reason) => {
      await writeVersion(MODEL, 1);
      await writeVersion(OTHER, 1);
      await writeConfig(OTHER, config);

      await start();

      const status = registry.model(OTHER);
      expect(status).toMatchObject({ state: 'UNAVAILABLE', versions: [] });
      expect(status.reason).toContain(reason);
      expect(loader.callsFor(dir(OTHER, 1))).toBe(0);
      expect(() => registry.resolve(OTHER)).toThrow(ModelNotServingError);
      expect(registry.resolve(MODEL).version).toBe(1);
      expect(registry.readiness().ready).toBe(true);
    });

    it('that turns bad while a version serves leaves that version serving, with the reason', async () => {
      await writeVersion(MODEL, 1);
      await start();

      await writeConfig(MODEL, { version_policy: { latest: { num_versions: 0 } } });
      await writeVersion(MODEL, 2);
      await pollOnce();

      expect(registry.resolve(MODEL).version).toBe(1);
      expect(loader.callsFor(dir(MODEL, 2))).toBe(0);
      expect(registry.model(MODEL).state).toBe('AVAILABLE');
      expect(registry.model(MODEL).reason).toContain('version_policy.latest.num_versions');
    });
  });

  describe('broken versions', () => {
    it('marks a version the loader refuses UNAVAILABLE with the reason, while another model serves', async () => {
      await writeVersion(MODEL, 1);
      await writeVersion(OTHER, 1);
      loader.failures.set(dir(OTHER, 1), new Error('weight shards hold 10 bytes but the manifest describes 12'));

      await start();

      expect(registry.model(OTHER)).toMatchObject({
        state: 'UNAVAILABLE',
        reason: 'version 1 is UNAVAILABLE: weight shards hold 10 bytes but the manifest describes 12',
        versions: [
          {
            name: OTHER,
            version: 1,
            state: ModelState.UNAVAILABLE,
            reason: 'weight shards hold 10 bytes but the manifest describes 12',
          },
        ],
      });
      expect(() => registry.resolve(OTHER)).toThrow(
        `model "${OTHER}" is UNAVAILABLE: version 1 is UNAVAILABLE: weight shards hold 10 bytes but the manifest describes 12`,
      );
      expect(registry.resolve(MODEL).version).toBe(1);
      expect(registry.readiness().problems).toEqual([]);
    });

    it('tells a fault of one model from a replica not ready: a model it must serve, or one loading, is not ready', async () => {
      await writeVersion(MODEL, 1);
      await writeVersion(OTHER, 1);
      loader.failures.set(dir(MODEL, 1), new Error('bad weights'));
      loader.failures.set(dir(OTHER, 1), new Error('bad weights'));

      await start();

      // The required model serving no version makes the replica not ready: 503, counted by a proxy.
      expect(registry.readiness().ready).toBe(false);
      expect(() => registry.resolve(MODEL)).toThrow(ModelNotReadyError);
      // The other fails alone: the replica stays ready, and its requests are refused as not served.
      expect(() => registry.resolve(OTHER)).toThrow(ModelNotServingError);

      // A version on its way in is not ready yet, whichever model it belongs to.
      loader.failures.delete(dir(OTHER, 1));
      const loading = gate();
      loader.gate = loading.promise;
      await writeVersion(OTHER, 2);
      const polled = pollOnce();
      await until(() => registry.model(OTHER).state === 'LOADING');
      expect(() => registry.resolve(OTHER)).toThrow(ModelNotReadyError);
      loading.open();
      await polled;
      expect(registry.resolve(OTHER).version).toBe(2);
    });

    it("loads a version folder with a missing shard at start-up anyway, and reports the loader's refusal", async () => {
      await writeIncompleteVersion(MODEL, 1);

      await start();

      expect(loader.calls).toEqual([dir(MODEL, 1)]);
      expect(registry.model(MODEL).versions).toEqual([
        expect.objectContaining({ version: 1, state: ModelState.UNAVAILABLE, reason: MISSING_SHARD }),
      ]);
      expect(registry.model(MODEL).state).toBe('UNAVAILABLE');
    });

    it('serves the next older version when the newest fails to load under the latest policy', async () => {
      await writeVersion(MODEL, 1);
      await writeVersion(MODEL, 2);
      await writeIncompleteVersion(MODEL, 3);

      await start();

      expect(registry.resolve(MODEL).version).toBe(2);
      expect(versionStates()).toEqual([
        [2, ModelState.AVAILABLE],
        [3, ModelState.UNAVAILABLE],
      ]);
      expect(registry.model(MODEL)).toMatchObject({ state: 'AVAILABLE', reason: `version 3 is UNAVAILABLE: ${MISSING_SHARD}` });
      expect(registry.readiness().ready).toBe(true);
    });

    it('keeps to the policy count when falling back: latest 2 with the newest broken serves the two before it', async () => {
      await writeConfig(MODEL, { version_policy: { latest: { num_versions: 2 } } });
      for (const v of [1, 2, 3]) await writeVersion(MODEL, v);
      loader.failures.set(dir(MODEL, 3), new Error('bad weights'));
      await writeVersion(MODEL, 4);
      loader.failures.set(dir(MODEL, 4), new Error('bad weights'));

      await start();

      expect(
        versionStates()
          .filter(([, state]) => state === ModelState.AVAILABLE)
          .map(([v]) => v),
      ).toEqual([1, 2]);
    });

    it('marks a version whose warm-up inference fails UNAVAILABLE and disposes it', async () => {
      await writeVersion(MODEL, 1);
      loader.inferFailure = new Error('kernel not found');

      await start();

      expect(registry.model(MODEL).versions[0]).toMatchObject({
        state: ModelState.UNAVAILABLE,
        reason: 'warm-up inference failed: kernel not found',
      });
      expect(loader.models[0].disposed).toBe(true);
    });
  });

  describe('polling the repository', () => {
    it('loads and warms a new version before serving it, then disposes the old one', async () => {
      createRegistry({ pollIntervalMs: POLL_MS });
      await writeVersion(MODEL, 1);
      await start();
      const [first] = loader.models;
      const warmUp = gate();
      loader.inferHold = warmUp.promise;

      await writeVersion(MODEL, 2);
      await until(() => loader.modelsFrom(dir(MODEL, 2))[0]?.inferCalls === 1);

      // Warming up: not served yet.
      const second = loader.modelsFrom(dir(MODEL, 2))[0];
      expect(versionStates()).toEqual([
        [1, ModelState.AVAILABLE],
        [2, ModelState.LOADING],
      ]);
      expect(registry.resolve(MODEL).version).toBe(1);

      warmUp.open();
      await until(() => servedVersion() === 2);

      expect(registry.resolve(MODEL).description).toBe(second.description);
      expect(second.inferCalls).toBe(1);
      await until(() => first.disposed);
      expect(versionStates()).toEqual([[2, ModelState.AVAILABLE]]);
      expect(second.disposed).toBe(false);
    });

    it('retires a removed version and loads the older version still on disk again', async () => {
      createRegistry({ pollIntervalMs: POLL_MS });
      await writeVersion(MODEL, 1);
      await start();
      await writeVersion(MODEL, 2);
      await until(() => servedVersion() === 2 && loader.models[0].disposed);
      const second = loader.modelsFrom(dir(MODEL, 2))[0];

      await removeVersion(MODEL, 2);
      await until(() => servedVersion() === 1);

      expect(loader.calls).toEqual([dir(MODEL, 1), dir(MODEL, 2), dir(MODEL, 1)]);
      const reloaded = loader.modelsFrom(dir(MODEL, 1))[1];
      expect(registry.resolve(MODEL).description).toBe(reloaded.description);
      await until(() => second.disposed);
      expect(versionStates()).toEqual([[1, ModelState.AVAILABLE]]);
    });

    it('never lets a new version that fails to load take down the one serving', async () => {
      createRegistry({ pollIntervalMs: POLL_MS });
      await writeVersion(MODEL, 1);
      await start();
      loader.failures.set(dir(MODEL, 2), new Error('bad weights'));

      await writeVersion(MODEL, 2);
      await until(() => registry.model(MODEL).versions.some((v) => v.version === 2 && v.state === ModelState.UNAVAILABLE));

      expect(registry.resolve(MODEL).version).toBe(1);
      expect(loader.models[0].disposed).toBe(false);
      expect(registry.model(MODEL)).toMatchObject({
        state: 'AVAILABLE',
        reason: 'version 2 is UNAVAILABLE: bad weights',
        versions: [
          expect.objectContaining({ version: 1, state: ModelState.AVAILABLE }),
          expect.objectContaining({ version: 2, state: ModelState.UNAVAILABLE, reason: 'bad weights' }),
        ],
      });
      expect(registry.readiness().ready).toBe(true);
    });

    it('does not retry a failed version until its folder changes', async () => {
      await writeVersion(MODEL, 1);
      await start();
      loader.failures.set(dir(MODEL, 2), new Error('bad weights'));
      await writeVersion(MODEL, 2);
      await pollOnce();
      await pollOnce();
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(1);

      loader.failures.delete(dir(MODEL, 2));
      const later = new Date(Date.now() + 60_000);
      await utimes(join(dir(MODEL, 2), SHARD), later, later);
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(2);
      expect(registry.resolve(MODEL).version).toBe(2);
    });

    it('does not load a version folder that is still incomplete, and loads it at the next poll once complete', async () => {
      await writeVersion(MODEL, 1);
      await start();

      await writeIncompleteVersion(MODEL, 2);
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(0);
      expect(versionStates()).toEqual([[1, ModelState.AVAILABLE]]);
      expect(registry.resolve(MODEL).version).toBe(1);

      await completeVersion(MODEL, 2);
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(1);
      expect(registry.resolve(MODEL).version).toBe(2);
      expect(loader.models[0].disposed).toBe(true);
    });

    it('does not load a version folder whose model.onnx is still being copied, and loads it at the next poll once whole', async () => {
      const whole = await readFile(join(IRIS_SKLEARN_VERSION, MODEL_ONNX));
      await writeVersion(MODEL, 1);
      await start();

      await mkdir(dir(MODEL, 2));
      await writeFile(join(dir(MODEL, 2), MODEL_ONNX), whole.subarray(0, whole.length / 2));
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(0);
      expect(registry.resolve(MODEL).version).toBe(1);

      await appendFile(join(dir(MODEL, 2), MODEL_ONNX), whole.subarray(whole.length / 2));
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(1);
      expect(registry.resolve(MODEL).version).toBe(2);
    });

    it('does not load a version folder that changed since the last poll while still incomplete', async () => {
      await writeVersion(MODEL, 1);
      await start();

      await writeIncompleteVersion(MODEL, 2);
      await pollOnce();
      await writeFile(join(dir(MODEL, 2), SHARD), Buffer.alloc(SHARD_BYTES / 2));
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(0);
      expect(registry.resolve(MODEL).version).toBe(1);
    });

    it('loads a version folder that stays incomplete and unchanged across two polls, and shows the failure', async () => {
      await writeVersion(MODEL, 1);
      await start();

      await writeIncompleteVersion(MODEL, 2);
      await pollOnce();
      expect(loader.callsFor(dir(MODEL, 2))).toBe(0);
      await pollOnce();

      expect(loader.callsFor(dir(MODEL, 2))).toBe(1);
      expect(registry.model(MODEL).versions).toEqual([
        expect.objectContaining({ version: 1, state: ModelState.AVAILABLE }),
        expect.objectContaining({ version: 2, state: ModelState.UNAVAILABLE, reason: MISSING_SHARD }),
      ]);
      expect(registry.resolve(MODEL).version).toBe(1);
    });

    it('lets a retired version finish the inference in flight before disposing it', async () => {
      createRegistry({ pollIntervalMs: POLL_MS });
      await writeVersion(MODEL, 1);
      await start();
      const [first] = loader.models;
      const slow = gate();
      first.hold = slow.promise;
      const versionOne = internals(registry).entries.get(MODEL)!.versions.get(1)!;
      const running = registry.resolve(MODEL).infer(INPUTS);

      await writeVersion(MODEL, 2);
      await until(() => servedVersion() === 2);
      await sleep(3 * POLL_MS);

      expect(versionOne.state).toBe(ModelState.UNLOADING);
      expect(first.disposed).toBe(false);
      expect(registry.resolve(MODEL).version).toBe(2);

      slow.open();
      const output = await running;

      expect(Array.from(output.y.data as Float32Array)).toEqual([7]);
      await until(() => first.disposed);
    });

    it('reports a retired version as UNLOADING while its inference runs', async () => {
      createRegistry({ pollIntervalMs: POLL_MS });
      await writeVersion(MODEL, 1);
      await start();
      const [first] = loader.models;
      const slow = gate();
      first.hold = slow.promise;
      void registry.resolve(MODEL).infer(INPUTS);

      await writeVersion(MODEL, 2);
      await until(() => servedVersion() === 2);

      expect(versionStates()).toEqual([
        [1, ModelState.UNLOADING],
        [2, ModelState.AVAILABLE],
      ]);
    });

    it('reports a new model whose only version folder is still being written as UNAVAILABLE, saying so', async () => {
      await writeVersion(MODEL, 1);
      await start();

      await writeIncompleteVersion(OTHER, 1);
      await pollOnce();

      expect(registry.model(OTHER)).toMatchObject({
        state: 'UNAVAILABLE',
        reason: 'version 1 is still being written',
        versions: [],
      });
      expect(loader.callsFor(dir(OTHER, 1))).toBe(0);
    });

    it('forgets a version folder that was being written once it is removed', async () => {
      await writeVersion(MODEL, 1);
      await start();
      await writeIncompleteVersion(OTHER, 1);
      await pollOnce();

      await removeVersion(OTHER, 1);
      await pollOnce();

      expect(registry.model(OTHER)).toMatchObject({
        state: 'UNAVAILABLE',
        reason: 'no version folder holding a model that its version policy selects',
      });
    });

    it('stops serving a model whose folder leaves the repository', async () => {
      await writeVersion(MODEL, 1);
      await writeVersion(OTHER, 1);
      await start();

      await rename(join(repository, OTHER), join(repository, '.gone'));
      await pollOnce();

      expect(() => registry.resolve(OTHER)).toThrow(ModelNotFoundError);
      expect(loader.modelsFrom(dir(OTHER, 1))[0].disposed).toBe(true);
      expect(registry.models().map((m) => m.name)).toEqual([MODEL]);
    });
  });

  describe('unload and load', () => {
    beforeEach(async () => {
      await writeVersion(MODEL, 1);
      await writeConfig(OTHER, { version_policy: { all: {} } });
      await writeVersion(OTHER, 1);
      await writeVersion(OTHER, 2);
    });

    it('unload stops serving every version of the model, and readiness does not wait for it', async () => {
      await start();
      const models = [dir(OTHER, 1), dir(OTHER, 2)].map((d) => loader.modelsFrom(d)[0]);

      const status = await registry.unload(OTHER);

      expect(status).toMatchObject({ name: OTHER, state: 'UNLOADED', versions: [] });
      expect(models.map((m) => m.disposed)).toEqual([true, true]);
      expect(() => registry.resolve(OTHER)).toThrow(ModelNotServingError);
      expect(() => registry.resolve(OTHER)).toThrow(`model "${OTHER}" is unloaded`);
      expect(registry.model(OTHER).state).toBe('UNLOADED');
      expect(registry.readiness().ready).toBe(true);
      expect(registry.readiness().problems).toEqual([]);
    });

    it('keeps an unloaded model unloaded across polls, even when a version is added', async () => {
      await start();
      await registry.unload(OTHER);
      const callsBefore = loader.calls.length;

      await writeVersion(OTHER, 3);
      await pollOnce();
      await pollOnce();

      expect(loader.calls).toHaveLength(callsBefore);
      expect(registry.model(OTHER).state).toBe('UNLOADED');
      expect(() => registry.resolve(OTHER)).toThrow(ModelNotServingError);
    });

    it('load serves an unloaded model again', async () => {
      await start();
      await registry.unload(OTHER);

      const status = await registry.load(OTHER);

      expect(status.state).toBe('AVAILABLE');
      expect(status.versions.map((v) => [v.version, v.state])).toEqual([
        [1, ModelState.AVAILABLE],
        [2, ModelState.AVAILABLE],
      ]);
      expect(loader.callsFor(dir(OTHER, 2))).toBe(2);
      expect(registry.resolve(OTHER).description).toBe(loader.modelsFrom(dir(OTHER, 2))[1].description);
    });

    it('load serves a model added since the last poll', async () => {
      await start();
      await writeVersion('tulips', 4);

      const status = await registry.load('tulips');

      expect(status.state).toBe('AVAILABLE');
      expect(registry.resolve('tulips').version).toBe(4);
    });

    it.each(['tulips', '../flowers', '.hidden'])('refuses to unload or load %s, not a model in the repository', async (name) => {
      await start();

      await expect(registry.unload(name)).rejects.toThrow(ModelNotFoundError);
      await expect(registry.load(name)).rejects.toThrow(ModelNotFoundError);
    });

    it("load rejects with ModelLoadError when the model's only version fails", async () => {
      await start();
      await writeVersion('tulips', 1);
      loader.failures.set(dir('tulips', 1), new Error('bad weights'));

      const error = await errorFrom(() => registry.load('tulips'));

      expect(error).toBeInstanceOf(ModelLoadError);
      expect(error.message).toBe('model "tulips" could not load: version 1 is UNAVAILABLE: bad weights');
      expect(registry.model('tulips').state).toBe('UNAVAILABLE');
    });
  });

  describe('reload', () => {
    it('loads a fresh copy of the serving version, swaps it in and disposes the old copy', async () => {
      await writeVersion(MODEL, 1);
      await start();
      const [old] = loader.models;

      const status = await registry.reload(MODEL);

      expect(status.state).toBe('AVAILABLE');
      expect(loader.calls).toEqual([dir(MODEL, 1), dir(MODEL, 1)]);
      const fresh = loader.models[1];
      expect(registry.resolve(MODEL).description).toBe(fresh.description);
      expect(fresh.inferCalls).toBe(1);
      expect(fresh.disposed).toBe(false);
      expect(old.disposed).toBe(true);
    });

    it('keeps the old copy serving when the fresh copy fails', async () => {
      await writeVersion(MODEL, 1);
      await start();
      const [old] = loader.models;
      loader.failures.set(dir(MODEL, 1), new Error('bad weights'));

      await registry.reload(MODEL).catch(() => undefined);

      expect(loader.calls).toEqual([dir(MODEL, 1), dir(MODEL, 1)]);
      expect(registry.resolve(MODEL).description).toBe(old.description);
      expect(old.disposed).toBe(false);
      expect(registry.model(MODEL).state).toBe('AVAILABLE');
    });

    it('rejects with ModelLoadError when the fresh copy fails', async () => {
      await writeVersion(MODEL, 1);
      await start();
      loader.failures.set(dir(MODEL, 1), new Error('bad weights'));

      const error = await errorFrom(() => registry.reload(MODEL));

      expect(error).toBeInstanceOf(ModelLoadError);
      expect(error.message).toContain('bad weights');
    });

    it('refuses to reload a model not in the repository', async () => {
      await writeVersion(MODEL, 1);
      await start();

      await expect(registry.reload('tulips')).rejects.toThrow(ModelNotFoundError);
    });
  });

  describe('readiness', () => {
    it('is not ready until the start-up load has finished', async () => {
      await writeVersion(MODEL, 1);
      const loading = gate();
      loader.gate = loading.promise;

      registry.onModuleInit();
      await until(() => loader.calls.length === 1);

      expect(registry.isStarted()).toBe(false);
      expect(registry.readiness().ready).toBe(false);
      expect(registry.readiness().problems).toEqual(['the model repository is still loading']);
      expect(() => registry.resolve(MODEL)).toThrow(ModelNotReadyError);
      expect(() => registry.resolve('tulips')).toThrow(ModelNotReadyError);

      loading.open();
      await until(() => registry.isStarted());

      expect(registry.readiness().ready).toBe(true);
    });

    it('is not ready when a required model is not in the repository, and says so', async () => {
      createRegistry({ required: { kind: 'listed', names: ['iris'] } });
      await writeVersion(MODEL, 1);

      await start();

      expect(registry.readiness().ready).toBe(false);
      expect(registry.readiness().problems).toEqual(['required model iris is not in the repository']);
    });

    it('is ready when the required model serves, whatever state the others are in', async () => {
      await writeVersion(MODEL, 1);
      await writeVersion(OTHER, 1);
      await writeVersion('broken', 1);
      loader.failures.set(dir('broken', 1), new Error('model.json has no modelTopology'));

      await start();

      const report = registry.readiness();
      expect(report.ready).toBe(true);
      expect(report.problems).toEqual([]);
      expect(report.models).toEqual([
        expect.objectContaining({ name: 'broken', state: 'UNAVAILABLE', required: false }),
        expect.objectContaining({ name: MODEL, state: 'AVAILABLE', required: true }),
        expect.objectContaining({ name: OTHER, state: 'AVAILABLE', required: false }),
      ]);
    });

    it('with every model required, is not ready while one of them has no version serving, and names it', async () => {
      createRegistry({ required: { kind: 'every' } });
      await writeVersion(MODEL, 1);
      await writeVersion('broken', 1);
      loader.failures.set(dir('broken', 1), new Error('model.json has no modelTopology'));

      await start();

      expect(registry.readiness()).toMatchObject({
        ready: false,
        problems: ['required model broken is UNAVAILABLE: version 1 is UNAVAILABLE: model.json has no modelTopology'],
      });
      expect(registry.readiness().models.every((model) => model.required)).toBe(true);
    });

    it('with every model required, is not ready when the repository holds none', async () => {
      createRegistry({ required: { kind: 'every' } });

      await start();

      expect(registry.readiness().problems).toEqual(['the model repository holds no model']);
    });

    it('is not ready once a required model is unloaded, and ready again once it is loaded', async () => {
      await writeVersion(MODEL, 1);
      await start();

      await registry.unload(MODEL);

      expect(registry.readiness().problems).toEqual([`required model ${MODEL} is UNLOADED: unloaded on request`]);

      await registry.load(MODEL);

      expect(registry.readiness().ready).toBe(true);
    });

    it('is not ready while a required model loads after the start-up, saying it is LOADING', async () => {
      createRegistry({ required: { kind: 'listed', names: [MODEL, OTHER] } });
      await writeVersion(MODEL, 1);
      await start();
      await writeVersion(OTHER, 1);
      const loading = gate();
      loader.gate = loading.promise;

      const polled = pollOnce();
      await until(() => loader.calls.length === 2);

      expect(registry.readiness().problems).toEqual([`required model ${OTHER} is LOADING`]);
      loading.open();
      await polled;
      expect(registry.readiness().ready).toBe(true);
    });

    it('is ready when every model has a version serving', async () => {
      await writeVersion(MODEL, 1);
      await writeVersion(OTHER, 1);

      await start();

      expect(registry.readiness().problems).toEqual([]);
      expect(registry.readiness().ready).toBe(true);
    });

    it('is not ready when the repository folder cannot be read, and names it', async () => {
      const missing = join(repository, 'missing');
      registry = new RepositoryModelRegistry(loader, configFor(missing, 0, { kind: 'listed', names: [MODEL] }), new MetricsService());

      await start();

      expect(registry.readiness().problems).toEqual([`cannot read the model repository ${missing}: ENOENT`]);
    });

    it('is not ready once shutdown has begun', async () => {
      await writeVersion(MODEL, 1);
      await start();
      expect(registry.readiness().ready).toBe(true);

      await registry.onApplicationShutdown();

      expect(registry.readiness().ready).toBe(false);
      expect(registry.readiness().problems).toEqual(['the model repository is shutting down']);
    });
  });

  describe('shutdown', () => {
    it('disposes every loaded version', async () => {
      await writeConfig(MODEL, { version_policy: { all: {} } });
      await writeVersion(MODEL, 1);
      await writeVersion(MODEL, 2);
      await writeVersion(OTHER, 1);
      await start();
      expect(loader.models).toHaveLength(3);

      await registry.onApplicationShutdown();

      expect(loader.models.map((m) => m.disposed)).toEqual([true, true, true]);
      expect(registry.models().flatMap((m) => m.versions)).toEqual([]);
    });

    it('waits for the load in progress, disposes it, and starts no other load', async () => {
      await writeConfig(MODEL, { version_policy: { all: {} } });
      await writeVersion(MODEL, 1);
      await writeVersion(MODEL, 2);
      await writeVersion(OTHER, 1);
      const loading = gate();
      loader.gate = loading.promise;
      registry.onModuleInit();
      await until(() => loader.calls.length === 1);

      const stopped = registry.onApplicationShutdown();
      loading.open();
      await stopped;

      expect(loader.calls).toEqual([dir(MODEL, 1)]);
      expect(loader.models).toHaveLength(1);
      expect(loader.models[0].disposed).toBe(true);
    });

    it('leaves no poll running after shutdown', async () => {
      createRegistry({ pollIntervalMs: POLL_MS });
      await writeVersion(MODEL, 1);
      await start();

      await registry.onApplicationShutdown();
      await writeVersion(MODEL, 2);
      await sleep(5 * POLL_MS);

      expect(loader.calls).toEqual([dir(MODEL, 1)]);
    });
  });
});
