import type * as tf from './tfjs';
import { InvalidInputError } from './model-errors';
import type {
  HostTensor,
  ModelFormat,
  ModelMetadata,
  ModelSignature,
  TensorDType,
  TensorSpec,
} from './model-types';

type Tf = typeof import('./tfjs');
type NamedTensors = Record<string, HostTensor>;

/**
 * One model version in memory, behind a tensor-free interface: host arrays in, host arrays
 * out. Every tensor made here is disposed before `infer` returns.
 */
export abstract class LoadedModel {
  abstract readonly format: ModelFormat;
  abstract readonly signature: ModelSignature;
  abstract readonly metadata: ModelMetadata;

  /** Runs the model on inputs keyed by signature input name; returns every output. */
  abstract infer(inputs: NamedTensors): Promise<NamedTensors>;

  abstract dispose(): void;

  /** Refuses inputs that do not match the signature's names, dtypes and shapes. */
  checkInputs(inputs: NamedTensors): void {
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
}

function checkTensor(spec: TensorSpec, tensor: HostTensor): void {
  if (tensor.dtype !== spec.dtype) {
    throw InvalidInputError.at(spec.name, `has dtype ${tensor.dtype}; the model expects ${spec.dtype}`);
  }
  const size = tensor.shape.reduce((n, d) => n * d, 1);
  if (size !== tensor.data.length) {
    throw InvalidInputError.at(spec.name, `holds ${tensor.data.length} values but its shape [${tensor.shape}] needs ${size}`);
  }
  if (spec.shape === null) return;
  const fits =
    spec.shape.length === tensor.shape.length &&
    spec.shape.every((dim, i) => dim === -1 || dim === tensor.shape[i]);
  if (!fits) {
    throw InvalidInputError.at(
      spec.name,
      `has shape [${tensor.shape}]; the model expects [${spec.shape}] (-1 is any size)`,
    );
  }
}

/** Zero inputs of the signature's shapes, free dimensions set to 1: for warm-up. */
export function zeroInputs(signature: ModelSignature): NamedTensors {
  const inputs: NamedTensors = {};
  for (const spec of signature.inputs) {
    const shape = (spec.shape ?? [1]).map((dim) => (dim === -1 ? 1 : dim));
    const size = shape.reduce((n, d) => n * d, 1);
    inputs[spec.name] = { dtype: spec.dtype, shape, data: allocate(spec.dtype, size) };
  }
  return inputs;
}

function allocate(dtype: TensorDType, size: number): HostTensor['data'] {
  if (dtype === 'int32') return new Int32Array(size);
  if (dtype === 'bool') return new Uint8Array(size);
  return new Float32Array(size);
}

function specOf(name: string, dtype: string | undefined, shape: readonly (number | null)[] | undefined): TensorSpec {
  return {
    name,
    dtype: (dtype ?? 'float32') as TensorDType,
    shape: shape ? shape.map((dim) => (dim === null || dim < 0 ? -1 : dim)) : null,
  };
}

async function toHost(tensors: tf.Tensor[], names: string[]): Promise<NamedTensors> {
  try {
    const values = await Promise.all(tensors.map((t) => t.data()));
    const result: NamedTensors = {};
    tensors.forEach((t, i) => {
      result[names[i]] = { dtype: t.dtype as TensorDType, shape: t.shape, data: values[i] as HostTensor['data'] };
    });
    return result;
  } finally {
    for (const t of tensors) t.dispose();
  }
}

function toTensor(tfjs: Tf, spec: TensorSpec, input: HostTensor): tf.Tensor {
  return tfjs.tensor(input.data, input.shape, spec.dtype as tf.DataType);
}

export class LoadedLayersModel extends LoadedModel {
  readonly format = 'layers' as const;
  readonly signature: ModelSignature;

