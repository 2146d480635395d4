import { ONNX_EXECUTIONS, ONNX_GRAPH_OPTIMIZATION_LEVELS, OnnxExecution, OnnxGraphOptimizationLevel } from '../../config/environment';
import { InlineOnnxSession, OnnxSession, OnnxSessionError, OnnxSessionOptions, WorkerOnnxSession } from './onnx-session';

type Ort = typeof import('onnxruntime-node');

export interface OnnxRuntimeSettings {
  /**
   * Threads one inference may use: ONNX Runtime's intra-op pool, the thread calling `run`
   * included (n - 1 threads are started per session).
   */
  intraOpThreads: number;
  graphOptimizationLevel: OnnxGraphOptimizationLevel;
  execution: OnnxExecution;
  /** `auto`: the longest a batch of INLINE_PROBE_ROWS rows of zeros may take at load to stay on the event loop. */
  inlineBatchLimitMs: number;
  /** `auto`: a run on the event loop that takes longer moves its version to a worker thread. */
  inlineRunLimitMs: number;
}

/**
 * - One intra-op thread: replicas × threads stays within the cores with one replica per core, as
 *   docker-compose.yml and k8s/ deploy it (a CPU each). ONNX Runtime's own default is a thread
 *   per core of the machine, which oversubscribes as soon as replicas share it (4 threads on 2
 *   cores ran a batch in 103 ms where 2 threads took 62). Raise it for a replica with cores of
 *   its own.
 * - Every graph optimization: they are applied once, at load.
 * - `auto` execution: a version whose batch runs in about a millisecond runs on the event loop,
 *   any other in a worker thread, where a long run never holds the event loop, so probes and
 *   requests are answered meanwhile (see INLINE_BATCH_LIMIT_MS).
 */
export const DEFAULT_ONNX_RUNTIME_SETTINGS: Readonly<OnnxRuntimeSettings> = {
  intraOpThreads: 1,
  graphOptimizationLevel: 'all',
  execution: 'auto',
  inlineBatchLimitMs: 1,
  inlineRunLimitMs: 10,
};

/** Where one session runs. */
export type OnnxPlacement = 'worker' | 'event-loop';

/**
 * `auto` execution keeps a version on the event loop when a batch of INLINE_PROBE_ROWS rows of
 * zeros (the default MAX_BATCH_SIZE) runs in at most `inlineBatchLimitMs` (1 ms): about what the
 * event loop spends on four HTTP requests, while a worker thread costs some 10-20 MiB (an
 * isolate) and a hand-off each way per batch. The shipped scikit-learn model, iris-sklearn, runs
 * such a batch in about 0.2 ms. Zeros may run faster than real inputs (a model whose work depends
 * on its inputs' values), so a run on the event loop that takes over `inlineRunLimitMs` (10 ms)
 * moves its version to a worker thread from then on. A file over INLINE_MAX_FILE_BYTES goes to a
 * worker unprobed: it would be opened twice, and a model that size rarely runs a batch in a
 * millisecond.
 */
export const INLINE_PROBE_ROWS = 64;
export const INLINE_MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Log severity "fatal": failures reach the caller as exceptions; ORT's own lines bypass the JSON log. */
const ORT_LOG_FATAL_ONLY = 4;

/**
 * ONNX Runtime for this process: session options, and sessions opened and released. The
 * `onnxruntime-node` package (a native library of some 30 MB) is required on first use only,
 * so a repository without ONNX models never loads it; with `worker` execution only the workers
 * load it.
 */
export class OnnxRuntime {
  readonly settings: Readonly<OnnxRuntimeSettings>;
  private ort?: Ort;
  private sessions = 0;

  constructor(settings: Partial<OnnxRuntimeSettings> = {}) {
    this.settings = { ...DEFAULT_ONNX_RUNTIME_SETTINGS, ...settings };
    const { intraOpThreads, graphOptimizationLevel, execution } = this.settings;
    if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1) {
      throw new RangeError(`ONNX Runtime intra-op threads must be a positive integer, got ${intraOpThreads}`);
    }
    if (!ONNX_GRAPH_OPTIMIZATION_LEVELS.includes(graphOptimizationLevel)) {
      throw new RangeError(`unknown ONNX Runtime graph optimization level "${graphOptimizationLevel}"`);
    }
    if (!ONNX_EXECUTIONS.includes(execution)) {
      throw new RangeError(`unknown ONNX Runtime execution "${String(execution)}"`);
    }
    for (const limit of ['inlineBatchLimitMs', 'inlineRunLimitMs'] as const) {
      if (!(this.settings[limit] > 0)) throw new RangeError(`ONNX Runtime ${limit} must be a positive number, got ${this.settings[limit]}`);
    }
  }

  /** Sessions opened and not yet released. */
  get openSessions(): number {
    return this.sessions;
  }

  /** Whether this thread has loaded onnxruntime-node. */
  get moduleLoaded(): boolean {
    return this.ort !== undefined;
  }

  sessionOptions(): OnnxSessionOptions {
    return {
      intraOpNumThreads: this.settings.intraOpThreads,
      // Inter-op threads serve only the 'parallel' execution mode.
      executionMode: 'sequential',
      interOpNumThreads: 1,
      graphOptimizationLevel: this.settings.graphOptimizationLevel,
      logSeverityLevel: ORT_LOG_FATAL_ONLY,
    };
  }

  /**
   * Opens a session on an `.onnx` file, on the event loop or in a worker thread of its own (the
   * settings' `execution` is applied by `OnnxModel.load`); throws OnnxSessionError when ONNX
   * Runtime refuses.
   */
  async openSession(path: string, placement: OnnxPlacement): Promise<OnnxSession> {
    const session =
      placement === 'worker'
        ? await WorkerOnnxSession.create(path, this.sessionOptions())
        : await InlineOnnxSession.create(this.module(), path, this.sessionOptions());
    this.sessions++;
    return session;
  }

  async releaseSession(session: OnnxSession): Promise<void> {
    try {
      await session.release();
    } finally {
      this.sessions--;
    }
  }

  private module(): Ort {
    if (!this.ort) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the first session opens, not with the module
        this.ort = require('onnxruntime-node') as Ort;
      } catch (error) {
        throw new OnnxSessionError('runtime', `onnxruntime-node cannot be loaded: ${(error as Error).message}`);
      }
    }
    return this.ort;
  }
}
