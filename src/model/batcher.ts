import { DeadlineExceededError, QueueFullError } from './model-errors';
import type { ModelSignature, NamedTensors, TensorData } from './model-types';

export interface BatcherSettings {
  /** Merge concurrent requests into one inference; off, each request runs alone (still queued). */
  enabled: boolean;
  /** Most rows in one merged inference; a single larger request runs alone, never split. */
  maxBatchSize: number;
  /** Longest a queued request waits for a fuller batch while the model is idle; 0 never waits. */
  maxQueueDelayMs: number;
  /** Most rows waiting; a request that does not fit is refused at once. */
  maxQueueSize: number;
  /** A request still waiting this long after it arrived is answered with a timeout, its rows not run. */
  timeoutMs: number;
}

/** What a batcher reports, for metrics; every method is optional and cheap to call. */
export interface BatcherObserver {
  depthChanged(depthRows: number): void;
  batchRan(rows: number, requests: number, computeSeconds: number): void;
  requestDone(queueSeconds: number): void;
}

interface Pending {
  inputs: NamedTensors;
  rows: number;
  arrived: number;
  deadline: number;
  resolve: (outputs: NamedTensors) => void;
  reject: (error: Error) => void;
}

/**
 * Dynamic batching for one model version, as Triton and TF Serving do it: requests (each one
 * or more rows) queue, and are merged into one inference on the stacked inputs, whose outputs
 * are split back in order. A batch is dispatched when it reaches `maxBatchSize` rows, when the
 * oldest request has waited `maxQueueDelayMs`, or at once when the model is idle and the queue
 * holds nothing else. One batch runs at a time: requests that arrive meanwhile form the next.
 *
 * Overload: a request that would push the queue past `maxQueueSize` rows is refused at once
 * (QueueFullError); one whose wait passes `timeoutMs` is answered DeadlineExceededError and
 * its rows are not run.
 */
export class Batcher {
  private readonly queue: Pending[] = [];
  private queuedRows = 0;
  private running = false;
  private delayTimer?: NodeJS.Timeout;
  private deadlineTimer?: NodeJS.Timeout;
  private mergeable: boolean;
  private readonly drainWaiters: (() => void)[] = [];

  constructor(
    private readonly run: (inputs: NamedTensors) => Promise<NamedTensors>,
    signature: ModelSignature,
    private readonly settings: BatcherSettings,
    private readonly observer?: Partial<BatcherObserver>,
  ) {
    // Requests can be stacked only along a free first dimension of every input and output.
    const free = (shape: number[] | null) => shape !== null && shape.length > 0 && shape[0] === -1;
    this.mergeable = settings.enabled && signature.inputs.every((s) => free(s.shape)) && signature.outputs.every((s) => free(s.shape));
  }

  /** Whether requests are merged (batching on, and the model has a batch dimension). */
  get merging(): boolean {
    return this.mergeable;
  }

  /** Rows waiting. */
  get depth(): number {
    return this.queuedRows;
  }

  /**
   * Why a request would be refused now whatever its size (the queue has no room for one more
   * row), or undefined. Lets a request be refused before its body is read, without the cost of
   * an Error and its stack under overload; `submit` still checks its rows.
   */
  fullness(): string | undefined {
    return this.queuedRows >= this.settings.maxQueueSize && this.queue.length > 0 ? this.queueFullMessage() : undefined;
  }

  submit(inputs: NamedTensors): Promise<NamedTensors> {
    const rows = rowsOf(inputs);
    if (this.queuedRows + rows > this.settings.maxQueueSize && this.queue.length > 0) {
      return Promise.reject(new QueueFullError(this.queueFullMessage()));
    }
    const now = performance.now();
    return new Promise<NamedTensors>((resolve, reject) => {
      this.queue.push({ inputs, rows, arrived: now, deadline: now + this.settings.timeoutMs, resolve, reject });
      this.queuedRows += rows;
      this.observer?.depthChanged?.(this.queuedRows);
      this.schedule();
    });
  }

  private queueFullMessage(): string {
    return `the model's queue is full (${this.queuedRows} rows waiting, at most ${this.settings.maxQueueSize}); retry shortly`;
  }