  constructor(
    private readonly tfjs: Tf,
    private readonly model: tf.LayersModel,
    readonly metadata: ModelMetadata,
  ) {
    super();
    this.signature = {
      // originalName is the layer's own name; `name` gets a process-wide counter suffix that
      // would change with every load.
      inputs: model.inputs.map((t) => specOf(t.originalName ?? t.name, t.dtype, t.shape)),
      outputs: model.outputs.map((t) => specOf(t.originalName ?? t.name, t.dtype, t.shape)),
    };
  }

  async infer(inputs: NamedTensors): Promise<NamedTensors> {
    const outputs = this.tfjs.tidy(() => {
      const tensors = this.signature.inputs.map((spec) => toTensor(this.tfjs, spec, inputs[spec.name]));
      const result = this.model.predict(tensors.length === 1 ? tensors[0] : tensors);
      return Array.isArray(result) ? result : [result];
    });
    return toHost(outputs, this.signature.outputs.map((spec) => spec.name));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Message TF.js gives when a graph holds control flow that only executeAsync can run. */
const NEEDS_ASYNC = /executeAsync/;

export class LoadedGraphModel extends LoadedModel {
  readonly format = 'graph' as const;
  readonly signature: ModelSignature;
  private runAsync = false;

  constructor(
    private readonly tfjs: Tf,
    private readonly model: tf.GraphModel,
    readonly metadata: ModelMetadata,
  ) {
    super();
    const declared = declaredSignature(model);
    const withDeclared = (spec: TensorSpec): TensorSpec => {
      const known = declared.get(spec.name) ?? declared.get(`${spec.name}:0`);
      return known && spec.shape === null ? { ...spec, dtype: known.dtype, shape: known.shape } : spec;
    };
    this.signature = {
      inputs: model.inputs.map((t) => withDeclared(specOf(t.name, t.dtype, t.shape))),
      outputs: model.outputs.map((t) => withDeclared(specOf(t.name, t.dtype, t.shape))),
    };
  }

  async infer(inputs: NamedTensors): Promise<NamedTensors> {
    const names = this.signature.outputs.map((spec) => spec.name);
    const feed: tf.NamedTensorMap = {};
    for (const spec of this.signature.inputs) feed[spec.name] = toTensor(this.tfjs, spec, inputs[spec.name]);
    try {
      const outputs = await this.execute(feed, names);
      return await toHost(outputs, names);
    } finally {
      for (const t of Object.values(feed)) t.dispose();
    }
  }

  private async execute(feed: tf.NamedTensorMap, names: string[]): Promise<tf.Tensor[]> {
    if (!this.runAsync) {
      try {
        const result = this.model.execute(feed, names);
        return Array.isArray(result) ? result : [result];
      } catch (error) {
        if (!NEEDS_ASYNC.test(String((error as Error).message))) throw error;
        this.runAsync = true;
      }
    }
    const result = await this.model.executeAsync(feed, names);
    return Array.isArray(result) ? result : [result];
  }

  dispose(): void {
    this.model.dispose();
  }
}

const SIGNATURE_DTYPES: Record<string, TensorDType> = {
  DT_FLOAT: 'float32',
  DT_INT32: 'int32',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
  DT_COMPLEX64: 'complex64',
};

interface SignatureTensor {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}

/**
 * The shapes and dtypes a converted graph declares in its `signature` block: graph nodes
 * often do not carry output shapes, the signature does.
 */
function declaredSignature(model: tf.GraphModel): Map<string, TensorSpec> {
  const signature = model.modelSignature as { inputs?: Record<string, SignatureTensor>; outputs?: Record<string, SignatureTensor> } | undefined;
  const specs = new Map<string, TensorSpec>();
  for (const group of [signature?.inputs, signature?.outputs]) {
    for (const [key, tensor] of Object.entries(group ?? {})) {
      const dtype = SIGNATURE_DTYPES[tensor.dtype ?? ''];
      if (!dtype) continue;
      const dims = tensor.tensorShape?.unknownRank ? null : (tensor.tensorShape?.dim ?? []).map((d) => Number(d.size ?? -1));
      const spec: TensorSpec = { name: tensor.name ?? key, dtype, shape: dims };
      specs.set(spec.name, spec);
      specs.set(key, spec);
    }
  }
  return specs;
}
