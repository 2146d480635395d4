import { ONNX_GRAPH_OPTIMIZATION_LEVELS, OnnxExecution, OnnxGraphOptimizationLevel } from '../../config/environment';
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
}

/**
 * - One intra-op thread: replicas × threads stays within the cores with one replica per core, as
 *   docker-compose.yml and k8s/ deploy it (a CPU each). ONNX Runtime's own default is a thread
 *   per core of the machine, which oversubscribes as soon as replicas share it (4 threads on 2
 *   cores ran a batch in 103 ms where 2 threads took 62). Raise it for a replica with cores of
 *   its own.
 * - Every graph optimization: they are applied once, at load.
 * - A worker thread: inference never holds the event loop, so probes and requests are answered
 *   during a long run.
 */
export const DEFAULT_ONNX_RUNTIME_SETTINGS: Readonly<OnnxRuntimeSettings> = {
  intraOpThreads: 1,
  graphOptimizationLevel: 'all',
  execution: 'worker',
};

/** Log severity "fatal": failures reach the caller as exceptions; ORT's own lines bypass the JSON log. */
const ORT_LOG_FATAL_ONLY = 4;

/**
 * ONNX Runtime for this process: session options, and sessions opened and released. The
 * `onnxruntime-node` package (a native library of some 30 MB) is required on first use only,
 * so a repository without ONNX models never loads it; with worker execution only the workers
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
    if (execution !== 'worker' && execution !== 'event-loop') {
      throw new RangeError(`unknown ONNX Runtime execution "${String(execution)}"`);
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

  /** Opens a session on an `.onnx` file; throws OnnxSessionError when ONNX Runtime refuses. */
  async openSession(path: string): Promise<OnnxSession> {
    const session =
      this.settings.execution === 'worker'
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
