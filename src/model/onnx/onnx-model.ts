import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LoadedModel } from '../loaded-model';
import { InvalidInputError, ModelFormatError, ModelNotReadyError } from '../model-errors';
import { readMetadata } from '../model-metadata';
import type { ModelMetadata, ModelSignature, NamedTensors, VersionDescription } from '../model-types';
import type { OnnxRuntime } from './onnx-runtime';
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
  readonly description: VersionDescription;
  private releasing?: Promise<void>;

  private constructor(
    private readonly runtime: OnnxRuntime,
    private readonly session: OnnxSession,
    signature: ModelSignature,
    metadata: ModelMetadata,
  ) {
    super();
    this.description = { format: 'onnx', platform: ONNX_PLATFORM, signature, metadata };
  }

  /**
   * Loads `model.onnx` (and the optional `metadata.json`) from a version folder. Throws
   * ModelFormatError with ONNX Runtime's reason when it refuses the model, or when the model has
   * inputs or outputs the service cannot exchange.
   */
  static async load(runtime: OnnxRuntime, directory: string): Promise<OnnxModel> {
    const metadata = await readMetadata(directory);
    const path = join(directory, MODEL_ONNX);
    await checkFile(path);
    let session: OnnxSession;
    try {
      session = await runtime.openSession(path);
    } catch (error) {
      if (error instanceof OnnxSessionError && error.stage === 'model') {
        throw new ModelFormatError(`ONNX Runtime cannot load ${MODEL_ONNX}: ${readableOrtMessage(error.message)}`);
      }
      throw error;
    }
    try {
      const signature = onnxSignature(session.inputMetadata, session.outputMetadata);
      return new OnnxModel(runtime, session, signature, metadata);
    } catch (error) {
      await runtime.releaseSession(session);
      throw error;
    }
  }

  /** Runs the model on inputs keyed by signature input name; returns every output. */
  async infer(inputs: NamedTensors): Promise<NamedTensors> {
    if (this.releasing) throw new ModelNotReadyError('the ONNX model has been unloaded');
    const { signature } = this.description;
    const feeds: NamedTensors = {};
    for (const spec of signature.inputs) feeds[spec.name] = inputs[spec.name];
    try {
      return await this.session.run(
        feeds,
        signature.outputs.map((spec) => spec.name),
      );
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
    this.releasing ??= this.runtime.releaseSession(this.session);
    return this.releasing;
  }
}

async function checkFile(path: string): Promise<void> {
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
