import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { LoadedModel } from '../loaded-model';
import { InvalidInputError, ModelFormatError, ModelNotReadyError } from '../model-errors';
import { readMetadata } from '../model-metadata';
import type { ModelMetadata, ModelSignature, NamedTensors, VersionDescription } from '../model-types';
import { zeroInputs } from '../signature';
import { INLINE_MAX_FILE_BYTES, INLINE_PROBE_ROWS, OnnxPlacement, OnnxRuntime } from './onnx-runtime';
import { OnnxRunError, OnnxSession, OnnxSessionError } from './onnx-session';
import { onnxSignature } from './onnx-signature';

export const MODEL_ONNX = 'model.onnx';
/** The platform the Open Inference Protocol reports for ONNX models, as Triton names it. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

/**
 * One ONNX model version in memory, on an ONNX Runtime session. Its signature comes from the
 * model itself, through ONNX Runtime; inputs reach `infer` already checked against it (the
 * version's queue checks them).
 */
export class OnnxModel extends LoadedModel {
  private static readonly logger = new Logger('OnnxModel');
  readonly description: VersionDescription;
  private releasing?: Promise<void>;
  /** Moving an `auto` version from the event loop to a worker thread, once one of its runs was slow. */
  private moving?: Promise<void>;

  private constructor(
    private readonly runtime: OnnxRuntime,
    private readonly path: string,
    private session: OnnxSession,
    signature: ModelSignature,
    metadata: ModelMetadata,
    /** Where the session runs, what the `auto` probe measured if it ran, and the run that moved it to a worker if one did. */
    private placed: OnnxExecutionState,
  ) {
    super();
    this.description = { format: 'onnx', platform: ONNX_PLATFORM, signature, metadata };
  }

  get execution(): Readonly<OnnxExecutionState> {
    return this.placed;
  }

  override get runsOn(): string {
    const { placement, batchMs } = this.placed;
    const where = placement === 'worker' ? 'in a worker thread' : 'on the event loop';
    if (batchMs === undefined) return where;
    return `${where}: a batch of ${INLINE_PROBE_ROWS} rows ran in ${batchMs.toFixed(2)} ms`;
  }

  /**
   * Loads `model.onnx` (and the optional `metadata.json`) from a version folder. Throws
   * ModelFormatError with ONNX Runtime's reason when it refuses the model, or when the model has
   * inputs or outputs the service cannot exchange.
   */
  static async load(runtime: OnnxRuntime, directory: string): Promise<OnnxModel> {
    const metadata = await readMetadata(directory);
    const path = join(directory, MODEL_ONNX);
    const size = await checkFile(path);
    const { execution } = runtime.settings;
    const probed = execution === 'auto' && size <= INLINE_MAX_FILE_BYTES;
    const placement: OnnxPlacement = execution === 'event-loop' || probed ? 'event-loop' : 'worker';
    const session = await openSession(runtime, path, placement);
    let signature: ModelSignature;
    try {
      signature = onnxSignature(session.inputMetadata, session.outputMetadata);
    } catch (error) {
      await runtime.releaseSession(session);
      throw error;
    }
    const model = new OnnxModel(runtime, path, session, signature, metadata, { placement });
    if (!probed) return model;
    const batchMs = await fastestBatchMs(session, signature);
    model.placed = { ...model.placed, batchMs };
    if (batchMs === undefined || batchMs > runtime.settings.inlineBatchLimitMs) {
      try {
        await model.reopenInWorker();
      } catch (error) {
        await model.dispose();
        throw error;
      }
    }
    return model;
  }

  /** Runs the model on inputs keyed by signature input name; returns every output. */
  async infer(inputs: NamedTensors): Promise<NamedTensors> {
    if (this.releasing) throw new ModelNotReadyError('the ONNX model has been unloaded');
    const { signature } = this.description;
    const feeds: NamedTensors = {};
    for (const spec of signature.inputs) feeds[spec.name] = inputs[spec.name];
    const outputNames = signature.outputs.map((spec) => spec.name);
    // An `auto` version still on the event loop has its runs timed, as the probe timed its batch.
    const watched = this.runtime.settings.execution === 'auto' && this.placed.placement === 'event-loop' && !this.moving;
    try {
      if (!watched) return await this.session.run(feeds, outputNames);
      const { outputs, ms } = await timedRun(this.session, feeds, outputNames);
      if (ms > this.runtime.settings.inlineRunLimitMs) this.moveToWorker(ms, feeds);
      return outputs;
    } catch (error) {
      // The model ran at warm-up, and these inputs fit its signature: what fails now depends on
      // their values (an index out of range, shapes its operators cannot combine).
      if (error instanceof OnnxRunError)
        throw new InvalidInputError(`the model cannot run on these inputs: ${readableOrtMessage(error.message)}`);
      throw error;
    }
  }

  /** Releases the session (its memory and threads) once the inferences already started finish. */
  dispose(): Promise<void> {
    this.releasing ??= (async () => {
      await this.moving;
      await this.runtime.releaseSession(this.session);
    })();
    return this.releasing;
  }

  /**
   * Opens the version again in a worker thread, which takes its runs from then on; the runs
   * already queued on the event loop finish first, then that session is released. A version
   * disposed meanwhile stays where it was, and the worker is released at once.
   */
  private async reopenInWorker(why: Omit<OnnxExecutionState, 'placement'> = {}): Promise<boolean> {
    const worker = await openSession(this.runtime, this.path, 'worker');
    if (this.releasing) {
      await this.runtime.releaseSession(worker);
      return false;
    }
    const inline = this.session;
    this.session = worker;
    this.placed = { ...this.placed, ...why, placement: 'worker' };
    await this.runtime.releaseSession(inline);
    return true;
  }

