import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuiltOnnxModel, buildOnnxModels, HEAVY_KIND, HEAVY_WIDTH, MEDIUM_KIND, MEDIUM_WIDTH } from '../../../test/fixtures/onnx-models';
import { onnxPythonAvailable } from '../../../test/support/onnx-python';
import { OnnxModel } from './onnx-model';
import { DEFAULT_ONNX_RUNTIME_SETTINGS, INLINE_MAX_FILE_BYTES, INLINE_PROBE_ROWS, OnnxRuntime } from './onnx-runtime';

const { inlineBatchLimitMs: INLINE_BATCH_LIMIT_MS } = DEFAULT_ONNX_RUNTIME_SETTINGS;

const ROOT = join(__dirname, '..', '..', '..');
const describeWithOnnxPython = onnxPythonAvailable() ? describe : describe.skip;
const onLinux = process.platform === 'linux' ? it : it.skip;

/** Rows of the heavy model per timed run: some 4 GFLOP, hundreds of milliseconds on one thread. */
const HEAVY_ROWS = 512;
const TIMER_MS = 2;

function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** The longest the event loop went without running a timer while `run` was under way. */
async function longestStall(run: () => Promise<unknown>): Promise<{ stallMs: number; runMs: number }> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, TIMER_MS);
  const started = performance.now();
  await run();
  const runMs = performance.now() - started;
  // A loop held by the run fires its next timer only now: that tick measures the whole stall.
  await new Promise((resolve) => setTimeout(resolve, 20));
  clearInterval(timer);
  return { stallMs: longest, runMs };
}

