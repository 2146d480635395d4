import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import * as tf from '../src/model/tfjs';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { buildDenseLayersModel, saveLayersModel } from './fixtures/model-builders';
import { createTestApp, waitUntilReady } from './support/test-app';

const MODEL = 'flowers';
const POLL_MS = 100;
const CLIENTS = 4;
const SWITCH_TIMEOUT_MS = 10_000;
const ROW = [0.5, -1, 2, 0.25];

interface Answer {
  status: number;
  version?: string;
  at: number;
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('hot reload under load (end to end, polling every 100 ms)', () => {
  let app: NestFastifyApplication;
  let repository: string;
  let staging: string;

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'hot-reload-'));
    staging = await mkdtemp(join(tmpdir(), 'hot-reload-staging-'));
    for (const [folder, seed] of [
      [join(repository, MODEL, '1'), 1],
      [staging, 2],
    ] as const) {
      const model = buildDenseLayersModel(tf, { inputWidth: 4, units: 3, seed });
      await saveLayersModel(tf, folder, model);
      model.dispose();
    }
    app = await createTestApp({
      env: { MODEL_REPOSITORY: repository, DEFAULT_MODEL: MODEL, MODEL_POLL_INTERVAL_MS: String(POLL_MS) },
    });
    await waitUntilReady(app);
  });

  afterAll(async () => {
    await app.close();
    await rm(repository, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
  });

  it('swaps version 2 in and version 1 out while requests run, failing none', async () => {
    const runtime = app.get(TfjsRuntime);
    const tensorsBefore = runtime.memory().numTensors;
    const answers: Answer[][] = Array.from({ length: CLIENTS }, () => []);
    let running = true;
    const clients = answers.map(async (log) => {
      while (running) {
        const response = await app.inject({ method: 'POST', url: '/prediction', payload: { features: ROW } });
        log.push({ status: response.statusCode, version: response.json().model?.version, at: Date.now() });
      }
    });
    const all = () => answers.flat();
    await until(() => all().length > 50, SWITCH_TIMEOUT_MS, 'requests on version 1');

    // Version 2 arrives the way a slow copy writes it: model.json first, the weights later.
    const version2 = join(repository, MODEL, '2');
    await mkdir(version2);
    await copyFile(join(staging, 'model.json'), join(version2, 'model.json'));
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));
    const servedDuringCopy = all().filter((a) => a.version === '2').length;
    await copyFile(join(staging, 'weights.bin'), join(version2, 'weights.bin'));
    const completedAt = Date.now();
    await until(() => all().some((a) => a.version === '2'), SWITCH_TIMEOUT_MS, 'version 2 to serve');
    const firstServedAt = Math.min(...all().filter((a) => a.version === '2').map((a) => a.at));
    const countAtSwitch = all().length;
    await until(() => all().length > countAtSwitch + 50, SWITCH_TIMEOUT_MS, 'requests on version 2');

    await rm(join(repository, MODEL, '1'), { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));
    running = false;
    await Promise.all(clients);
    const tensorsAfter = runtime.memory().numTensors;

    expect(all().filter((a) => a.status !== 200)).toEqual([]);
    expect(servedDuringCopy).toBe(0);
    for (const log of answers) {
      const versions = log.map((a) => a.version);
      const firstTwo = versions.indexOf('2');
      expect(firstTwo).toBeGreaterThan(0);
      // Each client sees version 1, then only version 2: the swap is atomic.
      expect(versions.slice(firstTwo).every((v) => v === '2')).toBe(true);
    }
    const status = (await app.inject({ method: 'GET', url: `/models/${MODEL}` })).json();
    expect(status.versions.map((v: { version: number; state: string }) => [v.version, v.state])).toEqual([[2, 'AVAILABLE']]);
    // Version 1's weights are freed: the same architecture holds the same number of tensors.
    expect(tensorsAfter).toBe(tensorsBefore);
    process.stdout.write(
      `hot reload: version 2 served ${firstServedAt - completedAt} ms after its folder was complete ` +
        `(poll interval ${POLL_MS} ms), ${all().length} requests, none failed\n`,
    );
  }, 30_000);
});
