/**
 * Reloading an ONNX model releases its session: 300 reloads through the management API against
 * the built service (sessions in worker threads, the default), with a prediction after each,
 * watching the process from outside: its RSS (/proc/<pid>/status), its threads
 * (/proc/<pid>/task) and the sessions it reports open (onnx_sessions on /metrics).
 */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IRIS_SKLEARN_VERSION } from './fixtures/onnx-models';
import { ServiceProcess, startService, waitFor200 } from './support/service-process';
import { SHIPPED_MODELS } from './support/test-app';

const ADMIN_TOKEN = 'a-test-admin-token-0123456789';
const MODEL = 'iris-sklearn';
/**
 * Reloads before the baseline: RSS rises over the first reloads as the allocators settle (some
 * 20 to 40 MiB over the first 200 here, in either execution mode), then levels off.
 */
const WARMUP_CYCLES = 100;
const CYCLES = 300;
const SAMPLE_EVERY = 50;
/** What the last half of the cycles may add: a session's memory leaked per reload would pass it many times over. */
const LATE_GROWTH_MIB = 16;
/** What all 300 may add, allocator settling included. */
const TOTAL_GROWTH_MIB = 64;
const onLinux = process.platform === 'linux' ? describe : describe.skip;

interface Sample {
  cycle: number;
  rssMiB: number;
  threads: number;
  sessions: number;
}

onLinux('300 reloads of an ONNX model (the built service as a process)', () => {
  let service: ServiceProcess;
  let repository: string;

  const rssMiB = async () => Number(/^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${service.child.pid}/status`, 'utf8'))![1]) / 1024;
  const threads = async () => (await readdir(`/proc/${service.child.pid}/task`)).length;
  const sessions = async () => Number(/^onnx_sessions (\d+)$/m.exec(await (await fetch(`${service.baseUrl}/metrics`)).text())![1]);
  const sample = async (cycle: number): Promise<Sample> => ({
    cycle,
    rssMiB: await rssMiB(),
    threads: await threads(),
    sessions: await sessions(),
  });

  async function reloadAndPredict(): Promise<[number, number]> {
    const reload = await fetch(`${service.baseUrl}/models/${MODEL}/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const prediction = await fetch(`${service.baseUrl}/models/${MODEL}/prediction`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] }),
    });
    return [reload.status, prediction.status];
  }

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'onnx-reload-'));
    await cp(join(SHIPPED_MODELS, 'iris'), join(repository, 'iris'), { recursive: true });
    await cp(IRIS_SKLEARN_VERSION, join(repository, MODEL, '1'), { recursive: true });
    service = await startService({ MODEL_REPOSITORY: repository, ADMIN_TOKEN, MODEL_POLL_INTERVAL_MS: '0', LOG_LEVEL: 'warn' });
    await waitFor200(`${service.baseUrl}/health/ready`, 30_000);
  });

  afterAll(async () => {
    service.child.kill('SIGTERM');
    await service.exited;
    await rm(repository, { recursive: true, force: true });
  });

  it('keeps one session open and the threads and RSS flat', async () => {
    const failures: string[] = [];
    for (let i = 0; i < WARMUP_CYCLES; i++) {
      const statuses = await reloadAndPredict();
      if (statuses.some((s) => s !== 200)) failures.push(`warm-up ${i}: ${statuses}`);
    }
    const samples = [await sample(0)];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const statuses = await reloadAndPredict();
      if (statuses.some((s) => s !== 200)) failures.push(`cycle ${cycle}: ${statuses}`);
      if (cycle % SAMPLE_EVERY === 0) samples.push(await sample(cycle));
    }
    const [first, middle, last] = [samples[0], samples.find((s) => s.cycle === CYCLES / 2)!, samples[samples.length - 1]];
    process.stdout.write(
      `ONNX reloads (after ${WARMUP_CYCLES} to warm up): ` +
        samples.map((s) => `${s.cycle}: ${s.rssMiB.toFixed(1)} MiB RSS, ${s.threads} threads, ${s.sessions} session(s)`).join('; ') +
        '\n',
    );

    expect(failures).toEqual([]);
    expect(samples.map((s) => s.sessions)).toEqual(samples.map(() => 1));
    expect(samples.map((s) => s.threads)).toEqual(samples.map(() => first.threads));
    expect(last.rssMiB - middle.rssMiB).toBeLessThan(LATE_GROWTH_MIB);
    expect(last.rssMiB - first.rssMiB).toBeLessThan(TOTAL_GROWTH_MIB);
  }, 600_000);
});
