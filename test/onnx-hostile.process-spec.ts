/**
 * A hostile repository and hostile requests against the built service as a process: ONNX
 * Runtime is native code, and a native crash would take every model down with it. The
 * repository holds the models ONNX Runtime must refuse, and copies of good models cut short,
 * with bytes flipped, or replaced by noise (a seeded generator: the same files every run); the
 * requests are random V2 JSON and binary bodies, /prediction and V1 bodies aimed at good ONNX
 * models. Every answer must be a 2xx or a 4xx (a model that failed to load: 404), or a 503 for
 * a model still loading; the process must stay up, and the good model must still answer what
 * scikit-learn predicts.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuiltOnnxModel, buildOnnxModels, IRIS_SKLEARN_VERSION, readIrisExpectations, REFUSED_KINDS } from './fixtures/onnx-models';
import { seededRandom } from '../src/training/iris-data';
import { onnxPythonAvailable } from './support/onnx-python';
import { ServiceProcess, startService, waitFor200 } from './support/service-process';

const SEED = 20261201;
const MUTANTS_PER_MODEL = 8;
const REQUESTS = 2000;
const CONCURRENCY = 8;
const GOOD_KINDS = [
  'mlp',
  'cnn',
  'string',
  'int64',
  'bool',
  'gather',
  'multi-io',
  'fixed-batch',
  'dtype-float16',
  'dtype-uint64',
  'dtype-int8',
] as const;
const V2_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];
const describeWithOnnxPython = onnxPythonAvailable() ? describe : describe.skip;

describeWithOnnxPython('hostile ONNX models and requests (the built service as a process)', () => {
  const random = seededRandom(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  let service: ServiceProcess;
  let repository: string;
  let builtDir: string;
  let built: Record<string, BuiltOnnxModel>;
  const mutants: string[] = [];

  /** Copies of a good model made bad: cut short, bytes flipped, a stretch zeroed, or noise of its length. */
  function mutate(model: Buffer): Buffer {
    const copy = Buffer.from(model);
    switch (int(4)) {
      case 0:
        return copy.subarray(0, int(copy.length));
      case 1:
        for (let i = 0, n = 1 + int(16); i < n; i++) copy[int(copy.length)] ^= 1 << int(8);
        return copy;
      case 2: {
        const start = int(copy.length);
        return copy.fill(0, start, start + 1 + int(64));
      }
      default:
        return Buffer.from(Array.from({ length: copy.length }, () => int(256)));
    }
  }

  function randomScalar(): unknown {
    return pick<() => unknown>([
      () => int(7) - 3,
      () => random() * 10 - 5,
      () => 1e39,
      () => 2 ** 53 + 2,
      () => -(2 ** 63),
      () => 'setosa',
      () => '',
      () => true,
      () => null,
      () => ({}),
      () => [int(3)],
      () => 255,
      () => 65536,
    ])();
  }

  function randomShape(): number[] {
    return Array.from({ length: int(4) }, () => pick([0, 1, 1, 2, 3, 4, 8, 784]));
  }

  function randomV2Json(kind: string): unknown {
    const names = built[kind].signature?.inputs.map((s) => s.name) ?? [];
    return {
      inputs: Array.from({ length: 1 + int(2) }, () => {
        const shape = randomShape();
        const size = shape.reduce((n, d) => n * d, 1);
        return {
          name: random() < 0.8 ? pick(names) : 'nope',
          datatype: pick(V2_DATATYPES),
          shape,
          data: Array.from({ length: random() < 0.7 ? Math.min(size, 4096) : int(9) }, randomScalar),
        };
      }),
      ...(random() < 0.3 ? { outputs: [{ name: random() < 0.5 ? 'nope' : (built[kind].signature!.outputs[0]?.name ?? 'y') }] } : {}),
    };
  }

  function randomV2Binary(kind: string): { body: Buffer; headers: Record<string, string> } {
    const spec = pick(built[kind].signature!.inputs);
    const shape = spec.shape?.map((d) => (d === -1 ? 1 + int(3) : d)) ?? [1];
    const bytes = Buffer.from(
      Array.from({ length: random() < 0.5 ? int(64) : shape.reduce((n, d) => n * d, 1) * pick([1, 2, 4, 8]) }, () => int(256)),
    );
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: spec.name,
            datatype: pick(V2_DATATYPES),
            shape,
            parameters: { binary_data_size: random() < 0.8 ? bytes.length : int(128) },
          },
        ],
        parameters: { binary_data_output: random() < 0.5 },
      }),
    );
    return {
      body: Buffer.concat([header, bytes]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    };
  }

  function randomRequest(): { url: string; body: Buffer | string; headers: Record<string, string> } {
    const json = { 'content-type': 'application/json' };
    // Mostly good models with bad requests; a fifth at the mutants (most refused, some loaded).
    const kind = random() < 0.2 ? pick(mutants) : pick(GOOD_KINDS);
    if (mutants.includes(kind)) {
      return {
        url: `/v2/models/${kind}/infer`,
        body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 8], data: Array(8).fill(0.5) }] }),
        headers: json,
      };
    }
    switch (int(5)) {
      case 0:
      case 1:
        return { url: `/v2/models/${kind}/infer`, body: JSON.stringify(randomV2Json(kind)), headers: json };
      case 2: {
        const { body, headers } = randomV2Binary(kind);
        return { url: `/v2/models/${kind}/infer`, body, headers };
      }
      case 3:
        return {
          url: `/models/${kind}/prediction`,
          body: JSON.stringify(
            random() < 0.5
              ? { features: Array.from({ length: int(10) }, randomScalar) }
              : { instances: [Array.from({ length: 8 }, randomScalar)] },
          ),
          headers: json,
        };
      default:
        return {
          url: `/v1/models/${kind}:predict`,
          body: JSON.stringify({
            instances: Array.from({ length: 1 + int(3) }, () =>
              random() < 0.5 ? randomScalar() : Array.from({ length: int(9) }, randomScalar),
            ),
          }),
          headers: json,
        };
    }
  }

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'onnx-hostile-'));
    builtDir = await mkdtemp(join(tmpdir(), 'onnx-hostile-built-'));
    built = buildOnnxModels(builtDir, [...GOOD_KINDS, ...REFUSED_KINDS]);
    await cp(IRIS_SKLEARN_VERSION, join(repository, 'iris-sklearn', '1'), { recursive: true });
    for (const [kind, model] of Object.entries(built)) await cp(model.directory, join(repository, kind, '1'), { recursive: true });
    for (const kind of ['mlp', 'cnn', 'string', 'gather', 'iris-sklearn'] as const) {
      const file = kind === 'iris-sklearn' ? join(IRIS_SKLEARN_VERSION, 'model.onnx') : built[kind].path;
      const original = await readFile(file);
      for (let i = 0; i < MUTANTS_PER_MODEL; i++) {
        const name = `${kind}-mutant-${i}`;
        await mkdir(join(repository, name, '1'), { recursive: true });
        await writeFile(join(repository, name, '1', 'model.onnx'), mutate(original));
        mutants.push(name);
      }
    }
    service = await startService({
      MODEL_REPOSITORY: repository,
      DEFAULT_MODEL: 'iris-sklearn',
      MODEL_POLL_INTERVAL_MS: '0',
      LOG_LEVEL: 'warn',
      REQUEST_TIMEOUT_MS: '30000',
    });
    await waitFor200(`${service.baseUrl}/health/startup`, 120_000);
  }, 180_000);

  afterAll(async () => {
    service.child.kill('SIGTERM');
    await service.exited;
    await rm(repository, { recursive: true, force: true });
    await rm(builtDir, { recursive: true, force: true });
  });

  it('answers every request with a 2xx, a 4xx, or a 503 for a model still loading; stays up; the good model answers as before', async () => {
    const statuses = new Map<number, number>();
    const faults: string[] = [];
    let sent = 0;
    const worker = async () => {
      while (sent < REQUESTS) {
        sent++;
        const request = randomRequest();
        let status: number;
        let text: string;
        try {
          const response = await fetch(`${service.baseUrl}${request.url}`, {
            method: 'POST',
            headers: request.headers,
            body: request.body,
          });
          status = response.status;
          text = await response.text();
        } catch (error) {
          faults.push(`${request.url}: no answer (${(error as Error).message})`);
          continue;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const loading = status === 503 && /is LOADING/.test(text);
        if (status >= 500 && !loading) faults.push(`${request.url}: ${status} ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const models = ((await (await fetch(`${service.baseUrl}/models`)).json()) as { models: { name: string; state: string }[] }).models;
    const expected = readIrisExpectations();
    const check = await fetch(`${service.baseUrl}/prediction`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: expected.rows }),
    });
    const predictions = ((await check.json()) as { predictions: { prediction: string }[] }).predictions;
    process.stdout.write(
      `hostile ONNX run: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ` +
        `${mutants.length} mutated models, ${models.filter((m) => mutants.includes(m.name) && m.state === 'AVAILABLE').length} of them loaded\n`,
    );

    expect(faults).toEqual([]);
    expect(service.child.exitCode).toBeNull();
    expect((await fetch(`${service.baseUrl}/health/live`)).status).toBe(200);
    expect(models.filter((m) => (REFUSED_KINDS as readonly string[]).includes(m.name)).map((m) => m.state)).toEqual(
      REFUSED_KINDS.map(() => 'UNAVAILABLE'),
    );
    expect(predictions.map((p) => p.prediction)).toEqual(expected.predict.map((i) => ['setosa', 'versicolor', 'virginica'][i]));
  }, 300_000);
});
