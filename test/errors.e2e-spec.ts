import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ModelRegistry, ReadinessReport, ServedVersion } from '../src/model/model-registry';
import type { ModelStatus, ModelVersionDetails } from '../src/model/model-status';
import { createTestApp } from './support/test-app';

const SECRET = '/srv/secret/models/iris/1/weights.bin';

/** A registry whose model fails inside inference with an internal message. */
class FailingRegistry extends ModelRegistry {
  resolve(name: string): ServedVersion {
    return {
      name,
      version: 1,
      infer: () => Promise.reject(new Error(`ENOENT: no such file ${SECRET}`)),
      queueFull: () => undefined,
      description: {
        format: 'layers',
        platform: 'tensorflowjs_layers',
        signature: {
          inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
          outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 3] }],
        },
        metadata: {},
      },
    };
  }

  models(): ModelStatus[] {
    return [this.model('iris')];
  }

  model(name: string): ModelStatus {
    return { name, state: 'AVAILABLE', versions: [] };
  }

  versionDetails(): ModelVersionDetails {
    throw new Error('not used');
  }

  readiness(): ReadinessReport {
    return { ready: true, problems: [], models: [{ ...this.model('iris'), required: true }] };
  }

  load(): Promise<ModelStatus> {
    throw new Error('not used');
  }

  unload(): Promise<ModelStatus> {
    throw new Error('not used');
  }

  reload(): Promise<ModelStatus> {
    throw new Error('not used');
  }

  isStarted(): boolean {
    return true;
  }

  whenStarted(): Promise<void> {
    return Promise.resolve();
  }
}

describe('errors inside the service (controller and pipeline, fake registry)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await createTestApp({ override: (builder) => builder.overrideProvider(ModelRegistry).useValue(new FailingRegistry()) });
  });

  afterAll(() => app.close());

  it('answers 500 "internal error" with the request id, and no message, path or stack', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/prediction',
      headers: { 'x-request-id': 'req-500' },
      payload: { features: [5.1, 3.5, 1.4, 0.2] },
    });

    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'internal error', requestId: 'req-500' });
    expect(response.body).not.toContain('ENOENT');
    expect(response.body).not.toContain('/srv');
    expect(response.body).not.toMatch(/at \w+ \(/);
  });
});