  /** Resolves once nothing is queued or running. */
  drained(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Decides whether to dispatch now, later, or when the running batch ends. */
  private schedule(): void {
    this.armDeadline();
    if (this.running || this.queue.length === 0) return;
    const oldest = this.queue[0];
    const waited = performance.now() - oldest.arrived;
    const full = !this.mergeable || this.queuedRows >= this.settings.maxBatchSize;
    if (full || this.queue.length === 1 || waited >= this.settings.maxQueueDelayMs) {
      // Dispatch on the next tick, so requests arriving in this one still join the batch.
      clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
      this.running = true;
      setImmediate(() => void this.dispatch());
      return;
    }
    if (!this.delayTimer) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = undefined;
        this.schedule();
      }, this.settings.maxQueueDelayMs - waited);
    }
  }

  private async dispatch(): Promise<void> {
    this.expire(performance.now());
    const batch = this.take();
    if (batch.length === 0) {
      this.finish();
      return;
    }
    if (batch.length === 1) {
      await this.runAlone(batch[0]);
    } else {
      const started = performance.now();
      try {
        // Loops rather than callbacks: a closure made per batch is a new function each time,
        // which V8 kept compiling again under steady load.
        const inputs: NamedTensors[] = [];
        const rowCounts: number[] = [];
        let rows = 0;
        for (const p of batch) {
          inputs.push(p.inputs);
          rowCounts.push(p.rows);
          rows += p.rows;
        }
        const outputs = await this.run(stack(inputs));
        const parts = split(outputs, rowCounts, rows);
        this.observer?.batchRan?.(rows, batch.length, (performance.now() - started) / 1000);
        for (let i = 0; i < batch.length; i++) {
          this.observer?.requestDone?.((started - batch[i].arrived) / 1000);
          batch[i].resolve(parts[i]);
        }
      } catch (error) {
        // One request's values can fail a merged batch (an index out of range), and a model may
        // give outputs that do not follow its batch dimension: each request then runs alone and
        // gets its own answer; a model whose outputs do not split is not merged again.
        if (error instanceof UnsplittableOutputError) this.mergeable = false;
        for (const p of batch) await this.runAlone(p);
      }
    }
    this.finish();
  }

  /** Runs one request's inputs as they are; a failure fails that request only, and the queue goes on. */
  private async runAlone(p: Pending): Promise<void> {
    const started = performance.now();
    try {
      const outputs = await this.run(p.inputs);
      this.observer?.batchRan?.(p.rows, 1, (performance.now() - started) / 1000);
      this.observer?.requestDone?.((started - p.arrived) / 1000);
      p.resolve(outputs);
    } catch (error) {
      p.reject(error as Error);
    }
  }

  private finish(): void {
    this.running = false;
    if (this.queue.length > 0) {
      this.schedule();
    } else {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  /** The next batch: requests from the head, up to maxBatchSize rows, all of one input shape. */
  private take(): Pending[] {
    const batch: Pending[] = [];
    let rows = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (batch.length > 0) {
        if (!this.mergeable || rows + next.rows > this.settings.maxBatchSize || !stackable(batch[0].inputs, next.inputs)) break;
      }
      batch.push(this.queue.shift()!);
      rows += next.rows;
      this.queuedRows -= next.rows;
    }
    this.observer?.depthChanged?.(this.queuedRows);
    return batch;
  }

  /** Answers every queued request whose deadline has passed, without running it. */
  private expire(now: number): void {
    while (this.queue.length > 0 && this.queue[0].deadline <= now) {
      const late = this.queue.shift()!;
      this.queuedRows -= late.rows;
      this.observer?.depthChanged?.(this.queuedRows);
      late.reject(
        new DeadlineExceededError(
          `the request waited ${Math.round(now - late.arrived)} ms for the model, past its deadline of ${this.settings.timeoutMs} ms`,
        ),
      );
    }
  }

  /** A timer for the oldest request's deadline (every request has the same timeout, so FIFO). */
  private armDeadline(): void {
    if (this.deadlineTimer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0].deadline - performance.now());
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      this.expire(performance.now());
      if (this.queue.length > 0) this.armDeadline();
      else if (!this.running) this.finish();
    }, wait + 1);
    this.deadlineTimer.unref();
  }
}

function rowsOf(inputs: NamedTensors): number {
  for (const name in inputs) {
    const { shape } = inputs[name];
    return shape.length > 0 ? shape[0] : 1;
  }
  return 1;
}

/** Whether two requests' inputs can be stacked: the same names, each of one dtype and one shape after the batch dimension. */
function stackable(a: NamedTensors, b: NamedTensors): boolean {
  for (const name in a) {
    const x = a[name];
    const y = b[name];
    if (y === undefined || x.dtype !== y.dtype || x.shape.length !== y.shape.length) return false;
    for (let i = 1; i < x.shape.length; i++) if (x.shape[i] !== y.shape[i]) return false;
  }
  for (const name in b) if (!Object.hasOwn(a, name)) return false;
  return true;
}

/** Concatenates each input along its first dimension. */
function stack(requests: NamedTensors[]): NamedTensors {
  const merged: NamedTensors = {};
  for (const name of Object.keys(requests[0])) {
    const first = requests[0][name];
    let rows = 0;
    const data: TensorData[] = [];
    for (const request of requests) {
      const tensor = request[name];
      rows += tensor.shape[0];
      data.push(tensor.data);
    }
    merged[name] = { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data: concat(data) };
  }
  return merged;
}

/** Joins arrays of one kind (typed arrays of one type, or string arrays) end to end. */
function concat(parts: TensorData[]): TensorData {
  if (Array.isArray(parts[0])) return (parts as string[][]).flat();
  const typed = parts as Exclude<TensorData, string[]>[];
  let length = 0;
  for (const part of typed) length += part.length;
  const data = new (typed[0].constructor as new (n: number) => (typeof typed)[0])(length);
  let offset = 0;
  for (const part of typed) {
    (data as Float32Array).set(part as Float32Array, offset);
    offset += part.length;
  }
  return data;
}

/** A merged batch's output whose first dimension is not the batch's rows. */
class UnsplittableOutputError extends Error {
  override readonly name = 'UnsplittableOutputError';
}

/** Splits each output along its first dimension into parts of the given row counts (`total` in all). */
function split(outputs: NamedTensors, rows: number[], total: number): NamedTensors[] {
  const parts: NamedTensors[] = [];
  for (let i = 0; i < rows.length; i++) parts.push({});
  for (const name of Object.keys(outputs)) {
    const tensor = outputs[name];
    if (tensor.shape[0] !== total) {
      throw new UnsplittableOutputError(`output "${name}" has ${tensor.shape[0]} rows for a batch of ${total}`);
    }
    const stride = tensor.data.length / total;
    const rest = tensor.shape.slice(1);
    let row = 0;
    for (let i = 0; i < rows.length; i++) {
      const n = rows[i];
      parts[i][name] = { dtype: tensor.dtype, shape: [n, ...rest], data: tensor.data.slice(row * stride, (row + n) * stride) };
      row += n;
    }
  }
  return parts;
}
