import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ShutdownState } from '../src/health/shutdown-state';
import { LoadedModel } from '../src/model/loaded-model';
import { ModelLoader, TfjsModelLoader } from '../src/model/model-loader';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { createTestApp, SHIPPED_MODELS, waitUntilReady, waitUntilStarted } from './support/test-app';

const SETOSA = { features: [5.1, 3.5, 1.4, 0.2] };

/** The real loader, held at a gate until the test opens it. */
class GatedLoader extends ModelLoader {
  private open!: () => void;
  readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  constructor(private readonly inner: ModelLoader) {
    super();
  }

  release(): void {
    this.open();
  }

  async load(directory: string): Promise<LoadedModel> {
    await this.gate;
    return this.inner.load(directory);
  }
}

describe('health probes (end to end)', () => {
  describe('while the model loads, and after', () => {
    let app: NestFastifyApplication;
    let loader: GatedLoader;

    beforeAll(async () => {
      app = await createTestApp({
        override: (builder) =>
          builder.overrideProvider(ModelLoader).useFactory({
            inject: [TfjsRuntime],
            factory: (runtime: TfjsRuntime) => (loader = new GatedLoader(new TfjsModelLoader(runtime))),
          }),
      });
    });

    afterAll(async () => {
      loader.release();
      await app.close();
    });

    it('is live, not ready and not started before the model has loaded', async () => {
      const [live, ready, startup, prediction] = await Promise.all([
        app.inject({ method: 'GET', url: '/health/live' }),
        app.inject({ method: 'GET', url: '/health/ready' }),
        app.inject({ method: 'GET', url: '/health/startup' }),
        app.inject({ method: 'POST', url: '/prediction', payload: SETOSA }),
      ]);

      expect(live.statusCode).toBe(200);
      expect(live.json().status).toBe('ok');
      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.models.reason).toBe('the model repository is still loading');
      expect(startup.statusCode).toBe(503);
      expect(startup.json().error.startup.reason).toBe('loading models');
      expect(prediction.statusCode).toBe(503);
      expect(prediction.headers['retry-after']).toBe('5');
      expect(prediction.json().message).toBe('the model repository is still loading');
    });

    it('becomes ready, started and serving once the model is loaded and warmed', async () => {
      loader.release();
      await waitUntilReady(app);

      const [ready, startup, prediction] = await Promise.all([
        app.inject({ method: 'GET', url: '/health/ready' }),
        app.inject({ method: 'GET', url: '/health/startup' }),
        app.inject({ method: 'POST', url: '/prediction', payload: SETOSA }),
      ]);

      expect(ready.json().details.models).toMatchObject({ status: 'up', iris: { state: 'AVAILABLE', versions: [expect.any(Number)] } });
      expect(ready.json().details.lifecycle).toEqual({ status: 'up' });
      expect(startup.statusCode).toBe(200);
      expect(prediction.statusCode).toBe(200);
    });

    it('stops being ready as soon as shutdown begins, while still live', async () => {
      await waitUntilReady(app);

      await app.get(ShutdownState).beforeApplicationShutdown('SIGTERM');
      const [ready, live] = await Promise.all([
        app.inject({ method: 'GET', url: '/health/ready' }),
        app.inject({ method: 'GET', url: '/health/live' }),
      ]);

      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.lifecycle).toEqual({ status: 'down', reason: 'shutting down' });
      expect(live.statusCode).toBe(200);
    });
  });

  describe('with a repository that holds no iris model', () => {
    let app: NestFastifyApplication;
    let emptyRepository: string;

    beforeAll(async () => {
      emptyRepository = await mkdtemp(join(tmpdir(), 'empty-repository-'));
      app = await createTestApp({ env: { MODEL_REPOSITORY: emptyRepository } });
      await waitUntilStarted(app);
    });

    afterAll(async () => {
      await app.close();
      await rm(emptyRepository, { recursive: true, force: true });
    });

    it('is started and live but not ready, and names the reason', async () => {
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      const live = await app.inject({ method: 'GET', url: '/health/live' });

      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.models.reason).toBe('required model iris is not in the repository');
      expect(live.statusCode).toBe(200);
    });

    it('answers predictions with 404 and the reason, without internals', async () => {
      const response = await app.inject({ method: 'POST', url: '/prediction', payload: SETOSA });

      expect(response.statusCode).toBe(404);
      expect(response.json().message).toBe('model "iris" is not in the repository');
      expect(response.body).not.toContain(emptyRepository);
    });
  });

  describe('the readiness policy (REQUIRED_MODELS)', () => {
    const ADMIN_TOKEN = 'a-token-of-sixteen-or-more';
    let repository: string;
    const apps: NestFastifyApplication[] = [];

    /** The shipped iris model, plus a model whose one version is broken: `{"nope":1}` as its model.json. */
    beforeAll(async () => {
      repository = await mkdtemp(join(tmpdir(), 'readiness-'));
      await cp(join(SHIPPED_MODELS, 'iris'), join(repository, 'iris'), { recursive: true });
      await mkdir(join(repository, 'broken', '1'), { recursive: true });
      await writeFile(join(repository, 'broken', '1', 'model.json'), '{"nope":1}');
    });

    afterEach(async () => {
      for (const app of apps.splice(0)) await app.close();
    });

    afterAll(() => rm(repository, { recursive: true, force: true }));

    async function start(env: Record<string, string> = {}): Promise<NestFastifyApplication> {
      const app = await createTestApp({ env: { MODEL_REPOSITORY: repository, ADMIN_TOKEN, REQUIRED_MODELS: '', ...env } });
      apps.push(app);
      await waitUntilStarted(app);
      return app;
    }

    const get = (app: NestFastifyApplication, url: string) => app.inject({ method: 'GET', url });

    it('keeps a replica ready when a model it is not required to serve is broken, and shows that model everywhere', async () => {
      const app = await start();

      const [ready, v2Ready, brokenReady, metrics] = await Promise.all(
        ['/health/ready', '/v2/health/ready', '/v2/models/broken/ready', '/metrics'].map((url) => get(app, url)),
      );

      expect(ready.statusCode).toBe(200);
      expect(ready.json().info.models.broken).toEqual({
        state: 'UNAVAILABLE',
        required: false,
        versions: [],
        reason: expect.stringContaining('version 1 is UNAVAILABLE: model.json has no modelTopology'),
      });
      expect(ready.json().info.models.iris).toMatchObject({ state: 'AVAILABLE', required: true });
      expect(v2Ready.statusCode).toBe(200);
      // A fault of that model alone: 404, which a proxy in front does not count against the replica.
      expect(brokenReady.statusCode).toBe(404);
      expect(brokenReady.json().error).toContain('model "broken" is UNAVAILABLE');
      expect(metrics.body).toContain('model_state{model="broken",state="UNAVAILABLE",required="false"} 1');
      expect(metrics.body).toContain('model_state{model="iris",state="AVAILABLE",required="true"} 1');
    });

    it('with REQUIRED_MODELS=*, is not ready while the broken model serves no version, and says why', async () => {
      const app = await start({ REQUIRED_MODELS: '*' });

      const [ready, v2Ready, brokenReady, brokenPrediction] = await Promise.all([
        get(app, '/health/ready'),
        get(app, '/v2/health/ready'),
        get(app, '/v2/models/broken/ready'),
        app.inject({ method: 'POST', url: '/models/broken/prediction', payload: SETOSA }),
      ]);

      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.models.reason).toBe(
        'required model broken is UNAVAILABLE: version 1 is UNAVAILABLE: model.json has no modelTopology',
      );
      expect(v2Ready.statusCode).toBe(503);
      expect(v2Ready.json().error).toContain('required model broken is UNAVAILABLE');
      // The replica must serve it: its requests say the replica is not ready (503, Retry-After).
      expect(brokenReady.statusCode).toBe(503);
      expect({ status: brokenPrediction.statusCode, retryAfter: brokenPrediction.headers['retry-after'] }).toEqual({
        status: 503,
        retryAfter: '5',
      });
      expect(brokenPrediction.json().message).toContain('model "broken" is UNAVAILABLE');
    });

    it('with a listed model that is not in the repository, is not ready and names it', async () => {
      const app = await start({ REQUIRED_MODELS: 'iris, mnist' });

      const ready = await get(app, '/health/ready');

      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.models.reason).toBe('required model mnist is not in the repository');
    });

    it('stops being ready when the default model is unloaded, and is ready again once it is loaded', async () => {
      const app = await start();
      const manage = (verb: string) =>
        app.inject({ method: 'POST', url: `/models/iris/${verb}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

      expect((await manage('unload')).statusCode).toBe(200);
      const unloaded = await get(app, '/health/ready');
      const prediction = await app.inject({ method: 'POST', url: '/prediction', payload: SETOSA });

      expect(unloaded.statusCode).toBe(503);
      expect(unloaded.json().error.models.reason).toBe('required model iris is UNLOADED: unloaded on request');
      expect(prediction.statusCode).toBe(503);
      expect(prediction.json().message).toBe('model "iris" is unloaded');

      expect((await manage('load')).statusCode).toBe(200);
      expect((await get(app, '/health/ready')).statusCode).toBe(200);
    });
  });
});
