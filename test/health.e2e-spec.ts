import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ShutdownState } from '../src/health/shutdown-state';
import { LoadedModel } from '../src/model/loaded-model';
import { ModelLoader, TfjsModelLoader } from '../src/model/model-loader';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { createTestApp, waitUntilReady, waitUntilStarted } from './support/test-app';

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
      expect(ready.json().error.models.reason).toBe('model iris (DEFAULT_MODEL) is not in the repository');
      expect(live.statusCode).toBe(200);
    });

    it('answers predictions with 404 and the reason, without internals', async () => {
      const response = await app.inject({ method: 'POST', url: '/prediction', payload: SETOSA });

      expect(response.statusCode).toBe(404);
      expect(response.json().message).toBe('model "iris" is not in the repository');
      expect(response.body).not.toContain(emptyRepository);
    });
  });
});