describe(OnnxRuntime.name, () => {
  it('passes its settings to every session', () => {
    const runtime = new OnnxRuntime({ intraOpThreads: 3, graphOptimizationLevel: 'basic' });

    expect(runtime.sessionOptions()).toEqual({
      intraOpNumThreads: 3,
      executionMode: 'sequential',
      interOpNumThreads: 1,
      graphOptimizationLevel: 'basic',
      logSeverityLevel: 4,
    });
    expect(runtime.settings.execution).toBe(DEFAULT_ONNX_RUNTIME_SETTINGS.execution);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %p intra-op threads', (intraOpThreads) => {
    expect(() => new OnnxRuntime({ intraOpThreads })).toThrow(/intra-op threads must be a positive integer/);
  });

  it.each(['inlineBatchLimitMs', 'inlineRunLimitMs'] as const)('refuses %s when it is not a positive number', (limit) => {
    expect(() => new OnnxRuntime({ [limit]: 0 })).toThrow(`ONNX Runtime ${limit} must be a positive number, got 0`);
    expect(() => new OnnxRuntime({ [limit]: Number.NaN })).toThrow(`ONNX Runtime ${limit} must be a positive number`);
  });

  it('refuses an unknown graph optimization level and an unknown execution', () => {
    expect(() => new OnnxRuntime({ graphOptimizationLevel: 'max' as never })).toThrow(
      'unknown ONNX Runtime graph optimization level "max"',
    );
    expect(() => new OnnxRuntime({ execution: 'gpu' as never })).toThrow('unknown ONNX Runtime execution "gpu"');
  });

  it('loads onnxruntime-node only when a session opens, and with `worker` execution never on the main thread', () => {
    // In a process of its own: Jest's module registry is not Node's require cache.
    const script = `
      const { OnnxRuntime } = require('./src/model/onnx/onnx-runtime');
      const { OnnxModel } = require('./src/model/onnx/onnx-model');
      const loaded = () => Object.keys(require.cache).some((path) => path.includes('/onnxruntime-node/'));
      const seen = { imported: loaded() };
      (async () => {
        const worker = await OnnxModel.load(new OnnxRuntime({ execution: 'worker' }), 'models/iris-sklearn/1');
        seen.workerLoaded = loaded();
        const inline = await OnnxModel.load(new OnnxRuntime({ execution: 'event-loop' }), 'models/iris-sklearn/1');
        seen.inlineLoaded = loaded();
        await Promise.all([worker.dispose(), inline.dispose()]);
        console.log(JSON.stringify(seen));
      })();`;
    const output = execFileSync(process.execPath, ['--require', 'ts-node/register/transpile-only', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });

    expect(JSON.parse(output.trim().split('\n').pop()!)).toEqual({ imported: false, workerLoaded: false, inlineLoaded: true });
  }, 60_000);

  describeWithOnnxPython('on real models', () => {
    let dir: string;
    let heavy: BuiltOnnxModel;
    let medium: BuiltOnnxModel;
    let mlp: BuiltOnnxModel;
    const heavyInput = () => ({
      x: { dtype: 'float32' as const, shape: [HEAVY_ROWS, HEAVY_WIDTH], data: new Float32Array(HEAVY_ROWS * HEAVY_WIDTH).fill(0.01) },
    });

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'onnx-runtime-'));
      ({ heavy, medium, mlp } = buildOnnxModels(dir, [HEAVY_KIND, MEDIUM_KIND, 'mlp']));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('with auto execution, runs a version whose batch takes at most the limit on the event loop, and a slower or larger one in a worker thread', async () => {
      const runtime = new OnnxRuntime({ execution: 'auto' });
      const fast = await OnnxModel.load(runtime, join(ROOT, 'models', 'iris-sklearn', '1'));
      const slow = await OnnxModel.load(runtime, medium.directory);
      const large = await OnnxModel.load(runtime, heavy.directory);
      try {
        expect(fast.execution.placement).toBe('event-loop');
        expect(fast.execution.batchMs).toBeLessThanOrEqual(INLINE_BATCH_LIMIT_MS);
        expect(fast.runsOn).toMatch(new RegExp(`^on the event loop: a batch of ${INLINE_PROBE_ROWS} rows ran in \\d+\\.\\d\\d ms$`));
        expect(slow.execution.placement).toBe('worker');
        expect(slow.execution.batchMs).toBeGreaterThan(INLINE_BATCH_LIMIT_MS);
        expect(slow.runsOn).toMatch(/^in a worker thread: a batch of \d+ rows ran in /);
        // Over the file size limit: not opened on the event loop to be probed.
        expect(statSync(join(heavy.directory, 'model.onnx')).size).toBeGreaterThan(INLINE_MAX_FILE_BYTES);
        expect(large.execution).toEqual({ placement: 'worker' });
        expect(large.runsOn).toBe('in a worker thread');
        // The slow version's probe session was released when its worker's opened.
        expect(runtime.openSessions).toBe(3);

        await large.infer(heavyInput());
        const worker = await longestStall(() => large.infer(heavyInput()));
        expect(worker.stallMs).toBeLessThan(worker.runMs / 2);
      } finally {
        await Promise.all([fast.dispose(), slow.dispose(), large.dispose()]);
      }
    }, 60_000);

    it('with auto execution, times the run itself: a fast version loaded while the event loop is busy stays on it', async () => {
      // Every turn of the event loop spends 20 ms in a timer, as one serving heavy traffic would.
      const busy = setInterval(() => {
        const until = performance.now() + 20;
        while (performance.now() < until);
      }, 0);
      let fast: OnnxModel | undefined;
      try {
        fast = await OnnxModel.load(new OnnxRuntime({ execution: 'auto' }), join(ROOT, 'models', 'iris-sklearn', '1'));
      } finally {
        clearInterval(busy);
      }
      try {
        expect(fast.execution.placement).toBe('event-loop');
        expect(fast.execution.batchMs).toBeLessThanOrEqual(INLINE_BATCH_LIMIT_MS);
      } finally {
        await fast.dispose();
      }
    }, 60_000);

    /**
     * The medium model under `auto` with the probe's limit raised, so that it stays on the event
     * loop at load, and the run limit lowered under its runs; and a batch of 64 rows for it.
     */
    async function mediumOnTheEventLoop() {
      const runtime = new OnnxRuntime({ execution: 'auto', inlineBatchLimitMs: 1000, inlineRunLimitMs: 1 });
      const model = await OnnxModel.load(runtime, medium.directory);
      const rows = 64;
      const input = {
        x: { dtype: 'float32' as const, shape: [rows, MEDIUM_WIDTH], data: new Float32Array(rows * MEDIUM_WIDTH).fill(0.01) },
      };
      return { runtime, model, input };
    }

    it('with auto execution, moves a version to a worker thread when a run on the event loop takes over the limit, and answers alike there', async () => {
      const { runtime, model, input } = await mediumOnTheEventLoop();
      try {
        expect(model.execution.placement).toBe('event-loop');
        const onTheLoop = await model.infer(input);
        const deadline = Date.now() + 30_000;
        while ((model.execution.placement !== 'worker' || runtime.openSessions !== 1) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }

        expect(model.execution.placement).toBe('worker');
        expect(model.execution.movedAfterRunMs).toBeGreaterThan(1);
        // The event loop's session was released once the worker's opened.
        expect(runtime.openSessions).toBe(1);
        const inWorker = await model.infer(input);
        expect(Array.from(inWorker.y.data as Float32Array)).toEqual(Array.from(onTheLoop.y.data as Float32Array));
      } finally {
        await model.dispose();
      }
      expect(runtime.openSessions).toBe(0);
    }, 60_000);

    it('with auto execution, keeps a fast version on the event loop over many runs', async () => {
      const runtime = new OnnxRuntime({ execution: 'auto' });
      const model = await OnnxModel.load(runtime, join(ROOT, 'models', 'iris-sklearn', '1'));
      const input = { float_input: { dtype: 'float32' as const, shape: [64, 4], data: new Float32Array(64 * 4).fill(5) } };
      try {
        for (let i = 0; i < 200; i++) await model.infer(input);
        await new Promise((resolve) => setTimeout(resolve, 100));

        expect(model.execution).toEqual({ placement: 'event-loop', batchMs: expect.any(Number) });
        expect(runtime.openSessions).toBe(1);
      } finally {
        await model.dispose();
      }
    }, 60_000);

    it('with auto execution, releases both sessions when disposed while moving to a worker thread', async () => {
      const { runtime, model, input } = await mediumOnTheEventLoop();
      await model.infer(input);
      await model.dispose();

      expect(runtime.openSessions).toBe(0);
    }, 60_000);

    it('keeps the event loop turning during a long inference in a worker thread, where inline it holds it', async () => {
      const inlineModel = await OnnxModel.load(new OnnxRuntime({ execution: 'event-loop' }), heavy.directory);
      const workerModel = await OnnxModel.load(new OnnxRuntime({ execution: 'worker' }), heavy.directory);
      try {
        await inlineModel.infer(heavyInput());
        await workerModel.infer(heavyInput());

        const inline = await longestStall(() => inlineModel.infer(heavyInput()));
        const worker = await longestStall(() => workerModel.infer(heavyInput()));

        expect(inline.stallMs).toBeGreaterThanOrEqual(inline.runMs * 0.9);
        expect(worker.stallMs).toBeLessThan(worker.runMs / 2);
      } finally {
        await Promise.all([inlineModel.dispose(), workerModel.dispose()]);
      }
    }, 60_000);

    onLinux('starts intra-op threads per session (the calling thread is one of them) and stops them on release', async () => {
      const runtime = new OnnxRuntime({ execution: 'event-loop', intraOpThreads: 3 });
      // ONNX Runtime starts a thread of its own once per process, with the first session.
      const first = await OnnxModel.load(runtime, mlp.directory);
      await first.dispose();
      const baseline = threadCount();

      const models = [await OnnxModel.load(runtime, mlp.directory), await OnnxModel.load(runtime, mlp.directory)];
      const withTwo = threadCount();
      await Promise.all(models.map((model) => model.dispose()));

      expect(withTwo - baseline).toBe(2 * (3 - 1));
      expect(threadCount()).toBe(baseline);
    });

    onLinux.each([
      ['event-loop', 30],
      ['worker', 5],
    ] as const)(
      'releases every session and thread over repeated loads and disposals (%s, %i cycles)',
      async (execution, cycles) => {
        const runtime = new OnnxRuntime({ execution });
        const warm = await OnnxModel.load(runtime, mlp.directory);
        await warm.dispose();
        const baseline = threadCount();

        for (let i = 0; i < cycles; i++) {
          const model = await OnnxModel.load(runtime, mlp.directory);
          await model.infer(mlp.samples!);
          expect(runtime.openSessions).toBe(1);
          await model.dispose();
        }

        expect(runtime.openSessions).toBe(0);
        expect(threadCount()).toBe(baseline);
      },
      60_000,
    );
  });
});
