import { request } from 'node:http';
import { startService, ServiceProcess, waitFor200 } from './support/service-process';

const SETOSA_ROW = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA_ROW = [6.3, 3.3, 6.0, 2.5];
const IN_FLIGHT = 6;
// Six requests of 300 rows fit the default queue (MAX_QUEUE_SIZE, 2048 rows).
const BATCH_ROWS = 300;
const START_TIMEOUT_MS = 30_000;
const MAX_EXIT_LAG_MS = 3_000;

interface Answer {
  status: number;
  body: string;
  at: number;
  /** The answer's Connection header. */
  connection: string | undefined;
}

/**
 * A POST whose headers and first half of the body are sent now, and the rest when `finish`
 * is called: a request that is surely in flight on the server in between.
 */
function halfSentRequest(port: number, body: string): { finish: () => void; answer: Promise<Answer> } {
  const cut = Math.floor(body.length / 2);
  let finish = () => {};
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/prediction',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, at: Date.now(), connection: res.headers.connection }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, cut));
    finish = () => req.end(body.slice(cut));
  });
  return { finish: () => finish(), answer };
}

describe('the built service as a process', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService();
    await waitFor200(`${service.baseUrl}/health/ready`, START_TIMEOUT_MS);
  }, START_TIMEOUT_MS + 5_000);

  afterAll(() => {
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
  });

  it('predicts over real HTTP', async () => {
    const response = await fetch(`${service.baseUrl}/prediction`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: SETOSA_ROW }),
    });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(((await response.json()) as { prediction: string }).prediction).toBe('setosa');
  });

  it('answers every request in flight at SIGTERM, then exits with code 0', async () => {
    const rows = Array.from({ length: BATCH_ROWS }, (_, i) => (i % 2 === 0 ? SETOSA_ROW : VIRGINICA_ROW));
    const body = JSON.stringify({ instances: rows });
    const requests = Array.from({ length: IN_FLIGHT }, () => halfSentRequest(service.port, body));
    // Let the server read every request's headers before the signal.
    await new Promise((resolve) => setTimeout(resolve, 300));

    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const r of requests) r.finish();
    const answers = await Promise.all(requests.map((r) => r.answer));
    const code = await service.exited;
    const exitedAt = Date.now();

    expect(answers.map((a) => (a.status === 200 ? 200 : `${a.status} ${a.body}`))).toEqual(Array(IN_FLIGHT).fill(200));
    for (const answer of answers) {
      const predictions = JSON.parse(answer.body).predictions.map((p: { prediction: string }) => p.prediction);
      expect(predictions.slice(0, 2)).toEqual(['setosa', 'virginica']);
      expect(predictions).toHaveLength(BATCH_ROWS);
      expect(answer.at).toBeGreaterThan(signalledAt);
      // Answered while draining: the client is asked to close its connection.
      expect(answer.connection).toBe('close');
    }
    expect(code).toBe(0);
    // Keep-alive connections must not hold the process open once everything is answered.
    expect(exitedAt - Math.max(...answers.map((a) => a.at))).toBeLessThan(MAX_EXIT_LAG_MS);
    const logs = service
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(logs.some((line) => String(line.msg).startsWith('shutting down (SIGTERM)'))).toBe(true);
    expect(logs.some((line) => String(line.msg).includes('unloaded'))).toBe(true);
  }, 20_000);
});

describe('the built service with SHUTDOWN_DELAY_MS', () => {
  const DELAY_MS = 1500;
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService({ SHUTDOWN_DELAY_MS: String(DELAY_MS) });
    await waitFor200(`${service.baseUrl}/health/ready`, START_TIMEOUT_MS);
  }, START_TIMEOUT_MS + 5_000);

  afterAll(() => {
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
  });

  it('reports not ready at once on SIGTERM, keeps serving through the delay, then exits 0', async () => {
    const signalled = Date.now();
    service.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const ready = await fetch(`${service.baseUrl}/health/ready`);
    const live = await fetch(`${service.baseUrl}/health/live`);
    const prediction = await fetch(`${service.baseUrl}/prediction`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: SETOSA_ROW }),
    });
    const code = await service.exited;

    expect(ready.status).toBe(503);
    expect(live.status).toBe(200);
    expect(prediction.status).toBe(200);
    expect(code).toBe(0);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(DELAY_MS);
  }, 20_000);
});
