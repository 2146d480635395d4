import { Batcher, BatcherObserver, BatcherSettings } from './batcher';
import { DeadlineExceededError, QueueFullError } from './model-errors';
import type { HostTensor, ModelSignature, NamedTensors, TensorData, TensorDType, TensorSpec } from './model-types';

const WIDTH = 2;
const FREE: TensorSpec = { name: 'x', dtype: 'float32', shape: [-1, WIDTH] };
const FREE_OUT: TensorSpec = { name: 'y', dtype: 'float32', shape: [-1, WIDTH] };
const SIGNATURE: ModelSignature = { inputs: [FREE], outputs: [FREE_OUT] };
/** Merging on, no waiting: each test changes what it is about. */
const SETTINGS: BatcherSettings = { enabled: true, maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueSize: 100, timeoutMs: 5000 };

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** One request: a row per id, the row being [id, -id, -id, ...] (`width` values). */
function request(ids: number[], width = WIDTH): NamedTensors {
  const data = new Float32Array(ids.length * width);
  ids.forEach((id, r) => {
    data.fill(-id, r * width, (r + 1) * width);
    data[r * width] = id;
  });
  return { x: { dtype: 'float32', shape: [ids.length, width], data } };
}

/** The ids of the rows a tensor holds (the first value of each row). */
function idsOf(tensor: HostTensor): number[] {
  const width = tensor.shape.slice(1).reduce((n, d) => n * d, 1);
  return Array.from({ length: tensor.shape[0] }, (_, r) => (tensor.data as Float32Array)[r * width]);
}

/** What the fake model answers for a request: y = 2x, row by row. */
function expectDoubled(outputs: NamedTensors, ids: number[], width = WIDTH): void {
  expect(Object.keys(outputs)).toEqual(['y']);
  expect(outputs.y.shape).toEqual([ids.length, width]);
  expect(Array.from(outputs.y.data as Float32Array)).toEqual(Array.from(request(ids, width).x.data as Float32Array, (v) => 2 * v));
}

/**
 * A model run the tests control: records each call's (stacked) inputs and when it came,
 * waits at `hold` when set, fails when `failWhen` says so, and answers y = 2x.
 */
class FakeModel {
  readonly calls: { inputs: NamedTensors; at: number }[] = [];
  hold?: Promise<void>;
  failWhen?: (ids: number[]) => Error | undefined;
  private running = 0;
  maxRunning = 0;

  readonly run = async (inputs: NamedTensors): Promise<NamedTensors> => {
    this.calls.push({ inputs, at: performance.now() });
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await this.hold;
      const error = this.failWhen?.(idsOf(inputs.x));
      if (error) throw error;
      const { x } = inputs;
      return { y: { dtype: 'float32', shape: [...x.shape], data: Float32Array.from(x.data as Float32Array, (v) => 2 * v) } };
    } finally {
      this.running--;
    }
  };

  /** The row ids of each call, in call order. */
  get batches(): number[][] {
    return this.calls.map((call) => idsOf(call.inputs.x));
  }
}

interface Tracked<T> {
  state: 'pending' | 'fulfilled' | 'rejected';
  value?: T;
  reason?: unknown;
  at?: number;
}

/** Follows a promise's outcome without awaiting it (and without leaving a rejection unhandled). */
function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { state: 'pending' };
  promise.then(
    (value) => Object.assign(tracked, { state: 'fulfilled', value, at: performance.now() }),
    (reason) => Object.assign(tracked, { state: 'rejected', reason, at: performance.now() }),
  );
  return tracked;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets pending callbacks (promise jobs, setImmediate) run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/** Rejects if the promise has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Records every observer call. */
function recorder() {
  const events = {
    depths: [] as number[],
    batches: [] as { rows: number; requests: number; seconds: number }[],
    queueSeconds: [] as number[],
  };
  const observer: BatcherObserver = {
    depthChanged: (depth) => events.depths.push(depth),
    batchRan: (rows, requests, seconds) => events.batches.push({ rows, requests, seconds }),
    requestDone: (seconds) => events.queueSeconds.push(seconds),
  };
  return { events, observer };
}

