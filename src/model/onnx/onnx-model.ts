import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError, ModelFormatError, ModelNotReadyError } from '../model-errors';
import { readMetadata } from '../model-loader';
import type { ElementType, ModelMetadata, ModelSignature, TensorSpec } from '../model-types';
import type { OnnxRuntime } from './onnx-runtime';
import { OnnxSession, OnnxSessionError } from './onnx-session';
import { onnxSignature } from './onnx-signature';
import type { OnnxHostTensor, OnnxNamedTensors } from './onnx-tensors';

export const MODEL_ONNX = 'model.onnx';

/**
 * One ONNX model version in memory, with the members of LoadedModel (format, signature,
 * metadata, checkInputs, infer, dispose) over every ONNX element type. Its signature comes from
 * the model itself, through ONNX Runtime.
 */
export class OnnxModel {
  readonly format = 'onnx' as const;
  private releasing?: Promise<void>;

  private constructor(
    private readonly runtime: OnnxRuntime,
    private readonly session: OnnxSession,
    readonly signature: ModelSignature<ElementType>,
    readonly metadata: ModelMetadata,
  ) {}

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
      const signature = onnxSignature(session.inputMetadata, session.outputMetadata, { float16Inputs: runtime.float16Inputs });
      return new OnnxModel(runtime, session, signature, metadata);
    } catch (error) {
      await runtime.releaseSession(session);
      throw error;
    }
  }

  /** Refuses inputs that do not match the signature's names, dtypes and shapes. */
  checkInputs(inputs: OnnxNamedTensors): void {
    const expected = new Set(this.signature.inputs.map((spec) => spec.name));
    for (const name of Object.keys(inputs)) {
      if (!expected.has(name)) {
        throw InvalidInputError.at(name, `is not an input of this model; inputs are ${[...expected].join(', ')}`);
      }
    }
    for (const spec of this.signature.inputs) {
      const tensor = inputs[spec.name];
      if (!tensor) throw InvalidInputError.at(spec.name, 'is missing');
      checkTensor(spec, tensor);
    }
  }

  /** Runs the model on inputs keyed by signature input name; returns every output. */
  async infer(inputs: OnnxNamedTensors): Promise<OnnxNamedTensors> {
    if (this.releasing) throw new ModelNotReadyError('the ONNX model has been unloaded');
    const feeds: OnnxNamedTensors = {};
    for (const spec of this.signature.inputs) feeds[spec.name] = inputs[spec.name];
    return this.session.run(
      feeds,
      this.signature.outputs.map((spec) => spec.name),
    );
  }

  /** Releases the session (its memory and threads); inferences already started finish first. */
  dispose(): void {
    this.releasing ??= this.runtime.releaseSession(this.session);
  }

  /** Resolves once the session is released, after `dispose`. */
  whenReleased(): Promise<void> {
    return this.releasing ?? Promise.reject(new Error('the ONNX model has not been disposed'));
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
    throw new ModelFormatError(`cannot read ${MODEL_ONNX}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  // ONNX Runtime reads an empty file as a model without a graph; say what it is.
  if (size === 0) throw new ModelFormatError(`${MODEL_ONNX} is empty`);
}

function checkTensor(spec: TensorSpec<ElementType>, tensor: OnnxHostTensor): void {
  if (tensor.dtype !== spec.dtype) {
    throw InvalidInputError.at(spec.name, `has dtype ${tensor.dtype}; the model expects ${spec.dtype}`);
  }
  const size = tensor.shape.reduce((n, d) => n * d, 1);
  if (size !== tensor.data.length) {
    throw InvalidInputError.at(spec.name, `holds ${tensor.data.length} values but its shape [${tensor.shape}] needs ${size}`);
  }
  if (spec.shape === null) return;
  const fits =
    spec.shape.length === tensor.shape.length && spec.shape.every((dim, i) => dim === -1 || dim === tensor.shape[i]);
  if (!fits) {
    throw InvalidInputError.at(spec.name, `has shape [${tensor.shape}]; the model expects [${spec.shape}] (-1 is any size)`);
  }
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
      return text.slice(i + 1).replace(/^ const\b/, '').trimStart();
    }
  }
  return text;
}
