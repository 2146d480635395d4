import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createTestApp, waitUntilReady } from './support/test-app';

const LIMIT = 2;
const BURST = 50;
const ROW = { features: [5.1, 3.5, 1.4, 0.2] };

describe('admission control (end to end, MAX_IN_FLIGHT_REQUESTS=2)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await createTestApp({ env: { MAX_IN_FLIGHT_REQUESTS: String(LIMIT) } });
    await waitUntilReady(app);
  });

  afterAll(() => app.close());

  const predict = (url = '/prediction') => app.inject({ method: 'POST', url, payload: ROW });

  it('answers requests past the limit with 429 and Retry-After at once, and the others with 200', async () => {
    const responses = await Promise.all(Array.from({ length: BURST }, () => predict()));

    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(LIMIT);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    const refused = responses.find((r) => r.statusCode === 429)!;
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({
      statusCode: 429,
      message: `the server has ${LIMIT} inference requests in flight, its limit; retry shortly`,
    });
  });

  it('counts every answered request out again, so a quiet server admits everything', async () => {
    await Promise.all(Array.from({ length: BURST }, () => predict('/v2/models/iris/infer')));

    const sequential = [];
    for (let i = 0; i < 10; i++) sequential.push((await predict()).statusCode);

    expect(sequential).toEqual(Array(10).fill(200));
  });

  it('never refuses the probes or reads, whatever the load', async () => {
    const burst = Promise.all(Array.from({ length: BURST }, () => predict()));
    const [ready, models] = await Promise.all([
      app.inject({ method: 'GET', url: '/health/ready' }),
      app.inject({ method: 'GET', url: '/models' }),
    ]);
    await burst;

    expect([ready.statusCode, models.statusCode]).toEqual([200, 200]);
  });
});