describe('Batcher', () => {
  let model: FakeModel;
  let hold: Gate;

  beforeEach(() => {
    model = new FakeModel();
    hold = gate();
  });

  afterEach(() => {
    hold.open();
    jest.restoreAllMocks();
  });

  /** Submits `first` and waits until the model is running it, held at the gate (wrapped: awaiting it would wait for the gate). */
  async function startHeld(batcher: Batcher, first = request([1])): Promise<{ result: Promise<NamedTensors> }> {
    model.hold = hold.promise;
    const result = batcher.submit(first);
    await waitFor(() => model.calls.length === 1);
    return { result };
  }

  describe('merging', () => {
    it('merges requests that arrive while a batch runs into the next single call, in arrival order', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);
      const { result: first } = await startHeld(batcher);

      const queued = [batcher.submit(request([2])), batcher.submit(request([3])), batcher.submit(request([4]))];
      await flush();
      expect(model.calls).toHaveLength(1);
      hold.open();
      await Promise.all([first, ...queued]);

      expect(model.batches).toEqual([[1], [2, 3, 4]]);
      expect(model.calls[1].inputs.x.shape).toEqual([3, WIDTH]);
      expect(batcher.merging).toBe(true);
    });

    it('merges requests submitted in the same tick on an idle model into one call', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);

      const results = await Promise.all([batcher.submit(request([1])), batcher.submit(request([2, 3]))]);

      expect(model.batches).toEqual([[1, 2, 3]]);
      expectDoubled(results[0], [1]);
      expectDoubled(results[1], [2, 3]);
    });

    it('splits the outputs back so each request gets exactly its own rows', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);
      const { result: first } = await startHeld(batcher);
      const sizes = [[10], [20, 21, 22], [30, 31], [40]];

      const queued = sizes.map((ids) => batcher.submit(request(ids)));
      hold.open();
      const results = await Promise.all(queued);

      expect(model.batches).toEqual([[1], [10, 20, 21, 22, 30, 31, 40]]);
      results.forEach((outputs, i) => expectDoubled(outputs, sizes[i]));
      expectDoubled(await first, [1]);
    });

    it.each<[string, TensorDType, (values: number[]) => TensorData]>([
      ['strings', 'string', (values) => values.map(String)],
      ['int64 as BigInts', 'int64', (values) => BigInt64Array.from(values, BigInt)],
      ['uint64 as BigInts', 'uint64', (values) => BigUint64Array.from(values, (v) => BigInt(v) + 2n ** 63n)],
      ['float16 as bits', 'float16', (values) => Uint16Array.from(values)],
      ['float64', 'float64', (values) => Float64Array.from(values, (v) => v / 3)],
      ['int8', 'int8', (values) => Int8Array.from(values, (v) => -v)],
      ['bool as bytes', 'bool', (values) => Uint8Array.from(values, (v) => v % 2)],
    ])('stacks and splits %s along the batch dimension', async (_kind, dtype, make) => {
      const signature = { inputs: [{ name: 'x', dtype, shape: [-1, 2] }], outputs: [{ name: 'y', dtype, shape: [-1, 2] }] };
      const seen: TensorData[] = [];
      // An echo: each request must get back exactly the values it sent.
      const batcher = new Batcher(({ x }) => Promise.resolve((seen.push(x.data), { y: { ...x } })), signature, SETTINGS);
      const sent = [
        [1, 2],
        [3, 4, 5, 6],
        [7, 8],
      ].map((values) => ({ x: { dtype, shape: [values.length / 2, 2], data: make(values) } }));

      const answers = await Promise.all(sent.map((inputs) => batcher.submit(inputs)));

      expect(seen).toHaveLength(1);
      expect(Array.from(seen[0] as ArrayLike<unknown>)).toEqual(Array.from(make([1, 2, 3, 4, 5, 6, 7, 8]) as ArrayLike<unknown>));
      expect(Object.prototype.toString.call(seen[0])).toBe(Object.prototype.toString.call(make([])));
      answers.forEach((outputs, i) => {
        expect(outputs.y.shape).toEqual(sent[i].x.shape);
        expect(Array.from(outputs.y.data as ArrayLike<unknown>)).toEqual(Array.from(sent[i].x.data as ArrayLike<unknown>));
      });
    });

    it('passes a single request to the model as it is, without copying', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);
      const inputs = request([1, 2]);

      await batcher.submit(inputs);

      expect(model.calls[0].inputs).toBe(inputs);
    });
  });

  describe('size trigger', () => {
    it('never runs more than maxBatchSize rows at once, and keeps the order', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxBatchSize: 4 });
      const { result: first } = await startHeld(batcher);
      const ids = Array.from({ length: 10 }, (_, i) => 10 + i);

      const queued = ids.map((id) => batcher.submit(request([id])));
      hold.open();
      const results = await Promise.all(queued);

      expect(model.batches).toEqual([[1], [10, 11, 12, 13], [14, 15, 16, 17], [18, 19]]);
      expect(Math.max(...model.calls.map((call) => call.inputs.x.shape[0]))).toBeLessThanOrEqual(4);
      results.forEach((outputs, i) => expectDoubled(outputs, [ids[i]]));
      await first;
    });

    it('runs a request larger than maxBatchSize alone, whole, not split', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxBatchSize: 4 });
      const { result: first } = await startHeld(batcher);
      const large = [20, 21, 22, 23, 24, 25];

      const queued = [batcher.submit(request([10])), batcher.submit(request(large)), batcher.submit(request([30]))];
      hold.open();
      const [small, big, last] = await Promise.all(queued);

      expect(model.batches).toEqual([[1], [10], large, [30]]);
      expectDoubled(small, [10]);
      expectDoubled(big, large);
      expectDoubled(last, [30]);
      await first;
    });

    it('merges up to a request that would pass maxBatchSize, which starts the next batch', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxBatchSize: 4 });
      const { result: first } = await startHeld(batcher);

      const queued = [batcher.submit(request([10, 11])), batcher.submit(request([12])), batcher.submit(request([13, 14]))];
      hold.open();
      await Promise.all([first, ...queued]);

      expect(model.batches).toEqual([[1], [10, 11, 12], [13, 14]]);
    });
  });

  describe('delay trigger', () => {
    it('holds requests queued behind a running batch for maxQueueDelayMs, then runs them together', async () => {
      const DELAY = 40;
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueDelayMs: DELAY });
      const { result: first } = await startHeld(batcher);

      const queuedAt = performance.now();
      const queued = [batcher.submit(request([2])), batcher.submit(request([3]))];
      hold.open();
      await first;
      await flush();
      expect(model.calls).toHaveLength(1);
      await Promise.all(queued);

      expect(model.batches).toEqual([[1], [2, 3]]);
      const waited = model.calls[1].at - queuedAt;
      expect(waited).toBeGreaterThanOrEqual(DELAY - 2);
      expect(waited).toBeLessThan(DELAY + 1000);
    });

    it('dispatches the waiting batch when the oldest request has waited maxQueueDelayMs, not before (fake clock)', async () => {
      // Jest's fake timers also fake setImmediate and performance.now, which the batcher uses.
      jest.useFakeTimers();
      try {
        const DELAY = 40;
        const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueDelayMs: DELAY });
        model.hold = hold.promise;
        const first = batcher.submit(request([1]));
        await jest.advanceTimersByTimeAsync(0);
        expect(model.calls).toHaveLength(1);

        const queued = [batcher.submit(request([2]))];
        await jest.advanceTimersByTimeAsync(10);
        queued.push(batcher.submit(request([3])));
        hold.open();
        await first;
        await jest.advanceTimersByTimeAsync(DELAY - 10 - 1);
        expect(model.calls).toHaveLength(1);
        await jest.advanceTimersByTimeAsync(2);

        expect(model.batches).toEqual([[1], [2, 3]]);
        await Promise.all(queued);
      } finally {
        jest.useRealTimers();
      }
    });

    it('dispatches at once when the queue reaches maxBatchSize rows during the delay', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxBatchSize: 3, maxQueueDelayMs: 5000 });
      const { result: first } = await startHeld(batcher);
      const queued = [batcher.submit(request([2])), batcher.submit(request([3]))];
      hold.open();
      await first;
      await sleep(30);
      expect(model.calls).toHaveLength(1);

      const fillingAt = performance.now();
      queued.push(batcher.submit(request([4])));
      await Promise.all(queued);

      expect(model.batches).toEqual([[1], [2, 3, 4]]);
      expect(model.calls[1].at - fillingAt).toBeLessThan(1000);
    });

    it('does not wait when the queue already holds maxBatchSize rows as the running batch ends', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxBatchSize: 3, maxQueueDelayMs: 5000 });
      const { result: first } = await startHeld(batcher);
      const queued = [batcher.submit(request([2, 3])), batcher.submit(request([4]))];
      const openedAt = performance.now();

      hold.open();
      await Promise.all([first, ...queued]);

      expect(model.batches).toEqual([[1], [2, 3, 4]]);
      expect(performance.now() - openedAt).toBeLessThan(1000);
    });

    it('runs a lone request on an idle model at once, without waiting for the delay', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueDelayMs: 5000 });

      const started = performance.now();
      expectDoubled(await batcher.submit(request([1])), [1]);
      expectDoubled(await batcher.submit(request([2])), [2]);

      expect(performance.now() - started).toBeLessThan(1000);
      expect(model.batches).toEqual([[1], [2]]);
    });

    it('runs a lone request queued behind a batch as soon as that batch ends (idle, nothing else queued)', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueDelayMs: 5000 });
      const { result: first } = await startHeld(batcher);
      const queued = batcher.submit(request([2]));
      const openedAt = performance.now();

      hold.open();
      await Promise.all([first, queued]);

      expect(performance.now() - openedAt).toBeLessThan(1000);
      expect(model.batches).toEqual([[1], [2]]);
    });
  });

  describe('requests that are not merged', () => {
    it('runs each request alone, one at a time, when batching is disabled', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, enabled: false });
      const { result: first } = await startHeld(batcher);

      const queued = [batcher.submit(request([2])), batcher.submit(request([3, 4])), batcher.submit(request([5]))];
      await flush();
      expect(model.calls).toHaveLength(1);
      expect(batcher.depth).toBe(4);
      hold.open();
      const results = await Promise.all(queued);

      expect(batcher.merging).toBe(false);
      expect(model.batches).toEqual([[1], [2], [3, 4], [5]]);
      expect(model.maxRunning).toBe(1);
      expectDoubled(results[1], [3, 4]);
      await first;
    });

    it.each<[string, ModelSignature]>([
      ['an input of fixed batch size', { inputs: [{ ...FREE, shape: [1, WIDTH] }], outputs: [FREE_OUT] }],
      ['an output of fixed batch size', { inputs: [FREE], outputs: [{ ...FREE_OUT, shape: [1, WIDTH] }] }],
      ['an input of unknown rank', { inputs: [{ ...FREE, shape: null }], outputs: [FREE_OUT] }],
      ['a scalar input', { inputs: [{ ...FREE, shape: [] }], outputs: [FREE_OUT] }],
      ['an output of unknown rank', { inputs: [FREE], outputs: [{ ...FREE_OUT, shape: null }] }],
    ])('does not merge requests to a model with %s', async (_case, signature) => {
      const batcher = new Batcher(model.run, signature, SETTINGS);
      const { result: first } = await startHeld(batcher);

      const queued = [batcher.submit(request([2])), batcher.submit(request([3])), batcher.submit(request([4]))];
      hold.open();
      await Promise.all([first, ...queued]);

      expect(batcher.merging).toBe(false);
      expect(model.batches).toEqual([[1], [2], [3], [4]]);
      expect(model.maxRunning).toBe(1);
    });

    it('does not merge requests whose rows have different shapes, and merges those that match', async () => {
      const signature: ModelSignature = { inputs: [{ ...FREE, shape: [-1, -1] }], outputs: [{ ...FREE_OUT, shape: [-1, -1] }] };
      const batcher = new Batcher(model.run, signature, SETTINGS);
      const { result: first } = await startHeld(batcher);

      const queued = [
        batcher.submit(request([2], 2)),
        batcher.submit(request([3], 3)),
        batcher.submit(request([4, 5], 3)),
        batcher.submit(request([6], 2)),
      ];
      hold.open();
      const results = await Promise.all(queued);

      expect(model.batches).toEqual([[1], [2], [3, 4, 5], [6]]);
      expect(model.calls.map((call) => call.inputs.x.shape)).toEqual([
        [1, 2],
        [1, 2],
        [3, 3],
        [1, 2],
      ]);
      expectDoubled(results[1], [3], 3);
      expectDoubled(results[2], [4, 5], 3);
      expectDoubled(results[3], [6], 2);
      await first;
    });

    it('does not merge requests whose inputs have different dtypes', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);
      const { result: first } = await startHeld(batcher);
      const ints: NamedTensors = { x: { dtype: 'int32', shape: [1, WIDTH], data: Int32Array.from([3, -3]) } };

      const queued = [batcher.submit(request([2])), batcher.submit(ints), batcher.submit(request([4]))];
      hold.open();
      await Promise.all([first, ...queued]);

      expect(model.batches).toEqual([[1], [2], [3], [4]]);
      expect(model.calls[2].inputs.x.dtype).toBe('int32');
    });
  });

  describe('bounded queue', () => {
    it('refuses at once, with QueueFullError, a request that does not fit; the others complete', async () => {
      const { observer } = recorder();
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueSize: 3 }, observer);
      const { result: first } = await startHeld(batcher);
      const queued = [batcher.submit(request([2])), batcher.submit(request([3, 4]))];
      expect(batcher.depth).toBe(3);

      const refused = track(batcher.submit(request([5])));
      await flush();

      expect(refused.state).toBe('rejected');
      expect(refused.reason).toBeInstanceOf(QueueFullError);
      expect((refused.reason as Error).message).toMatch(/queue is full/);
      expect(batcher.depth).toBe(3);
      hold.open();
      const results = await Promise.all([first, ...queued]);
      expect(model.batches).toEqual([[1], [2, 3, 4]]);
      expectDoubled(results[2], [3, 4]);
    });

    it('takes requests again once the queue has room', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueSize: 1 });
      const { result: first } = await startHeld(batcher);
      const queued = batcher.submit(request([2]));
      await expect(batcher.submit(request([3]))).rejects.toBeInstanceOf(QueueFullError);

      hold.open();
      await Promise.all([first, queued]);

      expectDoubled(await batcher.submit(request([4])), [4]);
    });

    it('says the queue is full, before any request is submitted, exactly while one more row would be refused', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueSize: 2 });
      expect(batcher.fullness()).toBeUndefined();
      const { result: first } = await startHeld(batcher);
      // Running, nothing waiting: a request of any size would be taken.
      expect(batcher.fullness()).toBeUndefined();
      const queued = [batcher.submit(request([2]))];
      expect(batcher.fullness()).toBeUndefined();
      queued.push(batcher.submit(request([3])));

      const refusal = batcher.fullness();

      expect(refusal).toBe("the model's queue is full (2 rows waiting, at most 2); retry shortly");
      await expect(batcher.submit(request([4]))).rejects.toThrow(new QueueFullError(refusal));
      hold.open();
      await Promise.all([first, ...queued]);
      expect(batcher.fullness()).toBeUndefined();
    });

    it('accepts a single request larger than maxQueueSize when the queue is empty', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueSize: 2 });

      expectDoubled(await batcher.submit(request([1, 2, 3, 4, 5])), [1, 2, 3, 4, 5]);
    });

    it('accepts a large request behind a running batch when nothing waits, and refuses the next', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueSize: 2 });
      const { result: first } = await startHeld(batcher);

      const large = batcher.submit(request([2, 3, 4, 5, 6]));
      const next = track(batcher.submit(request([7])));
      await flush();

      expect(next.reason).toBeInstanceOf(QueueFullError);
      hold.open();
      expectDoubled(await large, [2, 3, 4, 5, 6]);
      await first;
      expect(model.batches).toEqual([[1], [2, 3, 4, 5, 6]]);
    });
  });

  describe('deadlines', () => {
    it('answers queued requests DeadlineExceededError at their deadline while the model is busy, and never runs their rows', async () => {
      const TIMEOUT = 250;
      const { observer } = recorder();
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, timeoutMs: TIMEOUT }, observer);
      const { result: first } = await startHeld(batcher);

      const queuedAt = performance.now();
      const late = [track(batcher.submit(request([2]))), track(batcher.submit(request([3, 4])))];
      await waitFor(() => late.every((t) => t.state !== 'pending'));

      for (const tracked of late) {
        expect(tracked.state).toBe('rejected');
        expect(tracked.reason).toBeInstanceOf(DeadlineExceededError);
        expect(tracked.at! - queuedAt).toBeGreaterThanOrEqual(TIMEOUT - 2);
        expect(tracked.at! - queuedAt).toBeLessThan(TIMEOUT + 1000);
      }
      expect(batcher.depth).toBe(0);
      expect(model.calls).toHaveLength(1);
      hold.open();
      expectDoubled(await first, [1]);
      expectDoubled(await batcher.submit(request([5])), [5]);
      expect(model.batches).toEqual([[1], [5]]);
    });

    it('does not run a request past its deadline even when its batch starts before the deadline timer fires', async () => {
      const TIMEOUT = 2000;
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, timeoutMs: TIMEOUT });
      const { result: first } = await startHeld(batcher);
      const late = track(batcher.submit(request([2])));
      // The batcher's clock jumps past the deadline; its deadline timer (real time) is far off.
      const realNow = performance.now.bind(performance);
      jest.spyOn(performance, 'now').mockImplementation(() => realNow() + TIMEOUT + 10);
      const openedAt = realNow();

      hold.open();
      await first;
      await waitFor(() => late.state !== 'pending');

      expect(realNow() - openedAt).toBeLessThan(TIMEOUT / 2);
      expect(late.reason).toBeInstanceOf(DeadlineExceededError);
      expect(model.batches).toEqual([[1]]);
    });

    it('does not time out a request that was taken into a batch before its deadline', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, timeoutMs: 200 });
      const { result: first } = await startHeld(batcher);

      await sleep(400);
      hold.open();

      expectDoubled(await first, [1]);
    });

    it('times out only the requests past their deadline; later ones still run', async () => {
      const TIMEOUT = 300;
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, timeoutMs: TIMEOUT });
      const { result: first } = await startHeld(batcher);
      const early = track(batcher.submit(request([2])));
      await sleep(TIMEOUT / 2);
      const later = track(batcher.submit(request([3])));

      await waitFor(() => early.state !== 'pending');
      expect(early.reason).toBeInstanceOf(DeadlineExceededError);
      expect(later.state).toBe('pending');
      hold.open();
      await waitFor(() => later.state !== 'pending');

      expect(later.state).toBe('fulfilled');
      expectDoubled(later.value!, [3]);
      expect(model.batches).toEqual([[1], [3]]);
      await first;
    });
  });

  describe('failures', () => {
    it('runs each request of a failing merged batch alone, so that only the failing one is refused; the next batch runs', async () => {
      const boom = new Error('index out of range');
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxBatchSize: 2 });
      model.failWhen = (ids) => (ids.includes(13) ? boom : undefined);
      const { result: first } = await startHeld(batcher);

      const tracked = [[2], [13], [4], [5]].map((ids) => track(batcher.submit(request(ids))));
      hold.open();
      await waitFor(() => tracked.every((t) => t.state !== 'pending'));

      expect(model.batches).toEqual([[1], [2, 13], [2], [13], [4, 5]]);
      expect(tracked.map((t) => t.state)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect(tracked[1].reason).toBe(boom);
      expectDoubled(tracked[0].value!, [2]);
      expectDoubled(tracked[3].value!, [5]);
      expectDoubled(await first, [1]);
    });

    it('goes on serving after a lone request fails', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);
      model.failWhen = (ids) => (ids.includes(13) ? new Error('bad row') : undefined);

      await expect(batcher.submit(request([13]))).rejects.toThrow('bad row');

      expectDoubled(await batcher.submit(request([1])), [1]);
      await expect(batcher.drained()).resolves.toBeUndefined();
    });

    it('runs the requests alone, then and from then on, when the model answers fewer rows than a merged batch has', async () => {
      const calls: number[] = [];
      const batcher = new Batcher(
        (inputs) => {
          calls.push(inputs.x.shape[0]);
          return Promise.resolve({ y: { dtype: 'float32', shape: [1, WIDTH], data: inputs.x.data.slice(0, WIDTH) } });
        },
        SIGNATURE,
        SETTINGS,
      );

      const first = await Promise.all([batcher.submit(request([1])), batcher.submit(request([2]))]);
      const later = await Promise.all([batcher.submit(request([3])), batcher.submit(request([4]))]);

      expect(calls).toEqual([2, 1, 1, 1, 1]);
      expect([...first, ...later].map((outputs) => idsOf(outputs.y))).toEqual([[1], [2], [3], [4]]);
      expect(batcher.merging).toBe(false);
    });
  });

  describe('observer', () => {
    it('reports depth, each batch run with its rows and requests, and each request queue time', async () => {
      const HOLD_MS = 30;
      const { events, observer } = recorder();
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS, observer);
      const submittedAt = performance.now();
      const { result: first } = await startHeld(batcher);
      const queuedAt = performance.now();
      const queued = [batcher.submit(request([2, 3])), batcher.submit(request([4]))];

      await sleep(HOLD_MS);
      hold.open();
      await Promise.all([first, ...queued]);

      expect(events.depths).toEqual([1, 0, 2, 3, 0]);
      expect(events.batches.map(({ rows, requests }) => [rows, requests])).toEqual([
        [1, 1],
        [3, 2],
      ]);
      expect(events.batches[0].seconds).toBeGreaterThanOrEqual((HOLD_MS - 2) / 1000);
      expect(events.batches[1].seconds).toBeGreaterThanOrEqual(0);
      // Queue time runs from a request's arrival to the start of its batch.
      expect(events.queueSeconds).toHaveLength(3);
      expect(events.queueSeconds[0]).toBeGreaterThanOrEqual(0);
      expect(events.queueSeconds[0]).toBeLessThanOrEqual((model.calls[0].at - submittedAt) / 1000);
      for (const seconds of events.queueSeconds.slice(1)) {
        expect(seconds).toBeGreaterThanOrEqual((HOLD_MS - 2) / 1000);
        expect(seconds).toBeLessThanOrEqual((model.calls[1].at - queuedAt) / 1000);
      }
    });

    it('reports no batch and no queue time for requests refused or timed out', async () => {
      const { events, observer } = recorder();
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxQueueSize: 2, timeoutMs: 200 }, observer);
      const { result: first } = await startHeld(batcher);
      const late = [track(batcher.submit(request([2]))), track(batcher.submit(request([3])))];
      const refused = [track(batcher.submit(request([4]))), track(batcher.submit(request([5])))];

      await waitFor(() => late.every((t) => t.state !== 'pending'));
      hold.open();
      await first;

      expect(refused.map((t) => t.reason)).toEqual([expect.any(QueueFullError), expect.any(QueueFullError)]);
      expect(late.map((t) => t.reason)).toEqual([expect.any(DeadlineExceededError), expect.any(DeadlineExceededError)]);
      expect(events.depths).toEqual([1, 0, 1, 2, 1, 0]);
      expect(events.batches.map(({ rows, requests }) => [rows, requests])).toEqual([[1, 1]]);
      expect(events.queueSeconds).toHaveLength(1);
    });

    it('works without an observer, or with only some callbacks', async () => {
      const depths: number[] = [];
      const partial = new Batcher(model.run, SIGNATURE, SETTINGS, { depthChanged: (d) => depths.push(d) });
      const none = new Batcher(model.run, SIGNATURE, SETTINGS);

      expectDoubled(await partial.submit(request([1])), [1]);
      expectDoubled(await none.submit(request([2])), [2]);

      expect(depths).toEqual([1, 0]);
    });
  });

  describe('drained()', () => {
    it('resolves at once when nothing is queued or running', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);

      await expect(within(batcher.drained(), 100)).resolves.toBeUndefined();
    });

    it('resolves only after the running batch and every queued request are done', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, maxBatchSize: 1 });
      const first = track((await startHeld(batcher)).result);
      const queued = [track(batcher.submit(request([2]))), track(batcher.submit(request([3])))];

      const drained = batcher.drained();
      const done = track(drained);
      await sleep(20);
      expect(done.state).toBe('pending');
      hold.open();
      await within(drained, 1000);

      // Every request had its answer by the time drained() resolved.
      expect([first, ...queued].map((t) => t.state)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      expect(model.batches).toEqual([[1], [2], [3]]);
      expect(batcher.depth).toBe(0);
    });

    it('resolves once the last queued request has timed out and the running batch ended', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, { ...SETTINGS, timeoutMs: 200 });
      const { result: first } = await startHeld(batcher);
      const late = track(batcher.submit(request([2])));
      const drained = batcher.drained();
      const done = track(drained);

      await waitFor(() => late.state !== 'pending');
      await flush();
      expect(late.reason).toBeInstanceOf(DeadlineExceededError);
      expect(done.state).toBe('pending');
      hold.open();
      await first;

      await expect(within(drained, 1000)).resolves.toBeUndefined();
    });

    it('resolves every caller that is waiting, not only the last one', async () => {
      const batcher = new Batcher(model.run, SIGNATURE, SETTINGS);
      const { result: first } = await startHeld(batcher);
      const earlier = batcher.drained();
      const later = batcher.drained();

      hold.open();
      await first;

      await within(later, 1000);
      await within(earlier, 1000);
    });
  });
});
