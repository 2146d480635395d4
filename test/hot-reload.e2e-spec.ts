import { appendFile, copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import * as tf from '../src/model/tfjs';
import { MODEL_ONNX } from '../src/model/onnx/onnx-model';
import { OnnxRuntime } from '../src/model/onnx/onnx-runtime';
import { TfjsRuntime } from '../src/model/tfjs-runtime';
import { buildDenseLayersModel, saveLayersModel } from './fixtures/model-builders';
import { IRIS_SKLEARN_VERSION } from './fixtures/onnx-models';
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
    const firstServedAt = Math.min(
      ...all()
        .filter((a) => a.version === '2')
        .map((a) => a.at),
    );
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

describe('hot reload of an ONNX model (end to end, polling every 100 ms)', () => {
  const ONNX_MODEL = 'iris-sklearn';
  let app: NestFastifyApplication;
  let repository: string;

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'hot-reload-onnx-'));
    await cp(IRIS_SKLEARN_VERSION, join(repository, ONNX_MODEL, '1'), { recursive: true });
    app = await createTestApp({
      env: { MODEL_REPOSITORY: repository, DEFAULT_MODEL: ONNX_MODEL, MODEL_POLL_INTERVAL_MS: String(POLL_MS) },
    });
    await waitUntilReady(app);
  });

  afterAll(async () => {
    await app.close();
    await rm(repository, { recursive: true, force: true });
  });

  const versionServed = async () =>
    (await app.inject({ method: 'POST', url: '/prediction', payload: { features: ROW } })).json().model?.version;

  it('serves a new version only once its model.onnx is whole; one left cut short is reported broken, the one before serving on', async () => {
    const whole = await readFile(join(IRIS_SKLEARN_VERSION, MODEL_ONNX));
    const version2 = join(repository, ONNX_MODEL, '2');
    await mkdir(version2);

    // A slow copy: half the file, then, several polls later, the rest. (Left unchanged for a whole
    // interval, the half is loaded and refused; completed, it is loaded again.)
    await writeFile(join(version2, MODEL_ONNX), whole.subarray(0, whole.length / 2));
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));
    const duringCopy = await versionServed();
    await appendFile(join(version2, MODEL_ONNX), whole.subarray(whole.length / 2));
    const deadline = Date.now() + SWITCH_TIMEOUT_MS;
    while ((await versionServed()) !== '2' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));

    // A copy that stops halfway and stays so: loaded after a whole unchanged interval, and refused.
    const version3 = join(repository, ONNX_MODEL, '3');
    await mkdir(version3);
    await writeFile(join(version3, MODEL_ONNX), whole.subarray(0, whole.length / 2));
    const refusedBy = Date.now() + SWITCH_TIMEOUT_MS;
    let status = (await app.inject({ method: 'GET', url: `/models/${ONNX_MODEL}` })).json();
    while (
      !status.versions.some((v: { version: number; state: string }) => v.version === 3 && v.state === 'UNAVAILABLE') &&
      Date.now() < refusedBy
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await app.inject({ method: 'GET', url: `/models/${ONNX_MODEL}` })).json();
    }

    expect(duringCopy).toBe('1');
    expect(await versionServed()).toBe('2');
    expect(status.versions.map((v: { version: number; state: string }) => [v.version, v.state])).toEqual([
      [2, 'AVAILABLE'],
      [3, 'UNAVAILABLE'],
    ]);
    expect(status.versions[1].reason).toBe('ONNX Runtime cannot load model.onnx: Protobuf parsing failed.');
    // Version 1 was retired when 2 served: one session per available version.
    expect(app.get(OnnxRuntime).openSessions).toBe(1);
  }, 30_000);
});
