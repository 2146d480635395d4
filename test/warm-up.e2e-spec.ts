import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RequestPathWarmUp } from '../src/prediction/warm-up';
import { createTestApp, waitUntilReady } from './support/test-app';

const WARM_UP_REQUESTS = 200;

/** The start-up warm-up of the request path, on the shipped models (default model: iris). Each app sets the variables it depends on: createTestApp writes them to this file's process.env. */
describe('request path warm-up (end to end, shipped models)', () => {
  let app: NestFastifyApplication;

  afterEach(async () => {
    await app?.close();
  });

  it('keeps the replica not ready until it has sent its requests, then takes their counts out of the metrics', async () => {
    app = await createTestApp({ env: { HTTP_WARM_UP_REQUESTS: String(WARM_UP_REQUESTS), DEFAULT_MODEL: 'iris' } });
    const warmUp = app.get(RequestPathWarmUp);
    const seen: { status: number; done: boolean; reason?: string }[] = [];
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [ready, v2Ready] = await Promise.all([
        app.inject({ method: 'GET', url: '/health/ready' }),
        app.inject({ method: 'GET', url: '/v2/health/ready' }),
      ]);
      const done = warmUp.isDone();
      seen.push({ status: ready.statusCode, done, reason: ready.json().error?.lifecycle?.reason });
      if (ready.statusCode === 200) {
        expect(v2Ready.statusCode).toBe(200);
        break;
      }
      // Once the models serve, the V2 probe names the warm-up too.
      if (!done && !ready.json().error?.models) expect(v2Ready.json().error).toContain('warming up the request path');
      if (Date.now() > deadline) throw new Error(`not ready after 15 s: ${ready.body}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    // Never ready before the warm-up was done; and the probe said what it waited for.
    expect(seen.filter((s) => s.status === 200 && !s.done)).toEqual([]);
    expect(seen.map((s) => s.reason)).toContain('warming up the request path');
    // Its four kinds of request in turn: V2 inference and /prediction (200), a wrong input name (400), GET of the route (405).
    expect(warmUp.summary).toMatchObject({ requests: WARM_UP_REQUESTS, statuses: { 200: 100, 400: 50, 405: 50 } });

    const before = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    await app.inject({ method: 'POST', url: '/prediction', payload: { features: [5.1, 3.5, 1.4, 0.2] } });
    const after = (await app.inject({ method: 'GET', url: '/metrics' })).body;

    expect(before).toContain('http_requests_total{route="/v2/models/:name/infer",method="POST",status="200"} 0');
    expect(before).toContain('http_requests_total{route="/prediction",method="POST",status="200"} 0');
    expect(before).toContain('inference_requests_total{model="iris",version="1",outcome="success"} 0');
    expect(before).toContain('inference_batch_size_rows_count{model="iris",version="1"} 0');
    expect(after).toContain('http_requests_total{route="/prediction",method="POST",status="200"} 1');
    expect(after).toContain('inference_requests_total{model="iris",version="1",outcome="success"} 1');
  });

  it('is skipped when the default model does not serve, leaving readiness to say why', async () => {
    app = await createTestApp({ env: { HTTP_WARM_UP_REQUESTS: String(WARM_UP_REQUESTS), DEFAULT_MODEL: 'tulips' } });
    const warmUp = app.get(RequestPathWarmUp);
    const deadline = Date.now() + 15_000;
    while (!warmUp.isDone()) {
      if (Date.now() > deadline) throw new Error('the warm-up did not finish');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    const ready = await app.inject({ method: 'GET', url: '/health/ready' });

    expect(warmUp.summary).toBeUndefined();
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error.models.reason).toBe('required model tulips is not in the repository');
    expect(ready.json().error.lifecycle).toBeUndefined();
  });

  it('is off with HTTP_WARM_UP_REQUESTS=0: ready as soon as the models are', async () => {
    app = await createTestApp({ env: { HTTP_WARM_UP_REQUESTS: '0', DEFAULT_MODEL: 'iris' } });

    await waitUntilReady(app);

    expect(app.get(RequestPathWarmUp).summary).toBeUndefined();
  });
});