  /**
   * Moves the version to a worker thread after a run that held the event loop `runMs`, and says
   * so; if that fails, the version stays on the event loop.
   */
  private moveToWorker(runMs: number, feeds: NamedTensors): void {
    const rows = Object.values(feeds)[0]?.shape[0];
    this.moving = this.reopenInWorker({ movedAfterRunMs: runMs }).then(
      (moved) => {
        if (!moved) return;
        OnnxModel.logger.warn(
          `${this.path}: a run${rows === undefined ? '' : ` of ${rows} rows`} held the event loop ${runMs.toFixed(1)} ms (over ${this.runtime.settings.inlineRunLimitMs} ms); the version runs in a worker thread from now on`,
        );
      },
      (error: Error) => {
        OnnxModel.logger.error(
          `${this.path}: a run held the event loop ${runMs.toFixed(1)} ms, and moving the version to a worker thread failed: ${error.message}`,
        );
      },
    );
  }
}

/** Where an ONNX version runs, and why. */
export interface OnnxExecutionState {
  placement: OnnxPlacement;
  /** What the `auto` probe measured at load, if it ran. */
  batchMs?: number;
  /** The run on the event loop that moved the version to a worker thread, if one did. */
  movedAfterRunMs?: number;
}

/** Opens a session where `placement` says; ONNX Runtime's refusal of the model is a ModelFormatError. */
async function openSession(runtime: OnnxRuntime, path: string, placement: OnnxPlacement): Promise<OnnxSession> {
  try {
    return await runtime.openSession(path, placement);
  } catch (error) {
    if (error instanceof OnnxSessionError && error.stage === 'model') {
      throw new ModelFormatError(`ONNX Runtime cannot load ${MODEL_ONNX}: ${readableOrtMessage(error.message)}`);
    }
    throw error;
  }
}

/**
 * The fastest of three runs of a batch of INLINE_PROBE_ROWS rows of zeros, in milliseconds,
 * after an untimed one; undefined when an input's rank is unknown or the model cannot run on
 * zeros (the load's warm-up then says why). onnxruntime-node 1.30 makes its synchronous native
 * call in an immediate it queues when `run` is called: the clock starts in an immediate queued
 * just before, in the same check phase of the event loop, so what is timed is the run and the
 * outputs' conversion, not the wait for that phase (on a busy event loop, tens of milliseconds).
 */
async function fastestBatchMs(session: OnnxSession, signature: ModelSignature): Promise<number | undefined> {
  if (signature.inputs.some((spec) => spec.shape === null)) return undefined;
  const inputs = zeroInputs(signature, INLINE_PROBE_ROWS);
  const outputNames = signature.outputs.map((spec) => spec.name);
  try {
    await session.run(inputs, outputNames);
    let fastest = Infinity;
    for (let i = 0; i < 3; i++) fastest = Math.min(fastest, (await timedRun(session, inputs, outputNames)).ms);
    return fastest;
  } catch {
    return undefined;
  }
}

/** A run, and how long it took from the start of the event loop's check phase that ran it (see fastestBatchMs). */
async function timedRun(
  session: OnnxSession,
  inputs: NamedTensors,
  outputNames: readonly string[],
): Promise<{ outputs: NamedTensors; ms: number }> {
  const started = checkPhaseStart();
  const outputs = await session.run(inputs, outputNames);
  return { outputs, ms: performance.now() - (await started) };
}

/** The time when the immediates queued from now on start to run. */
function checkPhaseStart(): Promise<number> {
  return new Promise((resolve) => setImmediate(() => resolve(performance.now())));
}

/** Checks that `path` is a non-empty file; returns its size. */
async function checkFile(path: string): Promise<number> {
  let size: number;
  try {
    const found = await stat(path);
    if (!found.isFile()) throw new ModelFormatError(`${MODEL_ONNX} is not a file`);
    size = found.size;
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    throw new ModelFormatError(`cannot read ${MODEL_ONNX}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  // ONNX Runtime reads an empty file as a model without a graph; say what it is.
  if (size === 0) throw new ModelFormatError(`${MODEL_ONNX} is empty`);
  return size;
}

const LOAD_PREFIX = /^Load model from .*? failed:/;
const SOURCE_LOCATION = /\/onnxruntime_src\/\S+:\d+ /g;
const CPP_FUNCTION_START = /^[\w:<>,*& ]*::~?\w+\(/;

/**
 * ONNX Runtime's message without what only its developers need: the model's path (the caller
 * knows it), source locations and C++ function signatures.
 */
export function readableOrtMessage(message: string): string {
  let text = message.trim().replace(LOAD_PREFIX, '');
  const parts = text.split(SOURCE_LOCATION);
  text = parts.map((part, i) => (i === 0 ? part : withoutCppFunction(part))).join('');
  return text.trim();
}

/** Drops a leading `type ns::Function(arguments) ` from `text`, matching its parentheses. */
function withoutCppFunction(text: string): string {
  const start = CPP_FUNCTION_START.exec(text);
  if (!start) return text;
  let depth = 0;
  for (let i = start[0].length - 1; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) {
      return text
        .slice(i + 1)
        .replace(/^ const\b/, '')
        .trimStart();
    }
  }
  return text;
}
