import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import type { NamedTensors } from '../model-types';
import type { OnnxValueMetadata } from './onnx-signature';
import { fromOrtTensor, toOrtTensor } from './onnx-tensors';

type Ort = typeof import('onnxruntime-node');
export type OnnxSessionOptions = InferenceSession.SessionOptions;

/** One ONNX Runtime session: a model in memory, with host tensors in and out. */
export abstract class OnnxSession {
  abstract readonly inputMetadata: readonly OnnxValueMetadata[];
  abstract readonly outputMetadata: readonly OnnxValueMetadata[];

  /** Runs the model; returns the named outputs. */
  abstract run(inputs: NamedTensors, outputNames: readonly string[]): Promise<NamedTensors>;

  /** Frees the session's memory and threads; runs already started finish first. */
  abstract release(): Promise<void>;
}

/** Why a session could not be opened: ONNX Runtime itself failed to load, or refused the model. */
export class OnnxSessionError extends Error {
  override readonly name = 'OnnxSessionError';

  constructor(
    readonly stage: 'runtime' | 'model',
    message: string,
  ) {
    super(message);
  }
}

/** ONNX Runtime failed to run the model on the inputs it was given (an input-dependent failure: the model ran at warm-up). */
export class OnnxRunError extends Error {
  override readonly name = 'OnnxRunError';
}

function plainMetadata(values: readonly InferenceSession.ValueMetadata[]): OnnxValueMetadata[] {
  return values.map((value) =>
    value.isTensor
      ? { name: value.name, isTensor: true, type: value.type, shape: [...value.shape] }
      : { name: value.name, isTensor: false },
  );
}

/**
 * A session on the calling thread. onnxruntime-node 1.30's `run` is one synchronous native call
 * (deferred by a setImmediate), so it holds this thread for the whole inference.
 */
export class InlineOnnxSession extends OnnxSession {
  readonly inputMetadata: OnnxValueMetadata[];
  readonly outputMetadata: OnnxValueMetadata[];
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
  ) {
    super();
    this.inputMetadata = plainMetadata(session.inputMetadata);
    this.outputMetadata = plainMetadata(session.outputMetadata);
  }

  static async create(ort: Ort, path: string, options: OnnxSessionOptions): Promise<InlineOnnxSession> {
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, options);
    } catch (error) {
      throw new OnnxSessionError('model', (error as Error).message);
    }
    return new InlineOnnxSession(ort, session);
  }

  run(inputs: NamedTensors, outputNames: readonly string[]): Promise<NamedTensors> {
    return this.serialize(async () => {
      let results: InferenceSession.ReturnType;
      try {
        const feeds = Object.fromEntries(Object.entries(inputs).map(([name, tensor]) => [name, toOrtTensor(this.ort, tensor)]));
        results = await this.session.run(feeds, outputNames);
      } catch (error) {
        throw new OnnxRunError((error as Error).message);
      }
      const outputs: NamedTensors = {};
      for (const name of outputNames) outputs[name] = fromOrtTensor(results[name]);
      return outputs;
    });
  }

  release(): Promise<void> {
    return this.serialize(() => this.session.release());
  }

  /** One call at a time, in order: a release waits for the runs before it. */
  private serialize<T>(call: () => Promise<T>): Promise<T> {
    const next = this.queue.then(call, call);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** What the main thread hands a session worker. */
export interface SessionWorkerData {
  path: string;
  options: OnnxSessionOptions;
}

export type SessionRequest = { kind: 'run'; id: number; inputs: NamedTensors; outputNames: readonly string[] } | { kind: 'release' };

export type SessionReply =
  | { kind: 'ready'; inputs: OnnxValueMetadata[]; outputs: OnnxValueMetadata[] }
  | { kind: 'failed'; stage: 'runtime' | 'model'; message: string }
  | { kind: 'ran'; id: number; outputs: NamedTensors }
  | { kind: 'run-failed'; id: number; message: string };

/**
 * The worker's entry file. Run from TypeScript sources (ts-jest, ts-node), a worker cannot load
 * a `.ts` file by itself, so it gets ts-node too; built, it is plain JavaScript.
 */
function workerEntry(): { filename: string; execArgv?: string[] } {
  const extension = extname(__filename);
  const filename = join(__dirname, `onnx-session-worker${extension}`);
  return extension === '.ts' ? { filename, execArgv: ['--require', 'ts-node/register/transpile-only'] } : { filename };
}

interface PendingRun {
  resolve: (outputs: NamedTensors) => void;
  reject: (error: Error) => void;
}

/**
 * A session in a worker thread of its own, so that inference never holds the event loop (a run
 * of 530 ms stopped every timer of the main thread for 531 ms when run inline). Inputs are
 * copied to the worker; outputs are transferred back, not copied.
 */
export class WorkerOnnxSession extends OnnxSession {
  private readonly pending = new Map<number, PendingRun>();
  private nextId = 0;
  private ended?: Error;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    readonly inputMetadata: OnnxValueMetadata[],
    readonly outputMetadata: OnnxValueMetadata[],
  ) {
    super();
    worker.on('message', (reply: SessionReply) => this.settle(reply));
    worker.on('error', (error: Error) => this.end(new Error(`the ONNX session's worker thread failed: ${error.message}`)));
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        this.end(new Error(`the ONNX session's worker thread exited (code ${code})`));
        resolve();
      }),
    );
  }

  static create(path: string, options: OnnxSessionOptions): Promise<WorkerOnnxSession> {
    const { filename, execArgv } = workerEntry();
    const workerData: SessionWorkerData = { path, options };
    const worker = new Worker(filename, { workerData, ...(execArgv ? { execArgv } : {}) });
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        cleanUp();
        void worker.terminate();
        reject(error);
      };
      const onMessage = (reply: SessionReply) => {
        if (reply.kind === 'ready') {
          cleanUp();
          resolve(new WorkerOnnxSession(worker, reply.inputs, reply.outputs));
        } else if (reply.kind === 'failed') {
          fail(new OnnxSessionError(reply.stage, reply.message));
        }
      };
      const onError = (error: Error) => fail(new OnnxSessionError('runtime', `the ONNX session's worker thread failed: ${error.message}`));
      const onExit = (code: number) =>
        fail(new OnnxSessionError('runtime', `the ONNX session's worker thread exited (code ${code}) before the model loaded`));
      const cleanUp = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  run(inputs: NamedTensors, outputNames: readonly string[]): Promise<NamedTensors> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const request: SessionRequest = { kind: 'run', id, inputs, outputNames };
      this.worker.postMessage(request);
    });
  }

  async release(): Promise<void> {
    if (!this.ended) {
      const request: SessionRequest = { kind: 'release' };
      this.worker.postMessage(request);
    }
    await this.exited;
  }

  private settle(reply: SessionReply): void {
    if (reply.kind !== 'ran' && reply.kind !== 'run-failed') return;
    const run = this.pending.get(reply.id);
    if (!run) return;
    this.pending.delete(reply.id);
    if (reply.kind === 'ran') run.resolve(reply.outputs);
    else run.reject(new OnnxRunError(reply.message));
  }

  private end(error: Error): void {
    this.ended ??= error;
    for (const run of this.pending.values()) run.reject(error);
    this.pending.clear();
  }
}
